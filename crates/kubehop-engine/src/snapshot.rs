//! The engine's input: one immutable view of the cluster's objects.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};

use crate::objects::{PodInfo, SliceInfo};

/// The kinds of objects a snapshot carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ResourceKind {
    Service,
    EndpointSlice,
    Pod,
    Node,
    Ingress,
    Namespace,
    /// Optional: not in [`ResourceKind::ALL`]. Without IngressClasses the Ingress class checks
    /// stay silent, so a source that cannot read them reports nothing missing.
    IngressClass,
    /// Optional like [`ResourceKind::IngressClass`]: without NetworkPolicies every pod is
    /// non-isolated (rule N1), so a source that cannot read them reports nothing missing.
    NetworkPolicy,
    /// The Gateway API kinds (`gateway.networking.k8s.io`, [`ResourceKind::GATEWAY_API`]):
    /// optional like [`ResourceKind::IngressClass`]. A source reports one of them missing only
    /// for the whole API: [`ResourceKind::Gateway`] with the reason the API is not there
    /// (not installed), which the views show as one line, never as a note.
    GatewayClass,
    Gateway,
    HttpRoute,
    GrpcRoute,
    TlsRoute,
    TcpRoute,
    UdpRoute,
    ReferenceGrant,
}

impl ResourceKind {
    /// The kinds whose absence a source reports ([`ClusterSnapshot::missing`]).
    pub const ALL: [ResourceKind; 6] = [
        ResourceKind::Service,
        ResourceKind::EndpointSlice,
        ResourceKind::Pod,
        ResourceKind::Node,
        ResourceKind::Ingress,
        ResourceKind::Namespace,
    ];

    /// Every kind a source reads: [`ResourceKind::ALL`] and the optional IngressClass and
    /// NetworkPolicy.
    pub const WATCHED: [ResourceKind; 8] = [
        ResourceKind::Service,
        ResourceKind::EndpointSlice,
        ResourceKind::Pod,
        ResourceKind::Node,
        ResourceKind::Ingress,
        ResourceKind::Namespace,
        ResourceKind::IngressClass,
        ResourceKind::NetworkPolicy,
    ];

    /// The Gateway API kinds, in [`crate::gateway::GATEWAY_API_KINDS`]' order.
    pub const GATEWAY_API: [ResourceKind; 8] = [
        ResourceKind::GatewayClass,
        ResourceKind::Gateway,
        ResourceKind::HttpRoute,
        ResourceKind::GrpcRoute,
        ResourceKind::TlsRoute,
        ResourceKind::TcpRoute,
        ResourceKind::UdpRoute,
        ResourceKind::ReferenceGrant,
    ];

    /// One of [`ResourceKind::GATEWAY_API`].
    pub fn is_gateway_api(self) -> bool {
        ResourceKind::GATEWAY_API.contains(&self)
    }

    /// The plural resource name, as kubectl and the API paths spell it.
    pub fn plural(self) -> &'static str {
        match self {
            ResourceKind::Service => "services",
            ResourceKind::EndpointSlice => "endpointslices",
            ResourceKind::Pod => "pods",
            ResourceKind::Node => "nodes",
            ResourceKind::Ingress => "ingresses",
            ResourceKind::Namespace => "namespaces",
            ResourceKind::IngressClass => "ingressclasses",
            ResourceKind::NetworkPolicy => "networkpolicies",
            ResourceKind::GatewayClass => "gatewayclasses",
            ResourceKind::Gateway => "gateways",
            ResourceKind::HttpRoute => "httproutes",
            ResourceKind::GrpcRoute => "grpcroutes",
            ResourceKind::TlsRoute => "tlsroutes",
            ResourceKind::TcpRoute => "tcproutes",
            ResourceKind::UdpRoute => "udproutes",
            ResourceKind::ReferenceGrant => "referencegrants",
        }
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.plural())
    }
}

/// A kind the source could not provide (forbidden, not served by the server, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingKind {
    pub kind: ResourceKind,
    /// Why, in words a user can act on ("forbidden: cannot list nodes at cluster scope").
    pub reason: String,
}

/// Cluster facts at one moment. Owned, immutable, cheap to share behind an `Arc`.
///
/// Every source (dump files, live watchers, the sandbox) produces this one type; nothing
/// downstream knows which source it came from.
#[derive(Debug, Clone, Default)]
pub struct ClusterSnapshot {
    /// Monotonic per source; 0 for a one-shot source such as a dump file.
    pub generation: u64,
    pub services: Vec<Arc<Service>>,
    /// EndpointSlices with their endpoints in compact form ([`SliceInfo`]).
    pub endpoint_slices: Vec<Arc<SliceInfo>>,
    /// Pods in compact form ([`PodInfo`]: what the engine and the views read), sorted by
    /// (namespace, name) like every kind. The list is shared: what is built from a snapshot
    /// keeps it by one pointer, and a live source hands out a list again once nothing holds
    /// it, patched, instead of copying 150,000 pointers for every update.
    pub pods: Arc<Vec<Arc<PodInfo>>>,
    pub nodes: Vec<Arc<Node>>,
    pub ingresses: Vec<Arc<Ingress>>,
    pub namespaces: Vec<Arc<Namespace>>,
    /// IngressClasses (optional: empty when the source has none or cannot read them).
    pub ingress_classes: Vec<Arc<IngressClass>>,
    /// NetworkPolicies (optional: empty when the source has none or cannot read them).
    pub network_policies: Vec<Arc<NetworkPolicy>>,
    /// Gateway API objects (optional: empty when the cluster has none or the source cannot
    /// read them).
    pub gateway_api: crate::gateway::GatewayObjects,
    /// Kinds this source could not provide; the engine degrades instead of failing.
    pub missing: Vec<MissingKind>,
}

impl ClusterSnapshot {
    /// Whether the source provided this kind (it may still be empty).
    pub fn has(&self, kind: ResourceKind) -> bool {
        !self.missing.iter().any(|m| m.kind == kind)
    }
}

/// A snapshot's pods, held by what is built from it: a list of its own, or the pods of a
/// shared snapshot (an incremental update keeps them without copying 150,000 pointers).
#[derive(Debug, Clone)]
pub(crate) enum PodList {
    Owned(Arc<Vec<Arc<PodInfo>>>),
    Of(Arc<ClusterSnapshot>),
}

impl Default for PodList {
    fn default() -> Self {
        Self::Owned(Arc::default())
    }
}

impl std::ops::Deref for PodList {
    type Target = [Arc<PodInfo>];

    fn deref(&self) -> &[Arc<PodInfo>] {
        match self {
            Self::Owned(pods) => pods,
            Self::Of(snapshot) => &snapshot.pods,
        }
    }
}
