//! The live source: kube-runtime watchers that keep an always-current [`ClusterSnapshot`].
//!
//! One `watcher` + reflector store per kind (Services, EndpointSlices, Pods, Nodes, Ingresses,
//! Namespaces, and the optional IngressClasses, NetworkPolicies and Gateway API kinds) with
//! `default_backoff()`, objects trimmed before caching ([`trim`]), pods converted to the engine's
//! compact `PodInfo` instead ([`pods`]). The Gateway API kinds are
//! custom resources: [`gateway`] discovers which of them the cluster serves, in which version,
//! and starts their watchers (also when the CRDs are installed later). A
//! coordinator task turns what the watchers report into snapshots and a connection status on a
//! [`SnapshotFeed`]:
//!
//! - the first snapshot is published once every kind has finished its initial list
//!   (`InitDone`) or turned out to be unavailable (403 Forbidden, 404 not served);
//! - afterwards bursts of changes are coalesced: a snapshot goes out [`QUIET_PERIOD`] after the
//!   last change, or [`COALESCE_WINDOW`] after the first one at the latest, with generation + 1;
//! - a kind the user may not list or watch is left out and recorded in
//!   [`ClusterSnapshot::missing`] (except IngressClasses and NetworkPolicies, which are
//!   optional: without them the Ingress class checks stay silent and no pod is isolated; so are
//!   the Gateway API kinds, except that a cluster without the Gateway API at all is one
//!   `missing` entry, kind `gateways`, which the views show as one line and never as a note);
//!   the rest keeps working, and the kind comes back when the permission does;
//! - watch errors, 410 Gone, API server restarts and stalled connections are retried with
//!   backoff by the watchers and shown as [`ConnectionStatus::Reconnecting`]; the status turns
//!   back to `Connected` as soon as the server answers every kind's request again (reported by
//!   [`observe`], a layer on the client, because a resumed watch yields nothing until an object
//!   changes). The last snapshot stays visible meanwhile;
//! - a kind heard nothing of for [`STALL_AFTER`] (no event, no new watch: the server stopped
//!   answering without closing the connection) is shown as reconnecting too, until the server
//!   answers again.
//!
//! Snapshots share the cached objects (`Vec<Arc<K>>` from the stores, the pods' `Arc<PodInfo>`):
//! nothing is deep-copied, and an unchanged object is the same `Arc` in consecutive snapshots.
//! Each kind's sorted list is kept from one snapshot to the next and patched with the objects
//! the watch events named ([`sorted_kinds`]), so a snapshot costs what changed plus one copy of
//! the lists' pointers, not a sort of every pod.
//!
//! [`Sources::open`] is the one entry point the commands use: it turns the source settings
//! into a feed (dump, `--demo`, or the kubeconfig's cluster). A cluster from kubeconfig files
//! is followed ([`follow`]): when the files change what they point at, a new source replaces
//! the old one.

pub mod follow;
pub mod gateway;
mod observe;
mod open;
pub mod pods;
mod sorted_kinds;
pub mod trim;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, ListSemantic};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::cluster::client::{
    self, ClusterError, ClusterTarget, RequestSubject, Scope, classify, one_line,
};
use crate::cluster::feed::{self, ConnectionStatus, FeedPublisher, SnapshotFeed, SourceLabel};
use crate::cluster::{ClusterSnapshot, MissingKind, ResourceKind};
use crate::engine::objects::SliceInfo;

pub use open::{
    DEMO_CONTEXT, DemoCluster, DemoStarted, Sources, missing_notes, open_feed, watch_target,
};
pub use trim::Trim;

/// The server-side timeout of each watch request. The server ends a watch after this long and
/// the watcher resumes it from the last resourceVersion; a connection that stays silent for
/// this plus 5 s counts as stalled and is replaced.
pub const WATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A watched kind the source has heard nothing of for this long counts as stalled (shown as
/// reconnecting until the server answers again): the server ends every watch after
/// [`WATCH_TIMEOUT`] and the watcher starts the next one at once, whose answer is news.
pub const STALL_AFTER: Duration = Duration::from_secs(WATCH_TIMEOUT.as_secs() + 5);

/// The longest a change waits before it is published (the coalescing window). Under steady
/// churn (100 pod updates a second: never a quiet period) every change waits up to this long,
/// so it bounds the update → frame latency; a snapshot costs what changed (shared pod list,
/// incremental model), so publishing 20 a second stays cheap.
pub const COALESCE_WINDOW: Duration = Duration::from_millis(50);

/// A snapshot goes out once no change arrived for this long (within the window).
pub const QUIET_PERIOD: Duration = Duration::from_millis(10);

/// How the reason of a kind left out for a 403 starts.
const FORBIDDEN: &str = "forbidden:";

/// How the reason of a kind the API server does not serve (404) starts.
const NOT_SERVED: &str = "not served by this API server";

/// What the watchers and the client report to the coordinator.
#[derive(Debug)]
pub(crate) enum Signal {
    /// A (re)list started.
    Init(ResourceKind),
    /// A list finished; the kind's store now holds exactly the listed objects.
    InitDone(ResourceKind),
    /// An object was added, modified or deleted (its key, when it has a name).
    Changed(ResourceKind, Option<sorted_kinds::ObjectKey>),
    /// A list or watch of the kind failed (the watcher retries with backoff).
    Failed(ResourceKind, watcher::Error),
    /// The server answered a list or watch of the kind successfully.
    Reachable(ResourceKind),
    /// The kind is not served or may not be discovered (the Gateway API kinds, from API
    /// discovery): left out with this reason until its watcher lists it.
    Unavailable(ResourceKind, String),
}

impl Signal {
    fn kind(&self) -> ResourceKind {
        match self {
            Signal::Init(kind)
            | Signal::InitDone(kind)
            | Signal::Changed(kind, _)
            | Signal::Failed(kind, _)
            | Signal::Reachable(kind)
            | Signal::Unavailable(kind, _) => *kind,
        }
    }
}

/// Options of a live source.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Kinds without which there is nothing to show: a 403 on them before the first snapshot is
    /// an error ([`ClusterError::Forbidden`]) instead of a note.
    pub required: Vec<ResourceKind>,
    /// The generation the source's first snapshot follows (it gets this + 1): a source that
    /// replaces another continues its generations.
    pub generation_base: u64,
    /// Told every time the server's identity or the credentials fail (a TLS error such as an
    /// unknown CA, 401 Unauthorized): what a re-created cluster looks like to old settings.
    pub identity_failures: Option<mpsc::UnboundedSender<()>>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            required: vec![ResourceKind::Service],
            generation_base: 0,
            identity_failures: None,
        }
    }
}

/// A running live source: the feed, plus the outcome of the first snapshot.
///
/// The background task stops when every clone of the feed is dropped.
#[derive(Debug)]
pub struct LiveSource {
    pub feed: SnapshotFeed,
    first: Option<oneshot::Receiver<Result<(), ClusterError>>>,
    task: JoinHandle<()>,
}

impl LiveSource {
    /// Starts watching `target` on the current tokio runtime. Makes no request before
    /// returning; the feed starts `Connecting` with an empty snapshot.
    pub fn start(target: &ClusterTarget, options: LiveOptions) -> Result<Self, ClusterError> {
        let (signals_tx, signals_rx) = mpsc::unbounded_channel();
        let client = kube::client::ClientBuilder::try_from(target.config.clone())
            .map_err(|source| client::client_error(target, source))?
            .with_layer(&observe::ObserveLayer::new(signals_tx.clone()))
            .build();
        let label = SourceLabel {
            context: target.context.clone(),
            namespace: target.scope.namespace().map(str::to_owned),
        };
        let (publisher, feed) = feed::channel(label);
        let (first_tx, first_rx) = oneshot::channel();
        let mut watchers = JoinSet::new();
        let (relists_tx, relists_rx) = mpsc::unbounded_channel();
        let stores = Stores {
            services: spawn_kind::<Service>(&mut watchers, &client, &target.scope, &signals_tx),
            endpoint_slices: spawn_slices(&mut watchers, &client, &target.scope, &signals_tx),
            pods: spawn_pods(&mut watchers, &client, &target.scope, &signals_tx),
            nodes: spawn_kind::<Node>(&mut watchers, &client, &target.scope, &signals_tx),
            ingresses: spawn_kind::<Ingress>(&mut watchers, &client, &target.scope, &signals_tx),
            namespaces: spawn_kind::<Namespace>(&mut watchers, &client, &target.scope, &signals_tx),
            ingress_classes: spawn_kind::<IngressClass>(
                &mut watchers,
                &client,
                &target.scope,
                &signals_tx,
            ),
            network_policies: spawn_kind::<NetworkPolicy>(
                &mut watchers,
                &client,
                &target.scope,
                &signals_tx,
            ),
            gateway: gateway::spawn(
                &mut watchers,
                &client,
                &target.scope,
                &signals_tx,
                relists_rx,
            ),
        };
        // Only the watchers and the client layer hold senders now.
        drop(signals_tx);
        let generation = options.generation_base;
        let coordinator = Coordinator {
            target: target.clone(),
            options,
            health: ResourceKind::WATCHED
                .into_iter()
                .chain(ResourceKind::GATEWAY_API)
                .map(|kind| (kind, KindHealth::default()))
                .collect(),
            stores,
            sorted: sorted_kinds::SortedKinds::default(),
            publisher,
            generation,
            unhealthy_since: None,
            first: Some(first_tx),
            relists: Some(relists_tx),
            _watchers: watchers,
        };
        let task = tokio::spawn(coordinator.run(signals_rx));
        Ok(LiveSource {
            feed,
            first: Some(first_rx),
            task,
        })
    }

    /// Waits for the first complete snapshot. An error before it (unreachable server, 401, a
    /// 403 on a required kind, ...) is returned; the watchers keep retrying in the background
    /// as long as the feed is alive.
    pub async fn first_snapshot(&mut self) -> Result<Arc<ClusterSnapshot>, ClusterError> {
        if let Some(first) = self.first.take() {
            match first.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(ClusterError::Stopped),
            }
        }
        Ok(self.feed.snapshots.borrow().clone())
    }

    /// Whether the background task has ended (every feed was dropped).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// The feed; the background task keeps running until every clone of it is dropped.
    pub fn into_feed(self) -> SnapshotFeed {
        self.feed
    }

    /// The feed and the background task (which ends once every feed clone is dropped).
    pub fn into_parts(self) -> (SnapshotFeed, JoinHandle<()>) {
        (self.feed, self.task)
    }
}

/// Whether a kind lives in namespaces (and is therefore limited by `-n`).
fn namespaced(kind: ResourceKind) -> bool {
    if kind.is_gateway_api() {
        return gateway::namespaced(kind);
    }
    !matches!(
        kind,
        ResourceKind::Node | ResourceKind::Namespace | ResourceKind::IngressClass
    )
}

/// A kind the live source watches: its name in the snapshot and how to reach it.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    const KIND: ResourceKind;

    /// The API for this kind in `scope` (cluster-scoped kinds ignore the namespace).
    fn api(client: kube::Client, scope: &Scope) -> Api<Self>;
}

macro_rules! namespaced_kind {
    ($type:ty, $kind:expr) => {
        impl Watched for $type {
            const KIND: ResourceKind = $kind;

            fn api(client: kube::Client, scope: &Scope) -> Api<Self> {
                match scope {
                    Scope::Namespace(namespace) => Api::namespaced(client, namespace),
                    Scope::All => Api::all(client),
                }
            }
        }
    };
}

macro_rules! cluster_kind {
    ($type:ty, $kind:expr) => {
        impl Watched for $type {
            const KIND: ResourceKind = $kind;

            fn api(client: kube::Client, _scope: &Scope) -> Api<Self> {
                Api::all(client)
            }
        }
    };
}

namespaced_kind!(Service, ResourceKind::Service);
namespaced_kind!(EndpointSlice, ResourceKind::EndpointSlice);
namespaced_kind!(Pod, ResourceKind::Pod);
namespaced_kind!(Ingress, ResourceKind::Ingress);
namespaced_kind!(NetworkPolicy, ResourceKind::NetworkPolicy);
cluster_kind!(Node, ResourceKind::Node);
cluster_kind!(Namespace, ResourceKind::Namespace);
cluster_kind!(IngressClass, ResourceKind::IngressClass);

/// The watcher configuration every kind uses: consistent lists (like kubectl's), pages of 500,
/// bookmarks, and [`WATCH_TIMEOUT`].
pub fn watcher_config() -> watcher::Config {
    watcher::Config::default()
        .timeout(u32::try_from(WATCH_TIMEOUT.as_secs()).unwrap_or(290))
        .list_semantic(ListSemantic::MostRecent)
}

fn spawn_kind<K: Watched + Trim>(
    watchers: &mut JoinSet<()>,
    client: &kube::Client,
    scope: &Scope,
    signals: &mpsc::UnboundedSender<Signal>,
) -> Store<K> {
    spawn_cached(
        watchers,
        client,
        scope,
        signals,
        |event: watcher::Event<K>| event.modify(K::trim),
    )
}

/// The pods' watcher: its store holds them compact ([`pods`]).
fn spawn_pods(
    watchers: &mut JoinSet<()>,
    client: &kube::Client,
    scope: &Scope,
    signals: &mpsc::UnboundedSender<Signal>,
) -> Store<pods::LivePod> {
    let mut converter = pods::PodConverter::default();
    spawn_cached(watchers, client, scope, signals, move |event| {
        converter.event(event)
    })
}

/// The EndpointSlices' watcher: its store holds them with compact endpoints ([`pods`]).
fn spawn_slices(
    watchers: &mut JoinSet<()>,
    client: &kube::Client,
    scope: &Scope,
    signals: &mpsc::UnboundedSender<Signal>,
) -> Store<SliceInfo> {
    let mut converter = pods::SliceConverter::default();
    spawn_cached(watchers, client, scope, signals, move |event| {
        converter.event(event)
    })
}

/// One kind's watcher, its events `cache`d (trimmed or converted) into a store of `C`.
fn spawn_cached<K: Watched, C>(
    watchers: &mut JoinSet<()>,
    client: &kube::Client,
    scope: &Scope,
    signals: &mpsc::UnboundedSender<Signal>,
    cache: impl FnMut(watcher::Event<K>) -> watcher::Event<C> + Send + 'static,
) -> Store<C>
where
    C: reflector::Lookup<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let api = K::api(client.clone(), scope);
    let (reader, writer) = reflector::store::<C>();
    watchers.spawn(watch_kind(api, writer, signals.clone(), cache));
    reader
}

/// Watches one kind: every event, `cache`d (trimmed or converted), goes into the store as
/// kube-runtime's reflector applies it, and its signal to the coordinator.
async fn watch_kind<K: Watched, C: reflector::Lookup<DynamicType = ()> + Clone + 'static>(
    api: Api<K>,
    mut writer: reflector::store::Writer<C>,
    signals: mpsc::UnboundedSender<Signal>,
    mut cache: impl FnMut(watcher::Event<K>) -> watcher::Event<C>,
) {
    let kind = K::KIND;
    let stream = watcher::watcher(api, watcher_config()).default_backoff();
    futures::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        let signal = match item {
            Ok(event) => {
                let event = cache(event);
                writer.apply_watcher_event(&event);
                event_signal(&event, kind)
            }
            Err(error) => Some(Signal::Failed(kind, error)),
        };
        if let Some(signal) = signal
            && signals.send(signal).is_err()
        {
            return;
        }
    }
}

/// What a watcher event tells the coordinator.
fn event_signal<K: reflector::Lookup>(
    event: &watcher::Event<K>,
    kind: ResourceKind,
) -> Option<Signal> {
    match event {
        watcher::Event::Init => Some(Signal::Init(kind)),
        watcher::Event::InitApply(_) => None,
        watcher::Event::InitDone => Some(Signal::InitDone(kind)),
        watcher::Event::Apply(object) | watcher::Event::Delete(object) => {
            Some(Signal::Changed(kind, sorted_kinds::object_key(object)))
        }
    }
}

struct Stores {
    services: Store<Service>,
    endpoint_slices: Store<SliceInfo>,
    pods: Store<pods::LivePod>,
    nodes: Store<Node>,
    ingresses: Store<Ingress>,
    namespaces: Store<Namespace>,
    ingress_classes: Store<IngressClass>,
    network_policies: Store<NetworkPolicy>,
    gateway: gateway::GatewayStores,
}

/// The store's objects, sorted, when the kind is kept; none when it is left out (the Gateway
/// API kinds, few objects; the others are kept sorted between snapshots, [`sorted_kinds`]).
fn kept<K: Resource<DynamicType = ()> + Clone + 'static>(
    keep: bool,
    store: &Store<K>,
) -> Vec<Arc<K>> {
    if keep { sorted(store) } else { Vec::new() }
}

/// The objects of a store in a stable order (namespace, name), so that unchanged clusters give
/// identical snapshots and output.
fn sorted<K: Resource<DynamicType = ()> + Clone + 'static>(store: &Store<K>) -> Vec<Arc<K>> {
    let mut objects = store.state();
    objects.sort_unstable_by(|a, b| {
        let (a, b) = (a.meta(), b.meta());
        (a.namespace.as_deref(), a.name.as_deref())
            .cmp(&(b.namespace.as_deref(), b.name.as_deref()))
    });
    objects
}

/// The pods of the store, sorted by (namespace, name) like [`sorted`], sharing the store's
/// `Arc`s.
fn sorted_pods(store: &Store<pods::LivePod>) -> Vec<Arc<crate::engine::objects::PodInfo>> {
    let mut objects: Vec<_> = store.state().iter().map(|pod| Arc::clone(&pod.0)).collect();
    objects.sort_unstable_by(|a, b| {
        (a.namespace.as_deref(), a.name.as_deref())
            .cmp(&(b.namespace.as_deref(), b.name.as_deref()))
    });
    objects
}

/// Where one kind's watcher is in its list/watch cycle, as the coordinator sees it from the
/// watcher's events (the same phases as kube-runtime's `watcher::State`: nothing yet, an
/// initial list, watching, and a relist after the watch was lost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// No list has started.
    #[default]
    Empty,
    /// The first list is in progress: the store holds nothing complete yet.
    InitListing,
    /// Listed; the store follows the watch.
    Watching,
    /// Listed before; a relist (after 410 Gone, a restart, ...) is replacing the store.
    Relisting,
}

impl Phase {
    /// A list finished at least once: the store holds a complete set.
    fn listed(self) -> bool {
        matches!(self, Phase::Watching | Phase::Relisting)
    }

    /// A list is in progress.
    fn listing(self) -> bool {
        matches!(self, Phase::InitListing | Phase::Relisting)
    }

    /// After `watcher::Event::Init`.
    fn list_started(self) -> Self {
        if self.listed() {
            Phase::Relisting
        } else {
            Phase::InitListing
        }
    }
}

/// One kind's state: its phase, whether it is left out, and its last error.
#[derive(Debug, Default)]
struct KindHealth {
    phase: Phase,
    /// Forbidden or not served: left out of snapshots, with this reason.
    absent: Option<String>,
    /// The last error, until the server answers this kind again.
    error: Option<String>,
    /// When the watcher or the client last reported anything about this kind.
    heard: Option<Instant>,
}

impl KindHealth {
    /// Listed, watched, shown and without a known problem: silence would be news.
    fn watched_without_error(&self) -> bool {
        self.phase == Phase::Watching && self.error.is_none() && self.absent.is_none()
    }
}

/// Resolves at `at`; never without a moment.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What a watcher error means for the kind.
enum Failure {
    /// 403 or 404: leave the kind out.
    Absent { reason: String, error: ClusterError },
    /// Anything else: retried by the watcher.
    Retry {
        text: String,
        /// The error for [`LiveSource::first_snapshot`], unless it is part of normal operation
        /// (410 Gone).
        fatal: Option<ClusterError>,
    },
}

struct Coordinator {
    target: ClusterTarget,
    options: LiveOptions,
    health: BTreeMap<ResourceKind, KindHealth>,
    stores: Stores,
    /// The kinds' objects as the last snapshot listed them, and what changed since.
    sorted: sorted_kinds::SortedKinds,
    publisher: FeedPublisher,
    generation: u64,
    unhealthy_since: Option<SystemTime>,
    first: Option<oneshot::Sender<Result<(), ClusterError>>>,
    /// Told when a kind is listed again, so that the Gateway API is discovered again
    /// ([`gateway`]); none once nobody listens.
    relists: Option<mpsc::UnboundedSender<()>>,
    /// Dropping the coordinator aborts the watchers.
    _watchers: JoinSet<()>,
}

impl Coordinator {
    async fn run(mut self, mut signals: mpsc::UnboundedReceiver<Signal>) {
        loop {
            let signal = tokio::select! {
                signal = signals.recv() => signal,
                () = self.publisher.closed() => return,
                () = until(self.next_stall()) => {
                    if self.mark_stalls(Instant::now()) {
                        self.update_status();
                    }
                    continue;
                }
            };
            let Some(signal) = signal else { return };
            let mut dirty = self.handle(signal);
            self.update_status();
            if !dirty || !self.complete() {
                continue;
            }
            // Coalesce the burst: wait for a quiet period, at most the window.
            let deadline = Instant::now() + COALESCE_WINDOW;
            loop {
                tokio::select! {
                    biased;
                    signal = signals.recv() => {
                        let Some(signal) = signal else { return };
                        dirty |= self.handle(signal);
                        self.update_status();
                    }
                    () = tokio::time::sleep(QUIET_PERIOD) => break,
                    () = tokio::time::sleep_until(deadline) => break,
                }
            }
            if dirty && self.complete() {
                self.publish();
                self.update_status();
                self.first_published();
            }
        }
    }

    /// When the next watched kind counts as stalled, if one is watched without error.
    fn next_stall(&self) -> Option<Instant> {
        self.health
            .values()
            .filter(|health| health.watched_without_error())
            .filter_map(|health| health.heard)
            .min()
            .map(|heard| heard + STALL_AFTER)
    }

    /// Marks the kinds not heard of for [`STALL_AFTER`] as failing (the next answer clears
    /// that); returns whether there were any.
    fn mark_stalls(&mut self, now: Instant) -> bool {
        let mut any = false;
        for (kind, health) in &mut self.health {
            let Some(silent) = health
                .heard
                .map(|heard| now.saturating_duration_since(heard))
            else {
                continue;
            };
            if health.watched_without_error() && silent >= STALL_AFTER {
                health.error = Some(format!(
                    "watching {kind}: no answer from the API server for {}s (the watch stalled); waiting for it",
                    silent.as_secs()
                ));
                any = true;
            }
        }
        any
    }

    /// Every kind listed or known to be unavailable.
    fn complete(&self) -> bool {
        self.health
            .values()
            .all(|health| health.phase.listed() || health.absent.is_some())
    }

    fn health(&mut self, kind: ResourceKind) -> &mut KindHealth {
        self.health.entry(kind).or_default()
    }

    /// Applies one signal; returns whether the next snapshot differs.
    fn handle(&mut self, signal: Signal) -> bool {
        self.health(signal.kind()).heard = Some(Instant::now());
        match signal {
            Signal::Init(kind) => {
                self.sorted.listed(kind);
                let health = self.health(kind);
                health.phase = health.phase.list_started();
                if health.phase == Phase::Relisting
                    && let Some(relists) = &self.relists
                    && relists.send(()).is_err()
                {
                    self.relists = None;
                }
                false
            }
            Signal::Unavailable(kind, reason) => {
                let health = self.health(kind);
                health.error = None;
                let changed = health.absent.as_deref() != Some(reason.as_str());
                health.absent = Some(reason);
                changed
            }
            Signal::InitDone(kind) => {
                self.sorted.listed(kind);
                let health = self.health(kind);
                health.phase = Phase::Watching;
                health.error = None;
                health.absent = None;
                true
            }
            Signal::Changed(kind, key) => {
                self.sorted.changed(kind, key);
                let health = self.health(kind);
                health.error = None;
                let was_absent = health.absent.take().is_some();
                health.phase.listed() || was_absent
            }
            Signal::Reachable(kind) => {
                let health = self.health(kind);
                // During a list the error stays until the list is done.
                if !health.phase.listing() {
                    health.error = None;
                }
                // A watch that works again after a 403: the store is intact (the watcher
                // resumes from its resourceVersion), so the kind can be shown again.
                if health.phase == Phase::Watching && health.absent.is_some() {
                    health.absent = None;
                    return true;
                }
                false
            }
            Signal::Failed(kind, error) => match self.failure(kind, error) {
                Failure::Absent { reason, error } => {
                    if self.options.required.contains(&kind) {
                        self.fail_first(error);
                    }
                    let health = self.health(kind);
                    health.error = None;
                    let changed = health.absent.as_deref() != Some(reason.as_str());
                    health.absent = Some(reason);
                    changed
                }
                Failure::Retry { text, fatal } => {
                    if let Some(error) = fatal {
                        self.fail_first(error);
                    }
                    self.health(kind).error = Some(text);
                    false
                }
            },
        }
    }

    /// Reports an error to [`LiveSource::first_snapshot`] if it is still waiting.
    fn fail_first(&mut self, error: ClusterError) {
        if let Some(first) = self.first.take() {
            let _ = first.send(Err(error));
        }
    }

    fn subject_namespace(&self, kind: ResourceKind) -> Option<&str> {
        if namespaced(kind) && !gateway::every_namespace(kind) {
            self.target.scope.namespace()
        } else {
            None
        }
    }

    fn failure(&self, kind: ResourceKind, error: watcher::Error) -> Failure {
        let (verb, error) = match error {
            watcher::Error::InitialListFailed(error) => ("list", error),
            watcher::Error::WatchStartFailed(error) | watcher::Error::WatchFailed(error) => {
                ("watch", error)
            }
            watcher::Error::WatchError(status) => ("watch", kube::Error::Api(status)),
            watcher::Error::NoResourceVersion => {
                return Failure::Retry {
                    text: format!("{kind}: the API server sent no resourceVersion; listing again"),
                    fatal: None,
                };
            }
        };
        let namespace = self.subject_namespace(kind);
        let scope = namespace.map_or_else(
            || "at cluster scope".to_owned(),
            |namespace| format!("in namespace {namespace}"),
        );
        let code = match &error {
            kube::Error::Api(status) => Some(status.code),
            _ => None,
        };
        match code {
            Some(403) => Failure::Absent {
                reason: format!(
                    "{FORBIDDEN} cannot {verb} {kind} {scope} (kubehop needs get, list and watch on {kind})"
                ),
                error: classify(
                    error,
                    &self.target,
                    Some(RequestSubject {
                        verb,
                        resource: kind.plural(),
                        namespace,
                    }),
                ),
            },
            Some(404) => Failure::Absent {
                reason: format!("{NOT_SERVED} ({})", api_path(kind)),
                error: classify(error, &self.target, None),
            },
            Some(410) => Failure::Retry {
                text: format!("{kind}: the watch expired (410 Gone); listing again"),
                fatal: None,
            },
            _ => {
                let error = classify(
                    error,
                    &self.target,
                    Some(RequestSubject {
                        verb,
                        resource: kind.plural(),
                        namespace,
                    }),
                );
                if matches!(
                    error,
                    ClusterError::Tls { .. } | ClusterError::Unauthorized { .. }
                ) && let Some(failures) = &self.options.identity_failures
                {
                    // The follower may be gone; nobody to tell then.
                    let _ = failures.send(());
                }
                Failure::Retry {
                    text: one_line(&format!("watching {kind}: {error}")),
                    fatal: Some(error),
                }
            }
        }
    }

    fn update_status(&mut self) {
        let failing = self
            .health
            .iter()
            .find_map(|(_, health)| health.error.clone());
        let status = match failing {
            Some(error) => {
                let since = *self.unhealthy_since.get_or_insert_with(SystemTime::now);
                ConnectionStatus::Reconnecting { since, error }
            }
            None => {
                self.unhealthy_since = None;
                if self.generation == self.options.generation_base {
                    ConnectionStatus::Connecting
                } else {
                    ConnectionStatus::Connected
                }
            }
        };
        self.publisher.set_status(status);
    }

    fn publish(&mut self) {
        self.generation += 1;
        let absent = |kind: ResourceKind| {
            self.health
                .get(&kind)
                .and_then(|health| health.absent.clone())
        };
        let take = |kind: ResourceKind| absent(kind).is_none();
        let mut missing: Vec<MissingKind> = ResourceKind::ALL
            .into_iter()
            .filter_map(|kind| absent(kind).map(|reason| MissingKind { kind, reason }))
            .collect();
        // The Gateway API is optional too, but a cluster without it is worth one line: the
        // Gateway kind stands for the API when it is not served (never when forbidden, nor
        // while discovery fails for another reason).
        if let Some(reason) = absent(ResourceKind::Gateway)
            && (reason == gateway::NOT_INSTALLED || reason.starts_with(NOT_SERVED))
        {
            missing.push(MissingKind {
                kind: ResourceKind::Gateway,
                reason,
            });
        }
        let (stores, kinds) = (&self.stores, &mut self.sorted);
        let snapshot = ClusterSnapshot {
            generation: self.generation,
            services: sorted_kinds::of_store(
                &mut kinds.services,
                take(ResourceKind::Service),
                &stores.services,
            ),
            endpoint_slices: sorted_kinds::of_store(
                &mut kinds.endpoint_slices,
                take(ResourceKind::EndpointSlice),
                &stores.endpoint_slices,
            ),
            pods: sorted_kinds::of_pods(&mut kinds.pods, take(ResourceKind::Pod), &stores.pods),
            nodes: sorted_kinds::of_store(
                &mut kinds.nodes,
                take(ResourceKind::Node),
                &stores.nodes,
            ),
            ingresses: sorted_kinds::of_store(
                &mut kinds.ingresses,
                take(ResourceKind::Ingress),
                &stores.ingresses,
            ),
            namespaces: sorted_kinds::of_store(
                &mut kinds.namespaces,
                take(ResourceKind::Namespace),
                &stores.namespaces,
            ),
            // Optional: left out silently when forbidden or not served (never in `missing`).
            ingress_classes: sorted_kinds::of_store(
                &mut kinds.ingress_classes,
                take(ResourceKind::IngressClass),
                &stores.ingress_classes,
            ),
            network_policies: sorted_kinds::of_store(
                &mut kinds.network_policies,
                take(ResourceKind::NetworkPolicy),
                &stores.network_policies,
            ),
            // Optional like IngressClasses (see above for the one line when not served).
            gateway_api: self.stores.gateway.objects(take),
            missing,
        };
        self.publisher.publish(Arc::new(snapshot));
    }

    /// Tells `first_snapshot` the first snapshot is out, once its status is set too.
    fn first_published(&mut self) {
        if let Some(first) = self.first.take() {
            let _ = first.send(Ok(()));
        }
    }
}

/// The API group/version path of a kind, for messages.
fn api_path(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Service => "/api/v1 services",
        ResourceKind::Pod => "/api/v1 pods",
        ResourceKind::Node => "/api/v1 nodes",
        ResourceKind::Namespace => "/api/v1 namespaces",
        ResourceKind::EndpointSlice => "/apis/discovery.k8s.io/v1 endpointslices",
        ResourceKind::Ingress => "/apis/networking.k8s.io/v1 ingresses",
        ResourceKind::IngressClass => "/apis/networking.k8s.io/v1 ingressclasses",
        ResourceKind::NetworkPolicy => "/apis/networking.k8s.io/v1 networkpolicies",
        ResourceKind::GatewayClass => "/apis/gateway.networking.k8s.io gatewayclasses",
        ResourceKind::Gateway => "/apis/gateway.networking.k8s.io gateways",
        ResourceKind::HttpRoute => "/apis/gateway.networking.k8s.io httproutes",
        ResourceKind::GrpcRoute => "/apis/gateway.networking.k8s.io grpcroutes",
        ResourceKind::TlsRoute => "/apis/gateway.networking.k8s.io tlsroutes",
        ResourceKind::TcpRoute => "/apis/gateway.networking.k8s.io tcproutes",
        ResourceKind::UdpRoute => "/apis/gateway.networking.k8s.io udproutes",
        ResourceKind::ReferenceGrant => "/apis/gateway.networking.k8s.io referencegrants",
    }
}

#[cfg(test)]
mod tests;
