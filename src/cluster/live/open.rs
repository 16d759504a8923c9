//! [`open_feed`]: source flags → a [`SnapshotFeed`], for every command (chain, route, probe,
//! forward, the TUI).
//!
//! Dumps load synchronously. The live and demo sources run on a background thread with their
//! own tokio runtime, so `open_feed` works from plain synchronous code and from inside another
//! runtime alike; the thread ends when every clone of the feed is dropped. `open_feed` returns
//! once the first complete snapshot is there (or with the error that prevents it), so a
//! one-shot command can print at once and a connection problem is an error, not an empty view.

use std::sync::Arc;

use super::{LiveOptions, LiveSource};
use crate::cli::SourceArgs;
use crate::cluster::client::{
    self, ClientSettings, ClusterError, ClusterTarget, Environment, Scope,
};
use crate::cluster::feed::{self, SnapshotFeed};
use crate::cluster::{ClusterSnapshot, ResourceKind, Source};
use crate::sandbox::SandboxHandle;

/// The context name shown for `--demo`.
pub const DEMO_CONTEXT: &str = "demo";

/// Opens the source the flags name and waits for its first complete snapshot.
///
/// - `--from-file`: the dump, as a static feed;
/// - `--demo`: the embedded sandbox with the built-in scenario (every namespace unless `-n`);
/// - otherwise the kubeconfig's cluster ([`client`] explains the loading rules), watched live.
///
/// Kinds that are forbidden or not served are listed in the feed's `notes`. Blocks the calling
/// thread while connecting and listing.
pub fn open_feed(args: &SourceArgs) -> Result<SnapshotFeed, ClusterError> {
    match Source::from_args(args)? {
        Source::Dump(paths) => {
            let namespace = (!args.all_namespaces)
                .then(|| args.namespace.clone())
                .flatten();
            Ok(feed::from_dump_paths(&paths, namespace)?)
        }
        Source::Demo => {
            let settings = ClientSettings::from_args(args)?;
            in_background(Job::Demo(settings))
        }
        Source::Live { .. } => {
            let settings = ClientSettings::from_args(args)?;
            in_background(Job::Live(settings))
        }
    }
}

enum Job {
    Live(ClientSettings),
    Demo(ClientSettings),
}

/// Runs the source on its own thread and runtime; returns its feed after the first snapshot.
fn in_background(job: Job) -> Result<SnapshotFeed, ClusterError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kubehop-source")
        .enable_all()
        .build()
        .map_err(ClusterError::Runtime)?;
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("kubehop-source".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let (mut source, sandbox, api) = match start(job).await {
                    Ok(started) => started,
                    Err(error) => {
                        let _ = sender.send(Err(error));
                        return;
                    }
                };
                let snapshot = match source.first_snapshot().await {
                    Ok(snapshot) => snapshot,
                    Err(error) => {
                        let _ = sender.send(Err(error));
                        return;
                    }
                };
                let (mut feed, task) = source.into_parts();
                feed.notes = missing_notes(&snapshot);
                feed.api = Some(api);
                // Consumers start from the first snapshot without a change event.
                feed.snapshots.mark_unchanged();
                feed.status.mark_unchanged();
                if sender.send(Ok(feed)).is_err() {
                    return;
                }
                // Runs until every clone of the feed is dropped; the sandbox lives as long.
                let _ = task.await;
                drop(sandbox);
            });
        })
        .map_err(ClusterError::Runtime)?;
    receiver.recv().map_err(|_| ClusterError::Stopped)?
}

/// The source, the demo cluster it watches (if any) and the API configuration it uses.
async fn start(
    job: Job,
) -> Result<(LiveSource, Option<SandboxHandle>, kube::Config), ClusterError> {
    match job {
        Job::Live(settings) => {
            let target = client::resolve(&settings, &Environment::from_process()).await?;
            let client = client::build_client(&target)?;
            client::check_server(&client, &target).await?;
            let source = LiveSource::start(&target, LiveOptions::default())?;
            Ok((source, None, target.config))
        }
        Job::Demo(settings) => {
            let (target, sandbox) = start_demo(&settings).await?;
            let source = LiveSource::start(&target, LiveOptions::default())?;
            Ok((source, Some(sandbox), target.config))
        }
    }
}

/// Starts the demo cluster (the sandbox with its control plane and data plane, built-in
/// scenario) and the target to watch it: every namespace unless `-n` is given.
async fn start_demo(
    settings: &ClientSettings,
) -> Result<(ClusterTarget, SandboxHandle), ClusterError> {
    let sandbox = crate::sandbox::start_demo()
        .await
        .map_err(ClusterError::Demo)?;
    let config = sandbox.config().await.map_err(ClusterError::Demo)?;
    let scope = match (&settings.namespace, settings.all_namespaces) {
        (Some(namespace), false) => Scope::Namespace(namespace.clone()),
        _ => Scope::All,
    };
    let mut target = ClusterTarget::new(config, DEMO_CONTEXT, scope);
    client::tune_config(&mut target.config, settings.request_timeout);
    target.request_timeout = settings.request_timeout;
    Ok((target, sandbox))
}

/// One note per kind the source could not provide, with what that costs.
pub fn missing_notes(snapshot: &Arc<ClusterSnapshot>) -> Vec<String> {
    snapshot
        .missing
        .iter()
        .map(|missing| {
            let effect = match missing.kind {
                ResourceKind::Service => "no Services to show",
                ResourceKind::EndpointSlice => {
                    "endpoints are derived from pods by the EndpointSlice controller's rules"
                }
                ResourceKind::Pod => {
                    "no pod-based diagnostics (selector near-misses, named targetPorts) and no endpoints for Services without EndpointSlices"
                }
                ResourceKind::Node => "NodePort rows show the port but no node addresses",
                ResourceKind::Ingress => "no Ingress hops",
                ResourceKind::Namespace => "namespaces are known only from their objects",
            };
            format!("{} left out: {}; {effect}", missing.kind, missing.reason)
        })
        .collect()
}
