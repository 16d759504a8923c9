//! A chain's `networkPolicy` block: the policies that isolate each endpoint, and per hop the
//! verdict for the default sources (rules N8-N10).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;

use crate::objects::{PodInfo, PortInfo};
use k8s_openapi::api::networking::v1::Ingress;
use serde::Serialize;
use smallvec::SmallVec;

use super::{Client, Direction, DoorFacts, KnownPolicies, PolicyIndex, PolicyVerdict, Seen};
use crate::hash::{FxHashMap as HashMap, FxHashSet as HashSet, FxHasher};
use crate::model::{EndpointInfo, Hop, PortChain, PortEndpoint, ServiceChain, TrafficPolicy};
use crate::nodes::NodeTable;
use crate::pods;
use crate::route::FrontDoor;
use crate::snapshot::ClusterSnapshot;

/// `networkPolicy` of a chain (present only when a policy isolates an endpoint for ingress).
///
/// The hops' entries name their pod and verdict by position in tables of the chain, so that
/// a pod's name and a verdict shared by many endpoints are stored once; they read (and
/// serialise) as [`EndpointVerdict`]s.
#[derive(Debug, Clone)]
pub struct ChainPolicies {
    /// One allocation per block (the model keeps ten thousand): the tables, the few small
    /// ones inline.
    tables: Box<Tables>,
}

/// A block's hops: a port's cluster IP and nodePort, mostly, kept inline.
type Hops = SmallVec<[ChainHop; 2]>;

/// A block's distinct verdicts: one per hop, mostly, kept inline.
type Verdicts = SmallVec<[Arc<PolicyVerdict>; 2]>;

/// [`ChainPolicies`]' tables.
#[derive(Debug, Clone)]
struct Tables {
    /// How many of `pods`, from the first, are the chain's endpoints (read as
    /// [`EndpointPolicies`], [`ChainPolicies::endpoints`]); the rest are endpoints of its
    /// ports only.
    rows: u32,
    /// Per pod template (class): the keys of the policies isolating it for ingress and for
    /// egress (a Service's pods are mostly of one template).
    classes: SmallVec<[PolicyKeys; 1]>,
    /// Per hop and default source.
    hops: Hops,
    /// The distinct verdicts of the hops' entries (shared with other chains' blocks when
    /// nothing that decides them differs, [`RecentVerdicts`]).
    verdicts: Verdicts,
    /// The endpoints the rows and the hops' entries name: each its pod's `namespace/name` and
    /// its address (read from the endpoint, which the chain holds anyway), and its pod's
    /// position in `classes`.
    pods: Vec<NamedPod>,
    /// Every hop's entries, hop after hop.
    entries: Vec<Entry>,
}

/// Equal when every table is, the pods' addresses included (entries hold none: an endpoint's
/// address is read from its entry in `pods`).
impl PartialEq for ChainPolicies {
    fn eq(&self, other: &Self) -> bool {
        // Every field named, so that a new one is compared (or left out) on purpose.
        let Tables {
            rows,
            classes,
            hops,
            verdicts,
            pods,
            entries,
        } = &*self.tables;
        let other = &*other.tables;
        *rows == other.rows
            && *classes == other.classes
            && *hops == other.hops
            && *verdicts == other.verdicts
            && *entries == other.entries
            && pods.len() == other.pods.len()
            && pods
                .iter()
                .zip(&other.pods)
                .all(|(a, b)| a == b && a.name.ip() == b.name.ip())
    }
}

impl Eq for ChainPolicies {}

/// A pod's `namespace/name`, written out when read: it is read from the endpoint that names
/// the pod (its slice's `targetRef`), which the chain holds anyway, so naming a pod in a
/// chain's block allocates nothing and touches no memory the chain does not.
#[derive(Debug, Clone)]
pub struct PodName(Arc<EndpointInfo>);

impl PodName {
    /// The pod `endpoint` names, when it names one.
    pub fn of(endpoint: &Arc<EndpointInfo>) -> Option<Self> {
        endpoint.pod.as_ref()?;
        Some(Self(endpoint.clone()))
    }

    /// The address of the endpoint it was read from.
    fn ip(&self) -> IpAddr {
        self.0.ip
    }

    fn parts(&self) -> (&str, &str) {
        (
            self.0.namespace.as_deref().unwrap_or("default"),
            self.0.pod.as_deref().unwrap_or_default(),
        )
    }
}

/// Names compare, whichever endpoint they were read from.
impl PartialEq for PodName {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.parts() == other.parts()
    }
}

impl Eq for PodName {}

impl std::fmt::Display for PodName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (namespace, name) = self.parts();
        write!(f, "{namespace}/{name}")
    }
}

impl Serialize for PodName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The policies that select one endpoint pod (N1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPolicies {
    /// `namespace/name`.
    pub pod: PodName,
    pub ip: IpAddr,
    /// Policies that isolate the pod for ingress, `namespace/name`, sorted (shared by the
    /// endpoints of one pod template).
    pub ingress: Arc<[Arc<str>]>,
    /// Policies that isolate the pod for egress.
    pub egress: Arc<[Arc<str>]>,
}

/// One hop and one default source: the verdict for each endpoint it can reach
/// ([`ChainPolicies::verdicts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHop {
    /// The hop, as in hop keys (`80/TCP/clusterIP`, `80/TCP/nodePort`,
    /// `ingress/shop/web/*/`).
    pub hop: HopLabel,
    /// `namespace/NS` (a pod of that namespace without labels), `external`, or
    /// `pod/NS/NAME` (an Ingress controller pod).
    pub source: Arc<str>,
    /// Its entries: a range of [`ChainPolicies`]' entries.
    entries: std::ops::Range<u32>,
    /// How many entries are denied.
    denied: u32,
}

/// A hop of a chain's `networkPolicy` block, as hop keys write it (written out when read:
/// the blocks of ten thousand chains hold no copy of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HopLabel {
    /// `80/TCP/clusterIP`.
    ClusterIp {
        port: i32,
        protocol: crate::model::Protocol,
    },
    /// `80/TCP/nodePort`: the port on every node.
    NodePort {
        port: i32,
        protocol: crate::model::Protocol,
    },
    /// `ingress/NS/NAME/HOST/PATH`, as written.
    Ingress(String),
}

impl HopLabel {
    /// Whether it is an Ingress path.
    pub fn is_ingress(&self) -> bool {
        matches!(self, Self::Ingress(_))
    }
}

impl std::fmt::Display for HopLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClusterIp { port, protocol } => write!(
                f,
                "{}",
                Hop::ClusterIp {
                    port: *port,
                    protocol: *protocol
                }
            ),
            Self::NodePort { port, protocol } => write!(f, "{port}/{protocol}/nodePort"),
            Self::Ingress(text) => f.write_str(text),
        }
    }
}

impl Serialize for HopLabel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Compares a label with a hop key without writing it out.
impl PartialEq<str> for HopLabel {
    fn eq(&self, other: &str) -> bool {
        /// Consumes `rest` while what is written matches it.
        struct Matches<'a> {
            rest: &'a str,
        }
        impl std::fmt::Write for Matches<'_> {
            fn write_str(&mut self, piece: &str) -> std::fmt::Result {
                match self.rest.strip_prefix(piece) {
                    Some(rest) => {
                        self.rest = rest;
                        Ok(())
                    }
                    None => Err(std::fmt::Error),
                }
            }
        }
        let mut matches = Matches { rest: other };
        std::fmt::write(&mut matches, format_args!("{self}")).is_ok() && matches.rest.is_empty()
    }
}

impl PartialEq<String> for HopLabel {
    fn eq(&self, other: &String) -> bool {
        *self == **other
    }
}

/// An endpoint a chain's block names: its pod's name and its address (its endpoint's), and
/// the position of its pod's class in [`ChainPolicies`]' classes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NamedPod {
    name: PodName,
    class: u32,
}

/// One endpoint of a hop: positions in [`ChainPolicies`]' tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    pod: u32,
    verdict: u32,
    port: i32,
}

impl ChainHop {
    /// Whether this source is denied on every endpoint of the hop (and there is one).
    pub fn all_denied(&self) -> bool {
        !self.is_empty() && self.denied as usize == self.len()
    }

    /// The number of endpoints judged.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl ChainPolicies {
    /// Each hop and default source, with its verdicts ([`ChainPolicies::verdicts`]).
    pub fn hops(&self) -> &[ChainHop] {
        &self.tables.hops
    }

    /// The policies that select each endpoint pod (N1), in the order of the chain's endpoints.
    pub fn endpoints(&self) -> impl Iterator<Item = EndpointPolicies> + '_ {
        self.endpoint_rows()
            .map(|(pod, ip, (ingress, egress))| EndpointPolicies {
                pod: pod.clone(),
                ip,
                ingress: ingress.clone(),
                egress: egress.clone(),
            })
    }

    /// [`ChainPolicies::endpoints`], borrowed.
    fn endpoint_rows(&self) -> impl Iterator<Item = (&PodName, IpAddr, &PolicyKeys)> + '_ {
        // Every row's positions are in the tables: they were written together.
        let tables = &*self.tables;
        let rows = tables.pods.get(..tables.rows as usize).unwrap_or_default();
        rows.iter().filter_map(|pod| {
            let class = tables.classes.get(pod.class as usize)?;
            Some((&pod.name, pod.name.ip(), class))
        })
    }

    /// The verdict for each endpoint of `hop` (one of [`ChainPolicies::hops`]).
    pub fn verdicts<'v>(
        &'v self,
        hop: &'v ChainHop,
    ) -> impl Iterator<Item = EndpointVerdict<'v>> + 'v {
        // Every entry's positions are in the tables: they were written together.
        let range = hop.entries.start as usize..hop.entries.end as usize;
        let tables = &*self.tables;
        let entries = tables.entries.get(range).unwrap_or_default();
        entries.iter().filter_map(|entry| {
            let pod = &tables.pods.get(entry.pod as usize)?.name;
            Some(EndpointVerdict {
                pod,
                ip: pod.ip(),
                port: entry.port,
                verdict: &**tables.verdicts.get(entry.verdict as usize)?,
            })
        })
    }
}

/// The verdict for one endpoint of a hop of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointVerdict<'v> {
    /// `namespace/name`.
    pub pod: &'v PodName,
    pub ip: IpAddr,
    pub port: i32,
    #[serde(flatten)]
    pub verdict: &'v PolicyVerdict,
}

impl Serialize for ChainPolicies {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        /// A hop as it reads: its entries written out.
        #[derive(Serialize)]
        struct HopOut<'v> {
            hop: &'v HopLabel,
            source: &'v str,
            #[serde(serialize_with = "serialize_entries")]
            endpoints: (&'v ChainPolicies, &'v ChainHop),
        }
        fn serialize_entries<S: serde::Serializer>(
            (view, hop): &(&ChainPolicies, &ChainHop),
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            serializer.collect_seq(view.verdicts(hop))
        }
        /// An endpoint as it reads ([`EndpointPolicies`]).
        #[derive(Serialize)]
        struct EndpointOut<'v> {
            pod: &'v PodName,
            ip: IpAddr,
            ingress: &'v [Arc<str>],
            egress: &'v [Arc<str>],
        }
        let mut out = serializer.serialize_struct("ChainPolicies", 2)?;
        let endpoints: Vec<EndpointOut<'_>> = self
            .endpoint_rows()
            .map(|(pod, ip, (ingress, egress))| EndpointOut {
                pod,
                ip,
                ingress,
                egress,
            })
            .collect();
        out.serialize_field("endpoints", &endpoints)?;
        let hops: Vec<HopOut<'_>> = self
            .hops()
            .iter()
            .map(|hop| HopOut {
                hop: &hop.hop,
                source: &hop.source,
                endpoints: (self, hop),
            })
            .collect();
        out.serialize_field("hops", &hops)?;
        out.end()
    }
}

/// One hop and one source the user picked: the verdict for each endpoint it can reach
/// (the Policy tab).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HopVerdict {
    /// The hop, as in hop keys.
    pub hop: String,
    /// `pod/NS/NAME`, `namespace/NS` or `external`.
    pub source: String,
    pub endpoints: Vec<SourceVerdict>,
}

/// The verdict for one endpoint, owned (a hop of the hop tree, a route).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceVerdict {
    /// `namespace/name`.
    pub pod: Arc<str>,
    pub ip: IpAddr,
    pub port: i32,
    #[serde(flatten)]
    pub verdict: Arc<PolicyVerdict>,
}

/// Endpoint pods that policies cannot tell apart: same namespace, labels and declared ports
/// (the pods of one template). They share the policies selecting them and, for one source and
/// port, every verdict that names neither pod ([`VerdictMemo`]).
struct PodClass {
    /// The position of one of its pods in the chain's selected pods.
    pod: u32,
    /// The positions of the policies selecting the class's pods (N1): a range of
    /// [`PolicyScratch`]'s `selecting`.
    selecting: std::ops::Range<u32>,
    /// The keys of those isolating them for ingress and for egress, written when first asked.
    keys: Option<PolicyKeys>,
}

/// The keys of the policies isolating a pod for ingress and for egress, shared by its class.
type PolicyKeys = (Arc<[Arc<str>]>, Arc<[Arc<str>]>);

/// One endpoint pod of the chain.
struct Known {
    /// Its position in the chain's selected pods.
    pod: u32,
    class: u32,
}

/// Beyond this many classes in a chain, classes are found by hash instead of one by one.
const LINEAR_CLASSES: usize = 8;

/// No entry in [`PodCache`]'s `by_selected`.
const UNKNOWN: u32 = u32::MAX;

/// What a thread needs to build one chain's block after another: the tables of the chain's
/// endpoint pods and verdicts, emptied and reused for the next chain instead of allocated
/// anew (a build makes ten thousand blocks), and what is kept from chain to chain (recent
/// isolating keys, verdicts and message). Those name policies by position and pods by
/// address: one scratch serves the chains of one build, with one policy index.
#[derive(Default)]
pub(crate) struct PolicyScratch {
    classes: Vec<PodClass>,
    /// Every class's selecting policies, one range per class.
    selecting: Vec<usize>,
    known: Vec<Known>,
    /// Each registered endpoint, for the rows and hops that name it: its pod's name and its
    /// address, and its class (moved into the chain's block at the end,
    /// [`PodCache::take_labels`]).
    labels: Vec<NamedPod>,
    by_selected: Vec<u32>,
    by_endpoint: Vec<(usize, u32, u32)>,
    /// Each of the chain's endpoints: its pod's position in the chain's selected pods
    /// ([`PodCache::join`]).
    joined: Vec<u32>,
    by_hash: HashMap<u64, Vec<usize>>,
    verdicts: SmallMap<VerdictKey, u32>,
    per_pod: HashSet<VerdictKey>,
    sources: Vec<(usize, Arc<SourcePolicies>)>,
    /// (class, port, protocol) of the chain judged closed (`policy-isolated-no-allow`).
    closed: Vec<ClosedPort>,
    /// The isolating keys of the last few sets of selecting policies, kept from chain to
    /// chain: the pods of a namespace are mostly selected by the same few policies (its
    /// default-deny, its DNS rule), so their classes share one copy of the keys.
    recent_keys: RecentKeys,
    /// Verdicts kept from chain to chain ([`RecentVerdicts`]).
    recent_verdicts: RecentVerdicts,
    /// The last `policy-isolated-no-allow` message.
    last_message: Option<KeptMessage>,
}

/// A `policy-isolated-no-allow` message with the ingress keys it names (the shared list, kept
/// alive so that its address stays its own) and its ports.
struct KeptMessage {
    keys: Arc<[Arc<str>]>,
    ports: Vec<(i32, crate::model::Protocol)>,
    /// Shared with the findings that say it.
    text: Arc<str>,
}

/// A (class, port, protocol) of a chain judged closed to every source (N3).
pub(super) type ClosedPort = (usize, i32, crate::model::Protocol);

/// [`PolicyScratch`]'s keys of recent sets of selecting policies.
#[derive(Default)]
struct RecentKeys {
    entries: Kept<(Box<[usize]>, PolicyKeys)>,
}

impl RecentKeys {
    /// Sets kept: a chain's few classes and its namespace's usual sets.
    const KEPT: usize = 8;

    /// The keys of the policies among `selecting` that isolate for ingress and for egress.
    fn keys(&mut self, index: &PolicyIndex, selecting: &[usize]) -> Option<&PolicyKeys> {
        let found = self
            .entries
            .list
            .iter()
            .position(|(known, _)| **known == *selecting);
        let position = match found {
            Some(position) => position,
            None => {
                let keys = (
                    index.isolating_keys(selecting, Direction::Ingress),
                    index.isolating_keys(selecting, Direction::Egress),
                );
                self.entries.keep((Box::from(selecting), keys), Self::KEPT)
            }
        };
        self.entries.list.get(position).map(|(_, keys)| keys)
    }
}

/// A few entries kept from chain to chain: added while there is room, then each replacing
/// the oldest.
struct Kept<T> {
    list: Vec<T>,
    /// The entry replaced next, once the list is full.
    next: usize,
}

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            next: 0,
        }
    }
}

impl<T> Kept<T> {
    /// Keeps `entry` (at most `limit` are kept); returns its position.
    fn keep(&mut self, entry: T, limit: usize) -> usize {
        if self.list.len() < limit {
            self.list.push(entry);
            return self.list.len() - 1;
        }
        let position = self.next % limit.max(1);
        self.next = position + 1;
        if let Some(slot) = self.list.get_mut(position) {
            *slot = entry;
        }
        position
    }
}

impl PolicyScratch {
    fn clear(&mut self) {
        self.classes.clear();
        self.selecting.clear();
        self.known.clear();
        self.labels.clear();
        self.by_selected.clear();
        self.by_endpoint.clear();
        self.by_hash.clear();
        self.verdicts.clear();
        self.per_pod.clear();
        self.sources.clear();
        self.closed.clear();
    }
}

/// The endpoint pods of one chain, each with its [`PodClass`].
pub(super) struct PodCache<'c> {
    /// The chain's selected pods, sorted by name (where endpoint pods are looked up).
    selected: &'c [Arc<PodInfo>],
    /// The tables, the thread's [`PolicyScratch`], emptied for this chain (`by_selected`:
    /// position in `selected` → its entry in `known`, or [`UNKNOWN`]; `by_endpoint`: endpoint,
    /// by the address of its shared `EndpointInfo` → its entry in `known` and its position in
    /// `labels`, sorted once every endpoint is in, [`PodCache::seal`]; `by_hash`: hash of
    /// (namespace, labels, ports) → the classes with that hash, once there are more than
    /// [`LINEAR_CLASSES`]).
    tables: &'c mut PolicyScratch,
    /// The position in `selected` of the last endpoint's pod.
    last_position: Option<usize>,
    /// The address of the last endpoint namespace found to be the chain's (the endpoints of
    /// a chain share one interned namespace).
    own_namespace: usize,
}

impl<'c> PodCache<'c> {
    /// The cache of `chain`, in the tables of `scratch` (emptied first).
    pub(super) fn new(chain: &'c ServiceChain, scratch: &'c mut PolicyScratch) -> Self {
        let selected = chain.details.selected_pods.as_slice();
        scratch.clear();
        scratch.by_selected.resize(selected.len(), UNKNOWN);
        // The names move into the chain's block: sized for the chain's endpoints.
        scratch.labels.reserve_exact(chain.details.endpoints.len());
        Self {
            selected,
            tables: scratch,
            last_position: None,
            own_namespace: 0,
        }
    }

    /// The entry in `known` of the selected pod at `position`, added (with its class) when
    /// new.
    fn entry(&mut self, index: &PolicyIndex, position: usize) -> Option<usize> {
        let slot = self.tables.by_selected.get(position).copied()?;
        if slot != UNKNOWN {
            return Some(slot as usize);
        }
        let pod: &'c PodInfo = self.selected.get(position)?;
        let class = self.find_class(index, pod, position)?;
        self.tables.known.push(Known {
            pod: u32::try_from(position).ok()?,
            class: u32::try_from(class).ok()?,
        });
        let entry = self.tables.known.len() - 1;
        if let Some(slot) = self.tables.by_selected.get_mut(position) {
            *slot = u32::try_from(entry).unwrap_or(UNKNOWN);
        }
        Some(entry)
    }

    fn find_class(
        &mut self,
        index: &PolicyIndex,
        pod: &'c PodInfo,
        position: usize,
    ) -> Option<usize> {
        // The pods of a chain are mostly of one template: the last class first, and the few
        // others one by one.
        let last = self.tables.known.last().map(|known| known.class as usize);
        let classes = self.tables.classes.len();
        let found = match last {
            Some(last) if self.is_class(last, pod) => Some(last),
            _ if classes <= LINEAR_CLASSES => (0..classes).find(|class| self.is_class(*class, pod)),
            _ => {
                self.hash_classes();
                self.tables
                    .by_hash
                    .get(&class_hash(pod))
                    .and_then(|candidates| {
                        candidates
                            .iter()
                            .copied()
                            .find(|class| self.is_class(*class, pod))
                    })
            }
        };
        if found.is_some() {
            return found;
        }
        let start = u32::try_from(self.tables.selecting.len()).ok()?;
        index.selecting_into(pod, &mut self.tables.selecting);
        let end = u32::try_from(self.tables.selecting.len()).ok()?;
        self.tables.classes.push(PodClass {
            pod: u32::try_from(position).ok()?,
            selecting: start..end,
            keys: None,
        });
        let class = self.tables.classes.len() - 1;
        if !self.tables.by_hash.is_empty() {
            self.tables
                .by_hash
                .entry(class_hash(pod))
                .or_default()
                .push(class);
        }
        Some(class)
    }

    fn is_class(&self, class: usize, pod: &PodInfo) -> bool {
        self.class_pod(class)
            .is_some_and(|known| same_class(known, pod))
    }

    /// Fills `by_hash` when first needed.
    fn hash_classes(&mut self) {
        if self.tables.by_hash.is_empty() {
            for class in 0..self.tables.classes.len() {
                if let Some(pod) = self.class_pod(class) {
                    self.tables
                        .by_hash
                        .entry(class_hash(pod))
                        .or_default()
                        .push(class);
                }
            }
        }
    }

    /// The position in the chain's selected pods of the pod each endpoint names
    /// ([`UNKNOWN`] for none of them), found in one pass before any pod is classed. Reading a
    /// pod's name is mostly a wait on memory: in a loop that does nothing else, the waits of
    /// several endpoints overlap, and the pods are in cache when classed. Lent out; given
    /// back with [`PodCache::give_joined`].
    fn join(&mut self, endpoints: &[Arc<EndpointInfo>], namespace: &str) -> Vec<u32> {
        let mut joined = std::mem::take(&mut self.tables.joined);
        joined.clear();
        for info in endpoints {
            let position = self.find_pod(info, namespace);
            joined.push(
                position
                    .and_then(|p| u32::try_from(p).ok())
                    .unwrap_or(UNKNOWN),
            );
        }
        joined
    }

    fn give_joined(&mut self, joined: Vec<u32>) {
        self.tables.joined = joined;
    }

    /// The position in the chain's selected pods of the pod `info` names, if it is one of
    /// them (kept as the last one found).
    fn find_pod(&mut self, info: &EndpointInfo, namespace: &str) -> Option<usize> {
        let name = info.pod.as_deref()?;
        // A pod of another namespace is none of the Service's selected pods.
        if let Some(other) = &info.namespace {
            let address = other.as_ptr() as usize;
            if address != self.own_namespace {
                if **other != *namespace {
                    return None;
                }
                self.own_namespace = address;
            }
        }
        // Slices list the pods of a template mostly in name order: the pod after the last
        // one found first.
        let next = self.last_position.map_or(0, |last| last + 1);
        let position = match self.selected.get(next) {
            Some(pod) if pods::name(pod) == name => next,
            _ => super::pod_position(self.selected, name)?,
        };
        self.last_position = Some(position);
        Some(position)
    }

    /// Registers the endpoint `info` as served by the selected pod at `position` (its pod's
    /// class, and its name and address); returns its class and its position in
    /// [`PodCache::take_labels`].
    fn add_endpoint(
        &mut self,
        index: &PolicyIndex,
        info: &Arc<EndpointInfo>,
        position: usize,
    ) -> Option<(usize, usize)> {
        let name = PodName::of(info)?;
        let entry = self.entry(index, position)?;
        let class = self.tables.known.get(entry)?.class;
        let named = u32::try_from(self.tables.labels.len()).ok()?;
        self.tables.labels.push(NamedPod { name, class });
        self.tables.by_endpoint.push((
            Arc::as_ptr(info) as usize,
            u32::try_from(entry).ok()?,
            named,
        ));
        Some((class as usize, named as usize))
    }

    /// [`PodCache::add_endpoint`] for an endpoint of a port that the chain's endpoint list
    /// did not have.
    fn add_port_endpoint(
        &mut self,
        index: &PolicyIndex,
        info: &Arc<EndpointInfo>,
        namespace: &str,
    ) -> Option<(usize, usize)> {
        let position = self.find_pod(info, namespace)?;
        self.add_endpoint(index, info, position)
    }

    /// The keys of the policies isolating the pods of `class` for ingress and for egress.
    pub(super) fn keys(&mut self, index: &PolicyIndex, class: usize) -> Option<&PolicyKeys> {
        let tables = &mut self.tables;
        let known = tables.classes.get_mut(class)?;
        let range = known.selecting.start as usize..known.selecting.end as usize;
        let selecting = tables.selecting.get(range).unwrap_or_default();
        if known.keys.is_none() {
            known.keys = tables.recent_keys.keys(index, selecting).cloned();
        }
        known.keys.as_ref()
    }

    /// The table of (class, port, protocol) judged closed, lent out empty.
    pub(super) fn take_closed(&mut self) -> Vec<ClosedPort> {
        let mut closed = std::mem::take(&mut self.tables.closed);
        closed.clear();
        closed
    }

    /// Gives back [`PodCache::take_closed`]'s table.
    pub(super) fn give_closed(&mut self, closed: Vec<ClosedPort>) {
        self.tables.closed = closed;
    }

    /// The last `policy-isolated-no-allow` message, when it named these keys (the same
    /// shared list) and the ports of `closed` (each once, in order).
    pub(super) fn last_message(
        &self,
        keys: &Arc<[Arc<str>]>,
        closed: &[ClosedPort],
    ) -> Option<Arc<str>> {
        let kept = self.tables.last_message.as_ref()?;
        let same = Arc::ptr_eq(&kept.keys, keys)
            && kept.ports.len() == closed.len()
            && kept
                .ports
                .iter()
                .zip(closed)
                .all(|(port, (_, number, protocol))| *port == (*number, *protocol));
        same.then(|| kept.text.clone())
    }

    /// Keeps a message for [`PodCache::last_message`] (`closed`: one class, each port once).
    pub(super) fn keep_message(
        &mut self,
        keys: Arc<[Arc<str>]>,
        closed: &[ClosedPort],
        message: Arc<str>,
    ) {
        let ports = closed
            .iter()
            .map(|(_, number, protocol)| (*number, *protocol))
            .collect();
        self.tables.last_message = Some(KeptMessage {
            keys,
            ports,
            text: message,
        });
    }

    /// [`PodCache::keys`], when they were written already.
    pub(super) fn known_keys(&self, class: usize) -> Option<&PolicyKeys> {
        self.tables.classes.get(class)?.keys.as_ref()
    }

    /// The positions of the policies selecting the pods of `class`.
    pub(super) fn selecting(&self, class: usize) -> &[usize] {
        self.tables
            .classes
            .get(class)
            .and_then(|known| {
                let range = known.selecting.start as usize..known.selecting.end as usize;
                self.tables.selecting.get(range)
            })
            .unwrap_or_default()
    }

    /// The number of classes seen.
    pub(super) fn class_count(&self) -> usize {
        self.tables.classes.len()
    }

    /// A pod of `class`.
    pub(super) fn class_pod(&self, class: usize) -> Option<&'c PodInfo> {
        let known = self.tables.classes.get(class)?;
        self.selected.get(known.pod as usize).map(|pod| &**pod)
    }

    /// The endpoint pods [`PodCache::add_endpoint`] saw, with their class, sorted by name.
    pub(super) fn endpoint_pods(&self) -> impl Iterator<Item = (&'c PodInfo, usize)> + '_ {
        self.tables
            .by_selected
            .iter()
            .filter(|slot| **slot != UNKNOWN)
            .filter_map(|slot| self.known(*slot))
    }

    /// Entry `slot` of `known`: its pod and class.
    fn known(&self, slot: u32) -> Option<(&'c PodInfo, usize)> {
        let known = self.tables.known.get(slot as usize)?;
        let pod = self.selected.get(known.pod as usize)?;
        Some((pod, known.class as usize))
    }

    /// An endpoint's pod, class and position in [`PodCache::take_labels`], when
    /// [`PodCache::add_endpoint`] saw it.
    pub(super) fn endpoint(&self, endpoint: &PortEndpoint) -> Option<(&'c PodInfo, usize, u32)> {
        let key = Arc::as_ptr(&endpoint.info) as usize;
        let by_endpoint = &self.tables.by_endpoint;
        let found = by_endpoint
            .binary_search_by_key(&key, |(address, _, _)| *address)
            .ok()?;
        let (_, entry, named) = *by_endpoint.get(found)?;
        let (pod, class) = self.known(entry)?;
        Some((pod, class, named))
    }

    /// Sorts the endpoints registered so far, for [`PodCache::endpoint`].
    fn seal(&mut self) {
        let by_endpoint = &mut self.tables.by_endpoint;
        by_endpoint.sort_unstable_by_key(|(address, _, _)| *address);
        by_endpoint.dedup_by_key(|(address, _, _)| *address);
    }

    /// `namespace/name` and address of each endpoint, in the order they were registered
    /// (moved out: the chain's block keeps them).
    fn take_labels(&mut self) -> Vec<NamedPod> {
        std::mem::take(&mut self.tables.labels)
    }
}

/// The container ports a pod declares (named ports resolve on them, N7).
fn declared_ports(pod: &PodInfo) -> impl Iterator<Item = &PortInfo> {
    pod.containers
        .iter()
        .flat_map(|container| container.ports.iter())
}

/// The hash of what makes a [`PodClass`].
fn class_hash(pod: &PodInfo) -> u64 {
    let mut hasher = FxHasher::default();
    pods::namespace(pod).hash(&mut hasher);
    pods::labels(pod).hash(&mut hasher);
    for port in declared_ports(pod) {
        port.hash(&mut hasher);
    }
    hasher.finish()
}

/// Whether policies can tell the two pods apart (apart from name, address and node).
fn same_class(a: &PodInfo, b: &PodInfo) -> bool {
    // The pods of one workload share their namespace, label set and containers: each is
    // compared by pointer first (`Arc`'s `==` compares the contents; `Labels`' does not).
    let namespace = match (&a.namespace, &b.namespace) {
        (Some(one), Some(other)) if Arc::ptr_eq(one, other) => true,
        _ => pods::namespace(a) == pods::namespace(b),
    };
    namespace
        && pods::labels(a) == pods::labels(b)
        && (Arc::ptr_eq(&a.containers, &b.containers) || declared_ports(a).eq(declared_ports(b)))
}

/// A pod of `namespace` without labels or address: the "any pod of the namespace" source.
pub(super) fn anonymous_pod(namespace: &str) -> PodInfo {
    PodInfo::anonymous(namespace)
}

/// One chain's verdicts, shared by the endpoints that policies cannot tell apart: the same
/// [`PodClass`], source as seen, port, and (for a source pod's egress through ipBlocks) address.
pub(super) struct VerdictMemo {
    /// Key → position in `table`.
    verdicts: SmallMap<VerdictKey, u32>,
    /// The chain's distinct verdicts ([`ChainPolicies::verdicts`]).
    table: Verdicts,
    /// Keys whose verdict names the destination pod (an egress miss): kept per pod.
    per_pod: HashSet<VerdictKey>,
    /// The last verdict shared, by its key (the endpoints of a hop mostly ask the same).
    last: Option<(VerdictKey, u32)>,
    /// The policies selecting each source pod (by address), looked up once per chain.
    sources: Vec<(usize, Arc<SourcePolicies>)>,
    /// The chain's entries ([`ChainPolicies`]' entries), hop after hop.
    entries: Vec<Entry>,
    /// Verdicts of the chains built before on this thread.
    recent: RecentVerdicts,
}

impl VerdictMemo {
    /// The hop whose entries were written since `start`, with how many deny.
    fn hop(&self, hop: HopLabel, source: Arc<str>, start: usize) -> ChainHop {
        let entries = self.entries.get(start..).unwrap_or_default();
        let denied = entries
            .iter()
            .filter(|entry| {
                self.table
                    .get(entry.verdict as usize)
                    .is_some_and(|verdict| verdict.allowed == Some(false))
            })
            .count();
        let end = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
        ChainHop {
            hop,
            source,
            entries: u32::try_from(start).unwrap_or(end)..end,
            denied: u32::try_from(denied).unwrap_or(u32::MAX),
        }
    }

    /// A chain's memo, its lookup tables lent by the thread's `tables` (given back by
    /// [`VerdictMemo::give_back`]), its own tables made to size for `hops` hops of `entries`
    /// entries in all.
    fn lent(tables: &mut PolicyScratch, hops: usize, entries: usize) -> Self {
        Self {
            table: Verdicts::with_capacity(hops),
            entries: Vec::with_capacity(entries),
            verdicts: std::mem::take(&mut tables.verdicts),
            per_pod: std::mem::take(&mut tables.per_pod),
            sources: std::mem::take(&mut tables.sources),
            recent: std::mem::take(&mut tables.recent_verdicts),
            last: None,
        }
    }

    /// Gives the lookup tables back to `tables` for the next chain; the chain's verdicts and
    /// entries.
    fn give_back(self, tables: &mut PolicyScratch) -> (Verdicts, Vec<Entry>) {
        tables.verdicts = self.verdicts;
        tables.per_pod = self.per_pod;
        tables.sources = self.sources;
        tables.recent_verdicts = self.recent;
        (self.table, self.entries)
    }

    /// Adds `verdict` to the chain's table under `key`; its position.
    fn record(&mut self, key: VerdictKey, verdict: Arc<PolicyVerdict>) -> Option<u32> {
        let position = u32::try_from(self.table.len()).ok()?;
        self.table.push(verdict);
        if key.pod.is_none() {
            self.last = Some((key.clone(), position));
        }
        self.verdicts.insert(key, position);
        Some(position)
    }

    /// The position in `sources` of the policies selecting the source `pod` (its egress,
    /// N8), looked up when new.
    fn source_position(&mut self, index: &PolicyIndex, pod: &PodInfo) -> usize {
        let key = std::ptr::from_ref(pod) as usize;
        if let Some(position) = self.sources.iter().position(|(known, _)| *known == key) {
            return position;
        }
        self.sources
            .push((key, Arc::new(SourcePolicies::of(index, pod))));
        self.sources.len() - 1
    }
}

/// The policies selecting a source pod, and the keys of those isolating it for egress.
#[derive(Debug, Clone)]
pub(crate) struct SourcePolicies {
    pub selecting: Arc<[usize]>,
    pub egress: Arc<[Arc<str>]>,
    /// Whether their egress rules have ipBlocks (the destination's address then decides, N6).
    pub ip_blocks: bool,
    /// The label keys their egress rules' pod selectors read on a destination, sorted.
    pub egress_label_keys: Arc<[String]>,
    /// The port names of their egress rules (resolved on the destination, N7), in rule order.
    pub egress_port_names: Arc<[(String, crate::model::Protocol)]>,
}

impl SourcePolicies {
    pub(super) fn of(index: &PolicyIndex, pod: &PodInfo) -> Self {
        let selecting: Arc<[usize]> = index.selecting_indices(pod).into();
        let rules = || {
            selecting
                .iter()
                .filter_map(|position| index.policies().get(*position))
                .flat_map(|policy| policy.egress.iter().flatten())
        };
        let mut keys: Vec<String> = rules()
            .flat_map(|rule| rule.peers.iter().flatten())
            .filter_map(|peer| match peer {
                super::Peer::Pods { pods, .. } => pods.as_ref(),
                super::Peer::IpBlock { .. } => None,
            })
            .flat_map(super::compile::Selector::keys)
            .map(str::to_owned)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let egress_port_names: Arc<[(String, crate::model::Protocol)]> = rules()
            .flat_map(super::Rule::port_names)
            .map(|(name, protocol)| (name.to_owned(), protocol))
            .collect();
        Self {
            egress: index.isolating_keys(&selecting, Direction::Egress),
            ip_blocks: index.egress_ip_blocks(&selecting),
            egress_label_keys: keys.into(),
            egress_port_names,
            selecting,
        }
    }
}

/// What decides a verdict besides a chain's [`VerdictKey`] when the destination's pod class is
/// left out (rules N1-N10 read nothing else of it): its namespace, the policies selecting it,
/// the numbers its containers give the port names the rules use, and the values it carries
/// for the label keys the source pod's egress selectors read. Borrowed, to compare; owned in
/// [`RecentVerdicts`].
struct SharedKey<'p> {
    namespace: &'p str,
    selecting: &'p [usize],
    /// N7: what each port name of the rules resolves to on the destination.
    named: Named,
    /// The source's egress label keys and the destination's labels (source pods only).
    labels: Option<(&'p [String], Option<&'p crate::objects::Labels>)>,
}

/// [`SharedKey`]'s resolved port names: inline while they are few (a chain's hop asks for its
/// key once, and its policies name a port or two), in a vector beyond.
enum Named {
    Inline([Option<i32>; Named::INLINE], usize),
    Spilled(Vec<Option<i32>>),
}

impl Named {
    const INLINE: usize = 4;

    fn as_slice(&self) -> &[Option<i32>] {
        match self {
            Self::Inline(values, len) => values.get(..*len).unwrap_or_default(),
            Self::Spilled(values) => values,
        }
    }
}

impl FromIterator<Option<i32>> for Named {
    fn from_iter<I: IntoIterator<Item = Option<i32>>>(iter: I) -> Self {
        let mut named = Self::Inline([None; Self::INLINE], 0);
        for value in iter {
            match &mut named {
                Self::Inline(values, len) => match values.get_mut(*len) {
                    Some(slot) => {
                        *slot = value;
                        *len += 1;
                    }
                    None => {
                        let mut spilled = values.to_vec();
                        spilled.push(value);
                        named = Self::Spilled(spilled);
                    }
                },
                Self::Spilled(values) => values.push(value),
            }
        }
        named
    }
}

/// Verdicts kept from chain to chain on one thread: chains of a namespace are mostly judged
/// from its pod without labels against pods that its default policies alone isolate, and
/// their verdicts are equal, so one is computed and shared.
#[derive(Default)]
pub(super) struct RecentVerdicts {
    entries: Kept<KeptVerdict>,
}

/// [`RecentVerdicts`]' entry: the keys, owned, and the verdict.
struct KeptVerdict {
    key: VerdictKey,
    namespace: Box<str>,
    selecting: Box<[usize]>,
    named: Box<[Option<i32>]>,
    /// The destination's values for the source's egress label keys, in their order.
    labels: Option<Box<[Option<Box<str>>]>>,
    verdict: Arc<PolicyVerdict>,
}

impl KeptVerdict {
    fn is(&self, key: &VerdictKey, shared: &SharedKey<'_>) -> bool {
        // The class differs from chain to chain: everything else of the key must match. The
        // destination's labels are read last, and only for an entry that matches otherwise
        // (reading them is a lookup per key in the pod's label set).
        self.key.seen == key.seen
            && self.key.local == key.local
            && self.key.port == key.port
            && self.key.protocol == key.protocol
            && self.key.address == key.address
            && *self.named == *shared.named.as_slice()
            && *self.selecting == *shared.selecting
            && *self.namespace == *shared.namespace
            && self.same_labels(shared)
    }

    /// Whether the destination carries the kept values for the source's egress label keys.
    fn same_labels(&self, shared: &SharedKey<'_>) -> bool {
        match (&self.labels, &shared.labels) {
            (None, None) => true,
            (Some(kept), Some((keys, labels))) => {
                kept.len() == keys.len()
                    && kept.iter().zip(keys.iter()).all(|(value, key)| {
                        value.as_deref() == labels.and_then(|labels| labels.get(key))
                    })
            }
            _ => false,
        }
    }
}

impl RecentVerdicts {
    /// Verdicts kept: the few sources and port numbers a namespace's chains share.
    const KEPT: usize = 16;

    fn find(&self, key: &VerdictKey, shared: &SharedKey<'_>) -> Option<Arc<PolicyVerdict>> {
        self.entries
            .list
            .iter()
            .find(|kept| kept.is(key, shared))
            .map(|kept| kept.verdict.clone())
    }

    fn keep(&mut self, key: &VerdictKey, shared: SharedKey<'_>, verdict: Arc<PolicyVerdict>) {
        let kept = KeptVerdict {
            key: key.clone(),
            namespace: shared.namespace.into(),
            selecting: shared.selecting.into(),
            named: shared.named.as_slice().into(),
            labels: shared.labels.map(|(keys, labels)| {
                keys.iter()
                    .map(|key| labels.and_then(|labels| labels.get(key)).map(Box::from))
                    .collect()
            }),
            verdict,
        };
        self.entries.keep(kept, Self::KEPT);
    }
}

/// A map that stays a list while it is small: a chain's verdicts are few, and its blocks are
/// built by the ten thousand.
struct SmallMap<K, V> {
    list: Vec<(K, V)>,
    /// Every entry, once there are more than [`SmallMap::LIST`].
    map: HashMap<K, V>,
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        Self {
            list: Vec::new(),
            map: HashMap::default(),
        }
    }
}

impl<K: Eq + Hash, V: Copy> SmallMap<K, V> {
    const LIST: usize = 16;

    fn clear(&mut self) {
        self.list.clear();
        self.map.clear();
    }

    fn get(&self, key: &K) -> Option<V> {
        if self.map.is_empty() {
            self.list
                .iter()
                .find(|(known, _)| known == key)
                .map(|(_, value)| *value)
        } else {
            self.map.get(key).copied()
        }
    }

    fn insert(&mut self, key: K, value: V) {
        if self.map.is_empty() && self.list.len() < Self::LIST {
            self.list.push((key, value));
            return;
        }
        self.map.extend(self.list.drain(..));
        self.map.insert(key, value);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct VerdictKey {
    class: usize,
    seen: SeenKey,
    /// N9: the source is the destination's own node.
    local: bool,
    port: i32,
    protocol: crate::model::Protocol,
    /// The destination's address, when the source's egress rules have ipBlocks (N6).
    address: Option<IpAddr>,
    /// The destination pod itself, for verdicts that name it.
    pod: Option<usize>,
}

/// [`Seen`] by identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SeenKey {
    Pod(usize),
    Node(usize, usize, Option<IpAddr>),
    Address(IpAddr),
    AnyExternal,
}

impl SeenKey {
    fn of(seen: &Seen<'_>) -> Self {
        match seen {
            Seen::Pod(pod) => Self::Pod(std::ptr::from_ref(*pod) as usize),
            Seen::Node { name, address } => {
                Self::Node(name.as_ptr() as usize, name.len(), *address)
            }
            Seen::Address(address) => Self::Address(*address),
            Seen::AnyExternal => Self::AnyExternal,
        }
    }
}

impl PolicyIndex {
    /// The `networkPolicy` block of a chain, when some endpoint pod is isolated for ingress.
    pub fn chain_view(&self, chain: &ServiceChain, nodes: &NodeTable) -> Option<ChainPolicies> {
        let mut scratch = PolicyScratch::default();
        let mut cache = PodCache::new(chain, &mut scratch);
        self.view_with(chain, nodes, &mut cache)
    }

    /// [`PolicyIndex::chain_view`], and the chain's policy findings (which share its lookups)
    /// added to `findings`.
    pub(crate) fn chain_policies(
        &self,
        chain: &ServiceChain,
        nodes: &NodeTable,
        scratch: &mut PolicyScratch,
        findings: &mut Vec<crate::diagnostics::Diagnostic>,
    ) -> Option<ChainPolicies> {
        let mut cache = PodCache::new(chain, scratch);
        let view = self.view_with(chain, nodes, &mut cache);
        if let Some(view) = &view {
            super::findings::chain_findings(self, chain, view, &mut cache, findings);
        }
        view
    }

    fn view_with<'c>(
        &self,
        chain: &'c ServiceChain,
        nodes: &NodeTable,
        cache: &mut PodCache<'c>,
    ) -> Option<ChainPolicies> {
        if self.is_empty() {
            return None;
        }
        // The policies selecting each endpoint pod, looked up once per class of pods, and
        // the keys of those isolating it, written once per class. Each endpoint registered
        // here is a row of the block: the first of its named pods.
        let mut isolated = false;
        let joined = cache.join(&chain.details.endpoints, &chain.namespace);
        for (info, position) in chain.details.endpoints.iter().zip(&joined) {
            if *position == UNKNOWN {
                continue;
            }
            let Some((class, _)) = cache.add_endpoint(self, info, *position as usize) else {
                continue;
            };
            isolated |= cache
                .keys(self, class)
                .is_some_and(|(ingress, _)| !ingress.is_empty());
        }
        cache.give_joined(joined);
        let rows = u32::try_from(cache.tables.labels.len()).ok()?;
        if !isolated {
            return None;
        }
        cache.seal();
        // Every port's endpoints (the same pods as the chain's, in the usual case).
        let mut added = false;
        for endpoint in chain.ports.iter().flat_map(|port| port.endpoints.iter()) {
            if cache.endpoint(endpoint).is_none() {
                added |= cache
                    .add_port_endpoint(self, &endpoint.info, &chain.namespace)
                    .is_some();
            }
        }
        if added {
            cache.seal();
        }
        // The blocks stay with the model: their tables are made to size (one verdict per
        // default hop in the usual case of one pod template).
        let (mut default_hops, mut default_entries) = (0, 0);
        for port in &chain.ports {
            let hops =
                usize::from(port.cluster_ip.is_some()) + usize::from(port.node_port.is_some());
            default_hops += hops;
            default_entries += hops * port.endpoints.len();
        }
        let mut memo = VerdictMemo::lent(cache.tables, default_hops, default_entries);
        // The namespace's pod without labels and its name as a source, made once per snapshot
        // (made here only as a fallback: the chain's pods make their namespace known to the
        // index).
        let made;
        let anonymous = match self.anonymous(&chain.namespace) {
            Some(source) => {
                let key = std::ptr::from_ref(&source.pod) as usize;
                memo.sources.push((key, source.policies.clone()));
                (&source.pod, source.source.clone())
            }
            None => {
                made = anonymous_pod(&chain.namespace);
                (&made, format!("namespace/{}", chain.namespace).into())
            }
        };
        let mut hops = self.ingress_hops(chain, cache, &mut memo);
        hops.reserve_exact(default_hops);
        for port in &chain.ports {
            hops.extend(self.cluster_ip_hop(port, (anonymous.0, &anonymous.1), cache, &mut memo));
            hops.extend(self.node_port_hop(chain, port, nodes, cache, &mut memo));
        }
        let none = || (Arc::from([]), Arc::from([]));
        let classes = (0..cache.class_count())
            .map(|class| cache.keys(self, class).cloned().unwrap_or_else(none))
            .collect();
        let (verdicts, entries) = memo.give_back(cache.tables);
        Some(ChainPolicies {
            tables: Box::new(Tables {
                rows,
                classes,
                hops,
                verdicts,
                pods: cache.take_labels(),
                entries,
            }),
        })
    }

    /// The verdict for `seen` reaching `pod` on `port`, shared through `memo` by the
    /// endpoints of the same class; with whether it names no pod (it is then the verdict of
    /// every pod of the class).
    fn shared_verdict(
        &self,
        (memo, cache): (&mut VerdictMemo, &PodCache<'_>),
        (seen, source_policies): (&Seen<'_>, Option<&SourcePolicies>),
        (pod, class): (&PodInfo, usize),
        (port, protocol): (i32, crate::model::Protocol),
    ) -> Option<(u32, bool)> {
        let local = matches!(seen, Seen::Node { name, .. } if Some(*name) == pods::node_name(pod));
        // The egress of a source pod looks at the destination's address through ipBlocks.
        let address = match seen {
            Seen::Pod(_) if source_policies.is_some_and(|source| source.ip_blocks) => {
                pods::first_ip(pod)
            }
            _ => None,
        };
        let mut key = VerdictKey {
            class,
            seen: SeenKey::of(seen),
            local,
            port,
            protocol,
            address,
            pod: None,
        };
        if let Some((last, verdict)) = &memo.last
            && *last == key
        {
            return Some((*verdict, true));
        }
        if !memo.per_pod.is_empty() && memo.per_pod.contains(&key) {
            key.pod = Some(std::ptr::from_ref(pod) as usize);
        }
        let shared = key.pod.is_none();
        if let Some(found) = memo.verdicts.get(&key) {
            if shared {
                memo.last = Some((key, found));
            }
            return Some((found, shared));
        }
        // A verdict that names no pod may be one an earlier chain computed.
        let shared = match key.pod {
            None => self.shared_key(seen, source_policies, (pod, cache.selecting(class))),
            Some(_) => None,
        };
        if let Some(shared) = &shared
            && let Some(verdict) = memo.recent.find(&key, shared)
        {
            return Some((memo.record(key, verdict)?, true));
        }
        let verdict = self.verdict_with(
            seen,
            pod,
            (
                KnownPolicies {
                    selecting: Some(cache.selecting(class)),
                    ingress: cache.known_keys(class).map(|(ingress, _)| ingress),
                    egress: None,
                },
                KnownPolicies {
                    selecting: source_policies.map(|source| &*source.selecting),
                    ingress: None,
                    egress: source_policies.map(|source| &source.egress),
                },
            ),
            port,
            protocol,
        );
        // A source pod's egress miss may name this destination pod: such verdicts are its own.
        if key.pod.is_none()
            && verdict
                .egress
                .as_ref()
                .is_some_and(super::Decision::names_remote_pod)
        {
            memo.per_pod.insert(key.clone());
            key.pod = Some(std::ptr::from_ref(pod) as usize);
        }
        let verdict = Arc::new(verdict);
        let names_no_pod = key.pod.is_none();
        if names_no_pod && let Some(shared) = shared {
            memo.recent.keep(&key, shared, verdict.clone());
        }
        Some((memo.record(key, verdict)?, names_no_pod))
    }

    /// What, besides the chain's own verdict key, decides the verdict for `seen` reaching
    /// `pod` (selected by the policies `selecting`): `None` when it cannot be told (a source
    /// pod whose policies are not at hand).
    fn shared_key<'p>(
        &self,
        seen: &Seen<'_>,
        source: Option<&'p SourcePolicies>,
        (pod, selecting): (&'p PodInfo, &'p [usize]),
    ) -> Option<SharedKey<'p>> {
        let source = match seen {
            Seen::Pod(_) => Some(source?),
            _ => None,
        };
        // N7: the numbers the rules' port names resolve to on the destination, in rule order
        // (its ingress rules', then the source's egress rules').
        let ingress_names = selecting
            .iter()
            .filter_map(|index| self.policies.get(*index))
            .flat_map(|policy| policy.ingress.iter().flatten())
            .flat_map(super::Rule::port_names);
        let egress_names = source
            .into_iter()
            .flat_map(|source| source.egress_port_names.iter())
            .map(|(name, protocol)| (name.as_str(), *protocol));
        let named = ingress_names
            .chain(egress_names)
            .map(|(name, protocol)| super::eval::named_port(Some(pod), name, protocol))
            .collect();
        Some(SharedKey {
            namespace: pods::namespace(pod),
            selecting,
            named,
            labels: source.map(|source| (&*source.egress_label_keys, pods::labels(pod))),
        })
    }

    /// Verdicts for `client` through `door` to every endpoint of `port`, as entries of
    /// `memo`.
    fn endpoint_verdicts(
        &self,
        port: &PortChain,
        client: &Client<'_>,
        door: &DoorFacts<'_>,
        nodes: &NodeTable,
        (memo, cache): (&mut VerdictMemo, &PodCache<'_>),
    ) {
        // The source pod's policies, looked up once for every endpoint (its egress, N8). The
        // table is taken out of the memo meanwhile, so that they are borrowed, not counted.
        let sources = match client {
            Client::Pod(pod) => {
                let position = memo.source_position(self, pod);
                Some((std::mem::take(&mut memo.sources), position))
            }
            _ => None,
        };
        let source_policies = sources
            .as_ref()
            .and_then(|(list, position)| list.get(*position))
            .map(|(_, policies)| &**policies);
        memo.entries.reserve(port.endpoints.len());
        // A pod (not on its node's network) through the cluster IP is seen as itself by
        // every endpoint; unless its egress rules have ipBlocks (which read each endpoint's
        // address), the verdict is then one per class and port: the endpoints after the
        // first of a run of one class and port take it without asking again.
        let constant = match client {
            Client::Pod(pod) if door.via == FrontDoor::ClusterIp && !super::host_network(pod) => {
                Some(Seen::Pod(pod))
            }
            _ => None,
        };
        let by_class = constant.is_some() && !source_policies.is_some_and(|s| s.ip_blocks);
        let mut run: Option<(usize, i32, u32)> = None;
        for endpoint in &port.endpoints {
            if let Some((class, number, verdict)) = run
                && endpoint.port == number
                && let Some((_, its_class, named)) = cache.endpoint(endpoint)
                && its_class == class
            {
                memo.entries.push(Entry {
                    pod: named,
                    port: endpoint.port,
                    verdict,
                });
                continue;
            }
            let seen = match constant {
                Some(seen) => seen,
                None => PolicyIndex::seen(client, door, nodes, endpoint.info.ip),
            };
            let source = (&seen, source_policies);
            let pushed = self.push_entry((&mut *memo, cache), source, endpoint, port.protocol);
            run = pushed
                .filter(|(_, _, names_no_pod)| by_class && *names_no_pod)
                .map(|(class, verdict, _)| (class, endpoint.port, verdict));
        }
        if let Some((list, _)) = sources {
            memo.sources = list;
        }
    }

    /// The verdict for `seen` reaching `endpoint`, written as the next entry of `memo` (when
    /// the endpoint's pod is one of the chain's): its class and verdict, and whether the
    /// verdict names no pod ([`PolicyIndex::shared_verdict`]).
    fn push_entry(
        &self,
        (memo, cache): (&mut VerdictMemo, &PodCache<'_>),
        source: (&Seen<'_>, Option<&SourcePolicies>),
        endpoint: &PortEndpoint,
        protocol: crate::model::Protocol,
    ) -> Option<(usize, u32, bool)> {
        let (pod, class, named) = cache.endpoint(endpoint)?;
        let port = (endpoint.port, protocol);
        let (verdict, names_no_pod) =
            self.shared_verdict((&mut *memo, cache), source, (pod, class), port)?;
        memo.entries.push(Entry {
            pod: named,
            port: endpoint.port,
            verdict,
        });
        Some((class, verdict, names_no_pod))
    }

    /// The cluster IP, from a pod of the Service's namespace without labels (N8), named
    /// `source` in the hop.
    fn cluster_ip_hop(
        &self,
        port: &PortChain,
        (anonymous, source): (&PodInfo, &Arc<str>),
        cache: &PodCache<'_>,
        memo: &mut VerdictMemo,
    ) -> Option<ChainHop> {
        port.cluster_ip?;
        let door = DoorFacts {
            via: FrontDoor::ClusterIp,
            external_policy: TrafficPolicy::Cluster,
            forwarding: None,
            proxy_address: None,
        };
        let start = memo.entries.len();
        let nodes = no_nodes();
        self.endpoint_verdicts(port, &Client::Pod(anonymous), &door, nodes, (memo, cache));
        let hop = HopLabel::ClusterIp {
            port: port.port,
            protocol: port.protocol,
        };
        Some(memo.hop(hop, source.clone(), start))
    }

    /// The nodePort, from an outside client (N10). Under eTP Cluster each endpoint is judged
    /// as reached through another node, so seen as that node's address (the first other node
    /// by name; through its own node N9 lets it in); under eTP Local through its own node, with
    /// the client's address kept and unknown here (`route --source-ip` gives it).
    fn node_port_hop(
        &self,
        chain: &ServiceChain,
        port: &PortChain,
        nodes: &NodeTable,
        cache: &PodCache<'_>,
        memo: &mut VerdictMemo,
    ) -> Option<ChainHop> {
        port.node_port?;
        let policy = chain
            .external_traffic_policy
            .unwrap_or(TrafficPolicy::Cluster);
        let start = memo.entries.len();
        memo.entries.reserve(port.endpoints.len());
        for endpoint in &port.endpoints {
            let own = endpoint.info.node.as_deref();
            let forwarding = match policy {
                TrafficPolicy::Local => own,
                TrafficPolicy::Cluster => nodes
                    .iter()
                    .map(|node| node.name.as_ref())
                    .find(|name| Some(*name) != own),
            };
            let door = DoorFacts {
                via: FrontDoor::NodePort,
                external_policy: policy,
                forwarding,
                proxy_address: None,
            };
            let seen = PolicyIndex::seen(&Client::External(None), &door, nodes, endpoint.info.ip);
            self.push_entry((&mut *memo, cache), (&seen, None), endpoint, port.protocol);
        }
        let hop = HopLabel::NodePort {
            port: port.port,
            protocol: port.protocol,
        };
        Some(memo.hop(hop, external_source(), start))
    }

    /// Each Ingress path, from each of its controller's pods when they are known (N10: the
    /// controller opens its own connection to the endpoints).
    fn ingress_hops(
        &self,
        chain: &ServiceChain,
        cache: &PodCache<'_>,
        memo: &mut VerdictMemo,
    ) -> Hops {
        let mut hops = Hops::new();
        let door = DoorFacts {
            via: FrontDoor::ClusterIp,
            external_policy: TrafficPolicy::Cluster,
            forwarding: None,
            proxy_address: None,
        };
        let nodes = no_nodes();
        for reference in &chain.ingresses {
            let controllers = self.controller_pods(&reference.namespace, &reference.name);
            if controllers.is_empty() {
                continue;
            }
            let ports = chain
                .ports
                .iter()
                .filter(|port| match &reference.service_port {
                    None => true,
                    Some(wanted) => {
                        *wanted == port.port_ref()
                            || matches!(wanted, crate::model::PortRef::Number(n) if *n == port.port)
                    }
                });
            let ports: Vec<&PortChain> = ports.collect();
            // N9: a host-network controller is seen as its node, which plugins treat
            // differently; such controllers are left out rather than guessed.
            for controller in controllers.iter().filter(|pod| !super::host_network(pod)) {
                let client = Client::Pod(controller);
                let start = memo.entries.len();
                for port in &ports {
                    self.endpoint_verdicts(port, &client, &door, nodes, (&mut *memo, cache));
                }
                let hop = Hop::Ingress {
                    namespace: reference.namespace.clone(),
                    name: reference.name.clone(),
                    host: reference.host.clone(),
                    path: reference.path.clone(),
                };
                let source = format!(
                    "pod/{}/{}",
                    pods::namespace(controller),
                    pods::name(controller)
                );
                hops.push(memo.hop(HopLabel::Ingress(hop.to_string()), source.into(), start));
            }
        }
        hops
    }
}

/// No node: the cluster IP hops judge pod sources, whose node plays no part (N8), from a
/// table shared by every chain.
fn no_nodes() -> &'static NodeTable {
    static NONE: std::sync::LazyLock<NodeTable> = std::sync::LazyLock::new(NodeTable::default);
    &NONE
}

/// `external`: the outside client of the nodePort hops, shared by every chain.
fn external_source() -> Arc<str> {
    static EXTERNAL: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "external".into());
    EXTERNAL.clone()
}

/// Ingress → its controller's pods: the pods selected by the LoadBalancer Service whose
/// status carries the Ingress's status address (how controllers publish their address).
pub(crate) fn ingress_controllers(
    snapshot: &ClusterSnapshot,
) -> HashMap<(String, String), Vec<Arc<PodInfo>>> {
    let mut by_address: HashMap<String, &Service> = HashMap::default();
    for service in &snapshot.services {
        let entries = service
            .status
            .as_ref()
            .and_then(|status| status.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref());
        for entry in entries.into_iter().flatten() {
            for address in entry.ip.iter().chain(entry.hostname.iter()) {
                by_address.entry(address.clone()).or_insert(service);
            }
        }
    }
    let mut out = HashMap::default();
    if by_address.is_empty() {
        return out;
    }
    for ingress in &snapshot.ingresses {
        let Some(service) = ingress_addresses(ingress)
            .into_iter()
            .find_map(|address| by_address.get(&address))
        else {
            continue;
        };
        let pods = service_pods(snapshot, service);
        if pods.is_empty() {
            continue;
        }
        let key = (
            ingress
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            ingress.metadata.name.clone().unwrap_or_default(),
        );
        out.insert(key, pods);
    }
    out
}

fn ingress_addresses(ingress: &Ingress) -> Vec<String> {
    ingress
        .status
        .as_ref()
        .and_then(|status| status.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|entry| entry.ip.iter().chain(entry.hostname.iter()).cloned())
        .collect()
}

/// The running pods a Service selects (A2), sorted by name.
fn service_pods(snapshot: &ClusterSnapshot, service: &Service) -> Vec<Arc<PodInfo>> {
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let Some(selector) = service
        .spec
        .as_ref()
        .and_then(|spec| spec.selector.as_ref())
        .filter(|selector| !selector.is_empty())
    else {
        return Vec::new();
    };
    let selector: &BTreeMap<String, String> = selector;
    let mut out: Vec<Arc<PodInfo>> = snapshot
        .pods
        .iter()
        .filter(|pod| pods::namespace(pod) == namespace && pods::matches_selector(pod, selector))
        .filter(|pod| pods::phase_exclusion(pod).is_none())
        .cloned()
        .collect();
    out.sort_by(|a, b| pods::name(a).cmp(pods::name(b)));
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{ChainPolicies, HopLabel, Kept, Named, NamedPod, PodName, Tables};
    use crate::model::EndpointInfo;
    use smallvec::SmallVec;

    /// A block of one endpoint, `shop/web-1` at `ip`.
    fn block_at(ip: &str) -> ChainPolicies {
        let info = Arc::new(EndpointInfo {
            pod: Some("web-1".into()),
            namespace: Some("shop".into()),
            node: None,
            zone: None,
            hostname: None,
            ip: ip.parse().expect("an address"),
            ready: true,
            serving: true,
            terminating: false,
            zone_hints: None,
            node_hints: None,
            slice: "web-abc".into(),
        });
        ChainPolicies {
            tables: Box::new(Tables {
                rows: 1,
                classes: smallvec::smallvec![(Arc::from([]), Arc::from([]))],
                hops: SmallVec::new(),
                verdicts: SmallVec::new(),
                pods: PodName::of(&info)
                    .map(|name| NamedPod { name, class: 0 })
                    .into_iter()
                    .collect(),
                entries: Vec::new(),
            }),
        }
    }

    #[test]
    fn blocks_differ_by_an_endpoint_address_that_no_row_holds() {
        let block = block_at("10.0.0.1");
        assert_eq!(block, block_at("10.0.0.1"));
        // The rows name the endpoint by position only: its address is compared through it.
        assert_ne!(block, block_at("10.0.0.2"));
        let read: Vec<_> = block.endpoints().map(|endpoint| endpoint.ip).collect();
        assert_eq!(read, ["10.0.0.1".parse::<std::net::IpAddr>().expect("ip")]);
    }

    #[test]
    fn resolved_port_names_keep_every_value_in_order_inline_or_spilled() {
        for count in 0..=Named::INLINE + 3 {
            let values: Vec<Option<i32>> = (0..count)
                .map(|n| (n % 3 != 0).then_some(i32::try_from(n).unwrap_or_default()))
                .collect();
            let named: Named = values.iter().copied().collect();
            assert_eq!(named.as_slice(), values.as_slice(), "{count} values");
            assert_eq!(
                matches!(named, Named::Spilled(_)),
                count > Named::INLINE,
                "{count} values"
            );
        }
    }

    #[test]
    fn kept_entries_replace_the_oldest_once_full() {
        let mut kept = Kept::default();
        let positions: Vec<usize> = (0..5).map(|entry| kept.keep(entry, 3)).collect();
        assert_eq!(positions, [0, 1, 2, 0, 1]);
        assert_eq!(kept.list, [3, 4, 2]);
    }
    use crate::model::Protocol;

    #[test]
    fn a_hop_label_equals_its_hop_key_and_nothing_else() {
        let cluster_ip = HopLabel::ClusterIp {
            port: 80,
            protocol: Protocol::Tcp,
        };
        assert_eq!(cluster_ip.to_string(), "80/TCP/clusterIP");
        assert!(cluster_ip == *"80/TCP/clusterIP");
        for other in [
            "",
            "8",
            "80/TCP/cluster",
            "80/TCP/clusterIP/",
            "80/UDP/clusterIP",
        ] {
            assert!(cluster_ip != *other, "{other:?}");
        }
        let node_port = HopLabel::NodePort {
            port: 443,
            protocol: Protocol::Udp,
        };
        // A hop key as the tree writes it (a `String`).
        let key = format!("{}/{}/nodePort", 443, Protocol::Udp);
        assert!(node_port == key);
        assert!(node_port != *"443/UDP/clusterIP");
        let ingress = HopLabel::Ingress("ingress/shop/web/*/".to_owned());
        assert!(ingress.is_ingress() && !node_port.is_ingress());
        assert!(ingress == *"ingress/shop/web/*/");
    }
}
