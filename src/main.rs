use std::process::ExitCode;

use kubehop::cli::Command;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    kubehop::tuning::tune_process();
    let cli = kubehop::cli::parse();
    // Restores the terminal before any panic or error report prints.
    if let Err(report) = kubehop::terminal::install_hooks() {
        eprintln!("kubehop: {report}");
    }
    match cli.command {
        None => tui(&cli.source),
        Some(Command::Sandbox(args)) => kubehop::cmd::sandbox::main(&args),
        Some(Command::Chain(args)) => kubehop::output::run::chain(&cli.source, &args),
        Some(Command::Route(args)) => kubehop::output::run::route(&cli.source, &args),
        Some(Command::Probe(args)) => kubehop::output::probe_run::probe(&cli.source, &args),
        Some(Command::Forward(args)) => kubehop::forward::run::main(&cli.source, &args),
        Some(Command::Completions(args)) => kubehop::cli::completions(&args),
        Some(Command::Man(args)) => kubehop::cli::man(&args),
    }
}

/// `kubehop` without a subcommand: the terminal UI over the chosen source.
fn tui(args: &kubehop::cli::SourceArgs) -> ExitCode {
    use kubehop::app::{RunOptions, SourceKind};
    use kubehop::cluster::Source;

    let kind = match Source::from_args(args) {
        Ok(Source::Dump(_)) => SourceKind::Dump,
        Ok(Source::Demo) => SourceKind::Demo,
        Ok(Source::Live { .. }) => SourceKind::Live,
        Err(error) => {
            eprintln!("kubehop: {error}");
            return ExitCode::from(2);
        }
    };
    let feed = match kubehop::cluster::open_feed(args) {
        Ok(feed) => feed,
        Err(error) => {
            eprintln!("kubehop: {error}");
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
    let mut options = RunOptions::new(kind, config);
    // p/P and Shift-F connect through the source's API server.
    options.prober = {
        let _runtime = runtime.enter();
        kubehop::app::transports_for(&feed, kind)
    };
    if kind == SourceKind::Live {
        // `:context NAME` in the TUI: the same flags with another context.
        let args = args.clone();
        options.switch_context = Some(Box::new(move |name: &str| {
            let mut args = args.clone();
            args.context = Some(name.to_owned());
            tokio::task::block_in_place(|| kubehop::cluster::open_feed(&args))
                .map_err(|error| error.to_string())
        }));
    }
    match runtime.block_on(kubehop::app::run(feed, options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            let _ = kubehop::terminal::restore();
            eprintln!("kubehop: {report:?}");
            ExitCode::FAILURE
        }
    }
}
