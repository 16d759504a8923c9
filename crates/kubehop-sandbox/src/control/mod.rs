//! The sandbox's control plane: the controllers a real cluster runs, reduced to what a Service
//! chain depends on, all in one tokio task that reacts to store events (no polling).
//!
//! - **Deployments** own one ReplicaSet per template revision, `<deployment>-<hash>` (the
//!   hash: FNV-1a of the template's JSON, spelled like Kubernetes spells pod-template-hash),
//!   annotated `deployment.kubernetes.io/revision`; a rollout (`kubectl set image`, `rollout
//!   restart`, `rollout undo`, which makes an old ReplicaSet new again at the next revision)
//!   scales the new ReplicaSet up and the old ones down with RollingUpdate's maxSurge /
//!   maxUnavailable or Recreate; old ReplicaSets scaled to 0 stay as history, at most
//!   `revisionHistoryLimit`. Status (replicas, updatedReplicas, readyReplicas,
//!   availableReplicas, observedGeneration, Available / Progressing with the real reasons) is
//!   what `kubectl rollout status` reads; ScalingReplicaSet Events say what happened.
//! - **ReplicaSets** and **ReplicationControllers** keep `replicas` pods `<owner>-<5 chars>`
//!   (SuccessfulCreate / SuccessfulDelete Events).
//! - **StatefulSets** create `<statefulset>-0..n` with `hostname` = pod name and `subdomain` =
//!   `serviceName`, in order (OrderedReady) or all at once (Parallel); scale down from the
//!   highest ordinal; rolling updates replace one pod at a time from the highest ordinal.
//! - **DaemonSets** run one pod on every node their template fits (with the tolerations the
//!   real controller adds), pinned by a `metadata.name` node-affinity term.
//! - **Jobs** run `parallelism` pods until `completions` succeeded. Sandbox pods run no
//!   processes: a Job's pod completes (exit code 0) once it has run for
//!   [`ControlPlaneConfig::ready_delay`]; the Job is then SuccessCriteriaMet and Complete.
//! - **Scheduler** (`scheduling`): a pod without `nodeName` goes to the node, among those it
//!   fits (cordon, NoSchedule / NoExecute taints against its tolerations, `nodeSelector`,
//!   required node affinity), with the fewest pods of the same owner, then the fewest pods,
//!   then the first name; none fits: PodScheduled=False Unschedulable with the real message
//!   (`0/3 nodes are available: ...`) and a FailedScheduling Event.
//! - **Kubelet**: a scheduled pod gets an IP from its node's range, phase Running, conditions and
//!   containerStatuses (Events Scheduled, Pulled, Created, Started); it becomes Ready after
//!   [`ControlPlaneConfig::ready_delay`] unless its readiness switch says otherwise
//!   ([`READY_ANNOTATION`]; its app then answers an httpGet readiness probe with 503) or its
//!   readinessProbe aims at a port its app does not listen on: then the kubelet really probes
//!   every period (a task per attempt, reporting back) and reports the failure in an
//!   aggregated Unhealthy Event (`probes`). A deleted pod stays terminating (still serving while it is ready,
//!   rule A4) for its grace period, capped by [`ControlPlaneConfig::grace_period`], then it is
//!   removed. The garbage collector deletes what a deleted owner controlled.
//! - **Events** ([`events`]): aggregated like client-go's recorder (the same event again bumps
//!   `count`), at most [`events::MAX_EVENTS`] kept.
//! - **EndpointSlice controller**: per Service, the engine's
//!   [`desired_endpoint_slices`](kubehop_engine::endpointslice::desired_endpoint_slices) (one
//!   implementation of the rules), then slices are created, updated in place by name or deleted
//!   until the store holds exactly those; nothing is written when nothing changed.
//! - **Allocation** ([`allocator`]): ClusterIPs, nodePorts and healthCheckNodePorts inside the
//!   write, as the API server does.
//! - **Cloud controller**: LoadBalancer Services get `status.loadBalancer.ingress[].ip` from the
//!   instance's pool with ipMode VIP, unless annotated [`LB_ANNOTATION`]`: pending`; Ingresses
//!   get an address from the same pool.
//! - **Nodes** registered without addresses get an InternalIP from the instance's block, a
//!   Ready condition, capacity and the labels a kubelet sets (`kubernetes.io/hostname|os|arch`
//!   and their `beta.` forms; zone and region in both the `topology.` and the
//!   `failure-domain.beta.` spelling).
//!
//! # Replayed objects
//!
//! Objects loaded with status (a `kubectl get -o yaml` dump) keep it: a pod that already has an
//! IP is not restarted and keeps its conditions (only an explicit readiness switch on it is
//! honoured; removing the switch leaves the status as it is); a pod that was terminating in the
//! dump stays terminating (a `--grace-period=0` delete removes it); a Service that already has EndpointSlices keeps them until something it selects
//! changes; a LoadBalancer with an ingress keeps it. Deployments and StatefulSets replayed with
//! their pods adopt them (by owner name and selector) instead of rolling them; a Deployment
//! whose pods name ReplicaSets the dump lacks gets those ReplicaSets.
//!
//! # Determinism
//!
//! With the same [`ControlPlaneConfig::seed`], the same scenario and the same sequence of
//! requests, generated names, uids and addresses are the same: one task handles events in
//! resourceVersion order, addresses are handed out in order, and timestamps come from
//! [`ControlPlaneConfig::clock`].

pub mod allocator;
mod cloud;
pub mod events;
mod gateway;
mod nodes;
mod pods;
pub mod pool;
mod probes;
mod scheduling;
mod slices;
mod workloads;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::addresses::AddressBlock;
use crate::clock::{Clock, SystemClock};
use crate::notes::Notes;
use crate::resources::ResourceId;
use crate::rng::SplitMix64;
use crate::store::{EventType, Part, Store, StoreError, StoreEvent, WriteOptions};

pub use allocator::ServiceAllocator;
pub use pods::GracefulPods;

/// The readiness switch: `"false"` on a pod (or on a pod template) makes the pod not ready;
/// removing it or `"true"` makes it ready again (after [`ControlPlaneConfig::ready_delay`]).
/// `kubectl annotate pod NAME sandbox.kubehop.dev/ready=false --overwrite`.
pub const READY_ANNOTATION: &str = "sandbox.kubehop.dev/ready";

/// Whether a [`READY_ANNOTATION`] value switches readiness off (`false`, `0`, `no`, `off`).
/// The kubelet keeps such a pod unready and the data plane's app answers its httpGet
/// readiness probe with 503, so both read the value here.
pub fn switched_off(value: &str) -> bool {
    ["false", "0", "no", "off"]
        .iter()
        .any(|word| value.trim().eq_ignore_ascii_case(word))
}
/// The ports the pod's app really listens on, comma separated (default: every declared TCP
/// containerPort): `sandbox.kubehop.dev/listen: "80"` reproduces "targetPort 8080, but the
/// app listens on 80" (rule M5).
pub const LISTEN_ANNOTATION: &str = "sandbox.kubehop.dev/listen";

/// An httpGet probe's path as the kubelet requests it (always starting with `/`).
pub(crate) fn probe_path(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// The ports a [`LISTEN_ANNOTATION`] value names; `Err` names an entry that is not a port
/// number (the app then listens nowhere). The data plane binds these and the kubelet's probes
/// judge against them, so both read the annotation here.
pub fn listen_ports(text: &str) -> Result<std::collections::BTreeSet<u16>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{LISTEN_ANNOTATION}: {p:?} is not a port number"))
        })
        .collect()
}
/// `sandbox.kubehop.dev/lb: pending` on a LoadBalancer Service: the cloud controller leaves
/// its `status.loadBalancer` empty.
pub const LB_ANNOTATION: &str = "sandbox.kubehop.dev/lb";

/// How the control plane behaves.
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// Seeds generated names, uids and the data plane's endpoint picker.
    pub seed: u64,
    /// How long a started pod takes to become Ready (0: at once).
    pub ready_delay: Duration,
    /// The longest a deleted pod stays terminating (its own grace period applies when
    /// shorter).
    pub grace_period: Duration,
    /// The address block's second octet (`None`: the first free one; see
    /// [`crate::addresses`]).
    pub address_block: Option<u8>,
    /// Where timestamps come from.
    pub clock: Arc<dyn Clock>,
}

/// Default readiness delay: long enough to watch a pod go from not ready to ready.
pub const DEFAULT_READY_DELAY: Duration = Duration::from_millis(1500);
/// Default cap on graceful termination.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(3);

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        ControlPlaneConfig {
            seed: 1,
            ready_delay: DEFAULT_READY_DELAY,
            grace_period: DEFAULT_GRACE_PERIOD,
            address_block: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl ControlPlaneConfig {
    /// Settings for tests: pods are ready at once, terminating lasts `grace`.
    pub fn immediate(grace: Duration) -> Self {
        ControlPlaneConfig {
            ready_delay: Duration::ZERO,
            grace_period: grace,
            ..Default::default()
        }
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn ready_delay(mut self, delay: Duration) -> Self {
        self.ready_delay = delay;
        self
    }

    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    pub fn address_block(mut self, second_octet: u8) -> Self {
        self.address_block = Some(second_octet);
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// A running control plane. Dropping it does not stop it; the sandbox's cancellation does.
#[derive(Debug)]
pub struct ControlPlane {
    block: Arc<AddressBlock>,
    allocator: Arc<ServiceAllocator>,
    idle: tokio::sync::watch::Receiver<u64>,
    task: Option<JoinHandle<()>>,
}

/// A control plane installed in a store, not yet running (objects load in between, so that
/// their Services get addresses and their status is seen as replayed).
#[derive(Debug)]
pub struct Installed {
    config: ControlPlaneConfig,
    block: Arc<AddressBlock>,
    allocator: Arc<ServiceAllocator>,
}

impl ControlPlane {
    /// Sets the store's clock and seed and registers allocation and graceful pod deletion.
    pub fn install(store: &Store, config: ControlPlaneConfig, block: AddressBlock) -> Installed {
        store.set_clock(config.clock.clone());
        store.ensure_seed(config.seed);
        let allocator = Arc::new(ServiceAllocator::new(
            block.cluster_ips(),
            block.cluster_ip_cidr(),
        ));
        store.add_admission_hook(allocator.clone());
        store.set_deletion_policy(Arc::new(GracefulPods::new(config.grace_period)));
        Installed {
            config,
            block: Arc::new(block),
            allocator,
        }
    }

    /// Starts the controllers over what the store holds now.
    pub fn start(
        installed: Installed,
        store: Store,
        notes: Notes,
        cancel: CancellationToken,
    ) -> ControlPlane {
        let Installed {
            config,
            block,
            allocator,
        } = installed;
        let (idle_tx, idle) = tokio::sync::watch::channel(0);
        let mut controller = Controller::new(store, config, block.clone(), notes);
        let task = tokio::spawn(async move { controller.run(cancel, idle_tx).await });
        ControlPlane {
            block,
            allocator,
            idle,
            task: Some(task),
        }
    }

    /// The instance's loopback addresses.
    pub fn addresses(&self) -> &AddressBlock {
        &self.block
    }

    pub fn allocator(&self) -> &ServiceAllocator {
        &self.allocator
    }

    /// The store resourceVersion at which the controllers last had nothing left to do (pods
    /// waiting for their readiness delay or grace period do not count as work).
    pub fn idle(&self) -> tokio::sync::watch::Receiver<u64> {
        self.idle.clone()
    }

    /// Waits for the task to end (after the sandbox's cancellation).
    pub async fn join(&mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// (namespace, name); namespace is "" for nodes.
pub(crate) type Key = (String, String);

fn key_of(object: &Value) -> Key {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (text("/metadata/namespace"), text("/metadata/name"))
}

/// What needs a look in the next pass.
#[derive(Debug, Default)]
struct Dirty {
    nodes: BTreeSet<String>,
    deployments: BTreeSet<Key>,
    replica_sets: BTreeSet<Key>,
    replication_controllers: BTreeSet<Key>,
    statefulsets: BTreeSet<Key>,
    daemonsets: BTreeSet<Key>,
    jobs: BTreeSet<Key>,
    pods: BTreeSet<Key>,
    slices: BTreeSet<Key>,
    load_balancers: BTreeSet<Key>,
    ingresses: BTreeSet<Key>,
    /// Something the Gateway controller reads changed (it recomputes everything).
    gateways: bool,
}

/// One node as the control plane knows it.
#[derive(Debug, Clone)]
struct NodeEntry {
    /// Position in registration order: picks its InternalIP and pod range.
    index: usize,
    node: Option<Arc<Node>>,
}

/// Who holds a LoadBalancer-pool address.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LbOwner {
    Service(Key),
    Ingress(Key),
    Gateway(Key),
}

/// The control plane's state, owned by its one task.
struct Controller {
    store: Store,
    config: ControlPlaneConfig,
    block: Arc<AddressBlock>,
    notes: Notes,
    rng: SplitMix64,
    nodes: BTreeMap<String, NodeEntry>,
    /// The engine's table of `nodes`, built when a Service's slices are next reconciled after
    /// a node changed (one per reconcile cost 35 % of the server's CPU under pod churn at
    /// 5,000 nodes).
    node_table: Option<Arc<kubehop_engine::nodes::NodeTable>>,
    next_node_index: usize,
    pod_ips: HashMap<usize, pool::Pool<String>>,
    lb_ips: pool::Pool<LbOwner>,
    /// The address of each Gateway of the sandbox's classes.
    gateway_addresses: BTreeMap<Key, std::net::Ipv4Addr>,
    /// uids of pods this kubelet started (their readiness is managed).
    started: HashSet<String>,
    ready_at: HashMap<String, Instant>,
    remove_at: HashMap<String, Instant>,
    /// Readiness probes the kubelet really attempts, per pod uid.
    probes: HashMap<String, probes::ProbeState>,
    /// Where probe attempts (tasks of their own: the I/O never blocks this one) report.
    probe_results: probes::Outcomes,
    /// The readiness switch as last seen, per started pod uid.
    switches: HashMap<String, bool>,
    /// Replayed pods that were already terminating when loaded: they stay as the dump shows
    /// them (a `--grace-period=0` delete still removes them).
    frozen: HashSet<String>,
    timers: BTreeMap<Instant, BTreeSet<Key>>,
    /// Replayed workloads: (resource, uid) -> (generation, the revision hash their pods carry).
    revision_alias: HashMap<(ResourceId, String), (i64, String)>,
    /// Workload uids seen before (the alias is decided at the first look only).
    seen_workloads: HashSet<String>,
    /// Services whose EndpointSlices this controller maintains.
    slice_managed: HashSet<Key>,
    /// Services by namespace: name -> selector (None: selectorless).
    services: HashMap<String, BTreeMap<String, Option<BTreeMap<String, String>>>>,
    deleted_deployments: Vec<Value>,
    deleted_statefulsets: Vec<Value>,
    /// Deleted owners of pods (ReplicaSets, ReplicationControllers, DaemonSets, Jobs): the
    /// garbage collector deletes what they owned.
    deleted_owners: Vec<(ResourceId, Value)>,
    /// Writes (and aggregates) the Events the components report.
    recorder: events::Recorder,
    dirty: Dirty,
}

impl Controller {
    /// Changes one object's status as a controller does (`/status`, no admission of the spec).
    fn write_status(
        &self,
        resource: ResourceId,
        key: &Key,
        change: impl FnOnce(&mut Value) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.store.modify_object(
            resource,
            &key.0,
            &key.1,
            Part::Status,
            WriteOptions::controller(),
            change,
        )?;
        Ok(())
    }

    /// Like [`write_status`](Self::write_status), returning the object as stored.
    fn write_status_returning(
        &self,
        resource: ResourceId,
        key: &Key,
        change: impl FnOnce(&mut Value) -> Result<(), StoreError>,
    ) -> Result<Value, StoreError> {
        let stored = self.store.modify_object(
            resource,
            &key.0,
            &key.1,
            Part::Status,
            WriteOptions::controller(),
            change,
        )?;
        Ok(stored.value())
    }

    fn new(
        store: Store,
        config: ControlPlaneConfig,
        block: Arc<AddressBlock>,
        notes: Notes,
    ) -> Self {
        let lb = block.load_balancer_ips();
        Controller {
            rng: SplitMix64::new(config.seed ^ 0x6b75_6265_686f_7021),
            lb_ips: pool::Pool::new(u32::from(lb.first)..=u32::from(lb.last)),
            store,
            config,
            block,
            notes,
            nodes: BTreeMap::new(),
            node_table: None,
            next_node_index: 0,
            pod_ips: HashMap::new(),
            gateway_addresses: BTreeMap::new(),
            started: HashSet::new(),
            ready_at: HashMap::new(),
            remove_at: HashMap::new(),
            switches: HashMap::new(),
            probes: HashMap::new(),
            probe_results: probes::Outcomes::default(),
            frozen: HashSet::new(),
            timers: BTreeMap::new(),
            revision_alias: HashMap::new(),
            seen_workloads: HashSet::new(),
            slice_managed: HashSet::new(),
            services: HashMap::new(),
            deleted_deployments: Vec::new(),
            deleted_statefulsets: Vec::new(),
            deleted_owners: Vec::new(),
            recorder: events::Recorder::default(),
            dirty: Dirty::default(),
        }
    }

    async fn run(&mut self, cancel: CancellationToken, idle: tokio::sync::watch::Sender<u64>) {
        let mut subscription = self.store.subscribe();
        self.resync(true);
        self.dirty.gateways = true;
        loop {
            self.reconcile();
            let position = subscription.resource_version();
            // A probe attempt under way is work: its result may write an Event.
            let probing = self.probes.values().any(|probe| probe.in_flight);
            if position == self.store.resource_version() && !probing {
                idle.send_replace(position);
            }
            let next_timer = self.timers.keys().next().copied();
            tokio::select! {
                _ = cancel.cancelled() => break,
                event = subscription.next() => match event {
                    Ok(event) => {
                        self.observe(&event);
                        // Take the whole burst before reconciling.
                        for _ in 0..10_000 {
                            match subscription.try_next() {
                                Ok(Some(event)) => self.observe(&event),
                                Ok(None) => break,
                                Err(_) => break,
                            }
                        }
                    }
                    Err(StoreError::Expired { .. }) => {
                        tracing::debug!("control plane fell behind the store's history: resync");
                        subscription = self.store.subscribe();
                        self.resync(false);
                        self.dirty.gateways = true;
                    }
                    Err(err) => {
                        tracing::warn!("control plane stops: {err}");
                        break;
                    }
                },
                _ = sleep_until(next_timer), if next_timer.is_some() => self.fire_timers(),
                outcome = self.probe_results.receiver.recv() => {
                    if let Some(outcome) = outcome {
                        probes::finish(self, outcome);
                    }
                }
            }
        }
    }

    /// Reads everything and marks what needs a look. `first`: Services that already have
    /// EndpointSlices keep them (replayed), the others get slices now.
    fn resync(&mut self, first: bool) {
        let (nodes, _) = self.store.list_objects(ResourceId::Nodes, None);
        for node in nodes {
            let value = node.value();
            self.remember_node(node.name(), &value);
            self.dirty.nodes.insert(node.name().to_string());
        }
        let (slices, _) = self.store.list_objects(ResourceId::EndpointSlices, None);
        let with_slices: HashSet<Key> = slices
            .iter()
            .filter_map(|slice| {
                slice
                    .labels()
                    .get(kubehop_engine::endpointslice::SERVICE_NAME_LABEL)
                    .map(|service| (slice.namespace().to_string(), service.clone()))
            })
            .collect();
        self.services.clear();
        let (services, _) = self.store.list_objects(ResourceId::Services, None);
        for service in services {
            let value = service.value();
            let key = key_of(&value);
            self.remember_service(&key, Some(&value));
            self.dirty.load_balancers.insert(key.clone());
            if !first || !with_slices.contains(&key) || self.slice_managed.contains(&key) {
                self.dirty.slices.insert(key);
            }
        }
        let (pods, _) = self.store.list_objects(ResourceId::Pods, None);
        for pod in pods {
            let value = pod.value();
            self.claim_pod_ip(&value);
            if first && pod.is_terminating() && value.pointer("/status/podIP").is_some() {
                self.frozen.insert(pod.uid().to_string());
            }
            self.dirty.pods.insert(key_of(&value));
        }
        for (resource, dirty) in [
            (ResourceId::Deployments, &mut self.dirty.deployments),
            (ResourceId::StatefulSets, &mut self.dirty.statefulsets),
            (ResourceId::ReplicaSets, &mut self.dirty.replica_sets),
            (
                ResourceId::ReplicationControllers,
                &mut self.dirty.replication_controllers,
            ),
            (ResourceId::DaemonSets, &mut self.dirty.daemonsets),
            (ResourceId::Jobs, &mut self.dirty.jobs),
            (ResourceId::Ingresses, &mut self.dirty.ingresses),
        ] {
            let (objects, _) = self.store.list_objects(resource, None);
            dirty.extend(
                objects
                    .iter()
                    .map(|o| (o.namespace().to_string(), o.name().to_string())),
            );
        }
    }

    /// Notes what an event makes worth a look.
    fn observe(&mut self, event: &StoreEvent) {
        let object = &event.object;
        let key = (object.namespace().to_string(), object.name().to_string());
        let deleted = event.event_type == EventType::Deleted;
        if !self.dirty.gateways && gateway::concerns(self, event.resource()) {
            self.dirty.gateways = true;
        }
        match event.resource() {
            ResourceId::Nodes => self.observe_node(event, deleted),
            ResourceId::Pods => self.observe_pod(event, &key, deleted),
            ResourceId::Services => {
                let value = (!deleted).then(|| object.value());
                self.remember_service(&key, value.as_ref());
                if deleted {
                    self.slice_managed.remove(&key);
                    self.lb_ips.release_all(&LbOwner::Service(key.clone()));
                } else {
                    self.dirty.slices.insert(key.clone());
                }
                self.dirty.load_balancers.insert(key);
            }
            ResourceId::EndpointSlices => self.observe_slice(event),
            ResourceId::Deployments => {
                if deleted {
                    self.deleted_deployments.push(object.value());
                }
                self.dirty.deployments.insert(key);
            }
            ResourceId::StatefulSets => {
                if deleted {
                    self.deleted_statefulsets.push(object.value());
                }
                self.dirty.statefulsets.insert(key);
            }
            ResourceId::Ingresses => {
                if deleted {
                    self.lb_ips.release_all(&LbOwner::Ingress(key.clone()));
                }
                self.dirty.ingresses.insert(key);
            }
            ResourceId::ReplicaSets
            | ResourceId::ReplicationControllers
            | ResourceId::DaemonSets
            | ResourceId::Jobs => self.observe_owner(event, key, deleted),
            ResourceId::Namespaces
            | ResourceId::Endpoints
            | ResourceId::Events
            | ResourceId::IngressClasses => {}
            _ => {}
        }
    }

    /// A ReplicaSet, ReplicationController, DaemonSet or Job changed: it needs a look (a
    /// ReplicaSet's Deployment too); deleted, what it owned goes.
    fn observe_owner(&mut self, event: &StoreEvent, key: Key, deleted: bool) {
        let resource = event.resource();
        let value = event.object.value();
        if deleted {
            self.deleted_owners.push((resource, value.clone()));
        }
        if resource == ResourceId::ReplicaSets
            && let Some(deployment) = workloads::deployment_of(&value)
        {
            self.dirty.deployments.insert(deployment);
        }
        let dirty = match resource {
            ResourceId::ReplicaSets => &mut self.dirty.replica_sets,
            ResourceId::ReplicationControllers => &mut self.dirty.replication_controllers,
            ResourceId::DaemonSets => &mut self.dirty.daemonsets,
            _ => &mut self.dirty.jobs,
        };
        dirty.insert(key);
    }

    /// A Node changed: its slices and pending pods need a look when its membership (present,
    /// zone, labels) changed.
    fn observe_node(&mut self, event: &StoreEvent, deleted: bool) {
        let object = &event.object;
        let value = object.value();
        let before = self.nodes.get(object.name()).and_then(|e| e.node.clone());
        if deleted {
            if let Some(entry) = self.nodes.get_mut(object.name()) {
                entry.node = None;
                self.node_table = None;
            }
        } else {
            self.remember_node(object.name(), &value);
            self.dirty.nodes.insert(object.name().to_string());
        }
        let zone = |node: Option<&Arc<Node>>| {
            node.and_then(|n| n.metadata.labels.as_ref())
                .and_then(|l| l.get(kubehop_engine::nodes::ZONE_LABEL).cloned())
        };
        let after = self.nodes.get(object.name()).and_then(|e| e.node.clone());
        let membership_changed = before.is_some() != after.is_some()
            || zone(before.as_ref()) != zone(after.as_ref())
            || before.as_ref().map(|n| n.metadata.labels.clone())
                != after.as_ref().map(|n| n.metadata.labels.clone());
        let placement_changed = membership_changed
            || before.as_ref().map(|n| (n.spec.clone(), ready_of(n)))
                != after.as_ref().map(|n| (n.spec.clone(), ready_of(n)));
        if membership_changed {
            self.dirty.slices.extend(self.slice_managed.iter().cloned());
        }
        if placement_changed {
            // DaemonSets follow the nodes they fit.
            let (sets, _) = self.store.list_objects(ResourceId::DaemonSets, None);
            self.dirty.daemonsets.extend(
                sets.iter()
                    .map(|s| (s.namespace().to_string(), s.name().to_string())),
            );
            // Pending pods may fit now.
            let (pods, _) = self.store.list_objects(ResourceId::Pods, None);
            for pod in pods {
                if pod.field("spec.nodeName").is_empty() {
                    self.dirty
                        .pods
                        .insert((pod.namespace().to_string(), pod.name().to_string()));
                }
            }
        }
    }

    /// A Pod changed: its workload, and the slices of every Service whose selector matches it
    /// (before or after the change).
    fn observe_pod(&mut self, event: &StoreEvent, key: &Key, deleted: bool) {
        let object = &event.object;
        self.dirty.pods.insert(key.clone());
        if deleted {
            self.forget_pod(object.uid());
        }
        for source in [event.previous.as_ref(), Some(object)]
            .into_iter()
            .flatten()
        {
            let value = source.value();
            for (resource, owner) in workloads::owners_of(&value) {
                let dirty = match resource {
                    ResourceId::Deployments => &mut self.dirty.deployments,
                    ResourceId::ReplicaSets => &mut self.dirty.replica_sets,
                    ResourceId::ReplicationControllers => &mut self.dirty.replication_controllers,
                    ResourceId::DaemonSets => &mut self.dirty.daemonsets,
                    ResourceId::Jobs => &mut self.dirty.jobs,
                    _ => &mut self.dirty.statefulsets,
                };
                dirty.insert(owner);
            }
            if let Some(services) = self.services.get(&key.0) {
                for (name, selector) in services {
                    if let Some(selector) = selector
                        && !selector.is_empty()
                        && selector
                            .iter()
                            .all(|(k, v)| source.labels().get(k) == Some(v))
                    {
                        self.dirty.slices.insert((key.0.clone(), name.clone()));
                    }
                }
            }
        }
    }

    /// An EndpointSlice changed: the Service it is labelled with, when this controller manages
    /// that Service's slices.
    fn observe_slice(&mut self, event: &StoreEvent) {
        let object = &event.object;
        for source in [event.previous.as_ref(), Some(object)]
            .into_iter()
            .flatten()
        {
            if let Some(service) = source
                .labels()
                .get(kubehop_engine::endpointslice::SERVICE_NAME_LABEL)
            {
                let service_key = (source.namespace().to_string(), service.clone());
                if self.slice_managed.contains(&service_key) {
                    self.dirty.slices.insert(service_key);
                }
            }
        }
    }

    /// One pass over everything marked, in dependency order.
    fn reconcile(&mut self) {
        for name in std::mem::take(&mut self.dirty.nodes) {
            let result = nodes::reconcile(self, &name);
            self.report(result, "node", &name);
        }
        for deployment in std::mem::take(&mut self.deleted_deployments) {
            let result = workloads::delete_deployment_pods(self, &deployment);
            self.report(result, "deployment", "(deleted)");
        }
        for statefulset in std::mem::take(&mut self.deleted_statefulsets) {
            let result = workloads::delete_statefulset_pods(self, &statefulset);
            self.report(result, "statefulset", "(deleted)");
        }
        for key in std::mem::take(&mut self.dirty.deployments) {
            let result = workloads::reconcile_deployment(self, &key);
            self.report(result, "deployment", &key.1);
        }
        for (resource, owner) in std::mem::take(&mut self.deleted_owners) {
            let result = workloads::delete_owned_pods(self, resource, &owner);
            self.report(result, resource.info().singular, "(deleted)");
        }
        for key in std::mem::take(&mut self.dirty.replica_sets) {
            let result = workloads::reconcile_set(self, workloads::SetKind::ReplicaSet, &key);
            self.report(result, "replicaset", &key.1);
        }
        for key in std::mem::take(&mut self.dirty.replication_controllers) {
            let kind = workloads::SetKind::ReplicationController;
            let result = workloads::reconcile_set(self, kind, &key);
            self.report(result, "replicationcontroller", &key.1);
        }
        for key in std::mem::take(&mut self.dirty.statefulsets) {
            let result = workloads::reconcile_statefulset(self, &key);
            self.report(result, "statefulset", &key.1);
        }
        for key in std::mem::take(&mut self.dirty.daemonsets) {
            let result = workloads::reconcile_daemonset(self, &key);
            self.report(result, "daemonset", &key.1);
        }
        for key in std::mem::take(&mut self.dirty.jobs) {
            let result = workloads::reconcile_job(self, &key);
            self.report(result, "job", &key.1);
        }
        for key in std::mem::take(&mut self.dirty.pods) {
            let result = pods::reconcile(self, &key);
            self.report(result, "pod", &key.1);
        }
        for key in std::mem::take(&mut self.dirty.slices) {
            let result = slices::reconcile(self, &key);
            self.report(result, "endpointslices of service", &key.1);
        }
        for key in std::mem::take(&mut self.dirty.load_balancers) {
            let result = cloud::reconcile_service(self, &key);
            self.report(result, "load balancer of service", &key.1);
        }
        for key in std::mem::take(&mut self.dirty.ingresses) {
            let result = cloud::reconcile_ingress(self, &key);
            self.report(result, "ingress", &key.1);
        }
        if std::mem::take(&mut self.dirty.gateways) {
            let result = gateway::reconcile(self);
            self.report(result, "gateway api", "(all)");
        }
    }

    fn report(&self, result: Result<(), StoreError>, what: &str, name: &str) {
        match result {
            Ok(()) => {}
            // Someone else wrote first; their write is an event that brings us back.
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => {}
            Err(err) => tracing::warn!("control plane: {what} {name}: {err}"),
        }
    }

    fn schedule(&mut self, at: Instant, key: Key) {
        self.timers.entry(at).or_default().insert(key);
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let due: Vec<Instant> = self.timers.range(..=now).map(|(at, _)| *at).collect();
        for at in due {
            if let Some(keys) = self.timers.remove(&at) {
                self.dirty.pods.extend(keys);
            }
        }
    }

    fn remember_node(&mut self, name: &str, value: &Value) {
        let node: Option<Arc<Node>> = serde_json::from_value(value.clone()).ok().map(Arc::new);
        let next = &mut self.next_node_index;
        let entry = self.nodes.entry(name.to_string()).or_insert_with(|| {
            let index = *next;
            *next += 1;
            NodeEntry { index, node: None }
        });
        entry.node = node;
        self.node_table = None;
    }

    /// The engine's table of the nodes that exist now.
    fn node_table(&mut self) -> Arc<kubehop_engine::nodes::NodeTable> {
        if let Some(table) = &self.node_table {
            return table.clone();
        }
        let nodes = self.node_list();
        let table = Arc::new(kubehop_engine::nodes::NodeTable::new(
            nodes.iter().map(|node| node.as_ref()),
        ));
        self.node_table = Some(table.clone());
        table
    }

    /// Decoded nodes that exist now, sorted by name.
    fn node_list(&self) -> Vec<Arc<Node>> {
        self.nodes
            .values()
            .filter_map(|entry| entry.node.clone())
            .collect()
    }

    fn remember_service(&mut self, key: &Key, value: Option<&Value>) {
        let services = self.services.entry(key.0.clone()).or_default();
        match value {
            None => {
                services.remove(&key.1);
            }
            Some(value) => {
                let selector = value
                    .pointer("/spec/selector")
                    .and_then(Value::as_object)
                    .map(|selector| {
                        selector
                            .iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect()
                    });
                services.insert(key.1.clone(), selector);
            }
        }
    }

    /// Records a replayed pod's IP as taken when it lies in a node's range.
    fn claim_pod_ip(&mut self, pod: &Value) {
        let Some(ip) = pod
            .pointer("/status/podIP")
            .and_then(Value::as_str)
            .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
        else {
            return;
        };
        let uid = pod
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for entry in self.nodes.values() {
            if let Some(range) = self.block.pod_ips(entry.index)
                && range.contains(ip)
            {
                let pool = self.pod_ips.entry(entry.index).or_insert_with(|| {
                    pool::Pool::new(u32::from(range.first)..=u32::from(range.last))
                });
                pool.claim(u32::from(ip), uid);
                return;
            }
        }
    }

    fn forget_pod(&mut self, uid: &str) {
        let owner = uid.to_string();
        for pool in self.pod_ips.values_mut() {
            pool.release_all(&owner);
        }
        self.started.remove(uid);
        self.ready_at.remove(uid);
        self.remove_at.remove(uid);
        self.switches.remove(uid);
        self.probes.remove(uid);
        self.frozen.remove(uid);
    }

    /// Records an Event about `object`; a failed write is logged, never fatal.
    fn record(&mut self, object: &Value, event: events::Event<'_>) {
        let now = self.now();
        if let Err(err) = self.recorder.record(&self.store, object, event, &now) {
            tracing::debug!("control plane: event not recorded: {err}");
        }
    }

    fn now(&self) -> String {
        crate::store::format_time(self.config.clock.now())
    }
}

/// Whether a node reports Ready.
fn ready_of(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
