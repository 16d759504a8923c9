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

use super::{Client, Direction, DoorFacts, KnownPolicies, PolicyIndex, PolicyVerdict, Seen};
use crate::hash::{FxHashMap as HashMap, FxHashSet as HashSet, FxHasher};
use crate::model::{Hop, PortChain, PortEndpoint, ServiceChain, TrafficPolicy};
use crate::nodes::NodeTable;
use crate::pods;
use crate::route::FrontDoor;
use crate::snapshot::ClusterSnapshot;

/// `networkPolicy` of a chain (present only when a policy isolates an endpoint for ingress).
///
/// The hops' entries name their pod and verdict by position in tables of the chain, so that
/// a pod's name and a verdict shared by many endpoints are stored once; they read (and
/// serialise) as [`EndpointVerdict`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPolicies {
    /// Each endpoint: its pod and the policies isolating it, by position in the tables below
    /// (read as [`EndpointPolicies`], [`ChainPolicies::endpoints`]).
    endpoints: Vec<EndpointRow>,
    /// Per pod template (class): the keys of the policies isolating it for ingress and for
    /// egress.
    classes: Vec<PolicyKeys>,
    pub hops: Vec<ChainHop>,
    /// The distinct verdicts of the hops' entries.
    verdicts: Vec<PolicyVerdict>,
    /// The pods the hops' entries name.
    pods: Vec<PodName>,
    /// Every hop's entries, hop after hop.
    entries: Vec<Entry>,
}

/// A pod's `namespace/name`, written out when read: both parts are shared with the objects,
/// so naming a pod in a chain's block allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodName {
    namespace: Arc<str>,
    name: Arc<str>,
}

impl PodName {
    /// `pod`, under the name its endpoint carries (the slice's `targetRef.name`, shared).
    pub fn of(pod: &PodInfo, name: Arc<str>) -> Self {
        Self {
            namespace: pod
                .namespace
                .clone()
                .unwrap_or_else(|| Arc::from("default")),
            name,
        }
    }

    /// `pod`, under its own name.
    pub fn of_pod(pod: &PodInfo) -> Self {
        Self::of(pod, Arc::from(pods::name(pod)))
    }
}

impl std::fmt::Display for PodName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
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

/// One endpoint of the chain: positions in [`ChainPolicies`]' tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EndpointRow {
    pod: u32,
    class: u32,
    ip: IpAddr,
}

/// One endpoint of a hop: positions in [`ChainPolicies`]' tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    pod: u32,
    verdict: u32,
    port: i32,
    ip: IpAddr,
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
        self.endpoints.iter().filter_map(|row| {
            Some((
                self.pods.get(row.pod as usize)?,
                row.ip,
                self.classes.get(row.class as usize)?,
            ))
        })
    }

    /// The verdict for each endpoint of `hop` (one of [`ChainPolicies::hops`]).
    pub fn verdicts<'v>(
        &'v self,
        hop: &'v ChainHop,
    ) -> impl Iterator<Item = EndpointVerdict<'v>> + 'v {
        // Every entry's positions are in the tables: they were written together.
        let range = hop.entries.start as usize..hop.entries.end as usize;
        let entries = self.entries.get(range).unwrap_or_default();
        entries.iter().filter_map(|entry| {
            Some(EndpointVerdict {
                pod: self.pods.get(entry.pod as usize)?,
                ip: entry.ip,
                port: entry.port,
                verdict: self.verdicts.get(entry.verdict as usize)?,
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
            .hops
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
struct PodClass<'c> {
    pod: &'c PodInfo,
    /// The positions of the policies selecting the class's pods (N1).
    selecting: Vec<usize>,
    /// The keys of those isolating them for ingress and for egress, written when first asked.
    keys: Option<PolicyKeys>,
}

/// The keys of the policies isolating a pod for ingress and for egress, shared by its class.
type PolicyKeys = (Arc<[Arc<str>]>, Arc<[Arc<str>]>);

/// One endpoint pod of the chain.
struct Known<'c> {
    pod: &'c PodInfo,
    class: usize,
    /// Its name, for every hop that names it.
    label: PodName,
}

/// Beyond this many classes in a chain, classes are found by hash instead of one by one.
const LINEAR_CLASSES: usize = 8;

/// No entry in [`PodCache::by_selected`].
const UNKNOWN: u32 = u32::MAX;

/// The endpoint pods of one chain, each with its [`PodClass`].
pub(super) struct PodCache<'c> {
    /// The chain's selected pods, sorted by name (where endpoint pods are looked up).
    selected: &'c [Arc<PodInfo>],
    classes: Vec<PodClass<'c>>,
    known: Vec<Known<'c>>,
    /// Position in `selected` → its entry in `known`, or [`UNKNOWN`].
    by_selected: Vec<u32>,
    /// Endpoint (its shared `EndpointInfo`, by address) → its entry in `known`, sorted by
    /// address once every endpoint is in ([`PodCache::seal`]).
    by_endpoint: Vec<(usize, u32)>,
    /// Hash of (namespace, labels, ports) → the classes with that hash, once there are more
    /// than [`LINEAR_CLASSES`].
    by_hash: HashMap<u64, Vec<usize>>,
    /// The position in `selected` of the last endpoint's pod.
    last_position: Option<usize>,
}

impl<'c> PodCache<'c> {
    pub(super) fn new(chain: &'c ServiceChain) -> Self {
        let selected = chain.details.selected_pods.as_slice();
        Self {
            selected,
            // The pods of a chain are mostly of one template.
            classes: Vec::with_capacity(1),
            known: Vec::with_capacity(selected.len().min(chain.details.endpoints.len())),
            by_selected: vec![UNKNOWN; selected.len()],
            by_endpoint: Vec::with_capacity(chain.details.endpoints.len()),
            by_hash: HashMap::default(),
            last_position: None,
        }
    }

    /// The entry in `known` of the selected pod at `position`, added (with its class) when
    /// new.
    fn entry(&mut self, index: &PolicyIndex, position: usize, name: &Arc<str>) -> Option<usize> {
        let slot = self.by_selected.get(position).copied()?;
        if slot != UNKNOWN {
            return Some(slot as usize);
        }
        let pod: &'c PodInfo = self.selected.get(position)?;
        let class = self.find_class(index, pod);
        let label = PodName::of(pod, name.clone());
        self.known.push(Known { pod, class, label });
        let entry = self.known.len() - 1;
        if let Some(slot) = self.by_selected.get_mut(position) {
            *slot = u32::try_from(entry).unwrap_or(UNKNOWN);
        }
        Some(entry)
    }

    fn find_class(&mut self, index: &PolicyIndex, pod: &'c PodInfo) -> usize {
        // The pods of a chain are mostly of one template: the last class first, and the few
        // others one by one.
        let last = self.known.last().map(|known| known.class);
        let found = match last {
            Some(last) if self.is_class(last, pod) => Some(last),
            _ if self.classes.len() <= LINEAR_CLASSES => {
                (0..self.classes.len()).find(|class| self.is_class(*class, pod))
            }
            _ => {
                self.hash_classes();
                self.by_hash.get(&class_hash(pod)).and_then(|candidates| {
                    candidates
                        .iter()
                        .copied()
                        .find(|class| self.is_class(*class, pod))
                })
            }
        };
        if let Some(class) = found {
            return class;
        }
        self.classes.push(PodClass {
            pod,
            selecting: index.selecting_indices(pod),
            keys: None,
        });
        let class = self.classes.len() - 1;
        if !self.by_hash.is_empty() {
            self.by_hash.entry(class_hash(pod)).or_default().push(class);
        }
        class
    }

    fn is_class(&self, class: usize, pod: &PodInfo) -> bool {
        self.classes
            .get(class)
            .is_some_and(|known| same_class(known.pod, pod))
    }

    /// Fills `by_hash` when first needed.
    fn hash_classes(&mut self) {
        if self.by_hash.is_empty() {
            for (position, class) in self.classes.iter().enumerate() {
                self.by_hash
                    .entry(class_hash(class.pod))
                    .or_default()
                    .push(position);
            }
        }
    }

    /// Registers the endpoint `info` as served by the pod it names: the pod's class and
    /// label, when the pod is one of the chain's selected pods.
    fn add_endpoint(
        &mut self,
        index: &PolicyIndex,
        info: &Arc<crate::model::EndpointInfo>,
        chain: &ServiceChain,
    ) -> Option<(usize, usize)> {
        let name = info.pod.as_ref()?;
        // Slices list the pods of a template mostly in name order: the pod after the last
        // one found first.
        let next = self.last_position.map_or(0, |last| last + 1);
        let position = match self.selected.get(next) {
            Some(pod) if pods::name(pod) == &**name => next,
            _ => super::chain_pod_position(chain, name)?,
        };
        self.last_position = Some(position);
        let entry = self.entry(index, position, name)?;
        self.by_endpoint
            .push((Arc::as_ptr(info) as usize, u32::try_from(entry).ok()?));
        let known = self.known.get(entry)?;
        Some((known.class, entry))
    }

    /// The keys of the policies isolating the pods of `class` for ingress and for egress.
    pub(super) fn keys(&mut self, index: &PolicyIndex, class: usize) -> Option<&PolicyKeys> {
        let known = self.classes.get_mut(class)?;
        let selecting = &known.selecting;
        let keys = known.keys.get_or_insert_with(|| {
            (
                index.isolating_keys(selecting, Direction::Ingress),
                index.isolating_keys(selecting, Direction::Egress),
            )
        });
        Some(keys)
    }

    /// [`PodCache::keys`], when they were written already.
    fn known_keys(&self, class: usize) -> Option<&PolicyKeys> {
        self.classes.get(class)?.keys.as_ref()
    }

    /// The positions of the policies selecting the pods of `class`.
    pub(super) fn selecting(&self, class: usize) -> &[usize] {
        self.classes
            .get(class)
            .map(|known| known.selecting.as_slice())
            .unwrap_or_default()
    }

    /// The number of classes seen.
    pub(super) fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// A pod of `class`.
    pub(super) fn class_pod(&self, class: usize) -> Option<&'c PodInfo> {
        self.classes.get(class).map(|known| known.pod)
    }

    /// The endpoint pods [`PodCache::add_endpoint`] saw, with their class, sorted by name.
    pub(super) fn endpoint_pods(&self) -> impl Iterator<Item = (&'c PodInfo, usize)> + '_ {
        self.by_selected
            .iter()
            .filter(|slot| **slot != UNKNOWN)
            .filter_map(|slot| self.known.get(*slot as usize))
            .map(|known| (known.pod, known.class))
    }

    /// An endpoint's pod, class and position in [`PodCache::labels`], when
    /// [`PodCache::add_endpoint`] saw it.
    pub(super) fn endpoint(&self, endpoint: &PortEndpoint) -> Option<(&'c PodInfo, usize, u32)> {
        let key = Arc::as_ptr(&endpoint.info) as usize;
        let found = self
            .by_endpoint
            .binary_search_by_key(&key, |(address, _)| *address)
            .ok()?;
        let position = self.by_endpoint.get(found)?.1;
        let known = self.known.get(position as usize)?;
        Some((known.pod, known.class, position))
    }

    /// Sorts the endpoints registered so far, for [`PodCache::endpoint`].
    fn seal(&mut self) {
        self.by_endpoint
            .sort_unstable_by_key(|(address, _)| *address);
        self.by_endpoint.dedup_by_key(|(address, _)| *address);
    }

    /// `namespace/name` of each endpoint pod, in the order they were seen.
    fn labels(&self) -> Vec<PodName> {
        self.known.iter().map(|known| known.label.clone()).collect()
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
    // The pods of one workload share their label set and containers (equality of shared
    // `Arc`s is a pointer compare first).
    // (`Arc` equality compares pointers first.)
    (a.namespace == b.namespace || pods::namespace(a) == pods::namespace(b))
        && pods::labels(a) == pods::labels(b)
        && (Arc::ptr_eq(&a.containers, &b.containers) || declared_ports(a).eq(declared_ports(b)))
}

/// A pod of `namespace` without labels or address: the "any pod of the namespace" source.
pub(super) fn anonymous_pod(namespace: &str) -> PodInfo {
    PodInfo::anonymous(namespace)
}

/// One chain's verdicts, shared by the endpoints that policies cannot tell apart: the same
/// [`PodClass`], source as seen, port, and (for a source pod's egress through ipBlocks) address.
#[derive(Default)]
pub(super) struct VerdictMemo {
    /// Key → position in `table`.
    verdicts: SmallMap<VerdictKey, u32>,
    /// The chain's distinct verdicts ([`ChainPolicies::verdicts`]).
    table: Vec<PolicyVerdict>,
    /// Keys whose verdict names the destination pod (an egress miss): kept per pod.
    per_pod: HashSet<VerdictKey>,
    /// The last verdict shared, by its key (the endpoints of a hop mostly ask the same).
    last: Option<(VerdictKey, u32)>,
    /// The policies selecting each source pod (by address), looked up once per chain.
    sources: Vec<(usize, SourcePolicies)>,
    /// The chain's entries ([`ChainPolicies`]' entries), hop after hop.
    entries: Vec<Entry>,
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

    /// The policies selecting the source `pod` (its egress, N8).
    fn source_policies(&mut self, index: &PolicyIndex, pod: &PodInfo) -> SourcePolicies {
        let key = std::ptr::from_ref(pod) as usize;
        if let Some((_, found)) = self.sources.iter().find(|(known, _)| *known == key) {
            return found.clone();
        }
        let found = SourcePolicies::of(index, pod);
        self.sources.push((key, found.clone()));
        found
    }
}

/// The policies selecting a source pod, and the keys of those isolating it for egress.
#[derive(Debug, Clone)]
pub(crate) struct SourcePolicies {
    pub selecting: Arc<[usize]>,
    pub egress: Arc<[Arc<str>]>,
    /// Whether their egress rules have ipBlocks (the destination's address then decides, N6).
    pub ip_blocks: bool,
}

impl SourcePolicies {
    pub(super) fn of(index: &PolicyIndex, pod: &PodInfo) -> Self {
        let selecting: Arc<[usize]> = index.selecting_indices(pod).into();
        Self {
            egress: index.isolating_keys(&selecting, Direction::Egress),
            ip_blocks: index.egress_ip_blocks(&selecting),
            selecting,
        }
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

    fn with_capacity(capacity: usize) -> Self {
        Self {
            list: Vec::with_capacity(capacity.min(Self::LIST)),
            map: HashMap::default(),
        }
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
        self.view_with(chain, nodes, &mut PodCache::new(chain))
    }

    /// [`PolicyIndex::chain_view`] and the chain's policy findings, which share its lookups.
    pub(crate) fn chain_policies(
        &self,
        chain: &ServiceChain,
        nodes: &NodeTable,
    ) -> Option<(ChainPolicies, Vec<crate::diagnostics::Diagnostic>)> {
        let mut cache = PodCache::new(chain);
        let view = self.view_with(chain, nodes, &mut cache)?;
        let findings = super::findings::chain_findings(self, chain, &view, &mut cache);
        Some((view, findings))
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
        let mut endpoints = Vec::with_capacity(chain.details.endpoints.len());
        // The policies selecting each endpoint pod, looked up once per class of pods, and
        // the keys of those isolating it, written once per class.
        let mut isolated = false;
        for info in &chain.details.endpoints {
            let Some((class, pod)) = cache.add_endpoint(self, info, chain) else {
                continue;
            };
            isolated |= cache
                .keys(self, class)
                .is_some_and(|(ingress, _)| !ingress.is_empty());
            endpoints.push(EndpointRow {
                pod: u32::try_from(pod).ok()?,
                class: u32::try_from(class).ok()?,
                ip: info.ip,
            });
        }
        if !isolated {
            return None;
        }
        cache.seal();
        // Every port's endpoints (the same pods as the chain's, in the usual case).
        let mut added = false;
        for endpoint in chain.ports.iter().flat_map(|port| port.endpoints.iter()) {
            if cache.endpoint(endpoint).is_none() {
                added |= cache.add_endpoint(self, &endpoint.info, chain).is_some();
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
        let mut memo = VerdictMemo {
            table: Vec::with_capacity(default_hops),
            entries: Vec::with_capacity(default_entries),
            verdicts: SmallMap::with_capacity(default_hops),
            // The namespace's pod without labels, and an Ingress controller or two.
            sources: Vec::with_capacity(1),
            ..VerdictMemo::default()
        };
        // The namespace's pod without labels, made once per snapshot (made here only as a
        // fallback: the chain's pods make their namespace known to the index).
        let made;
        let anonymous = match self.anonymous(&chain.namespace) {
            Some(source) => {
                let key = std::ptr::from_ref(&source.pod) as usize;
                memo.sources.push((key, source.policies.clone()));
                &source.pod
            }
            None => {
                made = anonymous_pod(&chain.namespace);
                &made
            }
        };
        let mut hops = self.ingress_hops(chain, cache, &mut memo);
        hops.reserve_exact(default_hops);
        for port in &chain.ports {
            hops.extend(self.cluster_ip_hop(chain, port, anonymous, cache, &mut memo));
            hops.extend(self.node_port_hop(chain, port, nodes, cache, &mut memo));
        }
        let none = || (Arc::from([]), Arc::from([]));
        let classes = (0..cache.class_count())
            .map(|class| cache.keys(self, class).cloned().unwrap_or_else(none))
            .collect();
        Some(ChainPolicies {
            endpoints,
            classes,
            hops,
            verdicts: memo.table,
            pods: cache.labels(),
            entries: memo.entries,
        })
    }

    /// The verdict for `seen` reaching `pod` on `port`, shared through `memo` by the
    /// endpoints of the same class.
    fn shared_verdict(
        &self,
        (memo, cache): (&mut VerdictMemo, &PodCache<'_>),
        (seen, source_policies): (&Seen<'_>, Option<&SourcePolicies>),
        (pod, class): (&PodInfo, usize),
        (port, protocol): (i32, crate::model::Protocol),
    ) -> Option<u32> {
        let local = matches!(seen, Seen::Node { name, .. } if Some(*name) == pods::node_name(pod));
        // The egress of a source pod looks at the destination's address through ipBlocks.
        let address = match seen {
            Seen::Pod(_) if source_policies.is_some_and(|source| source.ip_blocks) => {
                pods::ips(pod).into_iter().next()
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
            return Some(*verdict);
        }
        if !memo.per_pod.is_empty() && memo.per_pod.contains(&key) {
            key.pod = Some(std::ptr::from_ref(pod) as usize);
        }
        if let Some(found) = memo.verdicts.get(&key) {
            if key.pod.is_none() {
                memo.last = Some((key, found));
            }
            return Some(found);
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
        let position = u32::try_from(memo.table.len()).ok()?;
        memo.table.push(verdict);
        if key.pod.is_none() {
            memo.last = Some((key.clone(), position));
        }
        memo.verdicts.insert(key, position);
        Some(position)
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
        // The source pod's policies, looked up once for every endpoint (its egress, N8).
        let source_policies = match client {
            Client::Pod(pod) => Some(memo.source_policies(self, pod)),
            _ => None,
        };
        memo.entries.reserve(port.endpoints.len());
        for endpoint in &port.endpoints {
            let seen = PolicyIndex::seen(client, door, nodes, endpoint.info.ip);
            let source = (&seen, source_policies.as_ref());
            self.push_entry((&mut *memo, cache), source, endpoint, port.protocol);
        }
    }

    /// The verdict for `seen` reaching `endpoint`, written as the next entry of `memo` (when
    /// the endpoint's pod is one of the chain's).
    fn push_entry(
        &self,
        (memo, cache): (&mut VerdictMemo, &PodCache<'_>),
        source: (&Seen<'_>, Option<&SourcePolicies>),
        endpoint: &PortEndpoint,
        protocol: crate::model::Protocol,
    ) {
        let Some((pod, class, known)) = cache.endpoint(endpoint) else {
            return;
        };
        let port = (endpoint.port, protocol);
        let Some(verdict) = self.shared_verdict((&mut *memo, cache), source, (pod, class), port)
        else {
            return;
        };
        memo.entries.push(Entry {
            pod: known,
            ip: endpoint.info.ip,
            port: endpoint.port,
            verdict,
        });
    }

    /// The cluster IP, from a pod of the Service's namespace without labels (N8).
    fn cluster_ip_hop(
        &self,
        chain: &ServiceChain,
        port: &PortChain,
        anonymous: &PodInfo,
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
        let nodes = NodeTable::default();
        let start = memo.entries.len();
        self.endpoint_verdicts(port, &Client::Pod(anonymous), &door, &nodes, (memo, cache));
        let source = match self.anonymous(&chain.namespace) {
            Some(known) => known.source.clone(),
            None => format!("namespace/{}", chain.namespace).into(),
        };
        let hop = HopLabel::ClusterIp {
            port: port.port,
            protocol: port.protocol,
        };
        Some(memo.hop(hop, source, start))
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
    ) -> Vec<ChainHop> {
        let mut hops = Vec::new();
        let door = DoorFacts {
            via: FrontDoor::ClusterIp,
            external_policy: TrafficPolicy::Cluster,
            forwarding: None,
            proxy_address: None,
        };
        let nodes = NodeTable::default();
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
                    self.endpoint_verdicts(port, &client, &door, &nodes, (&mut *memo, cache));
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
    use super::HopLabel;
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
