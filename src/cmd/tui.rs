//! `kubehop` without a subcommand: the terminal UI over the chosen source.

use crate::app::{AppState, RunOptions, SourceKind};
use crate::cluster::client::{self, Environment};
use crate::cluster::feed::{SnapshotFeed, SourceLabel};
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

/// Runs the terminal UI until the user quits. The first frame is painted at once and says
/// what is being waited for (the demo cluster starting, the connection to a context); the
/// panes follow with the first snapshot.
pub async fn tui(sources: &Sources, settings: &SourceSettings) -> Result<u8, TuiError> {
    let kind = match settings.source {
        Source::Dump(_) => SourceKind::Dump,
        Source::Demo => SourceKind::Demo,
        Source::Live { .. } => SourceKind::Live,
    };
    if kind == SourceKind::Dump || !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        // A dump loads at once; its errors print before the terminal is taken (and so do a
        // live source's when there is no terminal to paint on).
        let feed = sources.open(settings).await?;
        let options = options_for(&feed, sources, settings, kind);
        return finish(crate::app::run(feed, options).await.map(Ok));
    }
    let (label, waiting) = starting_label(settings);
    let mut first = AppState::new(
        label,
        kind,
        settings.engine_config(),
        crate::app::Size {
            width: 80,
            height: 24,
        },
    );
    first.starting = Some(waiting);
    let theme = crate::ui::theme::Theme::from_env();
    let opened = crate::app::run_opening(
        first,
        sources.open(settings),
        |feed| options_for(feed, sources, settings, kind),
        &theme,
    )
    .await;
    finish(opened)
}

fn finish(result: color_eyre::Result<Result<(), ClusterError>>) -> Result<u8, TuiError> {
    match result {
        Ok(Ok(())) => Ok(0),
        Ok(Err(error)) => Err(TuiError::Source(error)),
        Err(report) => {
            // The report prints after the terminal is back.
            let _ = crate::terminal::restore();
            Err(TuiError::App(report))
        }
    }
}

/// Where the first frame says kubehop is going: the demo, or the context and its server as
/// the kubeconfig names them (read without connecting).
fn starting_label(settings: &SourceSettings) -> (SourceLabel, String) {
    let namespace = settings.scope_namespace().map(str::to_owned);
    let Source::Live {
        kubeconfig,
        context,
    } = &settings.source
    else {
        let label = SourceLabel {
            context: crate::cluster::live::DEMO_CONTEXT.to_owned(),
            namespace,
        };
        return (label, "starting the demo cluster…".to_owned());
    };
    let env = Environment::from_process();
    let files = client::kubeconfig_files(kubeconfig.as_deref(), &env).files;
    let config = client::read_kubeconfigs(&files).ok();
    let name = context
        .clone()
        .or_else(|| config.as_ref().and_then(|c| c.current_context.clone()));
    let server = config
        .as_ref()
        .zip(name.as_ref())
        .and_then(|(config, name)| {
            let cluster = config
                .contexts
                .iter()
                .find(|named| &named.name == name)?
                .context
                .as_ref()?
                .cluster
                .clone();
            config
                .clusters
                .iter()
                .find(|named| named.name == cluster)?
                .cluster
                .as_ref()?
                .server
                .clone()
        });
    let context_name = name.unwrap_or_else(|| "the cluster".to_owned());
    let waiting = match server {
        Some(server) => format!(
            "connecting to {context_name} ({})…",
            crate::cluster::credentials::redact_urls(&server)
        ),
        None => format!("connecting to {context_name}…"),
    };
    let label = SourceLabel {
        context: context_name,
        namespace,
    };
    (label, waiting)
}

/// The app's options for an open feed: probes, forwards and the drill-down connect through
/// its API server; `:ctx NAME` reopens the source on another context.
fn options_for(
    feed: &SnapshotFeed,
    sources: &Sources,
    settings: &SourceSettings,
    kind: SourceKind,
) -> RunOptions {
    let mut options = RunOptions::new(kind, settings.engine_config());
    // p/P and Shift-F connect through the source's API server.
    options.prober = crate::app::transports_for(feed, kind);
    // d, l and y read objects, Events and logs through it.
    options.inspector = crate::app::inspector_for(feed);
    if let Source::Live { kubeconfig, .. } = &settings.source {
        options.contexts = context_names(kubeconfig.as_deref());
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
    options
}

/// The context names of the kubeconfig files in use, in their order (read-only; control
/// characters dropped).
fn context_names(kubeconfig: Option<&std::path::Path>) -> Vec<String> {
    let env = Environment::from_process();
    let files = client::kubeconfig_files(kubeconfig, &env).files;
    let Ok(config) = client::read_kubeconfigs(&files) else {
        return Vec::new();
    };
    config
        .contexts
        .iter()
        .map(|named| named.name.chars().filter(|c| !c.is_control()).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(kubeconfig: Option<std::path::PathBuf>, context: Option<&str>) -> SourceSettings {
        SourceSettings {
            source: Source::Live {
                kubeconfig,
                context: context.map(str::to_owned),
            },
            ..SourceSettings::default()
        }
    }

    #[test]
    fn the_first_frame_names_the_context_and_its_server_without_connecting() {
        let dir = std::env::temp_dir().join(format!("kubehop-starting-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let path = dir.join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: prod\n\
             clusters:\n- name: c1\n  cluster: {server: 'https://user:secret@10.0.0.1:6443'}\n\
             - name: c2\n  cluster: {server: 'https://127.0.0.1:7443'}\n\
             contexts:\n- name: prod\n  context: {cluster: c1, user: u}\n\
             - name: dev\n  context: {cluster: c2, user: u}\n\
             users:\n- name: u\n  user: {}\n",
        )
        .expect("a kubeconfig");
        let (label, waiting) = starting_label(&live(Some(path.clone()), None));
        assert_eq!(label.context, "prod");
        assert!(
            waiting.starts_with("connecting to prod (https://"),
            "{waiting}"
        );
        assert!(waiting.contains("10.0.0.1:6443)…"), "{waiting}");
        assert!(
            !waiting.contains("secret"),
            "no password in the frame: {waiting}"
        );
        let (label, waiting) = starting_label(&live(Some(path), Some("dev")));
        assert_eq!(label.context, "dev");
        assert_eq!(waiting, "connecting to dev (https://127.0.0.1:7443)…");
        let demo = SourceSettings {
            source: Source::Demo,
            ..SourceSettings::default()
        };
        assert_eq!(starting_label(&demo).1, "starting the demo cluster…");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
