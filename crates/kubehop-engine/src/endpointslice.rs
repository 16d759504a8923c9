//! The EndpointSlice controller's rules (rule groups (a) and (b)) as one pure function.
//!
//! [`desired_endpoint_slices`] answers "which slices would a real controller publish for this
//! Service, given these pods and nodes?". The engine calls it when a snapshot has no slices for
//! a selector Service; the sandbox's controller calls it on every change and updates slices in
//! place, so the output is deterministic: stable names (`<service>-<addresstype>-<n>`) and
//! stable order.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, ObjectReference, Service};

use crate::objects::PodInfo;
use k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointHints, EndpointPort, EndpointSlice, ForNode, ForZone,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::model::ServiceType;
use super::nodes::{NodeTable, ZONE_LABEL};
use super::pods;
use super::ports::resolve_target_port;
use super::service::{IpFamily, PortSpec, ServiceView};

/// `kubernetes.io/service-name` (rule A10).
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// `endpointslice.kubernetes.io/managed-by` (rule A10).
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// The controller's value for [`MANAGED_BY_LABEL`].
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// `service.kubernetes.io/headless` (rule A10).
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// The controller's default `--max-endpoints-per-slice` (rule V6).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// What the controller knows about nodes: whether a node exists, and its zone (rules A5, A7).
pub trait NodeLookup {
    /// `None` when the node is unknown; `Some(zone)` otherwise (zone `None` when unlabelled).
    fn node_zone(&self, name: &str) -> Option<Option<&str>>;
}

impl NodeLookup for NodeTable {
    fn node_zone(&self, name: &str) -> Option<Option<&str>> {
        self.by_name(name).map(|node| node.zone.as_deref())
    }
}

fn zone_of(node: &Node) -> Option<&str> {
    node.metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(ZONE_LABEL))
        .map(String::as_str)
        .filter(|zone| !zone.is_empty())
}

impl NodeLookup for [Node] {
    fn node_zone(&self, name: &str) -> Option<Option<&str>> {
        self.iter()
            .find(|node| node.metadata.name.as_deref() == Some(name))
            .map(zone_of)
    }
}

impl NodeLookup for [Arc<Node>] {
    fn node_zone(&self, name: &str) -> Option<Option<&str>> {
        self.iter()
            .find(|node| node.metadata.name.as_deref() == Some(name))
            .map(|node| zone_of(node))
    }
}

/// How topology hints are written (rule D6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HintMode {
    None,
    SameZone,
    SameZoneAndNode,
}

fn hint_mode(service: &Service, traffic_distribution: Option<&str>) -> HintMode {
    // The topology-mode annotation (proportional allocation by node CPU) takes precedence over
    // trafficDistribution. Its allocation is not modelled: such Services get no hints here.
    let annotations = service.metadata.annotations.as_ref();
    let auto = annotations.is_some_and(|annotations| {
        [
            "service.kubernetes.io/topology-mode",
            "service.kubernetes.io/topology-aware-hints",
        ]
        .iter()
        .any(|key| {
            annotations
                .get(*key)
                .is_some_and(|value| value.eq_ignore_ascii_case("auto"))
        })
    });
    if auto {
        return HintMode::None;
    }
    match traffic_distribution {
        Some("PreferClose" | "PreferSameZone") => HintMode::SameZone,
        Some("PreferSameNode") => HintMode::SameZoneAndNode,
        _ => HintMode::None,
    }
}

/// The slice port list a pod resolves to (rules B3, B4, B5): one entry per Service port that
/// resolves, carrying the Service port's name and protocol and the pod's number.
fn endpoint_ports(pod: &PodInfo, ports: &[PortSpec<'_>]) -> Vec<EndpointPort> {
    ports
        .iter()
        .filter_map(|port| {
            let number = resolve_target_port(pod, &port.target_port, port.protocol).port()?;
            Some(EndpointPort {
                name: Some(port.join_name().to_owned()),
                port: Some(number),
                protocol: Some(port.protocol.as_str().to_owned()),
                app_protocol: port.app_protocol.map(str::to_owned),
            })
        })
        .collect()
}

type PortKey = Vec<(String, i32, String, Option<String>)>;

fn port_key(ports: &[EndpointPort]) -> PortKey {
    ports
        .iter()
        .map(|port| {
            (
                port.name.clone().unwrap_or_default(),
                port.port.unwrap_or_default(),
                port.protocol.clone().unwrap_or_default(),
                port.app_protocol.clone(),
            )
        })
        .collect()
}

/// Rule A10: mirrored Service labels plus the reserved ones.
fn slice_labels(view: &ServiceView<'_>) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = view
        .service
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(key, _)| {
            ![SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL].contains(&key.as_str())
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    labels.insert(SERVICE_NAME_LABEL.to_owned(), view.name.to_owned());
    labels.insert(MANAGED_BY_LABEL.to_owned(), CONTROLLER_NAME.to_owned());
    let cluster_ip = view
        .service
        .spec
        .as_ref()
        .and_then(|spec| spec.cluster_ip.as_deref());
    if matches!(cluster_ip, None | Some("" | "None")) {
        labels.insert(HEADLESS_LABEL.to_owned(), String::new());
    }
    labels
}

fn owner_reference(service: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".to_owned(),
        kind: "Service".to_owned(),
        name: service.metadata.name.clone().unwrap_or_default(),
        uid: service.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Rules A4-A6: one endpoint for `pod` in the family's slices, or `None` when the pod has no
/// address of that family (rule A8).
fn pod_endpoint(
    view: &ServiceView<'_>,
    pod: &PodInfo,
    family: IpFamily,
    zone: Option<&str>,
    hints: HintMode,
) -> Option<Endpoint> {
    let addresses: Vec<String> = pods::ips(pod)
        .into_iter()
        .filter(|ip| IpFamily::of(*ip) == family)
        .map(|ip| ip.to_string())
        .collect();
    if addresses.is_empty() {
        return None;
    }
    let serving = pods::is_ready(pod);
    let terminating = pods::is_terminating(pod);
    let ready = view.publish_not_ready_addresses || (serving && !terminating);
    // Rule A6: hostname only when the pod's subdomain names this Service (same namespace).
    let hostname = match (pods::hostname(pod), pods::subdomain(pod)) {
        (Some(hostname), Some(subdomain))
            if subdomain == view.name && pods::namespace(pod) == view.namespace =>
        {
            Some(hostname.to_owned())
        }
        _ => None,
    };
    let node_name = pods::node_name(pod);
    // Rule D6: only ready endpoints with a zone get hints.
    let endpoint_hints = match (hints, ready, zone) {
        (HintMode::None, _, _) | (_, false, _) | (_, _, None) => None,
        (mode, true, Some(zone)) => Some(EndpointHints {
            for_zones: Some(vec![ForZone {
                name: zone.to_owned(),
            }]),
            for_nodes: match (mode, node_name) {
                (HintMode::SameZoneAndNode, Some(node)) => Some(vec![ForNode {
                    name: node.to_owned(),
                }]),
                _ => None,
            },
        }),
    };
    Some(Endpoint {
        addresses,
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hints: endpoint_hints,
        hostname,
        node_name: node_name.map(str::to_owned),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".to_owned()),
            name: pod.name.as_deref().map(str::to_owned),
            namespace: Some(pods::namespace(pod).to_owned()),
            uid: pod.uid.as_deref().map(str::to_owned),
            ..ObjectReference::default()
        }),
        zone: zone.map(str::to_owned),
        deprecated_topology: None,
    })
}

/// (family, port list) -> (the ports, the endpoints), in a stable order (rule A9).
type Groups = BTreeMap<(IpFamily, PortKey), (Vec<EndpointPort>, Vec<Endpoint>)>;

/// Groups the candidate pods' endpoints by address family and port list; a pod on an unknown
/// node is skipped unless the Service publishes not-ready addresses (A7).
fn group_endpoints(
    view: &ServiceView<'_>,
    candidates: &[&PodInfo],
    nodes: &dyn NodeLookup,
    hints: HintMode,
) -> Groups {
    let mut groups = Groups::new();
    for pod in candidates {
        let zone = match pods::node_name(pod) {
            Some(node) => match nodes.node_zone(node) {
                Some(zone) => zone,
                // Rule A7: a pod on an unknown node is skipped unless pNRA.
                None if view.publish_not_ready_addresses => None,
                None => continue,
            },
            None => None,
        };
        let ports = endpoint_ports(pod, &view.ports);
        for family in &view.families {
            let Some(endpoint) = pod_endpoint(view, pod, *family, zone, hints) else {
                continue;
            };
            groups
                .entry((*family, port_key(&ports)))
                .or_insert_with(|| (ports.clone(), Vec::new()))
                .1
                .push(endpoint);
        }
    }
    groups
}

/// The EndpointSlices the controller would publish for `service` (rules A1-A10, B1-B6, D6).
///
/// `pods` may be any pods: the function keeps those in the Service's namespace that carry every
/// selector label (A2). Returns no slices for ExternalName and selectorless Services (A1).
pub fn desired_endpoint_slices(
    service: &Service,
    pods: &[&PodInfo],
    nodes: &dyn NodeLookup,
) -> Vec<EndpointSlice> {
    let view = ServiceView::new(service);
    let Some(selector) = view.selector else {
        return Vec::new();
    };
    if view.service_type == ServiceType::ExternalName {
        return Vec::new();
    }
    let hints = hint_mode(service, view.traffic_distribution);
    let mut candidates: Vec<&PodInfo> = pods
        .iter()
        .copied()
        .filter(|pod| pods::namespace(pod) == view.namespace)
        .filter(|pod| pods::matches_selector(pod, selector))
        .filter(|pod| pods::phase_exclusion(pod).is_none())
        .collect();
    candidates.sort_by(|a, b| pods::name(a).cmp(pods::name(b)));

    let groups = group_endpoints(&view, &candidates, nodes, hints);

    let labels = slice_labels(&view);
    let owner = owner_reference(service);
    let slice = |family: IpFamily, index: usize, ports, endpoints| EndpointSlice {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}-{}-{index}",
                view.name,
                family.address_type().to_ascii_lowercase()
            )),
            namespace: Some(view.namespace.to_owned()),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner.clone()]),
            ..ObjectMeta::default()
        },
        address_type: family.address_type().to_owned(),
        endpoints: Some(endpoints),
        ports,
    };
    let mut out = Vec::new();
    for family in &view.families {
        let mut index = 0;
        for ((group_family, _), (ports, endpoints)) in &groups {
            if group_family != family {
                continue;
            }
            for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
                out.push(slice(*family, index, Some(ports.clone()), chunk.to_vec()));
                index += 1;
            }
        }
        if index == 0 {
            // Rule A9: a placeholder slice with no ports and no endpoints.
            out.push(slice(*family, 0, None, Vec::new()));
        }
    }
    out
}
