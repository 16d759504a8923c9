//! `kubehop` without a subcommand: the terminal UI over the chosen source.

use crate::app::{RunOptions, SourceKind};
use crate::cluster::{ClusterError, Source, SourceSettings, Sources};

/// Why the terminal UI stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    /// The source cannot be opened (exit 2).
    #[error(transparent)]
    Source(#[from] ClusterError),
    /// The UI failed (exit 1); printed with its report.
    #[error("{0:?}")]
    App(color_eyre::Report),
}

impl TuiError {
    pub fn exit_code(&self) -> u8 {
        match self {
            TuiError::Source(_) => 2,
            TuiError::App(_) => 1,
        }
    }
}

/// Runs the terminal UI until the user quits.
pub async fn tui(sources: &Sources, settings: &SourceSettings) -> Result<u8, TuiError> {
    let kind = match settings.source {
        Source::Dump(_) => SourceKind::Dump,
        Source::Demo => SourceKind::Demo,
        Source::Live { .. } => SourceKind::Live,
    };
    let feed = sources.open(settings).await?;
    let mut options = RunOptions::new(kind, settings.engine_config());
    // p/P and Shift-F connect through the source's API server.
    options.prober = crate::app::transports_for(&feed, kind);
    // d, l and y read objects, Events and logs through it.
    options.inspector = crate::app::inspector_for(&feed);
    if let Source::Live { kubeconfig, .. } = &settings.source {
        // `:context NAME` in the TUI: the same settings with another context. The app asks
        // from its (synchronous) update loop, so this blocks that worker thread only.
        let sources = sources.clone();
        let settings = settings.clone();
        let kubeconfig = kubeconfig.clone();
        options.switch_context = Some(Box::new(move |name: &str| {
            let settings = SourceSettings {
                source: Source::Live {
                    kubeconfig: kubeconfig.clone(),
                    context: Some(name.to_owned()),
                },
                ..settings.clone()
            };
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(sources.open(&settings))
            })
            .map_err(|error| error.to_string())
        }));
    }
    match crate::app::run(feed, options).await {
        Ok(()) => Ok(0),
        Err(report) => {
            // The report prints after the terminal is back.
            let _ = crate::terminal::restore();
            Err(TuiError::App(report))
        }
    }
}
