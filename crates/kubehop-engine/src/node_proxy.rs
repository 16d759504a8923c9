//! Each node's data plane as the cluster's objects show it (rules K1-K4): the node's own
//! condition (Ready, cordoned), its service proxy (kube-proxy or a known replacement) and its
//! pod address range (`spec.podCIDRs`).
//!
//! The proxy is found among the pods, by the heuristics of docs/rules.md K2: a pod owned by a
//! DaemonSet (or a static pod, owned by its Node) whose `k8s-app` or `component` label names a
//! known proxy. kube-proxy wins over a replacement when both run (Cilium or Calico beside
//! kube-proxy do not program Services). Nothing is said about a node's proxy when no proxy
//! pod runs anywhere in the snapshot: the proxy may run outside Kubernetes (k3s, a systemd
//! unit), or the source cannot read `kube-system`.

use std::fmt;
use std::net::IpAddr;

use crate::objects::PodInfo;
use serde::{Serialize, Serializer};

use crate::cidr::Cidr;
use crate::hash::FxHashMap as HashMap;
use crate::pods;

/// A service proxy kubehop recognises (rule K2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProxyKind {
    KubeProxy,
    Cilium,
    KubeRouter,
    /// calico-node, counted only without kube-proxy (Calico's eBPF data plane).
    Calico,
}

impl ProxyKind {
    /// The words used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KubeProxy => "kube-proxy",
            Self::Cilium => "cilium",
            Self::KubeRouter => "kube-router",
            Self::Calico => "calico-node",
        }
    }

    /// The health endpoint the proxy serves on its node (port, path), when it has one that a
    /// port-forward to its pod reaches (the pods use the host network).
    pub fn health_endpoint(self) -> (u16, &'static str) {
        match self {
            Self::KubeProxy => (10256, "/healthz"),
            Self::Cilium => (9879, "/healthz"),
            Self::KubeRouter => (20244, "/healthz"),
            Self::Calico => (9099, "/readiness"),
        }
    }

    /// The kind a pod's labels name, if any.
    fn of_labels(pod: &PodInfo) -> Option<Self> {
        let labels = pods::labels(pod)?;
        let app = labels.get("k8s-app").or_else(|| labels.get("component"))?;
        match app {
            "kube-proxy" => Some(Self::KubeProxy),
            "cilium" => Some(Self::Cilium),
            "kube-router" => Some(Self::KubeRouter),
            "calico-node" => Some(Self::Calico),
            _ => None,
        }
    }
}

impl fmt::Display for ProxyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node's proxy pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPod {
    pub kind: ProxyKind,
    pub namespace: String,
    pub name: String,
    pub ready: bool,
    /// Container restarts, summed.
    pub restarts: i32,
    /// Why it is not ready (phase, a container's waiting reason), in a few words.
    pub reason: Option<String>,
    /// The pod's IP (its node's address: proxies use the host network).
    pub ip: Option<IpAddr>,
}

/// What the snapshot says about a node's proxy (rule K2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxyState {
    /// No proxy pod runs anywhere: nothing is known (and nothing is said).
    #[default]
    Unknown,
    /// The node's proxy pod.
    Pod(ProxyPod),
    /// The proxy runs on other nodes but has no pod on this one.
    Missing(ProxyKind),
}

/// Why a node's NodePort answers are in doubt (rules K1, K2), worst first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeIssue {
    /// The node's Ready condition is False or Unknown (with the condition's reason).
    NotReady(String),
    /// The node's proxy pod is not ready.
    ProxyNotReady {
        kind: ProxyKind,
        pod: String,
        reason: String,
    },
    /// The proxy runs on other nodes but not here.
    ProxyMissing(ProxyKind),
    /// `spec.unschedulable`: being drained; its NodePorts still answer.
    Cordoned,
}

impl NodeIssue {
    /// Only cordoning leaves the node's NodePorts working.
    pub fn breaks_node_ports(&self) -> bool {
        !matches!(self, Self::Cordoned)
    }

    /// A few words for a NodePort row.
    pub fn short(&self) -> String {
        match self {
            Self::NotReady(_) => "node NotReady".to_owned(),
            Self::ProxyNotReady { kind, .. } => format!("{kind} not ready"),
            Self::ProxyMissing(kind) => format!("no {kind} pod"),
            Self::Cordoned => "cordoned".to_owned(),
        }
    }
}

impl fmt::Display for NodeIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotReady(reason) => write!(f, "the node is NotReady ({reason})"),
            Self::ProxyNotReady { kind, pod, reason } => {
                write!(f, "its {kind} pod {pod} is not ready ({reason})")
            }
            Self::ProxyMissing(kind) => {
                write!(f, "no {kind} pod runs on it (it runs on other nodes)")
            }
            Self::Cordoned => f.write_str("the node is cordoned (being drained)"),
        }
    }
}

impl Serialize for NodeIssue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Whether a pod is a proxy pod: a known label on a DaemonSet pod or a static (mirror) pod.
pub(crate) fn proxy_kind(pod: &PodInfo) -> Option<ProxyKind> {
    let kind = ProxyKind::of_labels(pod)?;
    let owned = pod
        .owners
        .iter()
        .any(|owner| &*owner.kind == "DaemonSet" || &*owner.kind == "Node");
    owned.then_some(kind)
}

fn proxy_pod(pod: &PodInfo, kind: ProxyKind) -> ProxyPod {
    let restarts = pod.restarts;
    let ready = pods::is_ready(pod) && !pods::is_terminating(pod);
    let waiting = pod.waiting().map(str::to_owned);
    let phase = pod.phase.as_deref().map(str::to_owned);
    let reason = (!ready).then(|| {
        let mut why = waiting
            .or_else(|| phase.filter(|phase| phase != "Running"))
            .unwrap_or_else(|| "Ready condition not True".to_owned());
        if restarts > 0 {
            why.push_str(&format!(", {restarts} restarts"));
        }
        printable(&why)
    });
    ProxyPod {
        kind,
        namespace: pods::namespace(pod).to_owned(),
        name: pods::name(pod).to_owned(),
        ready,
        restarts,
        reason,
        ip: pods::first_ip(pod),
    }
}

/// Each node's proxy (rule K2), by node name; every node without one is `Missing` when some
/// node has one, `Unknown` otherwise (the caller's default).
pub(crate) fn proxies(
    pods: &[std::sync::Arc<PodInfo>],
) -> (Option<ProxyKind>, HashMap<String, ProxyPod>) {
    let mut found: Vec<(ProxyKind, &PodInfo)> = pods
        .iter()
        .filter_map(|pod| proxy_kind(pod).map(|kind| (kind, pod.as_ref())))
        .collect();
    // kube-proxy first: a replacement counts only where kube-proxy does not run at all.
    let Some(kind) = found.iter().map(|(kind, _)| *kind).min() else {
        return (None, HashMap::default());
    };
    found.retain(|(other, _)| *other == kind);
    let mut by_node: HashMap<String, ProxyPod> = HashMap::default();
    for (kind, pod) in found {
        let Some(node) = pods::node_name(pod) else {
            continue;
        };
        let candidate = proxy_pod(pod, kind);
        // During a rollout two pods may share a node: the ready one speaks for it.
        let keep = by_node.get(node).is_none_or(|kept| {
            (candidate.ready, std::cmp::Reverse(&candidate.name))
                > (kept.ready, std::cmp::Reverse(&kept.name))
        });
        if keep {
            by_node.insert(node.to_owned(), candidate);
        }
    }
    (Some(kind), by_node)
}

/// The pod ranges of a node (`spec.podCIDRs`, else `spec.podCIDR`), parsed.
pub(crate) fn pod_cidrs(node: &k8s_openapi::api::core::v1::Node) -> Vec<Cidr> {
    let spec = node.spec.as_ref();
    let listed = spec
        .and_then(|spec| spec.pod_cidrs.as_deref())
        .unwrap_or_default();
    let single = spec.and_then(|spec| spec.pod_cidr.as_deref());
    let mut out: Vec<Cidr> = Vec::new();
    for text in listed.iter().map(String::as_str).chain(single) {
        if let Some(cidr) = Cidr::parse(text)
            && !out.contains(&cidr)
        {
            out.push(cidr);
        }
    }
    out
}

/// The node's Ready condition: `Some(Ok(()))` ready, `Some(Err(reason))` False or Unknown,
/// `None` when the node reports no Ready condition (a fixture, a replay: nothing is said).
pub(crate) fn readiness(node: &k8s_openapi::api::core::v1::Node) -> Option<Result<(), String>> {
    let condition = node
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .find(|condition| condition.type_ == "Ready")?;
    if condition.status == "True" {
        return Some(Ok(()));
    }
    let reason = condition
        .reason
        .as_deref()
        .filter(|reason| !reason.is_empty())
        .map(printable)
        .unwrap_or_else(|| format!("Ready is {}", printable(&condition.status)));
    Some(Err(reason))
}

/// Nodes a proxy DaemonSet does not normally cover, so its absence there says nothing
/// (rule K2): Windows nodes (kube-proxy runs as a Windows service), virtual nodes (virtual
/// kubelet, EKS Fargate).
pub(crate) fn proxy_expected(node: &k8s_openapi::api::core::v1::Node) -> bool {
    let Some(labels) = node.metadata.labels.as_ref() else {
        return true;
    };
    let os = labels
        .get("kubernetes.io/os")
        .or_else(|| labels.get("beta.kubernetes.io/os"));
    if os.is_some_and(|os| os != "linux") {
        return false;
    }
    if labels.get("type").is_some_and(|t| t == "virtual-kubelet") {
        return false;
    }
    labels
        .get("eks.amazonaws.com/compute-type")
        .is_none_or(|t| t != "fargate")
}

/// One line of at most 80 characters without control characters (a reason from the cluster).
fn printable(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(80)
        .collect();
    clean.trim().to_owned()
}
