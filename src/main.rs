use std::process::ExitCode;

use clap::Parser;
use kubehop::cli::{Cli, Command};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Restores the terminal before any panic or error report prints.
    if let Err(report) = kubehop::terminal::install_hooks() {
        eprintln!("kubehop: {report}");
    }
    match cli.command {
        None => tui(&cli.source),
        Some(Command::Sandbox(args)) => kubehop::sandbox::run::main(&args),
        Some(Command::Chain(args)) => kubehop::output::run::chain(&cli.source, &args),
        Some(Command::Route(args)) => kubehop::output::run::route(&cli.source, &args),
        Some(command) => {
            eprintln!("kubehop: `{command:?}` is not built yet");
            ExitCode::from(2)
        }
    }
}

/// `kubehop` without a subcommand: the terminal UI over the chosen source.
fn tui(args: &kubehop::cli::SourceArgs) -> ExitCode {
    use kubehop::app::{RunOptions, SourceKind};
    use kubehop::cluster::{Source, feed};

    let source = match Source::from_args(args) {
        Ok(source) => source,
        Err(error) => {
            eprintln!("kubehop: {error}");
            return ExitCode::from(2);
        }
    };
    let namespace = if args.all_namespaces {
        None
    } else {
        args.namespace.clone()
    };
    let (feed, kind) = match source {
        Source::Dump(paths) => match feed::from_dump_paths(&paths, namespace) {
            Ok(feed) => (feed, SourceKind::Dump),
            Err(error) => {
                eprintln!("kubehop: {error}");
                return ExitCode::from(2);
            }
        },
        Source::Demo => {
            eprintln!(
                "kubehop: --demo is not available yet in this build; use --from-file assets/scenarios/demo-all.yaml"
            );
            return ExitCode::from(2);
        }
        Source::Live { .. } => {
            eprintln!(
                "kubehop: reading a live cluster (kubeconfig) is not available yet in this build; use --from-file DUMP"
            );
            return ExitCode::from(2);
        }
    };
    let config = kubehop::engine::EngineConfig {
        cluster_domain: args.cluster_domain.clone(),
        ..kubehop::engine::EngineConfig::default()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kubehop: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kubehop::app::run(feed, RunOptions::new(kind, config))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            let _ = kubehop::terminal::restore();
            eprintln!("kubehop: {report:?}");
            ExitCode::FAILURE
        }
    }
}
