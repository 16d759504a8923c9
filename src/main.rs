use std::process::ExitCode;

use clap::Parser;
use kubehop::cli::{Cli, Command};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(report) = color_eyre::install() {
        eprintln!("kubehop: {report}");
    }
    match cli.command {
        Some(Command::Chain(args)) => kubehop::output::run::chain(&cli.source, &args),
        Some(Command::Route(args)) => kubehop::output::run::route(&cli.source, &args),
        None => {
            eprintln!("kubehop: the terminal UI is not built yet");
            ExitCode::from(2)
        }
        Some(command) => {
            eprintln!("kubehop: `{command:?}` is not built yet");
            ExitCode::from(2)
        }
    }
}
