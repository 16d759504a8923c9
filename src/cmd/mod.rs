//! The binary's side: one entry ([`run`]) that `main` calls on the process's one tokio
//! runtime, the `--demo` wiring ([`demo`]), logging ([`logging`]) and the subcommands that
//! are not part of the library's other layers (`sandbox`, the terminal UI).
//!
//! Every subcommand is an `async fn` returning `Result<u8, E>`: `Ok` carries its exit status
//! (0, or 1 for `chain`/`probe` findings); an error prints as one line `kubehop: ...` and
//! exits with the error's own status (2 for bad input or an unusable source, unless the error
//! says otherwise; 0 for a closed output pipe, silently).

pub mod demo;
pub mod logging;
pub mod sandbox;
pub mod sandbox_faults;
pub mod tui;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line; returns the process's exit status.
pub async fn run(cli: Cli) -> ExitCode {
    let sources = demo::sources();
    match cli.command {
        None => {
            let settings = cli.source.settings();
            exit(
                tui::tui(&sources, &settings).await,
                tui::TuiError::exit_code,
            )
        }
        Some(Command::Chain(args)) => exit(
            crate::output::run::chain(&sources, &args).await,
            crate::output::run::CommandError::exit_code,
        ),
        Some(Command::Route(args)) => exit(
            crate::output::run::route(&sources, &args).await,
            crate::output::run::CommandError::exit_code,
        ),
        Some(Command::Probe(args)) => exit(
            crate::output::probe_run::probe(&sources, &args).await,
            crate::output::probe_run::ProbeCommandError::exit_code,
        ),
        Some(Command::Forward(args)) => exit(
            crate::forward::run::forward(&sources, &args).await,
            crate::forward::run::ForwardCommandError::exit_code,
        ),
        Some(Command::Sandbox(args)) => exit(
            sandbox::sandbox(&args).await,
            sandbox::SandboxCommandError::exit_code,
        ),
        Some(Command::Completions(args)) => crate::cli::completions(&args),
        Some(Command::Man(args)) => crate::cli::man(&args),
    }
}

/// The exit status of a subcommand's result; an error is printed first (unless its status is
/// 0: a closed pipe).
fn exit<E: std::fmt::Display>(result: Result<u8, E>, code: impl Fn(&E) -> u8) -> ExitCode {
    match result {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            let status = code(&error);
            if status != 0 {
                // Messages quote object names and server answers: never raw control characters,
                // never a password or token from a URL.
                let message = error.to_string();
                let message = crate::cluster::credentials::redact_urls(&message);
                eprintln!(
                    "{}: {}",
                    crate::cli::program_name(),
                    crate::printable::escape_lines(&message)
                );
            }
            ExitCode::from(status)
        }
    }
}
