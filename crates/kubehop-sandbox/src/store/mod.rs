//! The sandbox's object store: every served kind kept as serialized JSON, keyed by
//! (resource, namespace, name), with one resourceVersion counter for the whole store, a bounded
//! event history for watch replay, and subscriptions for in-process controllers.
//!
//! Objects are stored as their JSON bytes plus the few fields the store indexes (labels,
//! selectable fields, owner uids). Lists and watches copy bytes instead of re-serializing, and
//! 50,000 pods take a fraction of the memory a `serde_json::Value` tree would.
//! [`StoredObject::value`] and [`StoredObject::decode`] give the parsed forms.
//!
//! Every write goes through one path under the write lock: defaulting, decoding into the
//! k8s-openapi type (a 400 if that fails), validation (422), admission hooks, no-op detection,
//! then commit (revision bump, event, derived Endpoints).
//!
//! The type definitions and the read API live here; `state` holds the locked state's helpers,
//! `object` the stored form, `write` the write API, `create`/`update`/`delete`/`commit` the
//! steps under the write lock, `typed` the k8s-openapi typed API and `json` the JSON helpers.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::admission::{
    self, AdmissionHook, AdmissionRequest, DeletionPolicy, FieldCause, ImmediateDeletion,
    Operation, Origin,
};
use crate::clock::{Clock, SystemClock};
use crate::endpoints;
use crate::resources::ResourceId;
use crate::rng::SplitMix64;
use crate::selector::{FieldSelector, LabelSelector};
use kubehop_engine::snapshot::ClusterSnapshot;

mod commit;
mod create;
mod custom;
mod delete;
mod json;
mod object;
mod state;
mod strategy;
#[cfg(test)]
mod tests;
mod typed;
mod update;
mod write;

use json::*;
pub use json::{format_time, now_rfc3339, unknown_fields};
use write::*;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Namespaces every cluster starts with.
pub const INITIAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Default number of events kept for watch replay.
pub const DEFAULT_HISTORY: usize = 10_000;

/// Errors of store operations; the API layer turns each into a Kubernetes `Status`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{resource} \"{name}\" not found", resource = resource.info().group_resource())]
    NotFound { resource: ResourceId, name: String },
    #[error("{resource} \"{name}\" already exists", resource = resource.info().group_resource())]
    AlreadyExists { resource: ResourceId, name: String },
    #[error("Operation cannot be fulfilled on {resource} \"{name}\": {reason}", resource = resource.info().group_resource())]
    Conflict {
        resource: ResourceId,
        name: String,
        reason: String,
    },
    #[error("{kind} \"{name}\" is invalid: {}", render_causes(causes), kind = resource.info().kind)]
    Invalid {
        resource: ResourceId,
        name: String,
        causes: Vec<FieldCause>,
    },
    #[error("{0}")]
    BadRequest(String),
    /// A patch that does not apply to the stored object (422).
    #[error("{0}")]
    UnprocessablePatch(String),
    #[error(
        "{resource} are derived from EndpointSlices in the sandbox and cannot be written",
        resource = .0.info().plural
    )]
    ReadOnly(ResourceId),
    #[error("too old resource version: {requested} ({oldest})")]
    Expired { requested: u64, oldest: u64 },
    #[error("Too large resource version: {requested}, current: {current}")]
    TooLargeResourceVersion { requested: u64, current: u64 },
    #[error("the sandbox does not serve {0}")]
    NotServed(String),
    #[error("{0}")]
    Internal(String),
}

fn render_causes(causes: &[FieldCause]) -> String {
    match causes {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// One stored object: its JSON and what the store indexes about it.
#[derive(Debug)]
pub struct StoredObject {
    resource: ResourceId,
    namespace: String,
    name: String,
    uid: String,
    resource_version: u64,
    labels: BTreeMap<String, String>,
    fields: Vec<(&'static str, String)>,
    owners: Vec<String>,
    terminating: bool,
    finalizers: bool,
    json: Bytes,
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as watchers and subscribers see it.
#[derive(Debug)]
pub struct StoreEvent {
    pub event_type: EventType,
    /// The object after the change (for deletions: the last state, with the deletion's
    /// resourceVersion).
    pub object: Arc<StoredObject>,
    /// The object before the change (for selector transitions).
    pub previous: Option<Arc<StoredObject>>,
}

impl StoreEvent {
    pub fn resource(&self) -> ResourceId {
        self.object.resource
    }
    pub fn resource_version(&self) -> u64 {
        self.object.resource_version
    }
}

/// Who writes, and whether to persist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    pub origin: Origin,
    pub dry_run: bool,
}

impl WriteOptions {
    pub fn api(dry_run: bool) -> Self {
        WriteOptions {
            origin: Origin::Api,
            dry_run,
        }
    }
    pub fn controller() -> Self {
        WriteOptions {
            origin: Origin::Controller,
            dry_run: false,
        }
    }
    pub fn load() -> Self {
        WriteOptions {
            origin: Origin::Load,
            dry_run: false,
        }
    }
}

/// Which part of an object an update writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The object (for kinds with a status subresource, API writes keep the stored status).
    Whole,
    /// Only `.status` (the `/status` subresource).
    Status,
}

/// How dependents (objects whose ownerReferences name the deleted one) are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// A delete request.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub propagation: Propagation,
    pub dry_run: bool,
}

/// The result of a delete.
#[derive(Debug, Clone)]
pub enum DeleteOutcome {
    /// The object is gone; this is its last state.
    Deleted(Arc<StoredObject>),
    /// The object is terminating (graceful deletion or finalizers) and still stored.
    Pending(Arc<StoredObject>),
}

impl DeleteOutcome {
    pub fn object(&self) -> &Arc<StoredObject> {
        match self {
            DeleteOutcome::Deleted(o) | DeleteOutcome::Pending(o) => o,
        }
    }
}

/// A list request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `None` = all namespaces (or a cluster-scoped resource).
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_from: Option<ContinueToken>,
}

/// Where a paged list continues: after (namespace, name), at the first page's revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueToken {
    pub resource_version: u64,
    pub namespace: String,
    pub name: String,
}

impl ContinueToken {
    pub fn encode(&self) -> String {
        use base64::Engine;
        let raw = json!({
            "v": "meta.k8s.io/v1",
            "rv": self.resource_version,
            "ns": self.namespace,
            "name": self.name,
        });
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.to_string())
    }

    pub fn decode(token: &str) -> Option<Self> {
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()?;
        let value: Value = serde_json::from_slice(&raw).ok()?;
        Some(ContinueToken {
            resource_version: value.get("rv")?.as_u64()?,
            namespace: value.get("ns")?.as_str()?.to_string(),
            name: value.get("name")?.as_str()?.to_string(),
        })
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub items: Vec<Arc<StoredObject>>,
    pub resource_version: u64,
    pub continue_token: Option<ContinueToken>,
}

/// What [`Store::load_objects`] did.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub loaded: usize,
    /// Objects that were not loaded, with the reason ("apps/v1 ReplicaSet web-1: not served").
    pub skipped: Vec<String>,
}

/// The store. Cheap to clone; all clones share the same objects.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("resource_version", &self.resource_version())
            .finish_non_exhaustive()
    }
}

struct Inner {
    state: RwLock<State>,
    changes: watch::Sender<u64>,
    hooks: RwLock<Vec<Arc<dyn AdmissionHook>>>,
    deletion: RwLock<Arc<dyn DeletionPolicy>>,
    clock: RwLock<Arc<dyn Clock>>,
    /// Seeded generator for uids and `generateName` suffixes (`None`: random).
    ids: std::sync::Mutex<Option<SplitMix64>>,
}

type ObjectKey = (String, String);

struct State {
    revision: u64,
    buckets: Vec<BTreeMap<ObjectKey, Arc<StoredObject>>>,
    /// Every event, for subscriptions.
    history: History,
    /// Each resource's events, for watches (like the API server's per-resource watch caches:
    /// churn of one kind does not expire watches of another).
    resource_history: Vec<History>,
    /// (namespace, service name) -> EndpointSlice names.
    slices_by_service: HashMap<ObjectKey, BTreeSet<String>>,
    /// Events kept per resource (for buckets added when custom resources are registered).
    history_capacity: usize,
    /// CRD name -> the custom resources it serves (storage version first).
    crds: BTreeMap<String, Vec<ResourceId>>,
}

/// Read access to the store under its lock, for admission hooks.
pub struct StoreView<'a> {
    state: &'a State,
}

/// A bounded, resourceVersion-ordered event log.
struct History {
    events: VecDeque<Arc<StoreEvent>>,
    capacity: usize,
    /// Every event with a resourceVersion above this one is still here.
    compacted: u64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(DEFAULT_HISTORY)
    }
}

impl Store {
    /// A store holding the initial namespaces, keeping `history` events for watch replay.
    pub fn new(history: usize) -> Self {
        Self::with_identity(history, Arc::new(SystemClock), None)
    }

    /// [`new`](Self::new) with a clock and a seed from the start, so even the initial
    /// namespaces get reproducible timestamps and uids.
    pub fn with_identity(history: usize, clock: Arc<dyn Clock>, seed: Option<u64>) -> Self {
        let state = State {
            revision: 0,
            buckets: ResourceId::ALL.iter().map(|_| BTreeMap::new()).collect(),
            history: History::new(history),
            resource_history: ResourceId::ALL
                .iter()
                .map(|_| History::new(history))
                .collect(),
            slices_by_service: HashMap::new(),
            history_capacity: history,
            crds: BTreeMap::new(),
        };
        let (changes, _) = watch::channel(0);
        let store = Store {
            inner: Arc::new(Inner {
                state: RwLock::new(state),
                changes,
                hooks: RwLock::new(Vec::new()),
                deletion: RwLock::new(Arc::new(ImmediateDeletion)),
                clock: RwLock::new(clock),
                ids: std::sync::Mutex::new(seed.map(SplitMix64::new)),
            }),
        };
        for name in INITIAL_NAMESPACES {
            let namespace =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            if let Err(err) =
                store.create_object(ResourceId::Namespaces, namespace, WriteOptions::load())
            {
                tracing::error!("cannot create namespace {name}: {err}");
            }
        }
        store
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self, revision: u64) {
        self.inner.changes.send_replace(revision);
    }

    /// Registers a mutating admission step (e.g. the control plane's IP allocator).
    pub fn add_admission_hook(&self, hook: Arc<dyn AdmissionHook>) {
        self.inner
            .hooks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(hook);
    }

    /// Replaces how deletes are carried out (default: immediately).
    pub fn set_deletion_policy(&self, policy: Arc<dyn DeletionPolicy>) {
        *self
            .inner
            .deletion
            .write()
            .unwrap_or_else(PoisonError::into_inner) = policy;
    }

    /// Replaces the clock the store stamps objects with (creation and deletion timestamps).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        *self
            .inner
            .clock
            .write()
            .unwrap_or_else(PoisonError::into_inner) = clock;
    }

    /// The store's clock's time.
    pub fn now(&self) -> Timestamp {
        self.inner
            .clock
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .now()
    }

    /// Makes uids and `generateName` suffixes deterministic from `seed` (default: random).
    pub fn set_seed(&self, seed: u64) {
        *self
            .inner
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(SplitMix64::new(seed));
    }

    /// Seeds uids and suffixes unless the store is seeded already (keeps its sequence going,
    /// so no uid repeats).
    pub fn ensure_seed(&self, seed: u64) {
        let mut ids = self
            .inner
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if ids.is_none() {
            *ids = Some(SplitMix64::new(seed));
        }
    }

    /// A new object uid (seeded when [`set_seed`](Self::set_seed) was called).
    pub fn new_uid(&self) -> String {
        self.with_ids(
            |rng| rng.uuid().to_string(),
            || uuid::Uuid::new_v4().to_string(),
        )
    }

    /// A 5-character `generateName` suffix (seeded like [`new_uid`](Self::new_uid)).
    pub fn name_suffix(&self) -> String {
        self.with_ids(|rng| rng.name_suffix(5), random_suffix)
    }

    /// `seeded` with the seeded generator, or `random` when no seed was set.
    fn with_ids(
        &self,
        seeded: impl FnOnce(&mut SplitMix64) -> String,
        random: impl FnOnce() -> String,
    ) -> String {
        let mut ids = self
            .inner
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match ids.as_mut() {
            Some(rng) => seeded(rng),
            None => random(),
        }
    }

    /// The store's current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.read().revision
    }

    /// Every event with a resourceVersion above this one can still be replayed.
    pub fn oldest_replayable(&self) -> u64 {
        self.read().history.compacted
    }

    /// Every event of `resource` with a resourceVersion above this one can still be replayed.
    pub fn oldest_replayable_for(&self, resource: ResourceId) -> u64 {
        self.read()
            .resource_history
            .get(resource.index())
            .map_or(0, |h| h.compacted)
    }

    /// The resourceVersion of the last change to any object of `resources` (0: none yet), so
    /// that readers of a few kinds can skip changes to the others.
    pub fn last_change_of(&self, resources: &[ResourceId]) -> u64 {
        let state = self.read();
        resources
            .iter()
            .filter_map(|r| state.resource_history.get(r.index()))
            .map(|history| {
                history
                    .events
                    .back()
                    .map_or(history.compacted, |e| e.resource_version())
            })
            .max()
            .unwrap_or(0)
    }

    /// A receiver that changes whenever the store does (its value: the new resourceVersion).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Events after `resource_version`, or [`StoreError::Expired`] when they are gone.
    pub fn events_since(&self, resource_version: u64) -> Result<Vec<Arc<StoreEvent>>, StoreError> {
        self.read().history.since(resource_version)
    }

    /// Events of `resource` after `resource_version` (or Expired), with the store's
    /// resourceVersion at that moment: every event of `resource` up to it is included.
    pub fn resource_events_since(
        &self,
        resource: ResourceId,
        resource_version: u64,
    ) -> Result<(Vec<Arc<StoreEvent>>, u64), StoreError> {
        let state = self.read();
        let events = match state.resource_history.get(resource.index()) {
            Some(history) => history.since(resource_version)?,
            None => Vec::new(),
        };
        Ok((events, state.revision))
    }

    /// A subscription to every change from now on.
    pub fn subscribe(&self) -> Subscription {
        let changes = self.changes();
        let position = self.resource_version();
        Subscription {
            store: self.clone(),
            position,
            changes,
            pending: VecDeque::new(),
        }
    }

    /// A subscription replaying events after `resource_version`.
    pub fn subscribe_from(&self, resource_version: u64) -> Result<Subscription, StoreError> {
        let changes = self.changes();
        let state = self.read();
        if resource_version < state.history.compacted {
            return Err(StoreError::Expired {
                requested: resource_version,
                oldest: state.history.compacted,
            });
        }
        if resource_version > state.revision {
            return Err(StoreError::TooLargeResourceVersion {
                requested: resource_version,
                current: state.revision,
            });
        }
        Ok(Subscription {
            store: self.clone(),
            position: resource_version,
            changes,
            pending: VecDeque::new(),
        })
    }

    // -----------------------------------------------------------------------------------------
    // Reads

    /// One object; `namespace` is "" for cluster-scoped resources.
    pub fn get_object(
        &self,
        resource: ResourceId,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<StoredObject>> {
        self.read().get(resource, namespace, name).cloned()
    }

    /// Every object of `resource` (in one namespace, or all), and the store's resourceVersion.
    pub fn list_objects(
        &self,
        resource: ResourceId,
        namespace: Option<&str>,
    ) -> (Vec<Arc<StoredObject>>, u64) {
        let state = self.read();
        (
            state.scope(resource, namespace).cloned().collect(),
            state.revision,
        )
    }

    /// Objects matching selectors, with the store's resourceVersion, read atomically.
    pub fn select_objects(
        &self,
        resource: ResourceId,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> (Vec<Arc<StoredObject>>, u64) {
        let state = self.read();
        (
            state
                .scope(resource, namespace)
                .filter(|o| o.matches(labels, fields))
                .cloned()
                .collect(),
            state.revision,
        )
    }

    /// One page of a list, in (namespace, name) order.
    pub fn list_page(&self, resource: ResourceId, query: &ListQuery) -> ListPage {
        let state = self.read();
        let namespace = query.namespace.as_deref();
        let resource_version = query
            .continue_from
            .as_ref()
            .map_or(state.revision, |c| c.resource_version);
        let limit = query.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let after = query
            .continue_from
            .as_ref()
            .map(|c| (c.namespace.clone(), c.name.clone()));
        let bucket = state.bucket(resource);
        let iter: Box<dyn Iterator<Item = (&ObjectKey, &Arc<StoredObject>)>> = match &after {
            Some(key) => Box::new(bucket.range((
                std::ops::Bound::Excluded(key.clone()),
                std::ops::Bound::Unbounded,
            ))),
            None => match namespace {
                Some(ns) if resource.info().namespaced => {
                    Box::new(bucket.range((ns.to_string(), String::new())..))
                }
                _ => Box::new(bucket.iter()),
            },
        };
        let in_scope = |key: &ObjectKey| match namespace {
            Some(ns) if resource.info().namespaced => key.0 == ns,
            _ => true,
        };
        let mut items = Vec::new();
        let mut continue_token = None;
        for (key, object) in iter {
            if !in_scope(key) {
                if after.is_none() || key.0.as_str() > namespace.unwrap_or("") {
                    break;
                }
                continue;
            }
            if !object.matches(&query.labels, &query.fields) {
                continue;
            }
            if items.len() == limit {
                let last: &Arc<StoredObject> = &items[items.len() - 1];
                continue_token = Some(ContinueToken {
                    resource_version,
                    namespace: last.namespace.clone(),
                    name: last.name.clone(),
                });
                break;
            }
            items.push(object.clone());
        }
        ListPage {
            items,
            resource_version,
            continue_token,
        }
    }

    // -----------------------------------------------------------------------------------------
}

/// Receives every store change, in resourceVersion order, from a starting point.
pub struct Subscription {
    store: Store,
    position: u64,
    changes: watch::Receiver<u64>,
    pending: VecDeque<Arc<StoreEvent>>,
}

impl Subscription {
    /// The resourceVersion of the last event handed out (or the starting point).
    pub fn resource_version(&self) -> u64 {
        self.position
    }

    /// The next event without waiting, if one is ready.
    pub fn try_next(&mut self) -> Result<Option<Arc<StoreEvent>>, StoreError> {
        if self.pending.is_empty() {
            self.pending.extend(self.store.events_since(self.position)?);
        }
        Ok(self.pending.pop_front().inspect(|event| {
            self.position = event.resource_version();
        }))
    }

    /// The next event, waiting for one. `Expired` when this subscriber fell further behind than
    /// the store's history: list again and subscribe from the list's resourceVersion.
    pub async fn next(&mut self) -> Result<Arc<StoreEvent>, StoreError> {
        loop {
            self.changes.borrow_and_update();
            if let Some(event) = self.try_next()? {
                return Ok(event);
            }
            if self.changes.changed().await.is_err() {
                return Err(StoreError::Internal("the store is gone".into()));
            }
        }
    }
}
