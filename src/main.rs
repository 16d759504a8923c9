use std::process::ExitCode;

use clap::Parser;
use kubehop::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(report) = color_eyre::install() {
        eprintln!("kubehop: {report}");
    }
    match cli.command {
        None => {
            eprintln!("kubehop: the terminal UI is not built yet");
            ExitCode::from(2)
        }
        Some(Command::Sandbox(args)) => kubehop::sandbox::run::main(&args),
        Some(command) => {
            eprintln!("kubehop: `{command:?}` is not built yet");
            ExitCode::from(2)
        }
    }
}
