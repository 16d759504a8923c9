//! Diagnostics: what is wrong with a Service's chain and what to change, under stable codes.
//!
//! This module holds the codes and the diagnostic type; `findings` computes a Service's
//! diagnostics, one function per group of codes.

use std::fmt;

use serde::{Serialize, Serializer};

mod findings;
mod fix;
mod ingress_class;
mod near_miss;
mod nodes;

pub(crate) use findings::{DiagnosticInput, service_diagnostics};
pub use findings::{MAX_NAMED, name_list};
pub use fix::shell_quote;
pub(crate) use ingress_class::ingress_class_finding;
pub use ingress_class::{DEFAULT_CLASS_ANNOTATION, LEGACY_CLASS_ANNOTATION};
pub(crate) use nodes::lb_in_cluster_only;

/// How bad a finding is. `kubehop chain` exits 1 when a selected Service has an `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// The stable diagnostic codes (docs/diagnostics.md). Tests and users match on
/// [`DiagnosticCode::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiagnosticCode {
    SelectorNoMatch,
    SelectorPartialMatch,
    NoReadyEndpoints,
    NamedPortNotFound,
    TargetPortNotDeclared,
    MultiPortUnnamed,
    NodePortOutOfRange,
    LbPending,
    LocalPolicyNodeDrops,
    SelectorlessNoEndpoints,
    TerminatingOnly,
    PublishNotReady,
    Headless,
    ExternalName,
    IngressBackendMissing,
    InvalidSpec,
    /// Added: internalTrafficPolicy Local drops ClusterIP traffic from nodes without a local
    /// endpoint (rule M8).
    InternalPolicyNodeDrops,
    /// Added: the API server accepts the Service but warns (rule G17).
    SpecWarning,
    /// Added: selected pods are left out of the EndpointSlices (rules A3/A7).
    PodsNotEndpoints,
    /// Added: an LB ingress in ipMode Proxy or hostname-only gets no node rule (rule C5).
    LbProxyMode,
    /// Added: an Ingress without a class while no IngressClass is the default (rule M10).
    IngressClassMissing,
    /// Added: an Ingress naming an IngressClass that does not exist (rule M10).
    IngressClassUnknown,
    /// Added: NetworkPolicies keep an Ingress's controller pods from the backends (rule N10).
    PolicyDeniesIngressController,
    /// Added: a policy's named port that a selected endpoint pod does not declare (rule N7).
    PolicyPortNameUnresolved,
    /// Added: a policy that selects no pod, one label away from some (rule N1).
    PolicySelectsNothing,
    /// Added: endpoints isolated for ingress with no rule admitting their port (rule N3).
    PolicyIsolatedNoAllow,
    /// Added: a node whose NodePorts would forward is NotReady (rule K1).
    NodeNotReady,
    /// Added: a node's service proxy pod is not ready, or missing (rule K2).
    NodeProxyUnhealthy,
    /// Added: a cordoned node answers eTP Local traffic from endpoints about to go (rule K1).
    NodeCordoned,
    /// Added: an endpoint outside its node's pod range (rule K3).
    EndpointOutsidePodRange,
    /// Added: a NodePort Service on nodes with public ExternalIPs (rule K4).
    NodePortOnPublicNode,
    /// Added: a public LoadBalancer without source ranges whose pods admit only in-cluster
    /// clients (rule K4).
    LbOpenInClusterOnly,
    GatewayNotFound,
    GatewayListenerNotFound,
    GatewayRouteNotAllowed,
    GatewayHostnameMismatch,
    GatewayBackendMissing,
    GatewayBackendPort,
    GatewayRefNotPermitted,
    GatewayRuleAllInvalid,
    GatewayWeightsZero,
    GatewayConditionFalse,
    /// Added: a route's Gateway has a GatewayClass no controller serves (rule GW17).
    GatewayClassUnserved,
}

impl DiagnosticCode {
    pub const ALL: [DiagnosticCode; 43] = [
        Self::SelectorNoMatch,
        Self::SelectorPartialMatch,
        Self::NoReadyEndpoints,
        Self::NamedPortNotFound,
        Self::TargetPortNotDeclared,
        Self::MultiPortUnnamed,
        Self::NodePortOutOfRange,
        Self::LbPending,
        Self::LocalPolicyNodeDrops,
        Self::SelectorlessNoEndpoints,
        Self::TerminatingOnly,
        Self::PublishNotReady,
        Self::Headless,
        Self::ExternalName,
        Self::IngressBackendMissing,
        Self::InvalidSpec,
        Self::InternalPolicyNodeDrops,
        Self::SpecWarning,
        Self::PodsNotEndpoints,
        Self::LbProxyMode,
        Self::IngressClassMissing,
        Self::IngressClassUnknown,
        Self::PolicyDeniesIngressController,
        Self::PolicyPortNameUnresolved,
        Self::PolicySelectsNothing,
        Self::PolicyIsolatedNoAllow,
        Self::NodeNotReady,
        Self::NodeProxyUnhealthy,
        Self::NodeCordoned,
        Self::EndpointOutsidePodRange,
        Self::NodePortOnPublicNode,
        Self::LbOpenInClusterOnly,
        Self::GatewayNotFound,
        Self::GatewayListenerNotFound,
        Self::GatewayRouteNotAllowed,
        Self::GatewayHostnameMismatch,
        Self::GatewayBackendMissing,
        Self::GatewayBackendPort,
        Self::GatewayRefNotPermitted,
        Self::GatewayRuleAllInvalid,
        Self::GatewayWeightsZero,
        Self::GatewayConditionFalse,
        Self::GatewayClassUnserved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SelectorNoMatch => "selector-no-match",
            Self::SelectorPartialMatch => "selector-partial-match",
            Self::NoReadyEndpoints => "no-ready-endpoints",
            Self::NamedPortNotFound => "named-port-not-found",
            Self::TargetPortNotDeclared => "target-port-not-declared",
            Self::MultiPortUnnamed => "multi-port-unnamed",
            Self::NodePortOutOfRange => "nodeport-out-of-range",
            Self::LbPending => "lb-pending",
            Self::LocalPolicyNodeDrops => "local-policy-node-drops",
            Self::SelectorlessNoEndpoints => "selectorless-no-endpoints",
            Self::TerminatingOnly => "terminating-only",
            Self::PublishNotReady => "publish-not-ready",
            Self::Headless => "headless",
            Self::ExternalName => "external-name",
            Self::IngressBackendMissing => "ingress-backend-missing",
            Self::InvalidSpec => "invalid-spec",
            Self::InternalPolicyNodeDrops => "internal-policy-node-drops",
            Self::SpecWarning => "spec-warning",
            Self::PodsNotEndpoints => "pods-not-endpoints",
            Self::LbProxyMode => "lb-proxy-mode",
            Self::IngressClassMissing => "ingress-class-missing",
            Self::IngressClassUnknown => "ingress-class-unknown",
            Self::PolicyDeniesIngressController => "policy-denies-ingress-controller",
            Self::PolicyPortNameUnresolved => "policy-port-name-unresolved",
            Self::PolicySelectsNothing => "policy-selects-nothing",
            Self::PolicyIsolatedNoAllow => "policy-isolated-no-allow",
            Self::NodeNotReady => "node-not-ready",
            Self::NodeProxyUnhealthy => "node-proxy-unhealthy",
            Self::NodeCordoned => "node-cordoned",
            Self::EndpointOutsidePodRange => "endpoint-outside-pod-range",
            Self::NodePortOnPublicNode => "nodeport-on-public-node",
            Self::LbOpenInClusterOnly => "lb-open-in-cluster-only",
            Self::GatewayNotFound => "gateway-not-found",
            Self::GatewayListenerNotFound => "gateway-listener-not-found",
            Self::GatewayRouteNotAllowed => "gateway-route-not-allowed",
            Self::GatewayHostnameMismatch => "gateway-hostname-mismatch",
            Self::GatewayBackendMissing => "gateway-backend-missing",
            Self::GatewayBackendPort => "gateway-backend-port",
            Self::GatewayRefNotPermitted => "gateway-ref-not-permitted",
            Self::GatewayRuleAllInvalid => "gateway-rule-all-invalid",
            Self::GatewayWeightsZero => "gateway-weights-zero",
            Self::GatewayConditionFalse => "gateway-condition-false",
            Self::GatewayClassUnserved => "gateway-class-unserved",
        }
    }

    /// The severity a code has, except where its docs/diagnostics.md section names a situation
    /// that lowers it (`local-policy-node-drops` behind a health-checked load balancer).
    pub fn severity(self) -> Severity {
        match self {
            Self::SelectorNoMatch
            | Self::NoReadyEndpoints
            | Self::NamedPortNotFound
            | Self::MultiPortUnnamed
            | Self::SelectorlessNoEndpoints
            | Self::IngressBackendMissing
            | Self::InvalidSpec
            | Self::PolicyDeniesIngressController
            | Self::PolicyIsolatedNoAllow
            | Self::GatewayNotFound
            | Self::GatewayListenerNotFound
            | Self::GatewayRouteNotAllowed
            | Self::GatewayHostnameMismatch
            | Self::GatewayBackendMissing
            | Self::GatewayBackendPort
            | Self::GatewayRefNotPermitted
            | Self::GatewayRuleAllInvalid
            | Self::GatewayClassUnserved => Severity::Error,
            Self::SelectorPartialMatch
            | Self::NodePortOutOfRange
            | Self::LbPending
            | Self::LocalPolicyNodeDrops
            | Self::TerminatingOnly
            | Self::InternalPolicyNodeDrops
            | Self::SpecWarning
            | Self::PodsNotEndpoints
            | Self::IngressClassMissing
            | Self::IngressClassUnknown
            | Self::PolicyPortNameUnresolved
            | Self::PolicySelectsNothing
            | Self::NodeNotReady
            | Self::NodeProxyUnhealthy
            | Self::EndpointOutsidePodRange
            | Self::NodePortOnPublicNode
            | Self::GatewayWeightsZero
            | Self::GatewayConditionFalse => Severity::Warning,
            Self::PublishNotReady
            | Self::Headless
            | Self::ExternalName
            | Self::LbProxyMode
            | Self::TargetPortNotDeclared
            | Self::NodeCordoned
            | Self::LbOpenInClusterOnly => Severity::Info,
        }
    }
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DiagnosticCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// What a diagnostic is about, rendered kubectl-style (`pod/web-1`, `node/node-a`, `port/http`,
/// `ingress/shop`, `service/web`) or as a field path for `invalid-spec` (`spec.ports[1].name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Service(String),
    /// A Service port, by name (or number when unnamed).
    Port(String),
    Pod(String),
    Node(String),
    Ingress(String),
    Field(String),
    /// A NetworkPolicy, by name.
    NetworkPolicy(String),
    /// A Gateway API object, as `kind/name` (`httproute/store`).
    GatewayApi(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Service(name) => write!(f, "service/{name}"),
            Self::Port(port) => write!(f, "port/{port}"),
            Self::Pod(name) => write!(f, "pod/{name}"),
            Self::Node(name) => write!(f, "node/{name}"),
            Self::Ingress(name) => write!(f, "ingress/{name}"),
            Self::Field(path) => f.write_str(path),
            Self::NetworkPolicy(name) => write!(f, "networkpolicy/{name}"),
            Self::GatewayApi(name) => f.write_str(name),
        }
    }
}

impl Serialize for Subject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A finding's sentence: owned, or shared by the findings that read alike (the chains of a
/// namespace that its policies close the same way say the same thing, ten thousand times
/// on a large cluster). Reads, compares and serialises as the text.
#[derive(Clone)]
pub struct Text(TextRepr);

#[derive(Clone)]
enum TextRepr {
    Owned(String),
    Shared(std::sync::Arc<str>),
}

impl Text {
    pub fn as_str(&self) -> &str {
        self
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            TextRepr::Owned(text) => text,
            TextRepr::Shared(text) => text,
        }
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        **self == **other
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Self(TextRepr::Owned(text))
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Self(TextRepr::Owned(text.to_owned()))
    }
}

impl From<std::sync::Arc<str>> for Text {
    fn from(text: std::sync::Arc<str>) -> Self {
        Self(TextRepr::Shared(text))
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        match text.0 {
            TextRepr::Owned(text) => text,
            TextRepr::Shared(text) => text.to_string(),
        }
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
}

/// One finding: what is wrong and what to change, in one sentence; for the few codes whose
/// fix is mechanical and certain, also the `kubectl` command that applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: DiagnosticCode,
    pub message: Text,
    pub subject: Subject,
    /// The copy-ready `kubectl` command, shell-quoted (docs/diagnostics.md, "Copy-ready
    /// fixes"). Absent unless the fix is certainly right.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Diagnostic {
    pub fn new(code: DiagnosticCode, subject: Subject, message: impl Into<Text>) -> Self {
        Self {
            severity: code.severity(),
            code,
            message: message.into(),
            subject,
            fix: None,
        }
    }

    /// The finding with its copy-ready command (when there is one).
    pub(crate) fn with_fix(mut self, fix: Option<String>) -> Self {
        self.fix = fix;
        self
    }

    /// The finding at another severity than its code's usual one, for the few codes whose
    /// docs/diagnostics.md section says when (`local-policy-node-drops` behind a health-checked
    /// load balancer is info).
    pub(crate) fn at(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Text;

    #[test]
    fn a_shared_text_reads_compares_and_serialises_as_an_owned_one() {
        let shared: Arc<str> = Arc::from("no rule admits port 80/TCP");
        let (owned, shared) = (
            Text::from("no rule admits port 80/TCP".to_owned()),
            Text::from(shared),
        );
        assert_eq!(owned, shared);
        assert_eq!(shared, "no rule admits port 80/TCP");
        assert_eq!(shared.to_string(), owned.as_str());
        assert_eq!(format!("{shared:?}"), format!("{:?}", owned.as_str()));
        assert_eq!(
            serde_json::to_string(&shared).expect("json"),
            serde_json::to_string(&owned).expect("json")
        );
        assert_eq!(String::from(shared.clone()), String::from(owned.clone()));
        let mut sorted = [Text::from(Arc::<str>::from("b")), Text::from("a")];
        sorted.sort();
        assert_eq!(sorted, ["a", "b"].map(Text::from));
    }
}
