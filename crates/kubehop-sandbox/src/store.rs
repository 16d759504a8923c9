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

impl StoredObject {
    fn from_value(resource: ResourceId, value: &Value) -> Result<Self, StoreError> {
        let meta = value.get("metadata");
        let text = |key: &str| {
            meta.and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let labels = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let owners = meta
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("uid").and_then(Value::as_str).map(str::to_string))
            .collect();
        let fields = resource
            .info()
            .selectable_fields
            .iter()
            .map(|label| (*label, field_value(value, label)))
            .collect();
        let json = serde_json::to_vec(value)
            .map_err(|e| StoreError::Internal(format!("cannot serialize object: {e}")))?;
        Ok(StoredObject {
            resource,
            namespace: text("namespace"),
            name: text("name"),
            uid: text("uid"),
            resource_version: text("resourceVersion").parse().unwrap_or(0),
            labels,
            fields,
            owners,
            terminating: meta.and_then(|m| m.get("deletionTimestamp")).is_some(),
            finalizers: meta
                .and_then(|m| m.get("finalizers"))
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty()),
            json: Bytes::from(json),
        })
    }

    pub fn resource(&self) -> ResourceId {
        self.resource
    }
    /// "" for cluster-scoped objects.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn uid(&self) -> &str {
        &self.uid
    }
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
    /// Whether `metadata.deletionTimestamp` is set.
    pub fn is_terminating(&self) -> bool {
        self.terminating
    }
    /// The object as JSON bytes (what the API serves).
    pub fn json(&self) -> &Bytes {
        &self.json
    }
    /// The object parsed into a JSON tree.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
    /// The object decoded into its k8s-openapi type.
    pub fn decode<K: DeserializeOwned>(&self) -> Result<K, serde_json::Error> {
        serde_json::from_slice(&self.json)
    }
    /// The value of a field-selector label ("" when absent).
    pub fn field(&self, label: &str) -> &str {
        match label {
            "metadata.name" => &self.name,
            "metadata.namespace" => &self.namespace,
            _ => self
                .fields
                .iter()
                .find(|(l, _)| *l == label)
                .map_or("", |(_, v)| v.as_str()),
        }
    }

    pub(crate) fn matches(&self, labels: &LabelSelector, fields: &FieldSelector) -> bool {
        labels.matches(&self.labels) && fields.matches(|f| self.field(f))
    }
}

/// The value of a field-selector label in an object, as the API server formats it.
fn field_value(object: &Value, label: &str) -> String {
    let path = match label {
        "source" => "source.component",
        other => other,
    };
    let mut current = object;
    for part in path.split('.') {
        match current.get(part) {
            Some(next) => current = next,
            None => {
                return match label {
                    "spec.hostNetwork" | "spec.unschedulable" => "false".into(),
                    _ => String::new(),
                };
            }
        }
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
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
}

/// Read access to the store under its lock, for admission hooks.
pub struct StoreView<'a> {
    state: &'a State,
}

impl StoreView<'_> {
    pub fn get(&self, resource: ResourceId, namespace: &str, name: &str) -> Option<&StoredObject> {
        self.state.get(resource, namespace, name).map(Arc::as_ref)
    }

    /// Objects of `resource`, in one namespace or all.
    pub fn list(
        &self,
        resource: ResourceId,
        namespace: Option<&str>,
    ) -> impl Iterator<Item = &StoredObject> {
        self.state.scope(resource, namespace).map(Arc::as_ref)
    }
}

impl State {
    fn bucket(&self, resource: ResourceId) -> &BTreeMap<ObjectKey, Arc<StoredObject>> {
        &self.buckets[resource.index()]
    }

    fn get(&self, resource: ResourceId, namespace: &str, name: &str) -> Option<&Arc<StoredObject>> {
        self.bucket(resource)
            .get(&(namespace.to_string(), name.to_string()))
    }

    fn scope<'a>(
        &'a self,
        resource: ResourceId,
        namespace: Option<&str>,
    ) -> Box<dyn Iterator<Item = &'a Arc<StoredObject>> + 'a> {
        let bucket = self.bucket(resource);
        match namespace {
            Some(ns) if resource.info().namespaced => {
                let ns = ns.to_string();
                Box::new(
                    bucket
                        .range((ns.clone(), String::new())..)
                        .take_while(move |((n, _), _)| *n == ns)
                        .map(|(_, v)| v),
                )
            }
            _ => Box::new(bucket.values()),
        }
    }

    fn push_event(&mut self, event: StoreEvent) {
        let event = Arc::new(event);
        self.resource_history[event.resource().index()].push(event.clone());
        self.history.push(event);
    }

    fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }
}

/// A bounded, resourceVersion-ordered event log.
struct History {
    events: VecDeque<Arc<StoreEvent>>,
    capacity: usize,
    /// Every event with a resourceVersion above this one is still here.
    compacted: u64,
}

impl History {
    fn new(capacity: usize) -> Self {
        History {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            compacted: 0,
        }
    }

    fn push(&mut self, event: Arc<StoreEvent>) {
        self.events.push_back(event);
        while self.events.len() > self.capacity {
            if let Some(old) = self.events.pop_front() {
                self.compacted = old.resource_version();
            }
        }
    }

    fn since(&self, resource_version: u64) -> Result<Vec<Arc<StoreEvent>>, StoreError> {
        if resource_version < self.compacted {
            return Err(StoreError::Expired {
                requested: resource_version,
                oldest: self.compacted,
            });
        }
        let start = self
            .events
            .partition_point(|e| e.resource_version() <= resource_version);
        Ok(self.events.range(start..).cloned().collect())
    }
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
        let mut ids = self
            .inner
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match ids.as_mut() {
            Some(rng) => rng.uuid().to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        }
    }

    /// A 5-character `generateName` suffix (seeded like [`new_uid`](Self::new_uid)).
    pub fn name_suffix(&self) -> String {
        let mut ids = self
            .inner
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match ids.as_mut() {
            Some(rng) => rng.name_suffix(5),
            None => random_suffix(),
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
        self.read().resource_history[resource.index()].compacted
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
        let events = state.resource_history[resource.index()].since(resource_version)?;
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
    // Writes

    /// Creates an object (its namespace comes from `metadata.namespace`, default "default").
    pub fn create_object(
        &self,
        resource: ResourceId,
        object: Value,
        options: WriteOptions,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let hooks = self.hooks();
        let mut state = self.write();
        let before = state.revision;
        let result = self.create_locked(&mut state, &hooks, resource, object, options);
        self.finish(state, before);
        result
    }

    /// Replaces an object. A non-empty `metadata.resourceVersion` must match the stored one.
    pub fn update_object(
        &self,
        resource: ResourceId,
        object: Value,
        part: Part,
        options: WriteOptions,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let hooks = self.hooks();
        let namespace = if resource.info().namespaced {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut state = self.write();
        let before = state.revision;
        let result = match state.get(resource, &namespace, &name).cloned() {
            None => Err(StoreError::NotFound { resource, name }),
            Some(previous) => self.update_locked(
                &mut state, &hooks, resource, object, &previous, part, options,
            ),
        };
        self.finish(state, before);
        result
    }

    /// Read-modify-write under the lock: `change` edits the stored object (a patch, a scale).
    /// If the edited object carries a resourceVersion other than the stored one: Conflict.
    pub fn modify_object(
        &self,
        resource: ResourceId,
        namespace: &str,
        name: &str,
        part: Part,
        options: WriteOptions,
        change: impl FnOnce(&mut Value) -> Result<(), StoreError>,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let hooks = self.hooks();
        let mut state = self.write();
        let before = state.revision;
        let result = match state.get(resource, namespace, name).cloned() {
            None => Err(StoreError::NotFound {
                resource,
                name: name.to_string(),
            }),
            Some(previous) => {
                let mut value = previous.value();
                match change(&mut value) {
                    Err(err) => Err(err),
                    Ok(()) => self.update_locked(
                        &mut state, &hooks, resource, value, &previous, part, options,
                    ),
                }
            }
        };
        self.finish(state, before);
        result
    }

    /// Deletes an object (gracefully if the deletion policy says so, or while finalizers remain).
    pub fn delete_object(
        &self,
        resource: ResourceId,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteOutcome, StoreError> {
        let hooks = self.hooks();
        let policy = self
            .inner
            .deletion
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut state = self.write();
        let before = state.revision;
        let result = self.delete_locked(
            &mut state,
            &hooks,
            policy.as_ref(),
            resource,
            namespace,
            name,
            options,
        );
        self.finish(state, before);
        result
    }

    /// Loads scenario or dump objects as given (status kept, no validation). `List` objects are
    /// flattened; namespaces are created as needed; existing objects are replaced; Endpoints
    /// are skipped (the store derives them from EndpointSlices).
    pub fn load_objects(&self, objects: Vec<Value>) -> LoadReport {
        let mut report = LoadReport::default();
        let mut flat = Vec::new();
        for object in objects {
            flatten_lists(object, &mut flat);
        }
        for object in flat {
            let api_version = object
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let kind = object
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let label = format!("{api_version} {kind} {name}");
            let Some(resource) = ResourceId::from_api_version_kind(&api_version, &kind) else {
                report.skipped.push(format!("{label}: not served"));
                continue;
            };
            if resource.info().read_only {
                report
                    .skipped
                    .push(format!("{label}: derived from EndpointSlices"));
                continue;
            }
            let namespace = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            let exists = self
                .get_object(
                    resource,
                    if resource.info().namespaced {
                        &namespace
                    } else {
                        ""
                    },
                    &name,
                )
                .is_some();
            let result = if exists {
                let mut object = object;
                if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                    // A replayed dump replaces what is there, whatever its version and uid.
                    meta.remove("resourceVersion");
                    meta.remove("uid");
                }
                self.update_object(resource, object, Part::Whole, WriteOptions::load())
            } else {
                self.create_object(resource, object, WriteOptions::load())
            };
            match result {
                Ok(_) => report.loaded += 1,
                Err(err) => report.skipped.push(format!("{label}: {err}")),
            }
        }
        report
    }

    fn hooks(&self) -> Vec<Arc<dyn AdmissionHook>> {
        self.inner
            .hooks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn finish(&self, state: RwLockWriteGuard<'_, State>, before: u64) {
        let after = state.revision;
        drop(state);
        if after != before {
            self.notify(after);
        }
    }

    fn create_locked(
        &self,
        state: &mut State,
        hooks: &[Arc<dyn AdmissionHook>],
        resource: ResourceId,
        mut object: Value,
        options: WriteOptions,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let info = resource.info();
        if info.read_only && options.origin == Origin::Api {
            return Err(StoreError::ReadOnly(resource));
        }
        prepare_type_meta(resource, &mut object)?;
        let meta = metadata_mut(&mut object)?;
        // Namespace.
        let namespace = if info.namespaced {
            let ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("default")
                .to_string();
            meta.insert("namespace".into(), json!(ns));
            ns
        } else {
            meta.remove("namespace");
            String::new()
        };
        // generateName.
        let has_name = meta
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !has_name
            && let Some(prefix) = meta.get("generateName").and_then(Value::as_str)
            && !prefix.is_empty()
        {
            let name = format!("{prefix}{}", self.name_suffix());
            meta.insert("name".into(), json!(name));
        }
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        // Server-owned metadata.
        let keep_given = options.origin == Origin::Load;
        let now = format_time(self.now());
        if !keep_given || !meta.get("uid").is_some_and(Value::is_string) {
            meta.insert("uid".into(), json!(self.new_uid()));
        }
        if !keep_given || !meta.get("creationTimestamp").is_some_and(Value::is_string) {
            meta.insert("creationTimestamp".into(), json!(now));
        }
        if !keep_given {
            meta.remove("deletionTimestamp");
            meta.remove("deletionGracePeriodSeconds");
        }
        meta.remove("resourceVersion");
        meta.remove("managedFields");
        if info.tracks_generation {
            if !keep_given || !meta.get("generation").is_some_and(Value::is_number) {
                meta.insert("generation".into(), json!(1));
            }
        } else {
            meta.remove("generation");
        }
        admission::tidy_metadata(&mut object);
        // Like the API server's PrepareForCreate: clients cannot create status, except for
        // Nodes (the kubelet registers its node with status).
        if options.origin == Origin::Api && info.status_subresource && resource != ResourceId::Nodes
        {
            let status = admission::initial_status(resource, &object);
            if let Some(map) = object.as_object_mut() {
                match status {
                    Some(status) => map.insert("status".into(), status),
                    None => map.remove("status"),
                };
            }
        }
        admission::apply_defaults(resource, &mut object);
        check_decodes(resource, &object)?;
        if options.origin != Origin::Load {
            let causes = admission::validate_metadata(resource, &object);
            if !causes.is_empty() {
                return Err(StoreError::Invalid {
                    resource,
                    name,
                    causes,
                });
            }
        }
        if state.get(resource, &namespace, &name).is_some() {
            return Err(StoreError::AlreadyExists { resource, name });
        }
        if info.namespaced && state.get(ResourceId::Namespaces, "", &namespace).is_none() {
            if options.origin == Origin::Load {
                let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
                self.create_locked(state, hooks, ResourceId::Namespaces, ns, options)?;
            } else {
                return Err(StoreError::NotFound {
                    resource: ResourceId::Namespaces,
                    name: namespace,
                });
            }
        }
        if options.origin != Origin::Load {
            let causes = admission::validate_kind(resource, &object);
            if !causes.is_empty() {
                return Err(StoreError::Invalid {
                    resource,
                    name,
                    causes,
                });
            }
        }
        run_hooks(
            state,
            hooks,
            resource,
            Operation::Create,
            &mut object,
            None,
            options,
        )?;
        if options.dry_run {
            return Ok(Arc::new(StoredObject::from_value(resource, &object)?));
        }
        let stored = self.commit(state, resource, object, None)?;
        Ok(stored)
    }

    #[allow(clippy::too_many_arguments)]
    fn update_locked(
        &self,
        state: &mut State,
        hooks: &[Arc<dyn AdmissionHook>],
        resource: ResourceId,
        mut object: Value,
        previous: &Arc<StoredObject>,
        part: Part,
        options: WriteOptions,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let info = resource.info();
        if info.read_only && options.origin == Origin::Api {
            return Err(StoreError::ReadOnly(resource));
        }
        let name = previous.name.clone();
        prepare_type_meta(resource, &mut object)?;
        // Preconditions.
        let meta = metadata_mut(&mut object)?;
        if let Some(rv) = meta.get("resourceVersion").and_then(Value::as_str)
            && !rv.is_empty()
            && rv != previous.resource_version.to_string()
        {
            return Err(conflict(resource, &name));
        }
        if let Some(uid) = meta.get("uid").and_then(Value::as_str)
            && !uid.is_empty()
            && uid != previous.uid
        {
            return Err(StoreError::Conflict {
                resource,
                name,
                reason: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    previous.uid
                ),
            });
        }
        if let Some(given) = meta.get("name").and_then(Value::as_str)
            && !given.is_empty()
            && given != name
        {
            return Err(StoreError::BadRequest(format!(
                "the name of the object ({given}) does not match the name on the URL ({name})"
            )));
        }
        if info.namespaced
            && let Some(given) = meta.get("namespace").and_then(Value::as_str)
            && !given.is_empty()
            && given != previous.namespace
        {
            return Err(StoreError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request"
                    .into(),
            ));
        }
        let old = previous.value();
        let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
        // Compose the new object.
        let mut object = match part {
            Part::Status => {
                let mut merged = old.clone();
                if let Some(map) = merged.as_object_mut() {
                    match object.get("status") {
                        Some(status) => map.insert("status".into(), status.clone()),
                        None => map.remove("status"),
                    };
                }
                merged
            }
            Part::Whole => {
                if options.origin == Origin::Api
                    && info.status_subresource
                    && let Some(map) = object.as_object_mut()
                {
                    match old.get("status") {
                        Some(status) => map.insert("status".into(), status.clone()),
                        None => map.remove("status"),
                    };
                }
                object
            }
        };
        {
            let meta = metadata_mut(&mut object)?;
            for key in [
                "uid",
                "creationTimestamp",
                "namespace",
                "name",
                "generation",
            ] {
                match old_meta.get(key) {
                    Some(value) => meta.insert(key.into(), value.clone()),
                    None => meta.remove(key),
                };
            }
            for key in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
                if options.origin != Origin::Load || meta.get(key).is_none() {
                    match old_meta.get(key) {
                        Some(value) => meta.insert(key.into(), value.clone()),
                        None => meta.remove(key),
                    };
                }
            }
            meta.remove("resourceVersion");
            meta.remove("managedFields");
        }
        admission::tidy_metadata(&mut object);
        admission::prepare_update(resource, &mut object, &old);
        admission::apply_defaults(resource, &mut object);
        check_decodes(resource, &object)?;
        if options.origin != Origin::Load {
            let mut causes = admission::validate_metadata(resource, &object);
            causes.extend(admission::validate_kind(resource, &object));
            if !causes.is_empty() {
                return Err(StoreError::Invalid {
                    resource,
                    name,
                    causes,
                });
            }
        }
        run_hooks(
            state,
            hooks,
            resource,
            Operation::Update,
            &mut object,
            Some(&old),
            options,
        )?;
        if info.tracks_generation && spec_changed(&old, &object) {
            let generation = old_meta
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("generation".into(), json!(generation + 1));
            }
        }
        if same_object(&old, &object) {
            return Ok(previous.clone());
        }
        if options.dry_run {
            set_resource_version(&mut object, previous.resource_version);
            return Ok(Arc::new(StoredObject::from_value(resource, &object)?));
        }
        let finalized = object.pointer("/metadata/deletionTimestamp").is_some()
            && object
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty());
        let stored = self.commit(state, resource, object, Some(previous.clone()))?;
        if finalized {
            self.remove_locked(state, hooks, &stored, Propagation::Background)?;
        }
        Ok(stored)
    }

    #[allow(clippy::too_many_arguments)]
    fn delete_locked(
        &self,
        state: &mut State,
        hooks: &[Arc<dyn AdmissionHook>],
        policy: &dyn DeletionPolicy,
        resource: ResourceId,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteOutcome, StoreError> {
        if resource.info().read_only {
            return Err(StoreError::ReadOnly(resource));
        }
        let Some(current) = state.get(resource, namespace, name).cloned() else {
            return Err(StoreError::NotFound {
                resource,
                name: name.to_string(),
            });
        };
        if let Some(uid) = &options.precondition_uid
            && *uid != current.uid
        {
            return Err(StoreError::Conflict {
                resource,
                name: name.to_string(),
                reason: format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    current.uid
                ),
            });
        }
        if let Some(rv) = &options.precondition_resource_version
            && *rv != current.resource_version.to_string()
        {
            return Err(StoreError::Conflict {
                resource,
                name: name.to_string(),
                reason: format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    current.resource_version
                ),
            });
        }
        if options.dry_run {
            return Ok(DeleteOutcome::Deleted(current));
        }
        let value = current.value();
        let immediate = options.grace_period_seconds == Some(0);
        let decision = if immediate {
            admission::Deletion::Immediate
        } else {
            policy.decide(resource, &value, options.grace_period_seconds)
        };
        let wait = match decision {
            _ if current.finalizers => Some(0),
            admission::Deletion::Graceful {
                grace_period_seconds,
            } if grace_period_seconds > 0 => Some(grace_period_seconds),
            _ => None,
        };
        if let Some(grace) = wait {
            if current.terminating {
                return Ok(DeleteOutcome::Pending(current));
            }
            let mut value = value;
            if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                let now = self.now();
                let at = now
                    .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(grace))
                    .unwrap_or(now);
                meta.insert("deletionTimestamp".into(), json!(format_time(at)));
                meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
            let stored = self.commit(state, resource, value, Some(current))?;
            return Ok(DeleteOutcome::Pending(stored));
        }
        let gone = self.remove_locked(state, hooks, &current, options.propagation)?;
        Ok(DeleteOutcome::Deleted(gone))
    }

    /// Removes an object now, cascading to dependents and namespace contents.
    fn remove_locked(
        &self,
        state: &mut State,
        hooks: &[Arc<dyn AdmissionHook>],
        current: &Arc<StoredObject>,
        propagation: Propagation,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let resource = current.resource;
        let key = (current.namespace.clone(), current.name.clone());
        let revision = state.next_revision();
        let mut value = current.value();
        set_resource_version(&mut value, revision);
        let gone = Arc::new(StoredObject::from_value(resource, &value)?);
        state.buckets[resource.index()].remove(&key);
        state.push_event(StoreEvent {
            event_type: EventType::Deleted,
            object: gone.clone(),
            previous: Some(current.clone()),
        });
        for hook in hooks {
            hook.released(resource, &value);
        }
        self.after_change(state, &gone, Some(current))?;
        // Namespace contents.
        if resource == ResourceId::Namespaces {
            for id in ResourceId::ALL {
                if !id.info().namespaced || id.info().read_only {
                    continue;
                }
                let inside: Vec<_> = state.scope(id, Some(&current.name)).cloned().collect();
                for object in inside {
                    // Garbage collection may have taken it already.
                    if state.get(id, &object.namespace, &object.name).is_some() {
                        self.remove_locked(state, hooks, &object, Propagation::Background)?;
                    }
                }
            }
        }
        // Dependents (garbage collection).
        if propagation != Propagation::Orphan && !current.uid.is_empty() {
            let mut dependents = Vec::new();
            for id in ResourceId::ALL {
                dependents.extend(
                    state
                        .bucket(id)
                        .values()
                        .filter(|o| o.owners.iter().any(|u| *u == current.uid))
                        .cloned(),
                );
            }
            for dependent in dependents {
                if state
                    .get(dependent.resource, &dependent.namespace, &dependent.name)
                    .is_some()
                {
                    self.remove_locked(state, hooks, &dependent, propagation)?;
                }
            }
        }
        Ok(gone)
    }

    /// Stores `object` with a new resourceVersion and records the event.
    fn commit(
        &self,
        state: &mut State,
        resource: ResourceId,
        mut object: Value,
        previous: Option<Arc<StoredObject>>,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let revision = state.next_revision();
        set_resource_version(&mut object, revision);
        let stored = Arc::new(StoredObject::from_value(resource, &object)?);
        state.buckets[resource.index()].insert(
            (stored.namespace.clone(), stored.name.clone()),
            stored.clone(),
        );
        state.push_event(StoreEvent {
            event_type: if previous.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            },
            object: stored.clone(),
            previous: previous.clone(),
        });
        self.after_change(state, &stored, previous.as_ref())?;
        Ok(stored)
    }

    /// Keeps derived state in step: the slice index and the Endpoints of affected Services.
    fn after_change(
        &self,
        state: &mut State,
        object: &Arc<StoredObject>,
        previous: Option<&Arc<StoredObject>>,
    ) -> Result<(), StoreError> {
        let gone = state
            .get(object.resource, &object.namespace, &object.name)
            .is_none();
        let mut services = BTreeSet::new();
        match object.resource {
            ResourceId::EndpointSlices => {
                for (source, removed) in [(previous, true), (Some(object), gone)] {
                    let Some(slice) = source else { continue };
                    let Some(service) = slice.labels.get(SERVICE_NAME_LABEL) else {
                        continue;
                    };
                    let key = (slice.namespace.clone(), service.clone());
                    let names = state.slices_by_service.entry(key).or_default();
                    if removed {
                        names.remove(&slice.name);
                    } else {
                        names.insert(slice.name.clone());
                    }
                    services.insert(service.clone());
                }
            }
            ResourceId::Services => {
                services.insert(object.name.clone());
            }
            _ => return Ok(()),
        }
        for service in services {
            self.sync_endpoints(state, &object.namespace, &service)?;
        }
        Ok(())
    }

    /// Recomputes the derived Endpoints of one Service and stores the difference.
    fn sync_endpoints(
        &self,
        state: &mut State,
        namespace: &str,
        service_name: &str,
    ) -> Result<(), StoreError> {
        let key = (namespace.to_string(), service_name.to_string());
        let slice_names: Vec<String> = state
            .slices_by_service
            .get(&key)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        if slice_names.is_empty() {
            state.slices_by_service.remove(&key);
        }
        let service = state
            .get(ResourceId::Services, namespace, service_name)
            .map(|s| s.value());
        let existing = state
            .get(ResourceId::Endpoints, namespace, service_name)
            .cloned();
        let has_selector = service
            .as_ref()
            .and_then(|s| s.pointer("/spec/selector"))
            .and_then(Value::as_object)
            .is_some_and(|s| !s.is_empty());
        let wanted = service.is_some() && (has_selector || !slice_names.is_empty());
        if !wanted {
            if let Some(existing) = existing {
                self.remove_locked(state, &[], &existing, Propagation::Orphan)?;
            }
            return Ok(());
        }
        let slices: Vec<Value> = slice_names
            .iter()
            .filter_map(|name| state.get(ResourceId::EndpointSlices, namespace, name))
            .map(|s| s.value())
            .collect();
        let subsets = endpoints::derive_subsets(&slices);
        let labels = service
            .as_ref()
            .and_then(|s| s.pointer("/metadata/labels"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        let old = existing.as_ref().map(|e| e.value());
        let unchanged = old.as_ref().is_some_and(|old| {
            old.get("subsets").cloned().unwrap_or_else(|| json!([]))
                == Value::Array(subsets.clone())
                && old
                    .pointer("/metadata/labels")
                    .cloned()
                    .unwrap_or_else(|| json!({}))
                    == labels
        });
        if unchanged {
            return Ok(());
        }
        let (uid, created) = match &old {
            Some(old) => (
                old.pointer("/metadata/uid").cloned(),
                old.pointer("/metadata/creationTimestamp").cloned(),
            ),
            None => (None, None),
        };
        let mut meta = Map::new();
        meta.insert("name".into(), json!(service_name));
        meta.insert("namespace".into(), json!(namespace));
        meta.insert("uid".into(), uid.unwrap_or_else(|| json!(self.new_uid())));
        meta.insert(
            "creationTimestamp".into(),
            created.unwrap_or_else(|| json!(format_time(self.now()))),
        );
        if labels.as_object().is_some_and(|l| !l.is_empty()) {
            meta.insert("labels".into(), labels);
        }
        let mut object = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta});
        if !subsets.is_empty() {
            object["subsets"] = Value::Array(subsets);
        }
        self.commit(state, ResourceId::Endpoints, object, existing)?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Typed helpers (k8s-openapi types)

    /// One object decoded as `K`; `namespace` is ignored for cluster-scoped kinds.
    pub fn get<K>(&self, namespace: &str, name: &str) -> Result<Option<K>, StoreError>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let resource = served::<K>()?;
        let namespace = scope_namespace(resource, namespace);
        self.get_object(resource, namespace, name)
            .map(|o| decode(&o))
            .transpose()
    }

    /// Every object of kind `K` (in one namespace or all), decoded.
    pub fn list<K>(&self, namespace: Option<&str>) -> Result<Vec<K>, StoreError>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let resource = served::<K>()?;
        self.list_objects(resource, namespace)
            .0
            .iter()
            .map(|o| decode(o))
            .collect()
    }

    /// Creates `object` as a controller (status kept, full admission).
    pub fn create<K>(&self, object: &K) -> Result<K, StoreError>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let resource = served::<K>()?;
        let value = to_value(object)?;
        let stored = self.create_object(resource, value, WriteOptions::controller())?;
        decode(&stored)
    }

    /// Replaces `object` as a controller (its resourceVersion, if set, must match).
    pub fn replace<K>(&self, object: &K) -> Result<K, StoreError>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let resource = served::<K>()?;
        let value = to_value(object)?;
        let stored =
            self.update_object(resource, value, Part::Whole, WriteOptions::controller())?;
        decode(&stored)
    }

    /// Read-modify-write of one typed object as a controller.
    pub fn modify<K>(
        &self,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut K),
    ) -> Result<K, StoreError>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let resource = served::<K>()?;
        let namespace = scope_namespace(resource, namespace);
        let stored = self.modify_object(
            resource,
            namespace,
            name,
            Part::Whole,
            WriteOptions::controller(),
            |value| {
                let mut typed: K = K::deserialize(&*value).map_err(|e| {
                    StoreError::Internal(format!("stored object does not decode: {e}"))
                })?;
                change(&mut typed);
                *value = to_value(&typed)?;
                if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("resourceVersion");
                }
                Ok(())
            },
        )?;
        decode(&stored)
    }

    /// Merges `status` (a JSON merge patch of `.status`) into one object's status.
    pub fn apply_status<K>(
        &self,
        namespace: &str,
        name: &str,
        status: &Value,
    ) -> Result<K, StoreError>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let resource = served::<K>()?;
        let namespace = scope_namespace(resource, namespace);
        let stored = self.modify_object(
            resource,
            namespace,
            name,
            Part::Status,
            WriteOptions::controller(),
            |value| {
                if let Some(map) = value.as_object_mut() {
                    let current = map.entry("status").or_insert_with(|| json!({}));
                    json_patch::merge(current, status);
                }
                Ok(())
            },
        )?;
        decode(&stored)
    }

    /// Every object the engine reads, decoded, as one consistent [`ClusterSnapshot`].
    pub fn cluster_snapshot(&self, generation: u64) -> Result<ClusterSnapshot, StoreError> {
        let [services, slices, pods, nodes, ingresses, namespaces] = {
            let state = self.read();
            [
                ResourceId::Services,
                ResourceId::EndpointSlices,
                ResourceId::Pods,
                ResourceId::Nodes,
                ResourceId::Ingresses,
                ResourceId::Namespaces,
            ]
            .map(|r| state.scope(r, None).cloned().collect::<Vec<_>>())
        };
        fn decode_all<K: DeserializeOwned>(
            objects: &[Arc<StoredObject>],
        ) -> Result<Vec<Arc<K>>, StoreError> {
            objects.iter().map(|o| decode(o).map(Arc::new)).collect()
        }
        Ok(ClusterSnapshot {
            generation,
            services: decode_all(&services)?,
            endpoint_slices: decode_all(&slices)?,
            pods: decode_all(&pods)?,
            nodes: decode_all(&nodes)?,
            ingresses: decode_all(&ingresses)?,
            namespaces: decode_all(&namespaces)?,
            missing: Vec::new(),
        })
    }

    /// Deletes one object of kind `K`.
    pub fn delete<K>(
        &self,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<DeleteOutcome, StoreError>
    where
        K: k8s_openapi::Resource,
    {
        let resource = served::<K>()?;
        let namespace = scope_namespace(resource, namespace);
        self.delete_object(resource, namespace, name, options)
    }
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

// ---------------------------------------------------------------------------------------------
// Helpers

fn served<K: k8s_openapi::Resource>() -> Result<ResourceId, StoreError> {
    ResourceId::of::<K>()
        .ok_or_else(|| StoreError::NotServed(format!("{} {}", K::API_VERSION, K::KIND)))
}

fn scope_namespace(resource: ResourceId, namespace: &str) -> &str {
    if resource.info().namespaced {
        namespace
    } else {
        ""
    }
}

fn decode<K: DeserializeOwned>(object: &StoredObject) -> Result<K, StoreError> {
    object
        .decode()
        .map_err(|e| StoreError::Internal(format!("stored object does not decode: {e}")))
}

fn to_value<K: Serialize>(object: &K) -> Result<Value, StoreError> {
    serde_json::to_value(object).map_err(|e| StoreError::BadRequest(e.to_string()))
}

fn flatten_lists(object: Value, out: &mut Vec<Value>) {
    let is_list = object
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && object.get("items").is_some_and(Value::is_array);
    if !is_list {
        out.push(object);
        return;
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("List")
        .to_string();
    let api_version = object.get("apiVersion").cloned();
    if let Value::Object(mut map) = object
        && let Some(Value::Array(items)) = map.remove("items")
    {
        for mut item in items {
            // Typed lists (PodList) may omit kind/apiVersion on items.
            if let Some(item_map) = item.as_object_mut()
                && kind != "List"
            {
                item_map
                    .entry("kind")
                    .or_insert_with(|| json!(kind.trim_end_matches("List")));
                if let Some(api_version) = &api_version {
                    item_map
                        .entry("apiVersion")
                        .or_insert_with(|| api_version.clone());
                }
            }
            flatten_lists(item, out);
        }
    }
}

fn metadata_mut(object: &mut Value) -> Result<&mut Map<String, Value>, StoreError> {
    let map = object
        .as_object_mut()
        .ok_or_else(|| StoreError::BadRequest("the object is not a JSON object".into()))?;
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if meta.is_null() {
        *meta = json!({});
    }
    meta.as_object_mut()
        .ok_or_else(|| StoreError::BadRequest("metadata must be an object".into()))
}

/// Checks (or sets) apiVersion and kind for `resource`.
fn prepare_type_meta(resource: ResourceId, object: &mut Value) -> Result<(), StoreError> {
    let info = resource.info();
    let map = object
        .as_object_mut()
        .ok_or_else(|| StoreError::BadRequest("the object is not a JSON object".into()))?;
    let expected_version = info.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(given) if !given.is_empty() && given != expected_version => {
            return Err(StoreError::BadRequest(format!(
                "the API version in the data ({given}) does not match the expected API version ({expected_version})"
            )));
        }
        _ => {
            map.insert("apiVersion".into(), json!(expected_version));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(given) if !given.is_empty() && given != info.kind => {
            return Err(StoreError::BadRequest(format!(
                "the kind in the data ({given}) does not match the expected kind ({})",
                info.kind
            )));
        }
        _ => {
            map.insert("kind".into(), json!(info.kind));
        }
    }
    Ok(())
}

/// Checks that the object decodes into its k8s-openapi type (the API server's 400 otherwise).
fn check_decodes(resource: ResourceId, object: &Value) -> Result<(), StoreError> {
    use k8s_openapi::api::{
        apps::v1 as apps, core::v1 as core, discovery::v1 as discovery,
        networking::v1 as networking,
    };
    use serde::Deserialize;
    let result = match resource {
        ResourceId::Namespaces => core::Namespace::deserialize(object).map(drop),
        ResourceId::Nodes => core::Node::deserialize(object).map(drop),
        ResourceId::Pods => core::Pod::deserialize(object).map(drop),
        ResourceId::Services => core::Service::deserialize(object).map(drop),
        ResourceId::Endpoints => core::Endpoints::deserialize(object).map(drop),
        ResourceId::EndpointSlices => discovery::EndpointSlice::deserialize(object).map(drop),
        ResourceId::Ingresses => networking::Ingress::deserialize(object).map(drop),
        ResourceId::Deployments => apps::Deployment::deserialize(object).map(drop),
        ResourceId::StatefulSets => apps::StatefulSet::deserialize(object).map(drop),
        ResourceId::Events => core::Event::deserialize(object).map(drop),
    };
    result.map_err(|e| {
        let info = resource.info();
        StoreError::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {e}",
            kind = info.kind,
            version = info.version
        ))
    })
}

/// Fields of `object` its k8s-openapi type does not know (`spec.replica`), for the API
/// server's `fieldValidation`: found by decoding and re-encoding, which drops unknown fields.
pub fn unknown_fields(resource: ResourceId, object: &Value) -> Vec<String> {
    use k8s_openapi::api::{
        apps::v1 as apps, core::v1 as core, discovery::v1 as discovery,
        networking::v1 as networking,
    };
    fn round_trip<K: DeserializeOwned + Serialize>(object: &Value) -> Option<Value> {
        let typed = K::deserialize(object).ok()?;
        serde_json::to_value(typed).ok()
    }
    let known = match resource {
        ResourceId::Namespaces => round_trip::<core::Namespace>(object),
        ResourceId::Nodes => round_trip::<core::Node>(object),
        ResourceId::Pods => round_trip::<core::Pod>(object),
        ResourceId::Services => round_trip::<core::Service>(object),
        ResourceId::Endpoints => round_trip::<core::Endpoints>(object),
        ResourceId::EndpointSlices => round_trip::<discovery::EndpointSlice>(object),
        ResourceId::Ingresses => round_trip::<networking::Ingress>(object),
        ResourceId::Deployments => round_trip::<apps::Deployment>(object),
        ResourceId::StatefulSets => round_trip::<apps::StatefulSet>(object),
        ResourceId::Events => round_trip::<core::Event>(object),
    };
    let mut unknown = Vec::new();
    if let Some(known) = known {
        collect_unknown(object, &known, "", &mut unknown);
    }
    unknown
}

fn collect_unknown(given: &Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (given, known) {
        (Value::Object(given), Value::Object(known)) => {
            for (key, value) in given {
                if value.is_null() {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match known.get(key) {
                    None => out.push(child),
                    Some(known_value) => collect_unknown(value, known_value, &child, out),
                }
            }
        }
        (Value::Array(given), Value::Array(known)) => {
            for (i, (value, known_value)) in given.iter().zip(known).enumerate() {
                collect_unknown(value, known_value, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn run_hooks(
    state: &State,
    hooks: &[Arc<dyn AdmissionHook>],
    resource: ResourceId,
    operation: Operation,
    object: &mut Value,
    previous: Option<&Value>,
    options: WriteOptions,
) -> Result<(), StoreError> {
    for hook in hooks {
        let request = AdmissionRequest {
            resource,
            operation,
            origin: options.origin,
            object: &mut *object,
            previous,
            dry_run: options.dry_run,
            view: StoreView { state },
        };
        if let Err(causes) = hook.admit(request) {
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            return Err(StoreError::Invalid {
                resource,
                name,
                causes,
            });
        }
    }
    Ok(())
}

fn conflict(resource: ResourceId, name: &str) -> StoreError {
    StoreError::Conflict {
        resource,
        name: name.to_string(),
        reason: "the object has been modified; please apply your changes to the latest version and try again".into(),
    }
}

fn set_resource_version(object: &mut Value, revision: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), json!(revision.to_string()));
    }
}

/// Whether anything outside metadata and status differs.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(old) != strip(new)
}

/// Equal apart from resourceVersion (a no-op write is not stored).
fn same_object(old: &Value, new: &Value) -> bool {
    let mut old = old.clone();
    if let Some(meta) = old.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    old == *new
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// RFC 3339 at second precision, as Kubernetes writes timestamps.
pub fn format_time(at: Timestamp) -> String {
    k8s_openapi::jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", at)
        .unwrap_or_else(|_| at.to_string())
}

pub fn now_rfc3339() -> String {
    format_time(Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{AdmissionHook, AdmissionRequest, DeletionPolicy, FieldCause};
    use k8s_openapi::api::core::v1::{Pod, Service};

    fn pod(name: &str, labels: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}
        })
    }

    #[test]
    fn create_sets_server_metadata_and_one_counter() {
        let store = Store::default();
        let start = store.resource_version();
        let created = store
            .create_object(
                ResourceId::Pods,
                pod("a", json!({})),
                WriteOptions::api(false),
            )
            .expect("created");
        assert_eq!(created.resource_version(), start + 1);
        let value = created.value();
        assert!(value.pointer("/metadata/uid").is_some());
        assert!(value.pointer("/metadata/creationTimestamp").is_some());
        assert_eq!(value.pointer("/metadata/generation"), Some(&json!(1)));
        assert_eq!(value.pointer("/status/phase"), Some(&json!("Pending")));
        assert_eq!(value.pointer("/spec/restartPolicy"), Some(&json!("Always")));
        let again = store.create_object(
            ResourceId::Pods,
            pod("a", json!({})),
            WriteOptions::api(false),
        );
        assert!(matches!(again, Err(StoreError::AlreadyExists { .. })));
    }

    #[test]
    fn update_with_stale_resource_version_conflicts() {
        let store = Store::default();
        let created = store
            .create_object(
                ResourceId::Pods,
                pod("a", json!({})),
                WriteOptions::api(false),
            )
            .expect("created");
        let mut stale = created.value();
        stale["metadata"]["labels"] = json!({"x": "1"});
        store
            .update_object(
                ResourceId::Pods,
                stale.clone(),
                Part::Whole,
                WriteOptions::api(false),
            )
            .expect("first update wins");
        let err = store
            .update_object(
                ResourceId::Pods,
                stale,
                Part::Whole,
                WriteOptions::api(false),
            )
            .expect_err("second one conflicts");
        assert!(
            err.to_string()
                .starts_with("Operation cannot be fulfilled on pods \"a\"")
        );
    }

    #[test]
    fn no_op_update_keeps_resource_version() {
        let store = Store::default();
        let created = store
            .create_object(
                ResourceId::Pods,
                pod("a", json!({"app": "x"})),
                WriteOptions::api(false),
            )
            .expect("created");
        let same = store
            .update_object(
                ResourceId::Pods,
                created.value(),
                Part::Whole,
                WriteOptions::api(false),
            )
            .expect("updated");
        assert_eq!(same.resource_version(), created.resource_version());
    }

    #[test]
    fn namespace_must_exist_for_api_writes_but_load_creates_it() {
        let store = Store::default();
        let mut object = pod("a", json!({}));
        object["metadata"]["namespace"] = json!("team");
        let err = store
            .create_object(ResourceId::Pods, object.clone(), WriteOptions::api(false))
            .expect_err("no such namespace");
        assert_eq!(err.to_string(), "namespaces \"team\" not found");
        let report = store.load_objects(vec![object]);
        assert_eq!(report.loaded, 1, "{:?}", report.skipped);
        assert!(
            store
                .get_object(ResourceId::Namespaces, "", "team")
                .is_some()
        );
    }

    #[test]
    fn load_keeps_status_and_flattens_lists() {
        let store = Store::default();
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
             "spec": {"containers": []}, "status": {"phase": "Running", "podIP": "127.1.0.5"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        ]});
        let report = store.load_objects(vec![list]);
        assert_eq!(report.loaded, 1);
        assert_eq!(
            report.skipped,
            vec!["v1 ConfigMap c: not served".to_string()]
        );
        let pod: Pod = store.get("default", "p").expect("decodes").expect("exists");
        assert_eq!(
            pod.status.and_then(|s| s.pod_ip).as_deref(),
            Some("127.1.0.5")
        );
    }

    #[test]
    fn endpoints_follow_slices() {
        let store = Store::default();
        let service = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
        store
            .create_object(ResourceId::Services, service, WriteOptions::api(false))
            .expect("service");
        let endpoints = store
            .get_object(ResourceId::Endpoints, "default", "web")
            .expect("empty Endpoints for a selector Service");
        assert!(endpoints.value().get("subsets").is_none());
        let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "namespace": "default", "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4",
            "ports": [{"port": 8080}],
            "endpoints": [{"addresses": ["127.1.0.9"], "conditions": {"ready": true}}]});
        store
            .create_object(
                ResourceId::EndpointSlices,
                slice,
                WriteOptions::controller(),
            )
            .expect("slice");
        let endpoints = store
            .get_object(ResourceId::Endpoints, "default", "web")
            .expect("endpoints");
        assert_eq!(
            endpoints.value()["subsets"][0]["addresses"][0]["ip"],
            json!("127.1.0.9")
        );
        store
            .delete::<Service>("default", "web", &DeleteOptions::default())
            .expect("deleted");
        assert!(
            store
                .get_object(ResourceId::Endpoints, "default", "web")
                .is_none()
        );
        let err = store.delete_object(
            ResourceId::Endpoints,
            "default",
            "web",
            &DeleteOptions::default(),
        );
        assert!(matches!(err, Err(StoreError::ReadOnly(_))));
    }

    #[test]
    fn history_window_expires_old_versions() {
        let store = Store::new(3);
        let start = store.resource_version();
        for i in 0..5 {
            store
                .create_object(
                    ResourceId::Pods,
                    pod(&format!("p{i}"), json!({})),
                    WriteOptions::api(false),
                )
                .expect("created");
        }
        assert!(matches!(
            store.events_since(start),
            Err(StoreError::Expired { .. })
        ));
        let recent = store
            .events_since(store.resource_version() - 2)
            .expect("kept");
        assert_eq!(recent.len(), 2);
    }

    #[test]
    fn each_resource_keeps_its_own_replay_window() {
        let store = Store::new(3);
        store
            .create_object(
                ResourceId::Pods,
                pod("p", json!({})),
                WriteOptions::api(false),
            )
            .expect("created");
        let after_pod = store.resource_version();
        for i in 0..5 {
            store
                .create_object(
                    ResourceId::Nodes,
                    json!({"metadata": {"name": format!("n{i}")}}),
                    WriteOptions::api(false),
                )
                .expect("node");
        }
        // Node churn expired the global window but not the pods' one.
        assert!(store.events_since(after_pod).is_err());
        let (pod_events, revision) = store
            .resource_events_since(ResourceId::Pods, after_pod)
            .expect("pods still replayable");
        assert!(pod_events.is_empty());
        assert_eq!(revision, store.resource_version());
        assert!(
            store
                .resource_events_since(ResourceId::Nodes, after_pod)
                .is_err()
        );
    }

    #[test]
    fn owner_deletion_cascades_unless_orphaned() {
        let store = Store::default();
        let owner = store
            .create_object(
                ResourceId::Services,
                json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
                WriteOptions::api(false),
            )
            .expect("owner");
        for name in ["s1", "s2"] {
            store
                .create_object(
                    ResourceId::EndpointSlices,
                    json!({"metadata": {"name": name, "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": owner.uid()}]},
                           "addressType": "IPv4", "endpoints": []}),
                    WriteOptions::controller(),
                )
                .expect("slice");
        }
        store
            .delete_object(
                ResourceId::Services,
                "default",
                "web",
                &DeleteOptions::default(),
            )
            .expect("deleted");
        assert!(
            store
                .list_objects(ResourceId::EndpointSlices, None)
                .0
                .is_empty()
        );
    }

    #[tokio::test]
    async fn subscription_sees_changes_in_order() {
        let store = Store::default();
        let mut subscription = store.subscribe();
        store
            .create_object(
                ResourceId::Pods,
                pod("a", json!({})),
                WriteOptions::api(false),
            )
            .expect("created");
        store
            .delete_object(ResourceId::Pods, "default", "a", &DeleteOptions::default())
            .expect("deleted");
        let first = subscription.next().await.expect("event");
        let second = subscription.next().await.expect("event");
        assert_eq!(first.event_type, EventType::Added);
        assert_eq!(second.event_type, EventType::Deleted);
        assert!(second.resource_version() > first.resource_version());
    }

    #[test]
    fn paging_walks_every_object_once() {
        let store = Store::default();
        for i in 0..25 {
            store
                .create_object(
                    ResourceId::Pods,
                    pod(&format!("p{i:02}"), json!({"n": i.to_string()})),
                    WriteOptions::api(false),
                )
                .expect("created");
        }
        let mut query = ListQuery {
            namespace: Some("default".into()),
            limit: Some(10),
            ..ListQuery::default()
        };
        let mut names = Vec::new();
        let mut pages = 0;
        loop {
            let page = store.list_page(ResourceId::Pods, &query);
            pages += 1;
            names.extend(page.items.iter().map(|o| o.name().to_string()));
            match page.continue_token {
                Some(token) => query.continue_from = Some(token),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(names.len(), 25);
        assert_eq!(names[0], "p00");
        assert_eq!(names[24], "p24");
    }

    #[test]
    fn unknown_fields_are_found_by_round_trip() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"a": "b"}, "creationTimestamp": null},
            "spec": {"replica": 3, "selector": {"matchLabels": {"app": "d"}},
                     "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}});
        assert_eq!(
            unknown_fields(ResourceId::Deployments, &deployment),
            vec![
                "spec.replica".to_string(),
                "spec.template.spec.containers[0].imagee".to_string()
            ]
        );
    }

    struct GracefulPods;

    impl DeletionPolicy for GracefulPods {
        fn decide(
            &self,
            resource: ResourceId,
            _object: &Value,
            requested: Option<i64>,
        ) -> admission::Deletion {
            match resource {
                ResourceId::Pods => admission::Deletion::Graceful {
                    grace_period_seconds: requested.unwrap_or(30),
                },
                _ => admission::Deletion::Immediate,
            }
        }
    }

    #[test]
    fn graceful_deletion_keeps_the_pod_terminating_until_grace_zero() {
        let store = Store::default();
        store.set_deletion_policy(Arc::new(GracefulPods));
        store
            .create_object(
                ResourceId::Pods,
                pod("a", json!({})),
                WriteOptions::api(false),
            )
            .expect("created");
        let outcome = store
            .delete_object(ResourceId::Pods, "default", "a", &DeleteOptions::default())
            .expect("deleting");
        let DeleteOutcome::Pending(terminating) = outcome else {
            panic!("expected a pending deletion");
        };
        assert!(terminating.is_terminating());
        let value = terminating.value();
        assert_eq!(value["metadata"]["deletionGracePeriodSeconds"], json!(30));
        // Deleting again changes nothing; grace 0 (the kubelet's final delete) removes it.
        let again = store
            .delete_object(ResourceId::Pods, "default", "a", &DeleteOptions::default())
            .expect("still deleting");
        assert_eq!(
            again.object().resource_version(),
            terminating.resource_version()
        );
        let gone = store
            .delete_object(
                ResourceId::Pods,
                "default",
                "a",
                &DeleteOptions {
                    grace_period_seconds: Some(0),
                    ..DeleteOptions::default()
                },
            )
            .expect("deleted");
        assert!(matches!(gone, DeleteOutcome::Deleted(_)));
        assert!(store.get_object(ResourceId::Pods, "default", "a").is_none());
    }

    #[test]
    fn finalizers_hold_deletion_until_removed() {
        let store = Store::default();
        let mut object = pod("a", json!({}));
        object["metadata"]["finalizers"] = json!(["example.com/hold"]);
        store
            .create_object(ResourceId::Pods, object, WriteOptions::api(false))
            .expect("created");
        let outcome = store
            .delete_object(ResourceId::Pods, "default", "a", &DeleteOptions::default())
            .expect("deleting");
        assert!(matches!(outcome, DeleteOutcome::Pending(_)));
        let mut subscription = store.subscribe();
        store
            .modify_object(
                ResourceId::Pods,
                "default",
                "a",
                Part::Whole,
                WriteOptions::controller(),
                |v| {
                    v["metadata"]["finalizers"] = json!([]);
                    Ok(())
                },
            )
            .expect("finalizer removed");
        assert!(store.get_object(ResourceId::Pods, "default", "a").is_none());
        let events: Vec<EventType> =
            std::iter::from_fn(|| subscription.try_next().expect("events"))
                .map(|e| e.event_type)
                .collect();
        assert_eq!(events, [EventType::Modified, EventType::Deleted]);
    }

    #[test]
    fn deleting_a_namespace_deletes_its_objects() {
        let store = Store::default();
        let mut object = pod("a", json!({}));
        object["metadata"]["namespace"] = json!("team");
        store.load_objects(vec![object]);
        store
            .delete_object(
                ResourceId::Namespaces,
                "",
                "team",
                &DeleteOptions::default(),
            )
            .expect("deleted");
        assert!(store.get_object(ResourceId::Pods, "team", "a").is_none());
        assert!(store.get_object(ResourceId::Pods, "default", "a").is_none());
    }

    /// A toy allocator: the shape of the control plane's ClusterIP allocation hook.
    struct Allocator;

    impl AdmissionHook for Allocator {
        fn admit(&self, request: AdmissionRequest<'_>) -> Result<(), Vec<FieldCause>> {
            if request.resource != ResourceId::Services {
                return Ok(());
            }
            let taken = request.view.list(ResourceId::Services, None).count();
            let spec = &mut request.object["spec"];
            if spec["clusterIP"].as_str().unwrap_or("").is_empty() {
                let ip = format!("127.96.0.{}", 10 + taken);
                spec["clusterIP"] = json!(ip);
                spec["clusterIPs"] = json!([ip]);
            }
            match spec.pointer("/ports/0/nodePort").and_then(Value::as_i64) {
                Some(port) if !(30000..=32767).contains(&port) => Err(vec![FieldCause::invalid(
                    "spec.ports[0].nodePort",
                    &json!(port),
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                )]),
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn admission_hooks_allocate_and_reject() {
        let store = Store::default();
        store.add_admission_hook(Arc::new(Allocator));
        let created = store
            .create_object(
                ResourceId::Services,
                json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}}),
                WriteOptions::api(false),
            )
            .expect("created");
        assert_eq!(created.value()["spec"]["clusterIP"], json!("127.96.0.10"));
        let err = store
            .create_object(
                ResourceId::Services,
                json!({"metadata": {"name": "b"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}}),
                WriteOptions::api(false),
            )
            .expect_err("rejected");
        assert_eq!(
            err.to_string(),
            "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
    }

    #[test]
    fn cluster_snapshot_decodes_every_kind() {
        let store = Store::default();
        store.load_objects(vec![
            pod("a", json!({"app": "x"})),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "default"},
                   "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}),
        ]);
        let snapshot = store.cluster_snapshot(7).expect("snapshot");
        assert_eq!(snapshot.generation, 7);
        assert_eq!(snapshot.pods.len(), 1);
        assert_eq!(snapshot.services.len(), 1);
        assert_eq!(snapshot.namespaces.len(), INITIAL_NAMESPACES.len());
    }

    #[test]
    fn continue_tokens_round_trip() {
        let token = ContinueToken {
            resource_version: 42,
            namespace: "default".into(),
            name: "web".into(),
        };
        assert_eq!(ContinueToken::decode(&token.encode()), Some(token));
        assert_eq!(ContinueToken::decode("garbage"), None);
    }
}
