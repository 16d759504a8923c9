//! The one shape every snapshot source hands to its consumers (the TUI, `chain --watch`, the
//! probe, `forward`): the latest snapshot and the connection status, each on a
//! `tokio::sync::watch` channel, plus a label saying where the data comes from.
//!
//! Dumps publish one snapshot and stay [`ConnectionStatus::Static`]; live sources (kube-rs
//! watchers, the `--demo` sandbox) publish a new snapshot with a higher generation on every
//! coalesced burst of changes and move between connected / reconnecting / failed.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use super::ClusterSnapshot;
use super::dump::{DumpError, DumpLoad};

/// How a source is doing. Stale data stays visible while the source is not `Connected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Still waiting for the first complete snapshot.
    Connecting,
    /// Watching; every kind is current.
    Connected,
    /// Lost the watch; retrying with backoff. The last snapshot is shown, marked stale.
    Reconnecting { since: SystemTime, error: String },
    /// Gave up (or cannot start): the error text says what to do.
    Failed { error: String },
    /// A one-shot source (a dump file): nothing will change.
    Static,
}

impl ConnectionStatus {
    /// Whether the shown snapshot may lag behind the cluster.
    pub fn is_stale(&self) -> bool {
        matches!(
            self,
            ConnectionStatus::Reconnecting { .. } | ConnectionStatus::Failed { .. }
        )
    }
}

/// `HH:MM:SS UTC` of a moment, for status messages.
pub fn utc_clock(time: SystemTime) -> String {
    let seconds = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
        % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Where the data comes from, for the header and messages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceLabel {
    /// Context name, `demo`, or the dump file names.
    pub context: String,
    /// `None` = all namespaces.
    pub namespace: Option<String>,
}

/// The receiving end of a snapshot source.
///
/// When the sending side is dropped (a dump, or a source that stopped), `changed()` returns an
/// error at once: consumers must stop selecting on a closed channel, not spin on it. The last
/// value stays readable with `borrow()`.
#[derive(Debug, Clone)]
pub struct SnapshotFeed {
    pub snapshots: watch::Receiver<Arc<ClusterSnapshot>>,
    pub status: watch::Receiver<ConnectionStatus>,
    pub label: SourceLabel,
    /// Notes to show once (skipped kinds in a dump, forbidden kinds, ...).
    pub notes: Vec<String>,
    /// How to reach the cluster's API (live and `--demo` sources; `None` for a dump): for
    /// commands that connect to pods (port-forwards for probes and forwards).
    pub api: Option<kube::Config>,
    /// How to reach the cluster's API from now on, for a source that follows the kubeconfig
    /// ([`crate::cluster::live::follow`]): changes when it connects to a re-created cluster
    /// (new CA, new credentials). A client built from `api` is rebuilt from this then.
    pub api_changes: Option<watch::Receiver<kube::Config>>,
}

/// The sending end, held by the task that produces snapshots.
#[derive(Debug)]
pub struct FeedPublisher {
    snapshots: watch::Sender<Arc<ClusterSnapshot>>,
    status: watch::Sender<ConnectionStatus>,
}

impl FeedPublisher {
    /// Publishes a new snapshot. Its generation should be higher than the previous one's.
    pub fn publish(&self, snapshot: Arc<ClusterSnapshot>) {
        self.snapshots.send_replace(snapshot);
    }

    /// Reports the connection status; unchanged values do not wake receivers.
    pub fn set_status(&self, status: ConnectionStatus) {
        self.status.send_if_modified(|current| {
            if *current == status {
                false
            } else {
                *current = status;
                true
            }
        });
    }

    /// The status last reported.
    pub fn status(&self) -> ConnectionStatus {
        self.status.borrow().clone()
    }

    /// Whether every receiver is gone (the consumer quit).
    pub fn is_closed(&self) -> bool {
        self.snapshots.is_closed()
    }

    /// Resolves once every snapshot receiver is gone (the consumer quit).
    pub async fn closed(&self) {
        self.snapshots.closed().await;
    }
}

/// A connected publisher/feed pair, starting with an empty snapshot and `Connecting`.
pub fn channel(label: SourceLabel) -> (FeedPublisher, SnapshotFeed) {
    let (snapshots_tx, snapshots_rx) = watch::channel(Arc::new(ClusterSnapshot::default()));
    let (status_tx, status_rx) = watch::channel(ConnectionStatus::Connecting);
    (
        FeedPublisher {
            snapshots: snapshots_tx,
            status: status_tx,
        },
        SnapshotFeed {
            snapshots: snapshots_rx,
            status: status_rx,
            label,
            notes: Vec::new(),
            api: None,
            api_changes: None,
        },
    )
}

/// A feed holding one loaded dump, forever [`ConnectionStatus::Static`].
pub fn from_dump(load: DumpLoad, label: SourceLabel) -> SnapshotFeed {
    let (publisher, mut feed) = channel(label);
    publisher.publish(Arc::new(load.snapshot));
    publisher.set_status(ConnectionStatus::Static);
    feed.notes = load.notes.iter().map(ToString::to_string).collect();
    // Mark the published values as seen so consumers start from them without a change event.
    feed.snapshots.mark_unchanged();
    feed.status.mark_unchanged();
    feed
}

/// Loads `--from-file` paths into a static feed.
pub fn from_dump_paths(
    paths: &[std::path::PathBuf],
    namespace: Option<String>,
) -> Result<SnapshotFeed, DumpError> {
    let load = super::dump::load_paths(paths)?;
    let context = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    Ok(from_dump(load, SourceLabel { context, namespace }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dump_feed_is_static_and_holds_the_snapshot() {
        let load = crate::cluster::dump::load_str(
            "inline.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}\n",
        )
        .expect("valid dump");
        let feed = from_dump(load, SourceLabel::default());
        assert_eq!(*feed.status.borrow(), ConnectionStatus::Static);
        assert_eq!(feed.snapshots.borrow().services.len(), 1);
        // The publisher is gone: no change is pending, and the channel reports closed.
        assert!(feed.snapshots.has_changed().is_err());
    }

    #[test]
    fn status_staleness() {
        assert!(!ConnectionStatus::Connected.is_stale());
        assert!(ConnectionStatus::Failed { error: "x".into() }.is_stale());
    }
}
