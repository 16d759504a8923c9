//! Builds one Service's chain: Ingress rules → LB ingress → NodePort per node → ClusterIP →
//! EndpointSlices → pod IP:targetPort (rules C1-C9, A12, B5, B7).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;

use crate::objects::PodInfo;
use crate::objects::SliceInfo;

use super::config::EngineConfig;
use super::diagnostics::{self, DiagnosticInput};
use super::dns;
use super::endpointslice::{NodeLookup, desired_endpoint_slices};
use super::index::{PodFacts, SnapshotIndex};
use super::model::{
    AffinityConfig, ClusterIpHop, IpMode, LoadBalancerEntry, NodeAcceptance, NodePortRows,
    NotProxied, PortChain, PortEndpoint, ServiceChain, ServiceDetails, ServiceType,
    SessionAffinity,
};
use super::nodes::NodeTable;
use super::pods::{self, Exclusion};
use super::service::{PortSpec, ServiceView};
use super::slices::{self, Interner};
use super::validate::SOURCE_RANGES_ANNOTATION;

/// Node lookups for the controller rules when the snapshot has no nodes at all (a dump without
/// them): every node counts as known, without zone, instead of dropping every pod (rule A7).
struct EveryNodeKnown;

impl NodeLookup for EveryNodeKnown {
    fn node_zone(&self, _name: &str) -> Option<Option<&str>> {
        Some(None)
    }
}

/// Shared inputs of a build.
pub(crate) struct BuildContext<'s, 'i> {
    pub index: &'i SnapshotIndex<'s>,
    pub nodes: &'i Arc<NodeTable>,
    pub config: &'i EngineConfig,
    /// The source could not provide EndpointSlices at all: derive them for every Service.
    pub slices_missing: bool,
    /// The source provided no nodes: skip rule A7's unknown-node check.
    pub nodes_unknown: bool,
    /// The source could not provide pods at all (a dump of Services and EndpointSlices only,
    /// RBAC without pods): findings about pods stay silent rather than guess.
    pub pods_missing: bool,
}

impl BuildContext<'_, '_> {
    fn node_lookup(&self) -> &dyn NodeLookup {
        if self.nodes_unknown {
            &EveryNodeKnown
        } else {
            self.nodes.as_ref()
        }
    }
}

/// Rule A3 and A7 for the selected pods (their facts were read while indexing).
fn exclusions(
    selected: &[&Arc<PodInfo>],
    facts: &[PodFacts<'_>],
    publish_not_ready: bool,
) -> BTreeMap<String, Exclusion> {
    let mut out = BTreeMap::new();
    for (pod, facts) in selected.iter().zip(facts) {
        let exclusion = facts.phase.clone().or_else(|| {
            let node = facts.node?;
            (!facts.node_known && !publish_not_ready)
                .then(|| Exclusion::UnknownNode(node.to_owned()))
        });
        if let Some(exclusion) = exclusion {
            out.insert(pods::name(pod).to_owned(), exclusion);
        }
    }
    out
}

fn load_balancer_entries(view: &ServiceView<'_>, port: &PortSpec<'_>) -> Vec<LoadBalancerEntry> {
    if view.service_type != ServiceType::LoadBalancer {
        return Vec::new();
    }
    view.service
        .status
        .as_ref()
        .and_then(|status| status.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|entry| {
            let ip = entry.ip.clone().filter(|ip| !ip.is_empty());
            // Rule C5: unset ipMode means VIP; hostname-only entries have no mode.
            let ip_mode = ip.as_ref().map(|_| match entry.ip_mode.as_deref() {
                Some("Proxy") => IpMode::Proxy,
                _ => IpMode::VIP,
            });
            LoadBalancerEntry {
                ip,
                hostname: entry.hostname.clone().filter(|name| !name.is_empty()),
                ip_mode,
                port: port.port,
            }
        })
        .collect()
}

/// Per node (by table index): (usable, ready) local endpoint counts (rules D3, C8).
fn local_counts(endpoints: &[PortEndpoint], nodes: &NodeTable) -> Vec<(u32, u32, u32)> {
    let mut per_node: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
    for endpoint in endpoints {
        let Some(index) = endpoint
            .info
            .node
            .as_deref()
            .and_then(|node| nodes.index_of(node))
        else {
            continue;
        };
        let entry = per_node
            .entry(u32::try_from(index).unwrap_or(u32::MAX))
            .or_default();
        if endpoint.info.ready {
            entry.0 += 1;
        } else if endpoint.info.serving_terminating() {
            entry.1 += 1;
        }
    }
    per_node
        .into_iter()
        .map(|(index, (ready, serving_terminating))| {
            let usable = if ready > 0 {
                ready
            } else {
                serving_terminating
            };
            (index, usable, ready)
        })
        .filter(|(_, usable, _)| *usable > 0)
        .collect()
}

/// `loadBalancerSourceRanges`, from the field or, when empty, the annotation (rule G11).
fn source_ranges(service: &Service) -> Vec<String> {
    let field: Vec<String> = service
        .spec
        .as_ref()
        .and_then(|spec| spec.load_balancer_source_ranges.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|range| range.trim().to_owned())
        .filter(|range| !range.is_empty())
        .collect();
    if !field.is_empty() {
        return field;
    }
    service
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(SOURCE_RANGES_ANNOTATION))
        .map(|value| {
            value
                .split(',')
                .map(|range| range.trim().to_owned())
                .filter(|range| !range.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Builds the chain of one Service.
///
/// `existing` are the Service's EndpointSlices in the snapshot (labelled
/// `kubernetes.io/service-name`, sorted by name), `None` when there are none.
pub(crate) fn build_service(
    service: &Arc<Service>,
    existing: Option<&[Arc<SliceInfo>]>,
    context: &BuildContext<'_, '_>,
    interner: &mut Interner<'_>,
) -> ServiceChain {
    let view = ServiceView::new(service);
    let namespace_pods = context.index.namespace_pods(view.namespace);
    let (selected, facts): (Vec<&Arc<PodInfo>>, Vec<PodFacts<'_>>) =
        match (view.selector, namespace_pods) {
            (Some(selector), Some(pods)) if view.service_type != ServiceType::ExternalName => {
                pods.select_with_facts(selector, &context.index.pairs)
            }
            _ => (Vec::new(), Vec::new()),
        };
    let excluded = exclusions(&selected, &facts, view.publish_not_ready_addresses);

    // EndpointSlices: as given, or derived by the controller's rules when absent.
    let derive = view.selector.is_some()
        && view.service_type != ServiceType::ExternalName
        && (context.slices_missing || existing.is_none());
    let service_slices = if derive {
        derived_slices(service, &selected, context)
    } else {
        existing.map(<[_]>::to_vec).unwrap_or_default()
    };
    let namespace: Arc<str> = interner.intern(view.namespace);
    let mut read = slices::read(&service_slices, &namespace, interner);

    let ports: Vec<PortChain> = view
        .ports
        .iter()
        .map(|port| {
            let endpoints = read.take_port(port.join_name(), port.protocol);
            port_chain(&view, port, endpoints, context)
        })
        .collect();

    let ingresses = context.index.ingresses_for(view.namespace, view.name);
    // Ends the borrow of the slices (the per-port lists were taken above).
    let all_endpoints = read.endpoints;
    let dns = dns::records(&view, &ports, &all_endpoints, context.config.domain());
    let not_proxied = not_proxied(&view);
    let diagnostics = diagnostics::service_diagnostics(&DiagnosticInput {
        view: &view,
        ports: &ports,
        endpoints: &all_endpoints,
        selected: &selected,
        excluded: &excluded,
        namespace_pods,
        selector_pairs: &context.index.pairs,
        other_namespaces: other_namespace_matches(context.index, &view, selected.is_empty()),
        has_slices: !service_slices.is_empty(),
        pods_known: !context.pods_missing,
        endpoints_derived: derive,
        nodes: context.nodes,
        config: context.config,
    });

    let spec = service.spec.as_ref();
    ServiceChain {
        namespace: view.namespace.to_owned(),
        name: view.name.to_owned(),
        service_type: view.service_type,
        headless: view.headless,
        cluster_ips: view.cluster_ips.clone(),
        external_name: if view.service_type == ServiceType::ExternalName {
            spec.and_then(|spec| spec.external_name.clone())
        } else {
            None
        },
        selector: view.selector.cloned(),
        external_traffic_policy: view.external_traffic_policy,
        internal_traffic_policy: view.internal_traffic_policy,
        session_affinity: match view.affinity {
            AffinityConfig::None => SessionAffinity::None,
            AffinityConfig::ClientIp { .. } => SessionAffinity::ClientIp,
        },
        endpoints_derived: derive,
        ingresses,
        ports,
        dns,
        diagnostics,
        network_policy: None,
        gateway_routes: Vec::new(),
        details: ServiceDetails {
            service: Some(service.clone()),
            slices: service_slices,
            selected_pods: selected.into_iter().cloned().collect(),
            excluded_pods: excluded,
            endpoints: all_endpoints,
            health_check_node_port: spec.and_then(|spec| spec.health_check_node_port),
            external_ips: view.external_ips.clone(),
            load_balancer_source_ranges: source_ranges(service),
            affinity: view.affinity,
            traffic_distribution: view.traffic_distribution.map(str::to_owned),
            publish_not_ready_addresses: view.publish_not_ready_addresses,
            not_proxied,
        },
    }
}

/// The Service's EndpointSlices as the EndpointSlice controller would write them from `selected`
/// (used when the input has none).
fn derived_slices(
    service: &Service,
    selected: &[&Arc<PodInfo>],
    context: &BuildContext<'_, '_>,
) -> Vec<Arc<SliceInfo>> {
    let pod_refs: Vec<&PodInfo> = selected.iter().map(|pod| pod.as_ref()).collect();
    SliceInfo::compact_all(desired_endpoint_slices(
        service,
        &pod_refs,
        context.node_lookup(),
    ))
}

/// One Service port's chain: its front doors (LoadBalancer, NodePort rows, ClusterIP) over the
/// endpoints the slices give it.
fn port_chain(
    view: &ServiceView<'_>,
    port: &PortSpec<'_>,
    endpoints: Vec<PortEndpoint>,
    context: &BuildContext<'_, '_>,
) -> PortChain {
    // Rule D4 (as `topology::has_any_usable`).
    let any_usable = endpoints
        .iter()
        .any(|endpoint| endpoint.info.ready || endpoint.info.serving_terminating());
    let node_port = if view.has_node_ports() {
        port.node_port
    } else {
        None
    };
    let node_ports = NodePortRows {
        nodes: context.nodes.clone(),
        port: node_port,
        addresses: context.config.node_port_addresses,
        acceptance: if view.external_local() {
            NodeAcceptance::LocalEndpointsOnly
        } else {
            NodeAcceptance::AnyUsableEndpoint
        },
        any_usable,
        local: if node_port.is_some() {
            local_counts(&endpoints, context.nodes)
        } else {
            Vec::new()
        },
        health_checked: view.service_type == ServiceType::LoadBalancer && view.external_local(),
    };
    let cluster_ip = if view.headless || view.service_type == ServiceType::ExternalName {
        None
    } else {
        view.cluster_ips.first().map(|ip| ClusterIpHop {
            ip: *ip,
            port: port.port,
        })
    };
    PortChain {
        name: port.name.map(str::to_owned),
        protocol: port.protocol,
        port: port.port,
        target_port: port.target_port.clone(),
        node_port,
        app_protocol: port.app_protocol.map(str::to_owned),
        load_balancer: load_balancer_entries(view, port),
        node_ports,
        cluster_ip,
        endpoints,
    }
}

/// Why kube-proxy programs nothing for this Service, if it does not (rule A13).
fn not_proxied(view: &ServiceView<'_>) -> Option<NotProxied> {
    if view.service_type == ServiceType::ExternalName {
        Some(NotProxied::ExternalName)
    } else if view.headless {
        Some(NotProxied::Headless)
    } else if view.other_proxy {
        Some(NotProxied::OtherProxy)
    } else {
        None
    }
}

/// Namespaces other than the Service's whose pods match its selector (rule M3); only looked up
/// when the selector matches nothing at home.
fn other_namespace_matches(
    index: &SnapshotIndex<'_>,
    view: &ServiceView<'_>,
    nothing_selected: bool,
) -> Vec<String> {
    let Some(selector) = view.selector else {
        return Vec::new();
    };
    if !nothing_selected || view.service_type == ServiceType::ExternalName {
        return Vec::new();
    }
    let mut out: Vec<String> = index
        .pods
        .iter()
        .filter(|(namespace, _)| **namespace != view.namespace)
        .filter(|(_, pods)| !pods.select(selector, &index.pairs).is_empty())
        .map(|(namespace, _)| (*namespace).to_owned())
        .collect();
    out.sort();
    out
}
