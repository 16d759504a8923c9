//! `kubehop forward SERVICE [LOCAL_PORT:]PORT...`: source settings → [`Sources::open`] (the
//! kubeconfig's cluster, watched, or `--demo`) → a forward over its snapshots, dialing pods
//! with a port-forward through the same API server, until Ctrl-C (or SIGTERM).
//!
//! Standard output gets kubectl's lines (`Forwarding from 127.0.0.1:8080 -> svc/web:80`, one
//! per listening socket); standard error gets one compact line per event (pods added to or
//! removed from the set, retries, refusals, broken connections) and source status changes.
//!
//! Exit status: 0 after Ctrl-C, 2 when the forward cannot start (bad arguments, a dump source,
//! no such Service or port, the local port is taken).

use std::io::Write;
use std::sync::Arc;

use super::address::{exposure_warning, listen_addresses};
use super::target::{PortMapping, parse_service};
use super::{ForwardError, ForwardEvent, ForwardOptions, ForwardRequest, Notice};
use crate::cli::ForwardArgs;
use crate::cluster::feed::ConnectionStatus;
use crate::cluster::{ClusterError, Source, SourceSettings, Sources};
use crate::probe::{Dialer, SessionDialer};

/// Exit status when the forward cannot start.
pub const EXIT_USAGE: u8 = 2;

/// Why `kubehop forward` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ForwardCommandError {
    #[error(
        "forwarding needs a live cluster: a dump has no pods to connect to (use --demo, or a kubeconfig context)"
    )]
    NeedsLiveCluster,
    #[error("SERVICE {service:?} names namespace {named:?} but -n says {flag:?}: drop one of them")]
    NamespaceConflict {
        service: String,
        named: String,
        flag: String,
    },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot reach the cluster's API: {0}")]
    Client(#[source] kube::Error),
    #[error(transparent)]
    Forward(#[from] ForwardError),
}

impl ForwardCommandError {
    /// The exit status for this error.
    pub fn exit_code(&self) -> u8 {
        EXIT_USAGE
    }
}

/// `kubehop forward`, printing to standard output and standard error; runs until Ctrl-C.
pub async fn forward(sources: &Sources, args: &ForwardArgs) -> Result<u8, ForwardCommandError> {
    run(sources, &args.source.settings(), args).await?;
    Ok(0)
}

/// The arguments, checked before connecting so that typos fail fast.
fn mappings(args: &ForwardArgs) -> Result<Vec<PortMapping>, ForwardError> {
    args.ports
        .iter()
        .map(|text| PortMapping::parse(text))
        .collect()
}

async fn run(
    sources: &Sources,
    settings: &SourceSettings,
    args: &ForwardArgs,
) -> Result<(), ForwardCommandError> {
    let ports = mappings(args)?;
    let named = named_namespace(settings, args)?;
    // Watch only the Service's namespace: fewer objects, and RBAC limited to it is enough.
    let scoped = match &named {
        Some(named) => settings.in_namespace(named),
        None => settings.clone(),
    };
    let feed = sources.open(&scoped).await?;
    let Some(api) = feed.api.clone() else {
        return Err(ForwardCommandError::NeedsLiveCluster);
    };
    let default_namespace = scoped
        .namespace
        .clone()
        .filter(|namespace| !namespace.is_empty())
        .unwrap_or_else(|| api.default_namespace.clone());
    let service = parse_service(&args.service, &default_namespace)?;
    for note in &feed.notes {
        eprintln!("{}: note: {note}", crate::cli::program_name());
    }
    let addresses = listen_addresses(&args.address);
    if let Some(warning) = exposure_warning(&addresses, &format!("svc/{}", service.name)) {
        eprintln!("{}: {warning}", crate::cli::program_name());
    }
    // New connections follow the source to a re-created cluster (a rewritten kubeconfig).
    let clients = crate::cluster::connector::following_clients(api, feed.api_changes.clone())
        .map_err(ForwardCommandError::Client)?;
    // One SPDY session per pod, a stream pair per connection, as kubectl does (else one
    // WebSocket per connection).
    let dialer: Arc<dyn Dialer> = Arc::new(SessionDialer::following(clients));
    let options = ForwardOptions {
        addresses,
        engine: settings.engine_config(),
        ..ForwardOptions::default()
    };
    let request = ForwardRequest { service, ports };
    let (lines, printer) = printer();
    let handle = super::start(&request, feed.snapshots.clone(), dialer, options, {
        move |event| {
            if let ForwardEvent::Notice(notice) = event {
                // The printer is gone only while the process exits.
                let _ = lines.send(notice);
            }
        }
    })?;
    let mut status = feed.status.clone();
    let statuses = async {
        while status.changed().await.is_ok() {
            let line = status_line(&status.borrow_and_update());
            if let Some(line) = line {
                eprintln!("{}: {line}", crate::cli::program_name());
            }
        }
        // The source stopped: the last set of endpoints stays in use.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = shutdown() => {}
        () = statuses => {}
    }
    handle.stop().await;
    // The sink (and its sender) went with the forward: the printer ends after the last line.
    let _ = tokio::task::spawn_blocking(move || printer.join()).await;
    Ok(())
}

/// The namespace SERVICE names, if any; checks it against `-n` and the source, so that
/// typos fail before connecting.
fn named_namespace(
    settings: &SourceSettings,
    args: &ForwardArgs,
) -> Result<Option<String>, ForwardCommandError> {
    // Validated with a placeholder namespace: the real default comes from the source.
    parse_service(&args.service, "default")?;
    let named = args
        .service
        .split_once('/')
        .map(|(namespace, _)| namespace.to_owned());
    if let (Some(named), Some(flag)) = (&named, &settings.namespace)
        && named != flag
        && !settings.all_namespaces
    {
        return Err(ForwardCommandError::NamespaceConflict {
            service: args.service.clone(),
            named: named.clone(),
            flag: flag.clone(),
        });
    }
    if let Source::Dump(_) = settings.source {
        return Err(ForwardCommandError::NeedsLiveCluster);
    }
    Ok(named)
}

/// What a change of the source's status means for the forward, if worth a line.
pub fn status_line(status: &ConnectionStatus) -> Option<String> {
    match status {
        ConnectionStatus::Connected => Some("watching the cluster again".to_owned()),
        ConnectionStatus::Reconnecting { error, .. } => Some(format!(
            "lost the watch ({error}); new connections use the last known endpoints until it is back"
        )),
        ConnectionStatus::Failed { error } => Some(format!(
            "the watch failed ({error}); new connections use the last known endpoints"
        )),
        ConnectionStatus::Connecting | ConnectionStatus::Static => None,
    }
}

/// The line a notice prints as, and whether it goes to standard output (kubectl's
/// "Forwarding from" lines) rather than standard error.
pub fn notice_line(notice: &Notice) -> (String, bool) {
    match notice {
        Notice::Listening { .. } => (notice.to_string(), true),
        _ => (format!("{}: {notice}", crate::cli::program_name()), false),
    }
}

/// Prints notices on a thread of its own, so the forward's sink never blocks on a terminal.
fn printer() -> (std::sync::mpsc::Sender<Notice>, std::thread::JoinHandle<()>) {
    let (sender, receiver) = std::sync::mpsc::channel::<Notice>();
    let thread = std::thread::spawn(move || {
        for notice in receiver {
            let (line, to_stdout) = notice_line(&notice);
            if to_stdout {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            } else {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
        }
    });
    (sender, thread)
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::Target;

    fn target() -> Target {
        Target::tcp("shop", "web", 80, None)
    }

    #[test]
    fn listening_lines_go_to_stdout_like_kubectl() {
        let local = "127.0.0.1:8080".parse().expect("addr");
        let (line, to_stdout) = notice_line(&Notice::Listening {
            local,
            target: target(),
        });
        assert_eq!(line, "Forwarding from 127.0.0.1:8080 -> svc/web:80");
        assert!(to_stdout);
        let (line, to_stdout) = notice_line(&Notice::Refused {
            target: target(),
            client: "127.0.0.1:50000".parse().expect("addr"),
            reason: "no pod selected".into(),
        });
        assert!(!to_stdout);
        assert!(
            line.starts_with("kubehop: svc/web:80: refused 127.0.0.1:50000"),
            "{line}"
        );
    }

    #[test]
    fn only_real_status_changes_are_reported() {
        assert_eq!(status_line(&ConnectionStatus::Connecting), None);
        let line = status_line(&ConnectionStatus::Reconnecting {
            since: std::time::SystemTime::UNIX_EPOCH,
            error: "connection refused".into(),
        })
        .expect("a line");
        assert!(line.contains("last known endpoints"), "{line}");
    }
}
