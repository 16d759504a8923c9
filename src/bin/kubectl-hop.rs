//! `kubectl hop ...`: the kubectl plugin binary.
//!
//! kubectl runs any executable named `kubectl-<name>` found on PATH as `kubectl <name>`. This
//! binary is the same program as `kubehop` (the very same `main`, so every subcommand and the
//! TUI behave identically); only its name differs, and help and errors then say `kubectl hop`
//! (see `kubehop::cli::parse`). `cargo install --path . --locked` installs both.

include!("../main.rs");
