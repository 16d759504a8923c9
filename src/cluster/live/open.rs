//! [`Sources`]: source settings → a [`SnapshotFeed`], for every command (chain, route, probe,
//! forward, the TUI).
//!
//! Dumps load at once. Live sources (the kubeconfig's cluster, the `--demo` cluster) run as
//! tasks on the caller's tokio runtime (the process has one) until every clone of the feed is
//! dropped. Opening returns once the first complete snapshot is there (or with the error that
//! prevents it), so a one-shot command can print at once and a connection problem is an
//! error, not an empty view.
//!
//! The cluster layer does not know the embedded sandbox: the binary hands a
//! [`DemoCluster`] to [`Sources::with_demo`], and `--demo` starts that.

use std::any::Any;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::{LiveOptions, LiveSource, follow};
use crate::cluster::client::{self, ClusterError, ClusterTarget, Environment, Scope};
use crate::cluster::feed::{self, SnapshotFeed};
use crate::cluster::{ClusterSnapshot, ResourceKind, Source, SourceSettings};

/// The context name shown for `--demo`.
pub const DEMO_CONTEXT: &str = "demo";

/// A running demo cluster: how to reach its API, and what keeps it running (dropped once the
/// source watching it stops).
pub struct DemoStarted {
    pub config: kube::Config,
    pub keep_alive: Box<dyn Any + Send>,
}

/// Starts the cluster `--demo` shows (the binary provides it: the embedded sandbox).
pub trait DemoCluster: Send + Sync {
    fn start(&self) -> BoxFuture<'static, Result<DemoStarted, ClusterError>>;
}

/// Opens sources from their settings. `Sources::default()` opens dumps and kubeconfig
/// clusters; `--demo` needs [`Sources::with_demo`].
#[derive(Clone, Default)]
pub struct Sources {
    demo: Option<Arc<dyn DemoCluster>>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("demo", &self.demo.is_some())
            .finish()
    }
}

impl Sources {
    /// Dumps and kubeconfig clusters, plus `demo` for `--demo`.
    pub fn with_demo(demo: impl DemoCluster + 'static) -> Self {
        Sources {
            demo: Some(Arc::new(demo)),
        }
    }

    /// Opens the source the settings name and waits for its first complete snapshot.
    ///
    /// - a dump: loaded into a static feed;
    /// - `--demo`: the demo cluster, watched (every namespace unless `-n`);
    /// - otherwise the kubeconfig's cluster ([`client`] explains the loading rules), watched,
    ///   following the kubeconfig files ([`super::follow`]: a cluster re-created with new
    ///   credentials is connected to again).
    ///
    /// Kinds that are forbidden or not served are listed in the feed's `notes`. Live sources
    /// run on the current tokio runtime.
    pub async fn open(&self, settings: &SourceSettings) -> Result<SnapshotFeed, ClusterError> {
        match &settings.source {
            Source::Dump(paths) => {
                let namespace = settings.scope_namespace().map(str::to_owned);
                Ok(feed::from_dump_paths(paths, namespace)?)
            }
            // Re-created clusters come back with new credentials in the kubeconfig: followed.
            Source::Live { .. } => {
                follow::open(&settings.client(), Environment::from_process()).await
            }
            Source::Demo => {
                let demo = self.demo.as_ref().ok_or(ClusterError::NoDemo)?;
                let started = demo.start().await?;
                watch_target(demo_target(started.config, settings), started.keep_alive).await
            }
        }
    }
}

/// Opens a dump or the kubeconfig's cluster (`--demo` is [`ClusterError::NoDemo`] here; see
/// [`Sources::with_demo`]).
pub async fn open_feed(settings: &SourceSettings) -> Result<SnapshotFeed, ClusterError> {
    Sources::default().open(settings).await
}

/// Watches `target` on the current runtime; returns the feed once the first complete snapshot
/// is there. `keep_alive` is dropped when the source stops (every feed clone dropped).
pub async fn watch_target(
    target: ClusterTarget,
    keep_alive: Box<dyn Any + Send>,
) -> Result<SnapshotFeed, ClusterError> {
    let mut source = LiveSource::start(&target, LiveOptions::default())?;
    let snapshot = source.first_snapshot().await?;
    let (mut feed, task) = source.into_parts();
    feed.notes = missing_notes(&snapshot);
    feed.api = Some(target.config);
    // Consumers start from the first snapshot without a change event.
    feed.snapshots.mark_unchanged();
    feed.status.mark_unchanged();
    tokio::spawn(async move {
        // Ends once every clone of the feed is dropped; the demo cluster lives as long.
        let _ = task.await;
        drop(keep_alive);
    });
    Ok(feed)
}

/// The target for the demo cluster: every namespace unless `-n` is given.
fn demo_target(config: kube::Config, settings: &SourceSettings) -> ClusterTarget {
    let scope = match settings.scope_namespace() {
        Some(namespace) => Scope::Namespace(namespace.to_owned()),
        None => Scope::All,
    };
    let mut target = ClusterTarget::new(config, DEMO_CONTEXT, scope);
    client::tune_config(&mut target.config, settings.request_timeout);
    target.request_timeout = settings.request_timeout;
    target
}

/// One note per kind the source could not provide, with what that costs. A cluster without
/// the Gateway API gets none: it is optional, and the TUI says so in its header.
pub fn missing_notes(snapshot: &Arc<ClusterSnapshot>) -> Vec<String> {
    snapshot
        .missing
        .iter()
        .filter(|missing| !missing.kind.is_gateway_api())
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
                ResourceKind::IngressClass => "no Ingress class checks",
                ResourceKind::NetworkPolicy => "no NetworkPolicy verdicts",
                _ => "no Gateway API hops",
            };
            format!("{} left out: {}; {effect}", missing.kind, missing.reason)
        })
        .collect()
}
