//! kubehop — where does my Service traffic go, and why doesn't it arrive?
//!
//! Module map (docs/architecture.md has the whole picture):
//! - [`engine`]: the pure proxy engine. Snapshot in, chains/diagnostics/routes out. No I/O.
//! - [`cluster`]: sources of snapshots: dump files, live kube-rs watchers (`--demo` included).
//! - [`sandbox`]: the embedded Kubernetes-API-compatible cluster on loopback.
//! - [`probe`]: real connections along each hop, compared with the engine's prediction.
//! - [`forward`]: a load-balancing, restart-surviving Service port-forward.
//! - [`app`]: the TUI event loop and state; the only module that wires the others together.
//! - [`ui`]: pure rendering of the app state.
//! - [`cli`] and [`output`]: the command line and the printed forms of the engine's model.
//! - [`net`]: the one address classifier (loopback, private, link-local, public…).
//! - [`printable`]: the one sanitizer for text printed to a terminal (control characters
//!   escaped).
//! - [`cmd`]: the binary's entry: one runtime, logging, `--demo` wiring, the subcommands.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod app;
pub mod cli;
pub mod cluster;
pub mod cmd;
pub mod forward;
pub mod net;
pub mod output;
pub mod printable;
pub mod probe;
pub mod terminal;
pub mod ui;

/// The proxy engine (the `kubehop-engine` crate).
pub use kubehop_engine as engine;
/// The embedded cluster (the `kubehop-sandbox` crate).
pub use kubehop_sandbox as sandbox;
