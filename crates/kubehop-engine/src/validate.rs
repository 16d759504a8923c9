//! Service validation as the API server does it (rule group (g)): hard errors G1-G16 with the
//! API server's field paths and error kinds, its 422 message, and the G17 warnings.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::cidr::Cidr;
use super::config::DEFAULT_NODE_PORT_RANGE;

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

fn is_dns1123_label(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

fn is_dns1035_label(value: &str) -> bool {
    is_dns1123_label(value) && value.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
}

fn is_dns1123_subdomain(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// IANA service name (rule G3): at most 15 characters, lowercase letters, digits and '-', at
/// least one letter, no leading, trailing or doubled '-'.
pub fn is_iana_service_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 15
        && value
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && value.bytes().any(|byte| byte.is_ascii_lowercase())
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--")
}

fn is_name_part(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && value
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A qualified name (`[prefix/]name`), as label keys and appProtocol use.
pub fn is_qualified_name(value: &str) -> bool {
    match value.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_name_part(name),
        None => is_name_part(value),
    }
}

/// A label value: empty, or a name part.
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_name_part(value)
}

/// Go's legacy parser accepts IPv4 with leading zeros (`010.0.0.1`); Rust's does not. Returns
/// the address such a string means, for the G17 warning.
fn parse_legacy_ipv4(value: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (slot, part) in octets.iter_mut().zip(parts) {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

fn parses_as_ip(value: &str) -> bool {
    value.parse::<IpAddr>().is_ok() || parse_legacy_ipv4(value).is_some()
}

fn is_special(ip: IpAddr) -> Option<&'static str> {
    let (unspecified, loopback, multicast) =
        (ip.is_unspecified(), ip.is_loopback(), ip.is_multicast());
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if unspecified {
        Some("may not be unspecified (0.0.0.0)")
    } else if loopback {
        Some("may not be in the loopback range (127.0.0.0/8, ::1/128)")
    } else if link_local {
        Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    } else if multicast {
        Some("may not be in the multicast range (224.0.0.0/4, ff00::/8)")
    } else {
        None
    }
}

const PORT_RANGE_DETAIL: &str = "must be between 1 and 65535, inclusive";

fn str_value(value: &str) -> Option<FieldValue> {
    Some(FieldValue::Str(value.to_owned()))
}

fn int_value(value: i32) -> Option<FieldValue> {
    Some(FieldValue::Int(i64::from(value)))
}

fn supported(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|value| format!("{value:?}")).collect();
    format!("supported values: {}", quoted.join(", "))
}

/// A field path such as `spec.ports[3]`, formatted only when an error needs it.
#[derive(Debug, Clone, Copy)]
struct Indexed(&'static str, usize);

impl From<Indexed> for String {
    fn from(path: Indexed) -> String {
        path.to_string()
    }
}

impl fmt::Display for Indexed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

/// Every hard error the API server would report for `service` (rules G1-G16, plus the name
/// rule F2), in field order.
pub fn validate_service(service: &Service, config: &ValidationConfig) -> Vec<FieldError> {
    use FieldErrorKind::{Duplicate, Forbidden, Invalid, NotSupported, Required};
    let mut errors = Vec::new();
    let name = service.metadata.name.as_deref().unwrap_or("");
    if name.is_empty() {
        errors.push(FieldError::new(
            "F2",
            "metadata.name",
            Required,
            None,
            "name or generateName is required",
        ));
    } else if !is_dns1035_label(name) {
        errors.push(FieldError::new(
            "F2",
            "metadata.name",
            Invalid,
            str_value(name),
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (at most 63 characters)",
        ));
    }
    let Some(spec) = service.spec.as_ref() else {
        errors.push(FieldError::new("G1", "spec.ports", Required, None, ""));
        return errors;
    };

    // G7: type.
    let raw_type = spec.type_.as_deref().unwrap_or("ClusterIP");
    let known_type = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&raw_type);
    if !known_type {
        errors.push(FieldError::new(
            "G7",
            "spec.type",
            NotSupported,
            str_value(raw_type),
            supported(&["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]),
        ));
    }
    let external_name_type = raw_type == "ExternalName";
    let node_port_type = matches!(raw_type, "NodePort" | "LoadBalancer");
    let load_balancer = raw_type == "LoadBalancer";
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
    let headless = cluster_ip == "None";

    // G6: cluster IPs, headless and ExternalName.
    if external_name_type {
        if !cluster_ip.is_empty() || spec.cluster_ips.as_ref().is_some_and(|ips| !ips.is_empty()) {
            errors.push(FieldError::new(
                "G6",
                "spec.clusterIPs",
                Forbidden,
                None,
                "may not be set for ExternalName services",
            ));
        }
        if spec
            .ip_families
            .as_ref()
            .is_some_and(|families| !families.is_empty())
        {
            errors.push(FieldError::new(
                "G6",
                "spec.ipFamilies",
                Forbidden,
                None,
                "may not be set for ExternalName services",
            ));
        }
        if spec.ip_family_policy.is_some() {
            errors.push(FieldError::new(
                "G6",
                "spec.ipFamilyPolicy",
                Forbidden,
                None,
                "may not be set for ExternalName services",
            ));
        }
        let external_name = spec.external_name.as_deref().unwrap_or("");
        let trimmed = external_name.strip_suffix('.').unwrap_or(external_name);
        if external_name.is_empty() {
            errors.push(FieldError::new(
                "G6",
                "spec.externalName",
                Required,
                None,
                "",
            ));
        } else if !is_dns1123_subdomain(trimmed) {
            errors.push(FieldError::new(
                "G6",
                "spec.externalName",
                Invalid,
                str_value(external_name),
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            ));
        }
    } else {
        if headless && node_port_type {
            errors.push(FieldError::new(
                "G6",
                "spec.clusterIPs[0]",
                Invalid,
                str_value("None"),
                format!("may not be set to 'None' for {raw_type} services"),
            ));
        }
        let listed: Vec<&str> = spec
            .cluster_ips
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let candidates: Vec<&str> = if listed.is_empty() && !cluster_ip.is_empty() {
            vec![cluster_ip]
        } else {
            listed
        };
        for (index, ip) in candidates.iter().enumerate() {
            if *ip == "None" && index == 0 {
                continue;
            }
            if !parses_as_ip(ip) {
                errors.push(FieldError::new(
                    "G6",
                    format!("spec.clusterIPs[{index}]"),
                    Invalid,
                    str_value(ip),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                ));
            }
        }
    }

    // G1-G5: ports.
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && !headless && !external_name_type {
        errors.push(FieldError::new("G1", "spec.ports", Required, None, ""));
    }
    let multi = ports.len() > 1;
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    let mut node_ports = HashSet::new();
    for (index, port) in ports.iter().enumerate() {
        let path = Indexed("spec.ports", index);
        let port_name = port.name.as_deref().unwrap_or("");
        if port_name.is_empty() {
            if multi {
                errors.push(FieldError::new(
                    "G2",
                    format!("{path}.name"),
                    Required,
                    None,
                    "",
                ));
            }
        } else if !is_dns1123_label(port_name) {
            errors.push(FieldError::new(
                "G2",
                format!("{path}.name"),
                Invalid,
                str_value(port_name),
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (at most 63 characters)",
            ));
        } else if !names.insert(port_name) {
            errors.push(FieldError::new(
                "G2",
                format!("{path}.name"),
                Duplicate,
                str_value(port_name),
                "",
            ));
        }
        if !(1..=65535).contains(&port.port) {
            errors.push(FieldError::new(
                "G3",
                format!("{path}.port"),
                Invalid,
                int_value(port.port),
                PORT_RANGE_DETAIL,
            ));
        }
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        if !["TCP", "UDP", "SCTP"].contains(&protocol) {
            errors.push(FieldError::new(
                "G3",
                format!("{path}.protocol"),
                NotSupported,
                str_value(protocol),
                supported(&["SCTP", "TCP", "UDP"]),
            ));
        }
        match &port.target_port {
            Some(IntOrString::Int(number)) if *number != 0 && !(1..=65535).contains(number) => {
                errors.push(FieldError::new(
                    "G3",
                    format!("{path}.targetPort"),
                    Invalid,
                    int_value(*number),
                    PORT_RANGE_DETAIL,
                ));
            }
            Some(IntOrString::String(target))
                if !target.is_empty() && !is_iana_service_name(target) =>
            {
                errors.push(FieldError::new(
                    "G3",
                    format!("{path}.targetPort"),
                    Invalid,
                    str_value(target),
                    "must be a port number (1-65535) or an IANA service name: at most 15 lowercase letters, digits and '-', with at least one letter and no leading, trailing or doubled '-'",
                ));
            }
            _ => {}
        }
        if let Some(app_protocol) = port.app_protocol.as_deref()
            && !is_qualified_name(app_protocol)
        {
            errors.push(FieldError::new(
                "G3",
                format!("{path}.appProtocol"),
                Invalid,
                str_value(app_protocol),
                "must be a qualified name: an optional DNS subdomain prefix and '/', then at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character",
            ));
        }
        // G4: (port, protocol) and (nodePort, protocol) are unique.
        if !keys.insert((port.port, protocol)) {
            errors.push(FieldError::new(
                "G4",
                path.to_string(),
                Duplicate,
                str_value(&format!("{}/{protocol}", port.port)),
                "",
            ));
        }
        if let Some(node_port) = port.node_port.filter(|node_port| *node_port != 0) {
            if !node_port_type {
                errors.push(FieldError::new(
                    "G5",
                    format!("{path}.nodePort"),
                    Forbidden,
                    None,
                    format!("may not be used when `type` is '{raw_type}'"),
                ));
            } else {
                let in_range = u16::try_from(node_port)
                    .is_ok_and(|value| config.node_port_range.contains(&value));
                if !in_range {
                    errors.push(FieldError::new(
                        "G5",
                        format!("{path}.nodePort"),
                        Invalid,
                        int_value(node_port),
                        format!(
                            "provided port is not in the valid range. The range of valid ports is {}-{}",
                            config.node_port_range.start(),
                            config.node_port_range.end()
                        ),
                    ));
                }
                if !node_ports.insert((node_port, protocol)) {
                    errors.push(FieldError::new(
                        "G4",
                        format!("{path}.nodePort"),
                        Duplicate,
                        int_value(node_port),
                        "",
                    ));
                }
            }
        }
    }

    // G8: session affinity.
    let affinity = spec.session_affinity.as_deref().unwrap_or("None");
    match affinity {
        "None" => {
            if spec.session_affinity_config.is_some() {
                errors.push(FieldError::new(
                    "G8",
                    "spec.sessionAffinityConfig",
                    Invalid,
                    None,
                    "must not be set when session affinity is None",
                ));
            }
        }
        "ClientIP" => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|config| config.client_ip.as_ref())
                .and_then(|client_ip| client_ip.timeout_seconds);
            if let Some(timeout) = timeout
                && !(1..=86_400).contains(&timeout)
            {
                errors.push(FieldError::new(
                    "G8",
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    Invalid,
                    int_value(timeout),
                    "must be greater than 0 and less than 86400",
                ));
            }
        }
        other => errors.push(FieldError::new(
            "G8",
            "spec.sessionAffinity",
            NotSupported,
            str_value(other),
            supported(&["ClientIP", "None"]),
        )),
    }

    // G9: externalTrafficPolicy and healthCheckNodePort.
    let has_external_ips = spec
        .external_ips
        .as_ref()
        .is_some_and(|ips| !ips.is_empty());
    let externally_accessible = node_port_type || (raw_type == "ClusterIP" && has_external_ips);
    let external_policy = spec.external_traffic_policy.as_deref();
    match external_policy {
        None => {}
        Some(policy) if !externally_accessible => errors.push(FieldError::new(
            "G9",
            "spec.externalTrafficPolicy",
            Invalid,
            str_value(policy),
            "may only be set for externally-accessible services",
        )),
        Some("Cluster" | "Local") => {}
        Some(other) => errors.push(FieldError::new(
            "G9",
            "spec.externalTrafficPolicy",
            NotSupported,
            str_value(other),
            supported(&["Cluster", "Local"]),
        )),
    }
    if let Some(health) = spec.health_check_node_port.filter(|port| *port != 0) {
        if !(load_balancer && external_policy == Some("Local")) {
            errors.push(FieldError::new(
                "G9",
                "spec.healthCheckNodePort",
                Invalid,
                int_value(health),
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        } else if !(1..=65535).contains(&health) {
            errors.push(FieldError::new(
                "G9",
                "spec.healthCheckNodePort",
                Invalid,
                int_value(health),
                PORT_RANGE_DETAIL,
            ));
        }
    }

    // G10: internalTrafficPolicy.
    if let Some(policy) = spec.internal_traffic_policy.as_deref()
        && !["Cluster", "Local"].contains(&policy)
    {
        errors.push(FieldError::new(
            "G10",
            "spec.internalTrafficPolicy",
            NotSupported,
            str_value(policy),
            supported(&["Cluster", "Local"]),
        ));
    }

    // G11: loadBalancerSourceRanges (field or annotation).
    let ranges = spec
        .load_balancer_source_ranges
        .as_deref()
        .unwrap_or_default();
    let annotation = service
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(SOURCE_RANGES_ANNOTATION));
    if !load_balancer {
        if !ranges.is_empty() {
            errors.push(FieldError::new(
                "G11",
                "spec.loadBalancerSourceRanges",
                Forbidden,
                None,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        if annotation.is_some() {
            errors.push(FieldError::new(
                "G11",
                format!("metadata.annotations[{SOURCE_RANGES_ANNOTATION}]"),
                Forbidden,
                None,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    } else {
        for (index, range) in ranges.iter().enumerate() {
            if Cidr::parse(range).is_none() {
                errors.push(FieldError::new(
                    "G11",
                    format!("spec.loadBalancerSourceRanges[{index}]"),
                    Invalid,
                    str_value(range),
                    "must be a list of IP ranges, for example 127.0.0.0/8",
                ));
            }
        }
        if let Some(annotation) = annotation
            && annotation
                .split(',')
                .any(|range| Cidr::parse(range).is_none())
        {
            errors.push(FieldError::new(
                "G11",
                format!("metadata.annotations[{SOURCE_RANGES_ANNOTATION}]"),
                Invalid,
                str_value(annotation),
                "must be a comma separated list of IP ranges, for example 127.0.0.0/8",
            ));
        }
    }

    // G12.
    if spec.allocate_load_balancer_node_ports.is_some() && !load_balancer {
        errors.push(FieldError::new(
            "G12",
            "spec.allocateLoadBalancerNodePorts",
            Forbidden,
            None,
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }

    // G13: externalIPs.
    for (index, ip) in spec.external_ips.iter().flatten().enumerate() {
        let path = Indexed("spec.externalIPs", index);
        let parsed = ip
            .parse::<IpAddr>()
            .ok()
            .or_else(|| parse_legacy_ipv4(ip).map(IpAddr::V4));
        match parsed {
            None => errors.push(FieldError::new(
                "G13",
                path,
                Invalid,
                str_value(ip),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            )),
            Some(parsed) => {
                if let Some(detail) = is_special(parsed) {
                    errors.push(FieldError::new("G13", path, Invalid, str_value(ip), detail));
                }
            }
        }
    }

    // G14: selector labels.
    for (key, value) in spec.selector.iter().flatten() {
        if !is_qualified_name(key) {
            errors.push(FieldError::new(
                "G14",
                "spec.selector",
                Invalid,
                str_value(key),
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters, with an optional DNS subdomain prefix and '/')",
            ));
        }
        if !is_label_value(value) {
            errors.push(FieldError::new(
                "G14",
                "spec.selector",
                Invalid,
                str_value(value),
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)",
            ));
        }
    }

    // G15.
    if let Some(distribution) = spec.traffic_distribution.as_deref()
        && !["PreferClose", "PreferSameZone", "PreferSameNode"].contains(&distribution)
    {
        errors.push(FieldError::new(
            "G15",
            "spec.trafficDistribution",
            NotSupported,
            str_value(distribution),
            supported(&["PreferClose", "PreferSameNode", "PreferSameZone"]),
        ));
    }

    // G16: status.loadBalancer.ingress.
    let ingress = service
        .status
        .as_ref()
        .and_then(|status| status.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default();
    for (index, entry) in ingress.iter().enumerate() {
        let path = Indexed("status.loadBalancer.ingress", index);
        if let Some(ip) = entry.ip.as_deref().filter(|ip| !ip.is_empty())
            && !parses_as_ip(ip)
        {
            errors.push(FieldError::new(
                "G16",
                format!("{path}.ip"),
                Invalid,
                str_value(ip),
                "must be a valid IP address",
            ));
        }
        if let Some(mode) = entry.ip_mode.as_deref() {
            if entry.ip.as_deref().is_none_or(str::is_empty) {
                errors.push(FieldError::new(
                    "G16",
                    format!("{path}.ipMode"),
                    Forbidden,
                    None,
                    "may not be specified when `ip` is not",
                ));
            } else if !["VIP", "Proxy"].contains(&mode) {
                errors.push(FieldError::new(
                    "G16",
                    format!("{path}.ipMode"),
                    NotSupported,
                    str_value(mode),
                    supported(&["Proxy", "VIP"]),
                ));
            }
        }
    }
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
