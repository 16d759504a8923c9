//! [`PodInfo`]: what kubehop reads from a Pod, in compact owned form.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, ContainerPort, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::intern::Interner;

/// A pod's labels, sorted by key (as a `BTreeMap` iterates them); equal sets are shared.
#[derive(Debug, Clone, Eq)]
pub struct Labels(pub(crate) Arc<[(Arc<str>, Arc<str>)]>);

/// The same shared set is equal at a pointer compare (`Arc`'s `==` compares the pairs, byte
/// by byte, even then); sets of two interners compare their pairs.
impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

/// Hashes the pairs, as equality compares them.
impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Labels {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(candidate, _)| (**candidate).cmp(key))
            .ok()
            .map(|index| &*self.0[index].1)
    }

    /// The labels of a map (test fixtures, typed objects).
    pub fn from_map(
        map: &std::collections::BTreeMap<String, String>,
        interner: &mut Interner,
    ) -> Self {
        let pairs = map
            .iter()
            .map(|(key, value)| (interner.str(key), interner.str(value)))
            .collect();
        interner.labels(pairs)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The pairs, in key order.
    pub fn iter(&self) -> LabelIter<'_> {
        self.into_iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = LabelIter<'a>;

    fn into_iter(self) -> LabelIter<'a> {
        LabelIter(self.0.iter())
    }
}

/// The pairs of [`Labels`], in key order.
pub struct LabelIter<'a>(std::slice::Iter<'a, (Arc<str>, Arc<str>)>);

impl<'a> Iterator for LabelIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(key, value)| (&**key, &**value))
    }
}

/// Reading one label by key, from a pod's [`Labels`] or a typed object's label map.
pub trait LabelLookup {
    fn label(&self, key: &str) -> Option<&str>;
}

impl LabelLookup for Labels {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}

impl LabelLookup for std::collections::BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// An owner reference, every field shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub api_version: Arc<str>,
    pub kind: Arc<str>,
    pub name: Arc<str>,
    pub uid: Arc<str>,
    pub controller: Option<bool>,
    pub block_owner_deletion: Option<bool>,
}

impl Owner {
    pub fn to_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.to_string(),
            kind: self.kind.to_string(),
            name: self.name.to_string(),
            uid: self.uid.to_string(),
            controller: self.controller,
            block_owner_deletion: self.block_owner_deletion,
        }
    }
}

/// A declared container port (`spec.containers[].ports[]`): what rules B2-B4 and N7 read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortInfo {
    pub name: Option<Arc<str>>,
    pub container_port: i32,
    /// As written (`None`: TCP, rule B1).
    pub protocol: Option<Arc<str>>,
}

/// A container or init container: its name and declared ports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerInfo {
    pub name: Arc<str>,
    pub ports: Box<[PortInfo]>,
    /// An init container (`spec.initContainers`).
    pub init: bool,
    /// `restartPolicy: Always`: on an init container, a sidecar.
    pub restart_always: bool,
}

impl ContainerInfo {
    /// A restartable init container: it keeps running, so its ports serve (rule B2).
    pub fn is_sidecar(&self) -> bool {
        self.init && self.restart_always
    }
}

/// The pod's usable addresses (`status.podIPs` first, else `status.podIP`, parsed, without
/// repeats): one inline, more on the heap.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum PodIps {
    #[default]
    None,
    One(IpAddr),
    Many(Box<[IpAddr]>),
}

impl PodIps {
    pub fn as_slice(&self) -> &[IpAddr] {
        match self {
            PodIps::None => &[],
            PodIps::One(ip) => std::slice::from_ref(ip),
            PodIps::Many(ips) => ips,
        }
    }

    fn from_vec(mut ips: Vec<IpAddr>) -> Self {
        match ips.len() {
            0 => PodIps::None,
            1 => PodIps::One(ips.remove(0)),
            _ => PodIps::Many(ips.into_boxed_slice()),
        }
    }
}

/// The fields of a [`PodInfo`] that most pods leave unset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodExtra {
    pub hostname: Option<Box<str>>,
    pub subdomain: Option<Box<str>>,
    /// M9: the PodScheduled=False condition's reason and message, on one line.
    pub not_scheduled: Option<Box<str>>,
    /// The first waiting container's reason (CrashLoopBackOff…).
    pub waiting: Option<Arc<str>>,
}

/// What kubehop reads from a Pod, and nothing else.
///
/// The engine and the views read the identity, labels, owners, whether it is being deleted,
/// the node, `hostname`/`subdomain` (DNS), `hostNetwork`, the containers' names and declared
/// ports (and which init containers are sidecars), the phase, the addresses, whether it is
/// Ready, why the scheduler has not placed it, and (for proxy pods) its restarts and waiting
/// reason. Probes, env, volumes, images, resources, scheduling constraints and the full status
/// are not kept: the views that show them read the pod with a `get` when opened. Labels, owner
/// lists and container lists are the same for every pod of a workload, and are shared through
/// the [`Interner`] that converted them, as are namespaces, node names and label strings.
///
/// The fields are laid out in the order written (`repr(C)`): what a build reads of every
/// selected and endpoint pod first (name, namespace, labels, containers, node, phase,
/// addresses, flags), so that it shares a cache line or two, and what only views read last.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct PodInfo {
    pub name: Option<Box<str>>,
    /// `metadata.namespace` (`None` only in objects that lack one).
    pub namespace: Option<Arc<str>>,
    /// `None` when the pod has no `metadata.labels` at all.
    pub labels: Option<Labels>,
    /// Regular containers, then init containers, each in spec order.
    pub containers: Arc<[ContainerInfo]>,
    /// `spec.nodeName` as written (empty when unset).
    pub node_name: Option<Arc<str>>,
    pub phase: Option<Arc<str>>,
    pub ips: PodIps,
    /// The Ready condition is True (rule A4).
    pub ready: bool,
    /// `metadata.deletionTimestamp` is set (rule A4: terminating).
    pub terminating: bool,
    pub host_network: Option<bool>,
    /// The sum of the containers' restart counts.
    pub restarts: i32,
    pub uid: Option<Box<str>>,
    /// Not read by the engine, nor compared (see `PartialEq`); kept so that a cache can be
    /// compared with a list.
    pub resource_version: Option<Box<str>>,
    pub owners: Arc<[Owner]>,
    /// What few pods have (`None` for most): one pointer instead of four.
    pub extra: Option<Box<PodExtra>>,
    /// The whole object, when the source keeps it because it cannot read it again (a dump);
    /// `None` from a live cluster, whose views read the pod with a `get`.
    pub object: Option<Arc<Pod>>,
}

/// Equal when everything but the resourceVersion is: an update that changes none of what
/// kubehop reads (a container's probe time, its image ID) is no change to the model.
impl PartialEq for PodInfo {
    fn eq(&self, other: &Self) -> bool {
        // Every field named, so that a new one is compared (or left out) on purpose.
        let PodInfo {
            name,
            namespace,
            uid,
            resource_version: _,
            labels,
            owners,
            terminating,
            host_network,
            node_name,
            extra,
            containers,
            phase,
            ips,
            ready,
            restarts,
            object,
        } = self;
        *name == other.name
            && *namespace == other.namespace
            && *uid == other.uid
            && *labels == other.labels
            && *owners == other.owners
            && *terminating == other.terminating
            && *host_network == other.host_network
            && *node_name == other.node_name
            && *extra == other.extra
            && *containers == other.containers
            && *phase == other.phase
            && *ips == other.ips
            && *ready == other.ready
            && *restarts == other.restarts
            && *object == other.object
    }
}

impl From<Pod> for PodInfo {
    /// The compact form keeping the object, sharing nothing with other pods (single objects,
    /// test fixtures).
    fn from(pod: Pod) -> Self {
        PodInfo::keeping(Arc::new(pod), &mut Interner::new())
    }
}

impl PodInfo {
    /// The compact form of `pod` (its `object` not kept).
    pub fn from_pod(pod: &Pod, interner: &mut Interner) -> Self {
        let meta = &pod.metadata;
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let labels = meta
            .labels
            .as_ref()
            .map(|labels| Labels::from_map(labels, interner));
        let owners = meta
            .owner_references
            .iter()
            .flatten()
            .map(|owner| Owner {
                api_version: interner.str(&owner.api_version),
                kind: interner.str(&owner.kind),
                name: interner.str(&owner.name),
                uid: interner.str(&owner.uid),
                controller: owner.controller,
                block_owner_deletion: owner.block_owner_deletion,
            })
            .collect();
        let owners = interner.owners(owners);
        let containers = spec
            .map(|spec| containers(spec, interner))
            .unwrap_or_default();
        let containers = interner.containers(containers);
        let statuses = status
            .and_then(|status| status.container_statuses.as_deref())
            .unwrap_or_default();
        PodInfo {
            name: meta.name.as_deref().map(Box::from),
            namespace: meta.namespace.as_deref().map(|ns| interner.str(ns)),
            uid: meta.uid.as_deref().map(Box::from),
            resource_version: meta.resource_version.as_deref().map(Box::from),
            labels,
            owners,
            terminating: meta.deletion_timestamp.is_some(),
            host_network: spec.and_then(|spec| spec.host_network),
            node_name: spec
                .and_then(|spec| spec.node_name.as_deref())
                .map(|node| interner.str(node)),
            extra: extra(pod, interner),
            containers,
            phase: status
                .and_then(|status| status.phase.as_deref())
                .map(|phase| interner.str(phase)),
            ips: PodIps::from_vec(crate::pods::typed_ips(pod)),
            ready: crate::pods::typed_is_ready(pod),
            restarts: statuses
                .iter()
                .fold(0, |sum, s| sum.saturating_add(s.restart_count)),
            object: None,
        }
    }

    /// [`PodInfo::from_pod`], keeping the object too (a dump's views show it).
    pub fn keeping(pod: Arc<Pod>, interner: &mut Interner) -> Self {
        let mut info = Self::from_pod(&pod, interner);
        info.object = Some(pod);
        info
    }

    /// A pod of `namespace` without labels or address: the "any pod of the namespace" source.
    pub fn anonymous(namespace: &str) -> Self {
        PodInfo {
            name: Some("".into()),
            namespace: Some(namespace.into()),
            uid: None,
            resource_version: None,
            labels: None,
            owners: Arc::new([]),
            terminating: false,
            host_network: None,
            node_name: None,
            extra: None,
            containers: Arc::new([]),
            phase: None,
            ips: PodIps::None,
            ready: false,
            restarts: 0,
            object: None,
        }
    }

    /// `spec.hostname` as written.
    pub fn hostname(&self) -> Option<&str> {
        self.extra.as_ref()?.hostname.as_deref()
    }

    /// `spec.subdomain` as written.
    pub fn subdomain(&self) -> Option<&str> {
        self.extra.as_ref()?.subdomain.as_deref()
    }

    /// M9: why the scheduler has not placed the pod.
    pub fn not_scheduled(&self) -> Option<&str> {
        self.extra.as_ref()?.not_scheduled.as_deref()
    }

    /// The first waiting container's reason.
    pub fn waiting(&self) -> Option<&str> {
        self.extra.as_ref()?.waiting.as_deref()
    }

    /// The regular containers (`spec.containers`), in spec order.
    pub fn regular_containers(&self) -> impl Iterator<Item = &ContainerInfo> {
        self.containers.iter().filter(|container| !container.init)
    }

    /// The pod as a typed object: the kept one, else one carrying what this holds (identity,
    /// labels, owners, node, containers and their ports, phase, addresses, Ready).
    pub fn to_pod(&self) -> Arc<Pod> {
        match &self.object {
            Some(object) => Arc::clone(object),
            None => Arc::new(super::typed::typed_pod(self)),
        }
    }
}

/// The rarely set fields, boxed only when one is set.
fn extra(pod: &Pod, interner: &mut Interner) -> Option<Box<PodExtra>> {
    let spec = pod.spec.as_ref();
    let waiting = pod
        .status
        .as_ref()
        .and_then(|status| status.container_statuses.as_deref())
        .unwrap_or_default()
        .iter()
        .find_map(|s| {
            s.state
                .as_ref()
                .and_then(|state| state.waiting.as_ref())
                .and_then(|waiting| waiting.reason.as_deref())
        });
    let extra = PodExtra {
        hostname: spec
            .and_then(|spec| spec.hostname.as_deref())
            .map(Box::from),
        subdomain: spec
            .and_then(|spec| spec.subdomain.as_deref())
            .map(Box::from),
        not_scheduled: crate::pods::typed_not_scheduled(pod).map(String::into_boxed_str),
        waiting: waiting.map(|reason| interner.str(reason)),
    };
    (extra != PodExtra::default()).then(|| Box::new(extra))
}

fn container_ports(container: &Container, interner: &mut Interner) -> Box<[PortInfo]> {
    let port = |port: &ContainerPort, interner: &mut Interner| PortInfo {
        name: port.name.as_deref().map(|name| interner.str(name)),
        container_port: port.container_port,
        protocol: port.protocol.as_deref().map(|p| interner.str(p)),
    };
    container
        .ports
        .iter()
        .flatten()
        .map(|declared| port(declared, interner))
        .collect()
}

fn containers(
    spec: &k8s_openapi::api::core::v1::PodSpec,
    interner: &mut Interner,
) -> Vec<ContainerInfo> {
    let regular = spec.containers.iter().map(|c| (c, false));
    let init = spec.init_containers.iter().flatten().map(|c| (c, true));
    regular
        .chain(init)
        .map(|(container, init)| ContainerInfo {
            name: interner.str(&container.name),
            ports: container_ports(container, interner),
            init,
            restart_always: container.restart_policy.as_deref() == Some("Always"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Deployment pod with what kubehop reads and much that it does not.
    fn rich_pod(name: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": name, "namespace": "shop", "uid": "5b0c1e6e-8f7e-4c2e-9a1b-2f3c4d5e6f70",
                "labels": {"app": "web", "pod-template-hash": "7d4b9c8f6d"},
                "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f6d", "uid": "1", "controller": true}]
            },
            "spec": {
                "nodeName": "node-1", "hostname": "web-0", "subdomain": "peers",
                "containers": [
                    {"name": "web", "image": "registry.example/shop/web:1.2.3",
                     "ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 9090, "protocol": "UDP"}],
                     "env": [{"name": "A", "value": "b"}]}
                ],
                "initContainers": [
                    {"name": "proxy", "restartPolicy": "Always", "ports": [{"name": "admin", "containerPort": 15000}]},
                    {"name": "migrate"}
                ]
            },
            "status": {
                "phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.9"}, {"ip": "fd00::9"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {"name": "web", "ready": true, "restartCount": 2, "image": "x", "imageID": "y",
                     "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
                    {"name": "proxy", "ready": true, "restartCount": 1, "image": "x", "imageID": "y"}
                ]
            }
        }))
        .expect("a valid pod")
    }

    #[test]
    fn the_conversion_keeps_what_the_engine_reads() {
        let mut interner = Interner::new();
        let info = PodInfo::from_pod(&rich_pod("web-0"), &mut interner);
        assert_eq!(info.name.as_deref(), Some("web-0"));
        assert_eq!(info.namespace.as_deref(), Some("shop"));
        let labels = info.labels.as_ref().expect("labels");
        assert_eq!(
            labels.iter().collect::<Vec<_>>(),
            [("app", "web"), ("pod-template-hash", "7d4b9c8f6d")]
        );
        assert_eq!(labels.get("app"), Some("web"));
        assert_eq!(&*info.owners[0].kind, "ReplicaSet");
        assert_eq!(info.node_name.as_deref(), Some("node-1"));
        assert_eq!(
            (info.hostname(), info.subdomain()),
            (Some("web-0"), Some("peers"))
        );
        let names: Vec<(&str, bool, bool)> = info
            .containers
            .iter()
            .map(|c| (&*c.name, c.init, c.is_sidecar()))
            .collect();
        assert_eq!(
            names,
            [
                ("web", false, false),
                ("proxy", true, true),
                ("migrate", true, false)
            ]
        );
        assert_eq!(info.containers[0].ports[1].protocol.as_deref(), Some("UDP"));
        assert_eq!(info.ips.as_slice().len(), 2);
        assert!(info.ready && !info.terminating);
        assert_eq!(
            (info.restarts, info.waiting()),
            (3, Some("CrashLoopBackOff"))
        );
        // Back to a typed pod: the same identity, labels, containers and ports.
        let typed = info.to_pod();
        let again = PodInfo::from_pod(&typed, &mut interner);
        assert_eq!(again.labels, info.labels);
        assert_eq!(again.containers, info.containers);
        assert_eq!(again.ips, info.ips);
    }

    #[test]
    fn a_new_resource_version_alone_is_no_change() {
        let mut interner = Interner::new();
        let mut pod = rich_pod("web-0");
        let before = PodInfo::from_pod(&pod, &mut interner);
        pod.metadata.resource_version = Some("2".to_owned());
        let after = PodInfo::from_pod(&pod, &mut interner);
        assert_eq!(before, after);
        pod.metadata.labels = None;
        assert_ne!(before, PodInfo::from_pod(&pod, &mut interner));
    }

    #[test]
    fn pods_of_one_workload_share_their_lists() {
        let mut interner = Interner::new();
        let a = PodInfo::from_pod(&rich_pod("web-0"), &mut interner);
        let b = PodInfo::from_pod(&rich_pod("web-1"), &mut interner);
        let (Some(la), Some(lb)) = (&a.labels, &b.labels) else {
            panic!("labels");
        };
        assert!(Arc::ptr_eq(&la.0, &lb.0));
        assert!(Arc::ptr_eq(&a.owners, &b.owners));
        assert!(Arc::ptr_eq(&a.containers, &b.containers));
        // Shared sets are the same by pointer; sets of two interners by their pairs.
        assert_eq!(la, lb);
        let c = PodInfo::from_pod(&rich_pod("web-2"), &mut Interner::new());
        let Some(lc) = &c.labels else {
            panic!("labels");
        };
        assert!(!Arc::ptr_eq(&la.0, &lc.0));
        assert_eq!(la, lc);
        assert_eq!(lc, la);
        let mut other = rich_pod("web-3");
        other
            .metadata
            .labels
            .get_or_insert_default()
            .insert("track".to_owned(), "canary".to_owned());
        let d = PodInfo::from_pod(&other, &mut interner);
        let Some(ld) = &d.labels else {
            panic!("labels");
        };
        assert_ne!(la, ld);
        assert_ne!(ld, la);
    }

    /// The per-pod cost at 150,000 pods: the struct plus its own heap (the name, uid and
    /// addresses; the shared lists and strings are paid once per workload). Raising the bound
    /// needs a reason in docs/performance.md.
    #[test]
    fn a_pod_stays_small() {
        assert!(
            std::mem::size_of::<PodInfo>() <= 192,
            "{} bytes",
            std::mem::size_of::<PodInfo>()
        );
        println!("size_of::<PodInfo>() = {}", std::mem::size_of::<PodInfo>());
    }
}
