//! A Service read once, with the API server's defaulting applied (rules B1, E1, G7, G9, G10), so
//! the rest of the engine never re-interprets raw optional fields.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::model::{
    AffinityConfig, DEFAULT_AFFINITY_TIMEOUT_SECONDS, Protocol, ServiceType, TargetPort,
    TrafficPolicy,
};

/// The label that hands a Service to another proxy (rule A13).
pub const SERVICE_PROXY_NAME_LABEL: &str = "service.kubernetes.io/service-proxy-name";

/// An IP family (rule A8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() { Self::V4 } else { Self::V6 }
    }

    /// The EndpointSlice `addressType` for the family.
    pub fn address_type(self) -> &'static str {
        match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        }
    }

    pub fn from_address_type(value: &str) -> Option<Self> {
        match value {
            "IPv4" => Some(Self::V4),
            "IPv6" => Some(Self::V6),
            _ => None,
        }
    }
}

/// One Service port after defaulting (rule B1).
#[derive(Debug, Clone)]
pub struct PortSpec<'a> {
    pub index: usize,
    pub name: Option<&'a str>,
    pub protocol: Protocol,
    pub port: i32,
    pub target_port: TargetPort,
    pub node_port: Option<i32>,
    pub app_protocol: Option<&'a str>,
}

impl PortSpec<'_> {
    /// The name kube-proxy joins slices on (rule B5): `""` for an unnamed port.
    pub fn join_name(&self) -> &str {
        self.name.unwrap_or("")
    }

    /// How diagnostics name the port: its name, else its number and protocol.
    pub fn label(&self) -> String {
        match self.name {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => format!("{}/{}", self.port, self.protocol),
        }
    }
}

/// A Service with defaults applied.
#[derive(Debug, Clone)]
pub struct ServiceView<'a> {
    pub service: &'a Service,
    pub namespace: &'a str,
    pub name: &'a str,
    pub service_type: ServiceType,
    /// `spec.type` as written when it is not one of the four known values (rule G7).
    pub unknown_type: Option<&'a str>,
    pub headless: bool,
    pub cluster_ips: Vec<IpAddr>,
    /// `None` when absent or empty: the API server stores an empty selector as none, and the
    /// EndpointSlice controller then does nothing (rule A1).
    pub selector: Option<&'a BTreeMap<String, String>>,
    pub external_traffic_policy: Option<TrafficPolicy>,
    pub internal_traffic_policy: Option<TrafficPolicy>,
    pub affinity: AffinityConfig,
    pub publish_not_ready_addresses: bool,
    pub ports: Vec<PortSpec<'a>>,
    pub external_ips: Vec<IpAddr>,
    pub families: Vec<IpFamily>,
    pub traffic_distribution: Option<&'a str>,
    pub other_proxy: bool,
}

/// The Service's cluster IPs: `clusterIPs`, then `clusterIP`, parsed and without duplicates.
fn cluster_ips_of(spec: Option<&ServiceSpec>, cluster_ip: Option<&str>) -> Vec<IpAddr> {
    let mut cluster_ips: Vec<IpAddr> = Vec::new();
    let listed = spec.and_then(|spec| spec.cluster_ips.as_deref());
    let candidates = listed
        .into_iter()
        .flatten()
        .map(String::as_str)
        .chain(cluster_ip);
    for candidate in candidates {
        if let Ok(ip) = super::pods::trim_fast(candidate).parse::<IpAddr>()
            && !cluster_ips.contains(&ip)
        {
            cluster_ips.push(ip);
        }
    }
    cluster_ips
}

/// (externalTrafficPolicy, internalTrafficPolicy): the external one only for externally
/// accessible Services (rule G9), the internal one for every type but ExternalName; Cluster
/// when unset.
fn traffic_policies(
    spec: Option<&ServiceSpec>,
    service_type: ServiceType,
    external_ips: &[IpAddr],
) -> (Option<TrafficPolicy>, Option<TrafficPolicy>) {
    let externally_accessible = matches!(
        service_type,
        ServiceType::NodePort | ServiceType::LoadBalancer
    ) || (service_type == ServiceType::ClusterIP
        && !external_ips.is_empty());
    let external_traffic_policy = if externally_accessible {
        Some(
            spec.and_then(|spec| spec.external_traffic_policy.as_deref())
                .and_then(TrafficPolicy::parse)
                .unwrap_or(TrafficPolicy::Cluster),
        )
    } else {
        None
    };
    let internal_traffic_policy = if service_type == ServiceType::ExternalName {
        None
    } else {
        Some(
            spec.and_then(|spec| spec.internal_traffic_policy.as_deref())
                .and_then(TrafficPolicy::parse)
                .unwrap_or(TrafficPolicy::Cluster),
        )
    };
    (external_traffic_policy, internal_traffic_policy)
}

/// Session affinity: ClientIP with its timeout (the default when unset or not positive), or
/// none.
fn affinity_of(spec: Option<&ServiceSpec>) -> AffinityConfig {
    match spec.and_then(|spec| spec.session_affinity.as_deref()) {
        Some("ClientIP") => {
            let seconds = spec
                .and_then(|spec| spec.session_affinity_config.as_ref())
                .and_then(|config| config.client_ip.as_ref())
                .and_then(|client_ip| client_ip.timeout_seconds)
                .and_then(|seconds| u64::try_from(seconds).ok())
                .filter(|seconds| *seconds > 0)
                .unwrap_or(DEFAULT_AFFINITY_TIMEOUT_SECONDS);
            AffinityConfig::ClientIp {
                timeout: Duration::from_secs(seconds),
            }
        }
        _ => AffinityConfig::None,
    }
}

impl<'a> ServiceView<'a> {
    pub fn new(service: &'a Service) -> Self {
        let spec = service.spec.as_ref();
        let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
        let name = service.metadata.name.as_deref().unwrap_or("");
        let raw_type = spec.and_then(|spec| spec.type_.as_deref());
        let parsed_type = raw_type.map(ServiceType::parse);
        let service_type = parsed_type.flatten().unwrap_or_default();
        let unknown_type = match parsed_type {
            Some(None) => raw_type,
            _ => None,
        };
        let cluster_ip = spec.and_then(|spec| spec.cluster_ip.as_deref());
        let headless = service_type != ServiceType::ExternalName && cluster_ip == Some("None");
        let cluster_ips = if service_type != ServiceType::ExternalName && !headless {
            cluster_ips_of(spec, cluster_ip)
        } else {
            Vec::new()
        };
        let selector = spec
            .and_then(|spec| spec.selector.as_ref())
            .filter(|selector| !selector.is_empty());
        let external_ips: Vec<IpAddr> = spec
            .and_then(|spec| spec.external_ips.as_deref())
            .unwrap_or_default()
            .iter()
            .filter_map(|ip| ip.trim().parse().ok())
            .collect();
        let (external_traffic_policy, internal_traffic_policy) =
            traffic_policies(spec, service_type, &external_ips);
        let affinity = affinity_of(spec);
        let ports = spec
            .and_then(|spec| spec.ports.as_deref())
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(index, port)| port_spec(index, port))
            .collect();
        let families = address_families(service, &cluster_ips);
        let other_proxy = service
            .metadata
            .labels
            .as_ref()
            .is_some_and(|labels| labels.contains_key(SERVICE_PROXY_NAME_LABEL));
        Self {
            service,
            namespace,
            name,
            service_type,
            unknown_type,
            headless,
            cluster_ips,
            selector,
            external_traffic_policy,
            internal_traffic_policy,
            affinity,
            publish_not_ready_addresses: spec
                .and_then(|spec| spec.publish_not_ready_addresses)
                .unwrap_or(false),
            ports,
            external_ips,
            families,
            traffic_distribution: spec.and_then(|spec| spec.traffic_distribution.as_deref()),
            other_proxy,
        }
    }

    /// NodePort and LoadBalancer Services, or ClusterIP with externalIPs (rule G9).
    pub fn externally_accessible(&self) -> bool {
        self.external_traffic_policy.is_some()
    }

    /// Whether the nodePort field is live: NodePort, or LoadBalancer (rule C1).
    pub fn has_node_ports(&self) -> bool {
        matches!(
            self.service_type,
            ServiceType::NodePort | ServiceType::LoadBalancer
        )
    }

    /// eTP Local that actually applies (rule D1: ignored when not externally accessible).
    pub fn external_local(&self) -> bool {
        self.external_traffic_policy == Some(TrafficPolicy::Local)
    }

    pub fn internal_local(&self) -> bool {
        self.internal_traffic_policy == Some(TrafficPolicy::Local)
    }
}

fn port_spec(index: usize, port: &ServicePort) -> PortSpec<'_> {
    let protocol = port
        .protocol
        .as_deref()
        .and_then(Protocol::parse)
        .unwrap_or_default();
    // Rule B1: a targetPort of 0 or "" (or none) is the port number.
    let target_port = match &port.target_port {
        Some(IntOrString::Int(number)) if *number != 0 => TargetPort::Number(*number),
        Some(IntOrString::String(name)) if !name.is_empty() => TargetPort::Name(name.clone()),
        _ => TargetPort::Number(port.port),
    };
    PortSpec {
        index,
        name: port.name.as_deref(),
        protocol,
        port: port.port,
        target_port,
        node_port: port.node_port.filter(|node_port| *node_port != 0),
        app_protocol: port.app_protocol.as_deref(),
    }
}

/// Rule A8: the families listed in `spec.ipFamilies`, else those of the cluster IPs, else IPv4.
fn address_families(service: &Service, cluster_ips: &[IpAddr]) -> Vec<IpFamily> {
    let mut families = Vec::new();
    let listed = service
        .spec
        .as_ref()
        .and_then(|spec| spec.ip_families.as_deref())
        .unwrap_or_default();
    for family in listed {
        let parsed = match family.as_str() {
            "IPv4" => Some(IpFamily::V4),
            "IPv6" => Some(IpFamily::V6),
            _ => None,
        };
        if let Some(parsed) = parsed
            && !families.contains(&parsed)
        {
            families.push(parsed);
        }
    }
    if families.is_empty() {
        for ip in cluster_ips {
            let family = IpFamily::of(*ip);
            if !families.contains(&family) {
                families.push(family);
            }
        }
    }
    if families.is_empty() {
        families.push(IpFamily::V4);
    }
    families
}
