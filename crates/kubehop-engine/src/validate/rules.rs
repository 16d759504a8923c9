//! One function per Service validation rule (G1-G16 and the name rule F2). Each appends the
//! API server's errors for its rule to `errors`, in the API server's field order; the driver
//! in the parent module calls them in that order.

use std::collections::HashSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    LoadBalancerIngress, Service, ServicePort, ServiceSpec, ServiceStatus,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::syntax::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_iana_service_name, is_label_value,
    is_qualified_name, is_special, parse_legacy_ipv4, parses_as_ip,
};
use super::{FieldError, FieldErrorKind, FieldValue, SOURCE_RANGES_ANNOTATION, ValidationConfig};
use crate::cidr::Cidr;

use FieldErrorKind::{Duplicate, Forbidden, Invalid, NotSupported, Required};

const PORT_RANGE_DETAIL: &str = "must be between 1 and 65535, inclusive";

const INVALID_IP_DETAIL: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";

const LOAD_BALANCER_ONLY: &str = "may only be used when `type` is 'LoadBalancer'";

const NOT_FOR_EXTERNAL_NAME: &str = "may not be set for ExternalName services";

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

impl std::fmt::Display for Indexed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

/// What several rules need to know about the Service's type and cluster IP.
pub(super) struct Shape<'a> {
    /// `spec.type` as written (`ClusterIP` when omitted).
    raw_type: &'a str,
    external_name: bool,
    /// NodePort or LoadBalancer: the Service allocates node ports.
    node_port: bool,
    load_balancer: bool,
    cluster_ip: &'a str,
    headless: bool,
}

impl<'a> Shape<'a> {
    pub(super) fn of(spec: &'a ServiceSpec) -> Self {
        let raw_type = spec.type_.as_deref().unwrap_or("ClusterIP");
        let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
        Self {
            raw_type,
            external_name: raw_type == "ExternalName",
            node_port: matches!(raw_type, "NodePort" | "LoadBalancer"),
            load_balancer: raw_type == "LoadBalancer",
            cluster_ip,
            headless: cluster_ip == "None",
        }
    }

    pub(super) fn is_external_name(&self) -> bool {
        self.external_name
    }
}

/// Rule F2: `metadata.name` is required and a DNS-1035 label.
pub(super) fn name_is_dns_label(service: &Service, errors: &mut Vec<FieldError>) {
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
}

/// Rule G1 for a Service without a spec: its ports are missing.
pub(super) fn missing_spec(errors: &mut Vec<FieldError>) {
    errors.push(FieldError::new("G1", "spec.ports", Required, None, ""));
}

/// Rule G7: `spec.type` is one of the four known types.
pub(super) fn type_is_known(shape: &Shape<'_>, errors: &mut Vec<FieldError>) {
    let known = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&shape.raw_type);
    if !known {
        errors.push(FieldError::new(
            "G7",
            "spec.type",
            NotSupported,
            str_value(shape.raw_type),
            supported(&["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]),
        ));
    }
}

/// Rule G6 for ExternalName Services: no cluster IPs or IP families, and `spec.externalName`
/// is a DNS subdomain.
pub(super) fn external_name_fields(
    spec: &ServiceSpec,
    shape: &Shape<'_>,
    errors: &mut Vec<FieldError>,
) {
    let has_cluster_ips = spec.cluster_ips.as_ref().is_some_and(|ips| !ips.is_empty());
    if !shape.cluster_ip.is_empty() || has_cluster_ips {
        errors.push(FieldError::new(
            "G6",
            "spec.clusterIPs",
            Forbidden,
            None,
            NOT_FOR_EXTERNAL_NAME,
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
            NOT_FOR_EXTERNAL_NAME,
        ));
    }
    if spec.ip_family_policy.is_some() {
        errors.push(FieldError::new(
            "G6",
            "spec.ipFamilyPolicy",
            Forbidden,
            None,
            NOT_FOR_EXTERNAL_NAME,
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
}

/// Rule G6 for the other types: a headless Service allocates no node ports, and every cluster
/// IP (after a leading `None`) is an IP literal.
pub(super) fn cluster_ips_are_valid(
    spec: &ServiceSpec,
    shape: &Shape<'_>,
    errors: &mut Vec<FieldError>,
) {
    if shape.headless && shape.node_port {
        errors.push(FieldError::new(
            "G6",
            "spec.clusterIPs[0]",
            Invalid,
            str_value("None"),
            format!("may not be set to 'None' for {} services", shape.raw_type),
        ));
    }
    let listed: Vec<&str> = spec
        .cluster_ips
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let candidates: Vec<&str> = if listed.is_empty() && !shape.cluster_ip.is_empty() {
        vec![shape.cluster_ip]
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
                INVALID_IP_DETAIL,
            ));
        }
    }
}

/// Rules G1-G5, port by port: a Service other than headless or ExternalName has ports (G1),
/// and each port is checked in the API server's field order.
pub(super) fn ports_are_valid(
    spec: &ServiceSpec,
    shape: &Shape<'_>,
    config: &ValidationConfig,
    errors: &mut Vec<FieldError>,
) {
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && !shape.headless && !shape.external_name {
        errors.push(FieldError::new("G1", "spec.ports", Required, None, ""));
    }
    let mut seen = SeenPorts {
        multi: ports.len() > 1,
        ..SeenPorts::default()
    };
    for (index, port) in ports.iter().enumerate() {
        let path = Indexed("spec.ports", index);
        port_name_is_valid(port, path, &mut seen, errors);
        port_numbers_are_valid(port, path, errors);
        let protocol = port.protocol.as_deref().unwrap_or("TCP");
        port_is_unique(port, protocol, path, &mut seen, errors);
        node_port_is_valid(port, protocol, path, shape, config, &mut seen, errors);
    }
}

/// What the port checks remember across the Service's ports.
#[derive(Default)]
struct SeenPorts<'a> {
    /// The Service has more than one port, so each needs a name.
    multi: bool,
    names: HashSet<&'a str>,
    keys: HashSet<(i32, &'a str)>,
    node_ports: HashSet<(i32, &'a str)>,
}

/// Rule G2: with several ports every port has a name; names are DNS labels and unique.
fn port_name_is_valid<'a>(
    port: &'a ServicePort,
    path: Indexed,
    seen: &mut SeenPorts<'a>,
    errors: &mut Vec<FieldError>,
) {
    let port_name = port.name.as_deref().unwrap_or("");
    if port_name.is_empty() {
        if seen.multi {
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
    } else if !seen.names.insert(port_name) {
        errors.push(FieldError::new(
            "G2",
            format!("{path}.name"),
            Duplicate,
            str_value(port_name),
            "",
        ));
    }
}

/// Rule G3: port in range, a known protocol, a targetPort that is a port number or an IANA
/// service name, and an appProtocol that is a qualified name.
fn port_numbers_are_valid(port: &ServicePort, path: Indexed, errors: &mut Vec<FieldError>) {
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
    target_port_is_valid(port, path, errors);
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
}

/// Rule G3 for `targetPort`: a number in range (0 means unset) or an IANA service name.
fn target_port_is_valid(port: &ServicePort, path: Indexed, errors: &mut Vec<FieldError>) {
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
}

/// Rule G4: no two ports share a (port, protocol) pair.
fn port_is_unique<'a>(
    port: &ServicePort,
    protocol: &'a str,
    path: Indexed,
    seen: &mut SeenPorts<'a>,
    errors: &mut Vec<FieldError>,
) {
    if !seen.keys.insert((port.port, protocol)) {
        errors.push(FieldError::new(
            "G4",
            path.to_string(),
            Duplicate,
            str_value(&format!("{}/{protocol}", port.port)),
            "",
        ));
    }
}

/// Rule G5 (and G4 for node ports): a nodePort only on NodePort and LoadBalancer Services,
/// inside `--service-node-port-range`, and unique per protocol.
fn node_port_is_valid<'a>(
    port: &ServicePort,
    protocol: &'a str,
    path: Indexed,
    shape: &Shape<'_>,
    config: &ValidationConfig,
    seen: &mut SeenPorts<'a>,
    errors: &mut Vec<FieldError>,
) {
    let Some(node_port) = port.node_port.filter(|node_port| *node_port != 0) else {
        return;
    };
    if !shape.node_port {
        errors.push(FieldError::new(
            "G5",
            format!("{path}.nodePort"),
            Forbidden,
            None,
            format!("may not be used when `type` is '{}'", shape.raw_type),
        ));
        return;
    }
    let in_range =
        u16::try_from(node_port).is_ok_and(|value| config.node_port_range.contains(&value));
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
    if !seen.node_ports.insert((node_port, protocol)) {
        errors.push(FieldError::new(
            "G4",
            format!("{path}.nodePort"),
            Duplicate,
            int_value(node_port),
            "",
        ));
    }
}

/// Rule G8: sessionAffinity is None (without a config) or ClientIP (with a timeout in
/// (0, 86400]).
pub(super) fn session_affinity_is_valid(spec: &ServiceSpec, errors: &mut Vec<FieldError>) {
    match spec.session_affinity.as_deref().unwrap_or("None") {
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
}

/// Rule G9: externalTrafficPolicy only on externally-accessible Services and one of
/// Cluster/Local; healthCheckNodePort only on LoadBalancer Services with policy Local.
pub(super) fn external_traffic_policy_is_valid(
    spec: &ServiceSpec,
    shape: &Shape<'_>,
    errors: &mut Vec<FieldError>,
) {
    let has_external_ips = spec
        .external_ips
        .as_ref()
        .is_some_and(|ips| !ips.is_empty());
    let externally_accessible =
        shape.node_port || (shape.raw_type == "ClusterIP" && has_external_ips);
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
    let Some(health) = spec.health_check_node_port.filter(|port| *port != 0) else {
        return;
    };
    if !(shape.load_balancer && external_policy == Some("Local")) {
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

/// Rule G10: internalTrafficPolicy is Cluster or Local.
pub(super) fn internal_traffic_policy_is_valid(spec: &ServiceSpec, errors: &mut Vec<FieldError>) {
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
}

/// Rule G11: loadBalancerSourceRanges (the field or its annotation) only on LoadBalancer
/// Services, and every range a CIDR.
pub(super) fn source_ranges_are_valid(
    service: &Service,
    spec: &ServiceSpec,
    shape: &Shape<'_>,
    errors: &mut Vec<FieldError>,
) {
    let ranges = spec
        .load_balancer_source_ranges
        .as_deref()
        .unwrap_or_default();
    let annotation = service
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(SOURCE_RANGES_ANNOTATION));
    let annotation_path = format!("metadata.annotations[{SOURCE_RANGES_ANNOTATION}]");
    if !shape.load_balancer {
        if !ranges.is_empty() {
            errors.push(FieldError::new(
                "G11",
                "spec.loadBalancerSourceRanges",
                Forbidden,
                None,
                LOAD_BALANCER_ONLY,
            ));
        }
        if annotation.is_some() {
            errors.push(FieldError::new(
                "G11",
                annotation_path,
                Forbidden,
                None,
                LOAD_BALANCER_ONLY,
            ));
        }
        return;
    }
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
            annotation_path,
            Invalid,
            str_value(annotation),
            "must be a comma separated list of IP ranges, for example 127.0.0.0/8",
        ));
    }
}

/// Rule G12: allocateLoadBalancerNodePorts only on LoadBalancer Services.
pub(super) fn allocate_node_ports_only_for_load_balancers(
    spec: &ServiceSpec,
    shape: &Shape<'_>,
    errors: &mut Vec<FieldError>,
) {
    if spec.allocate_load_balancer_node_ports.is_some() && !shape.load_balancer {
        errors.push(FieldError::new(
            "G12",
            "spec.allocateLoadBalancerNodePorts",
            Forbidden,
            None,
            LOAD_BALANCER_ONLY,
        ));
    }
}

/// Rule G13: every externalIP is an IP literal and not unspecified, loopback, link-local or
/// multicast.
pub(super) fn external_ips_are_valid(spec: &ServiceSpec, errors: &mut Vec<FieldError>) {
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
                INVALID_IP_DETAIL,
            )),
            Some(parsed) => {
                if let Some(detail) = is_special(parsed) {
                    errors.push(FieldError::new("G13", path, Invalid, str_value(ip), detail));
                }
            }
        }
    }
}

/// Rule G14: selector keys are qualified names and values are label values.
pub(super) fn selector_is_valid(spec: &ServiceSpec, errors: &mut Vec<FieldError>) {
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
}

/// Rule G15: trafficDistribution is one of the supported values.
pub(super) fn traffic_distribution_is_known(spec: &ServiceSpec, errors: &mut Vec<FieldError>) {
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
}

/// Rule G16: each status.loadBalancer.ingress entry has a valid `ip`, and `ipMode` only with
/// an `ip` and only VIP or Proxy.
pub(super) fn load_balancer_ingress_is_valid(service: &Service, errors: &mut Vec<FieldError>) {
    let ingress = service
        .status
        .as_ref()
        .and_then(|status: &ServiceStatus| status.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default();
    for (index, entry) in ingress.iter().enumerate() {
        ingress_entry_is_valid(entry, Indexed("status.loadBalancer.ingress", index), errors);
    }
}

/// Rule G16 for one ingress entry.
fn ingress_entry_is_valid(
    entry: &LoadBalancerIngress,
    path: Indexed,
    errors: &mut Vec<FieldError>,
) {
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
    let Some(mode) = entry.ip_mode.as_deref() else {
        return;
    };
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
