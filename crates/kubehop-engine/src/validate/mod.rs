//! Service validation as the API server does it (rule group (g)): hard errors G1-G16 with the
//! API server's field paths and error kinds, its 422 message, and the G17 warnings.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use k8s_openapi::api::core::v1::Service;

use super::config::DEFAULT_NODE_PORT_RANGE;

mod rules;
mod syntax;

use syntax::parse_legacy_ipv4;
pub use syntax::{is_iana_service_name, is_label_value, is_qualified_name};

/// The annotation form of loadBalancerSourceRanges (rule G11).
pub const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";

/// What validation needs besides the Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationConfig {
    /// `--service-node-port-range` (rules C4, G5).
    pub node_port_range: RangeInclusive<u16>,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            node_port_range: DEFAULT_NODE_PORT_RANGE,
        }
    }
}

/// The API server's `field.ErrorType` values used for Services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    Duplicate,
    Forbidden,
    NotSupported,
}

impl FieldErrorKind {
    /// The words the API server prints for the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "Required value",
            Self::Invalid => "Invalid value",
            Self::Duplicate => "Duplicate value",
            Self::Forbidden => "Forbidden",
            Self::NotSupported => "Unsupported value",
        }
    }
}

/// The offending value, printed like Go's `%#v` (strings quoted, numbers bare).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldValue {
    Str(String),
    Int(i64),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(value) => write!(f, "{value:?}"),
            Self::Int(value) => write!(f, "{value}"),
        }
    }
}

/// One validation error, like the API server's `field.Error`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldError {
    /// The field path, e.g. `spec.ports[1].name`.
    pub field: String,
    pub kind: FieldErrorKind,
    pub value: Option<FieldValue>,
    pub detail: String,
    /// The spec rule that this error enforces (`G2`, `G5`, ...).
    pub rule: &'static str,
}

impl FieldError {
    fn new(
        rule: &'static str,
        field: impl Into<String>,
        kind: FieldErrorKind,
        value: Option<FieldValue>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind,
            value,
            detail: detail.into(),
            rule,
        }
    }

    /// The error without the field path (`field.Error.ErrorBody`).
    pub fn body(&self) -> String {
        let mut out = match (&self.value, self.kind) {
            (
                Some(value),
                FieldErrorKind::Invalid | FieldErrorKind::Duplicate | FieldErrorKind::NotSupported,
            ) => {
                format!("{}: {value}", self.kind.as_str())
            }
            _ => self.kind.as_str().to_owned(),
        };
        if !self.detail.is_empty() {
            out.push_str(": ");
            out.push_str(&self.detail);
        }
        out
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// The API server's 422 message: `Service "x" is invalid: <error>` or, for several errors,
/// `Service "x" is invalid: [<error>, <error>]` (duplicates removed, order kept).
pub fn invalid_message(name: &str, errors: &[FieldError]) -> String {
    let mut seen = HashSet::new();
    let messages: Vec<String> = errors
        .iter()
        .map(ToString::to_string)
        .filter(|message| seen.insert(message.clone()))
        .collect();
    match messages.as_slice() {
        [] => format!("Service {name:?} is invalid"),
        [single] => format!("Service {name:?} is invalid: {single}"),
        many => format!("Service {name:?} is invalid: [{}]", many.join(", ")),
    }
}

/// Every hard error the API server would report for `service` (rules G1-G16, plus the name
/// rule F2), in field order: one rule function after another, as the API server checks them.
pub fn validate_service(service: &Service, config: &ValidationConfig) -> Vec<FieldError> {
    let mut errors = Vec::new();
    rules::name_is_dns_label(service, &mut errors);
    let Some(spec) = service.spec.as_ref() else {
        rules::missing_spec(&mut errors);
        return errors;
    };
    let shape = rules::Shape::of(spec);
    rules::type_is_known(&shape, &mut errors);
    if shape.is_external_name() {
        rules::external_name_fields(spec, &shape, &mut errors);
    } else {
        rules::cluster_ips_are_valid(spec, &shape, &mut errors);
    }
    rules::ports_are_valid(spec, &shape, config, &mut errors);
    rules::session_affinity_is_valid(spec, &mut errors);
    rules::external_traffic_policy_is_valid(spec, &shape, &mut errors);
    rules::internal_traffic_policy_is_valid(spec, &mut errors);
    rules::source_ranges_are_valid(service, spec, &shape, &mut errors);
    rules::allocate_node_ports_only_for_load_balancers(spec, &shape, &mut errors);
    rules::external_ips_are_valid(spec, &mut errors);
    rules::selector_is_valid(spec, &mut errors);
    rules::traffic_distribution_is_known(spec, &mut errors);
    rules::load_balancer_ingress_is_valid(service, &mut errors);
    errors
}

/// What the API server would warn about while accepting the Service (rule G17).
pub fn service_warnings(service: &Service) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(spec) = service.spec.as_ref() else {
        return warnings;
    };
    let service_type = spec.type_.as_deref().unwrap_or("ClusterIP");
    let headless = service_type != "ExternalName" && spec.cluster_ip.as_deref() == Some("None");
    if headless {
        if spec
            .load_balancer_ip
            .as_deref()
            .is_some_and(|ip| !ip.is_empty())
        {
            warnings.push("spec.loadBalancerIP is ignored for headless services".to_owned());
        }
        if spec
            .external_ips
            .as_ref()
            .is_some_and(|ips| !ips.is_empty())
        {
            warnings.push("spec.externalIPs is ignored for headless services".to_owned());
        }
        if spec
            .session_affinity
            .as_deref()
            .is_some_and(|affinity| affinity != "None")
        {
            warnings.push("spec.sessionAffinity is ignored for headless services".to_owned());
        }
    }
    if service_type == "ExternalName"
        && spec
            .external_ips
            .as_ref()
            .is_some_and(|ips| !ips.is_empty())
    {
        warnings.push("spec.externalIPs is ignored when spec.type is \"ExternalName\"".to_owned());
    }
    if service_type != "ExternalName"
        && spec
            .external_name
            .as_deref()
            .is_some_and(|name| !name.is_empty())
    {
        warnings
            .push("spec.externalName is ignored when spec.type is not \"ExternalName\"".to_owned());
    }
    let annotations: Option<&BTreeMap<String, String>> = service.metadata.annotations.as_ref();
    if annotations.is_some_and(|annotations| {
        annotations.contains_key("service.kubernetes.io/topology-aware-hints")
    }) {
        warnings.push("annotation service.kubernetes.io/topology-aware-hints is deprecated, please use service.kubernetes.io/topology-mode instead".to_owned());
    }
    if spec.traffic_distribution.as_deref() == Some("PreferClose") {
        warnings.push(
            "spec.trafficDistribution: \"PreferClose\" is deprecated; use \"PreferSameZone\""
                .to_owned(),
        );
    }
    let mut non_canonical = |path: String, value: &str| {
        if value.parse::<IpAddr>().is_err()
            && let Some(canonical) = parse_legacy_ipv4(value)
        {
            warnings.push(format!(
                "{path}: non-standard IP address {value:?} will be considered invalid in a future Kubernetes release: use {:?}",
                canonical.to_string()
            ));
        }
    };
    for (index, ip) in spec.cluster_ips.iter().flatten().enumerate() {
        non_canonical(format!("spec.clusterIPs[{index}]"), ip);
    }
    for (index, ip) in spec.external_ips.iter().flatten().enumerate() {
        non_canonical(format!("spec.externalIPs[{index}]"), ip);
    }
    if let Some(ip) = spec.load_balancer_ip.as_deref() {
        non_canonical("spec.loadBalancerIP".to_owned(), ip);
    }
    warnings
}
