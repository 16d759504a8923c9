use std::process::ExitCode;

use kubehop::cli::Command;
use kubehop::cmd::logging::{self, LogTarget};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = kubehop::cli::parse();
    // Only `kubehop sandbox --verbose` runs in the foreground and asks for log lines on the
    // terminal (without it, a TUI started in the same terminal is not painted over).
    let stderr_allowed = matches!(&cli.command, Some(Command::Sandbox(args)) if args.verbose);
    let target = LogTarget::choose(cli.log.log_file.as_deref(), stderr_allowed);
    if let Err(error) = logging::init(&target) {
        eprintln!("{}: {error}", kubehop::cli::program_name());
        return ExitCode::from(2);
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "kubehop starts");
    // Restores the terminal before any panic or error report prints.
    if let Err(report) = kubehop::terminal::install_hooks() {
        eprintln!("{}: {report}", kubehop::cli::program_name());
    }
    // The process's one runtime: every subcommand, source and probe runs on it.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!(
                "{}: cannot start the async runtime: {error}",
                kubehop::cli::program_name()
            );
            return ExitCode::FAILURE;
        }
    };
    let status = runtime.block_on(kubehop::cmd::run(cli));
    tracing::info!("kubehop exits");
    status
}
