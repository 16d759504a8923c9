//! Long-running live sources follow the kubeconfig, as kubectl does by reading it on every call.
//!
//! A cluster re-created on the same address (a restarted `kubehop sandbox`, a new kind, k3d or
//! minikube cluster) comes back with a new CA and new credentials, written to the kubeconfig;
//! the watchers of the old source would retry with the old ones for ever. [`open`] watches
//! the kubeconfig files through their folders (so a file replaced by a rename is seen; inotify,
//! FSEvents or ReadDirectoryChangesW through `notify`, no polling) and reads them again:
//!
//! - when one of them is written, replaced, created or removed, once the writes have paused for
//!   [`SETTLE`] (a file written in several steps is read complete);
//! - when the server's identity or the credentials fail (a TLS error such as an unknown CA,
//!   401), at most every [`RECHECK_INTERVAL`]: a file the kubeconfig points at (a CA file)
//!   may have changed without the kubeconfig.
//!
//! The context and namespace stay those the source started with. When what they resolve to
//! changed (server, CA, TLS settings, credentials), the old source stops and a new one lists
//! every kind afresh; its first complete snapshot replaces the old one whole, so nothing of
//! the old cluster stays. Meanwhile the status is `Reconnecting` and the old snapshot stays
//! visible, marked stale. A kubeconfig that cannot be read or used leaves the running source
//! alone; the reason is added to the status while it is not connected.

use std::collections::HashSet;
use std::ffi::OsString;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::{LiveOptions, LiveSource, missing_notes};
use crate::cluster::client::{
    self, ClientSettings, ClusterError, ClusterTarget, ConfigOrigin, Environment,
};
use crate::cluster::feed::{self, ConnectionStatus, FeedPublisher, SnapshotFeed};

/// How long the kubeconfig files must stay unchanged before they are read again.
pub const SETTLE: Duration = Duration::from_millis(100);

/// The longest a stream of writes delays reading the files again.
const SETTLE_LIMIT: Duration = Duration::from_secs(1);

/// The shortest time between two readings of the kubeconfig caused by identity or credential
/// failures (each may run an exec credential plugin).
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Watches files through their folders; see the module docs.
pub(crate) struct FileWatch {
    changed: Arc<Notify>,
    _watcher: notify::RecommendedWatcher,
}

/// A watched file: its folder and its name.
type WatchedFile = (PathBuf, OsString);

fn watched_file(path: &Path) -> Option<WatchedFile> {
    Some((path.parent()?.to_path_buf(), path.file_name()?.to_owned()))
}

/// Whether `event` may have changed one of `files` (reading them does not count).
fn concerns(event: &notify::Event, files: &HashSet<WatchedFile>) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    let relevant = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    // A rescan request (the kernel's queue overflowed) names no path: anything may have changed.
    relevant
        && (event.need_rescan()
            || event
                .paths
                .iter()
                .filter_map(|path| watched_file(path))
                .any(|file| files.contains(&file)))
}

impl FileWatch {
    /// Watches `files` (which need not exist yet); `None` when no folder can be watched.
    pub(crate) fn new(files: &[PathBuf]) -> Option<FileWatch> {
        let mut watched = HashSet::new();
        for file in files {
            let Ok(absolute) = std::path::absolute(file) else {
                continue;
            };
            watched.extend(watched_file(&absolute));
            // A link's target may be replaced instead of the link.
            if let Ok(real) = std::fs::canonicalize(&absolute) {
                watched.extend(watched_file(&real));
            }
        }
        let changed = Arc::new(Notify::new());
        let wake = changed.clone();
        let files = watched.clone();
        let handler = move |event: notify::Result<notify::Event>| match event {
            Ok(event) if !concerns(&event, &files) => {}
            // An error of the watcher may mean missed events: read the files again.
            _ => wake.notify_one(),
        };
        let mut watcher = notify::recommended_watcher(handler)
            .map_err(|error| tracing::warn!("cannot watch the kubeconfig: {error}"))
            .ok()?;
        let folders: HashSet<&Path> = watched.iter().map(|(folder, _)| folder.as_path()).collect();
        let mut watching = false;
        for folder in folders {
            use notify::Watcher;
            match watcher.watch(folder, notify::RecursiveMode::NonRecursive) {
                Ok(()) => watching = true,
                Err(error) => tracing::debug!("cannot watch {}: {error}", folder.display()),
            }
        }
        watching.then_some(FileWatch {
            changed,
            _watcher: watcher,
        })
    }

    /// Resolves once a watched file changed and then stayed unchanged for [`SETTLE`] (at most
    /// [`SETTLE_LIMIT`] after the first change).
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
        let limit = Instant::now() + SETTLE_LIMIT;
        loop {
            tokio::select! {
                () = self.changed.notified() => {}
                () = tokio::time::sleep(SETTLE) => return,
                () = tokio::time::sleep_until(limit) => return,
            }
        }
    }
}

/// What decides whether a new connection is needed: the server, how it is verified and the
/// credentials (never shown; only compared within this process).
fn fingerprint(config: &kube::Config) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    config.cluster_url.to_string().hash(&mut hasher);
    config.root_cert.hash(&mut hasher);
    config.root_cert_file.hash(&mut hasher);
    config.accept_invalid_certs.hash(&mut hasher);
    config.tls_server_name.hash(&mut hasher);
    config
        .proxy_url
        .as_ref()
        .map(ToString::to_string)
        .hash(&mut hasher);
    let auth = &config.auth_info;
    serde_json::to_string(auth)
        .unwrap_or_default()
        .hash(&mut hasher);
    // Client certificates named by path are read when the client is built.
    for path in [&auth.client_certificate, &auth.client_key]
        .into_iter()
        .flatten()
    {
        std::fs::read(path).ok().hash(&mut hasher);
    }
    hasher.finish()
}

/// The settings that resolve to the same context and namespaces as `target` did.
fn pinned(settings: &ClientSettings, target: &ClusterTarget) -> ClientSettings {
    ClientSettings {
        context: Some(target.context.clone()),
        namespace: target.scope.namespace().map(str::to_owned),
        all_namespaces: target.scope.namespace().is_none(),
        ..settings.clone()
    }
}

/// Connects like kubectl ([`client::connect`]) and watches the cluster; a cluster from
/// kubeconfig files is followed (see the module docs). Returns the feed once the first complete
/// snapshot is there; the source runs until every clone of the feed is dropped.
pub async fn open(
    settings: &ClientSettings,
    env: Environment,
) -> Result<SnapshotFeed, ClusterError> {
    // Watching first: a change while connecting is not missed.
    let files = client::kubeconfig_candidates(settings.kubeconfig.as_deref(), &env);
    let watch = FileWatch::new(&files);
    let (mut target, user) = client::resolve_unsettled(settings, &env).await?;
    // What the kubeconfig says, before an exec plugin runs (as the follower compares it).
    let fingerprint = fingerprint(&target.config);
    client::settle_credentials(&mut target, &user).await?;
    let client = client::build_client(&target)?;
    client::check_server(&client, &target).await?;
    drop(client);
    if !matches!(target.origin, ConfigOrigin::Files(_)) {
        // The service account's token file is re-read by kube-rs itself.
        return super::watch_target(target, Box::new(())).await;
    }
    let (identity_tx, identity_rx) = mpsc::unbounded_channel();
    let options = LiveOptions {
        identity_failures: Some(identity_tx.clone()),
        ..LiveOptions::default()
    };
    let mut source = LiveSource::start(&target, options)?;
    let first = source.first_snapshot().await?;
    let (mut inner, _task) = source.into_parts();
    let (publisher, mut feed) = feed::channel(inner.label.clone());
    publisher.publish(first.clone());
    publisher.set_status(inner.status.borrow_and_update().clone());
    inner.snapshots.mark_unchanged();
    feed.notes = missing_notes(&first);
    feed.api = Some(target.config.clone());
    let (api_tx, api_rx) = watch::channel(target.config.clone());
    feed.api_changes = Some(api_rx);
    feed.snapshots.mark_unchanged();
    feed.status.mark_unchanged();
    let follower = Follower {
        settings: pinned(settings, &target),
        env,
        fingerprint,
        inner,
        publisher,
        generation: first.generation,
        switching: None,
        problem: None,
        identity_tx,
        last_recheck: None,
        api: api_tx,
    };
    tokio::spawn(follower.run(watch, identity_rx));
    Ok(feed)
}

/// A change of source in progress: since when, and why.
#[derive(Debug, Clone)]
struct Switch {
    since: SystemTime,
    reason: String,
}

/// Forwards the current source's snapshots and status, and replaces the source when the
/// kubeconfig changes what it connects to.
struct Follower {
    settings: ClientSettings,
    env: Environment,
    fingerprint: u64,
    /// The current source's feed; dropping it stops that source.
    inner: SnapshotFeed,
    publisher: FeedPublisher,
    /// The last generation published.
    generation: u64,
    /// Set from a change of source until the new source's first snapshot.
    switching: Option<Switch>,
    /// Why the kubeconfig as it is now cannot be used, if it cannot.
    problem: Option<String>,
    identity_tx: mpsc::UnboundedSender<()>,
    last_recheck: Option<Instant>,
    /// The API configuration of the current source, for the feed's `api_changes`.
    api: watch::Sender<kube::Config>,
}

/// Resolves when `receiver` changes; never when its sender is gone.
async fn changed<T>(receiver: &mut watch::Receiver<T>) {
    if receiver.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves when `watch` reports a change; never without a watch.
async fn file_changed(watch: Option<&FileWatch>) {
    match watch {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
    }
}

impl Follower {
    async fn run(mut self, watch: Option<FileWatch>, mut identity: mpsc::UnboundedReceiver<()>) {
        loop {
            tokio::select! {
                biased;
                () = self.publisher.closed() => return,
                () = changed(&mut self.inner.status) => self.update_status(),
                () = changed(&mut self.inner.snapshots) => self.forward_snapshot(),
                () = file_changed(watch.as_ref()) => {
                    self.reload("the kubeconfig changed").await;
                }
                Some(()) = identity.recv() => {
                    let due = self
                        .last_recheck
                        .is_none_or(|last| last.elapsed() >= RECHECK_INTERVAL);
                    if due {
                        self.reload("the server's certificate or the credentials changed").await;
                    }
                }
            }
        }
    }

    /// The status to show: the current source's, or a switch in progress.
    fn update_status(&mut self) {
        let inner = self.inner.status.borrow_and_update().clone();
        let status = match (&self.switching, inner) {
            (Some(switch), ConnectionStatus::Reconnecting { error, .. })
            | (Some(switch), ConnectionStatus::Failed { error }) => {
                ConnectionStatus::Reconnecting {
                    since: switch.since,
                    error: format!("{}; {error}", switch.reason),
                }
            }
            (Some(switch), _) => ConnectionStatus::Reconnecting {
                since: switch.since,
                error: switch.reason.clone(),
            },
            (None, ConnectionStatus::Reconnecting { since, error }) => {
                ConnectionStatus::Reconnecting {
                    since,
                    error: self.with_problem(error),
                }
            }
            (None, ConnectionStatus::Failed { error }) => ConnectionStatus::Failed {
                error: self.with_problem(error),
            },
            (None, other) => other,
        };
        self.publisher.set_status(status);
    }

    fn with_problem(&self, error: String) -> String {
        match &self.problem {
            Some(problem) => format!("{error}; {problem}"),
            None => error,
        }
    }

    /// Publishes the current source's snapshot; the first one of a new source ends the switch.
    fn forward_snapshot(&mut self) {
        let snapshot = self.inner.snapshots.borrow_and_update().clone();
        if snapshot.generation <= self.generation {
            return;
        }
        self.generation = snapshot.generation;
        if self.switching.take().is_some() {
            // The new source's first snapshot: connected from now on (its own status may lag).
            let status = self.inner.status.borrow_and_update().clone();
            self.publisher.set_status(match status {
                ConnectionStatus::Connecting => ConnectionStatus::Connected,
                other => other,
            });
        }
        self.publisher.publish(snapshot);
    }

    /// Reads the kubeconfig again; starts a new source when it resolves to another server,
    /// CA or credentials.
    async fn reload(&mut self, reason: &str) {
        self.last_recheck = Some(Instant::now());
        let resolved = client::resolve_unsettled(&self.settings, &self.env).await;
        let (mut target, user) = match resolved {
            Ok(resolved) => resolved,
            Err(error) => {
                self.problem = Some(format!("the kubeconfig cannot be used: {error}"));
                self.update_status();
                return;
            }
        };
        self.problem = None;
        let fingerprint = fingerprint(&target.config);
        if fingerprint == self.fingerprint {
            self.update_status();
            return;
        }
        if let Err(error) = client::settle_credentials(&mut target, &user).await {
            self.problem = Some(format!("the kubeconfig cannot be used: {error}"));
            self.update_status();
            return;
        }
        let options = LiveOptions {
            generation_base: self.generation,
            identity_failures: Some(self.identity_tx.clone()),
            ..LiveOptions::default()
        };
        let source = match LiveSource::start(&target, options) {
            Ok(source) => source,
            Err(error) => {
                self.problem = Some(format!("the kubeconfig cannot be used: {error}"));
                self.update_status();
                return;
            }
        };
        tracing::info!("{reason}: connecting to {} again", target.url());
        self.fingerprint = fingerprint;
        self.api.send_replace(target.config.clone());
        // Dropping the old feed stops the old source.
        self.inner = source.into_feed();
        // Already stale (the old server went away first): stale since then.
        let since = match self.publisher.status() {
            ConnectionStatus::Reconnecting { since, .. } => since,
            _ => SystemTime::now(),
        };
        self.switching = Some(Switch {
            since,
            reason: format!("{reason}; connecting to {} again", target.url()),
        });
        self.update_status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};

    fn event(kind: EventKind, paths: &[&str]) -> notify::Event {
        paths.iter().fold(notify::Event::new(kind), |event, path| {
            event.add_path(path.into())
        })
    }

    #[test]
    fn only_changes_of_watched_files_count() {
        let files: HashSet<WatchedFile> = [watched_file(Path::new("/k/config")).expect("a file")]
            .into_iter()
            .collect();
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert!(concerns(
            &event(rename, &["/k/.config.tmp", "/k/config"]),
            &files
        ));
        let create = EventKind::Create(CreateKind::File);
        assert!(concerns(&event(create, &["/k/config"]), &files));
        assert!(!concerns(&event(create, &["/k/other"]), &files));
        let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
        assert!(!concerns(&event(read, &["/k/config"]), &files));
        let written = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert!(concerns(&event(written, &["/k/config"]), &files));
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    /// A fresh folder under the system temp folder.
    fn folder(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("kubehop-follow-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the folder");
        dir
    }

    /// Whether `watch` reports a change within a generous deadline.
    async fn reports(watch: &FileWatch) -> bool {
        tokio::time::timeout(Duration::from_secs(10), watch.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn writes_renames_and_new_files_are_seen_reads_and_other_files_are_not() {
        let dir = folder("watch");
        let config = dir.join("config");
        let later = dir.join("later");
        std::fs::write(&config, "one").expect("write");
        let watch = FileWatch::new(&[config.clone(), later.clone()]).expect("a watch");

        // Reading the file and writing another one in the folder are no news.
        assert_eq!(std::fs::read_to_string(&config).expect("read"), "one");
        std::fs::write(dir.join("unrelated"), "x").expect("write");
        let quiet = tokio::time::timeout(SETTLE * 5, watch.changed()).await;
        assert!(quiet.is_err(), "no change reported");

        // Written in place.
        std::fs::write(&config, "two").expect("write");
        assert!(reports(&watch).await, "an in-place write");
        // Replaced by a rename (how kubeconfigs are written atomically).
        let temporary = dir.join(".config.tmp");
        std::fs::write(&temporary, "three").expect("write");
        std::fs::rename(&temporary, &config).expect("rename");
        assert!(reports(&watch).await, "a rename over the file");
        // A file of the list that did not exist yet.
        std::fs::write(&later, "four").expect("write");
        assert!(reports(&watch).await, "a new file");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
