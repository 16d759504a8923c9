//! Small builders for Kubernetes objects in engine tests. Every address is on 127.0.0.0/8.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    ClientIPConfig, Container, ContainerPort, LoadBalancerIngress, LoadBalancerStatus, Node,
    NodeAddress, NodeStatus, ObjectReference, Pod, PodCondition, PodIP, PodSpec, PodStatus,
    Service, ServicePort, ServiceSpec, ServiceStatus, SessionAffinityConfig,
};
use k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointHints, EndpointPort, EndpointSlice, ForNode, ForZone,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubehop::engine::model::Protocol;
use kubehop::engine::{
    ClusterSnapshot, DiagnosticCode, EngineConfig, ProxyModel, RouteDecision, RouteQuery,
    ServiceChain, TrafficSource, build,
};

pub const NS: &str = "shop";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        ..ObjectMeta::default()
    }
}

// ------------------------------------------------------------------------------------ Service

pub struct ServiceBuilder(pub Service);

pub fn service(name: &str) -> ServiceBuilder {
    ServiceBuilder(Service {
        metadata: meta(Some(NS), name),
        spec: Some(ServiceSpec {
            cluster_ip: Some("127.10.0.1".to_owned()),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

impl ServiceBuilder {
    fn spec(&mut self) -> &mut ServiceSpec {
        self.0.spec.get_or_insert_with(ServiceSpec::default)
    }
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.0.metadata.namespace = Some(namespace.to_owned());
        self
    }
    pub fn type_(mut self, value: &str) -> Self {
        self.spec().type_ = Some(value.to_owned());
        self
    }
    pub fn cluster_ip(mut self, ip: &str) -> Self {
        self.spec().cluster_ip = Some(ip.to_owned());
        self.spec().cluster_ips = Some(vec![ip.to_owned()]);
        self
    }
    pub fn headless(mut self) -> Self {
        self.spec().cluster_ip = Some("None".to_owned());
        self.spec().cluster_ips = Some(vec!["None".to_owned()]);
        self
    }
    pub fn no_cluster_ip(mut self) -> Self {
        self.spec().cluster_ip = None;
        self.spec().cluster_ips = None;
        self
    }
    pub fn selector(mut self, pairs: &[(&str, &str)]) -> Self {
        self.spec().selector = Some(labels(pairs));
        self
    }
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
        self
    }
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
        self
    }
    /// A port with a numeric or named targetPort ("8080" parses as a number).
    pub fn port(self, name: Option<&str>, port: i32, target: &str) -> Self {
        self.port_proto(name, port, target, "TCP")
    }
    pub fn port_proto(
        mut self,
        name: Option<&str>,
        port: i32,
        target: &str,
        protocol: &str,
    ) -> Self {
        let target_port = match target.parse::<i32>() {
            Ok(number) => IntOrString::Int(number),
            Err(_) => IntOrString::String(target.to_owned()),
        };
        self.spec()
            .ports
            .get_or_insert_with(Vec::new)
            .push(ServicePort {
                name: name.map(str::to_owned),
                port,
                protocol: Some(protocol.to_owned()),
                target_port: Some(target_port),
                ..ServicePort::default()
            });
        self
    }
    pub fn raw_port(mut self, port: ServicePort) -> Self {
        self.spec().ports.get_or_insert_with(Vec::new).push(port);
        self
    }
    /// Sets the nodePort of the last port.
    pub fn node_port(mut self, node_port: i32) -> Self {
        if let Some(port) = self
            .spec()
            .ports
            .as_mut()
            .and_then(|ports| ports.last_mut())
        {
            port.node_port = Some(node_port);
        }
        self
    }
    pub fn etp(mut self, value: &str) -> Self {
        self.spec().external_traffic_policy = Some(value.to_owned());
        self
    }
    pub fn itp(mut self, value: &str) -> Self {
        self.spec().internal_traffic_policy = Some(value.to_owned());
        self
    }
    pub fn pnra(mut self) -> Self {
        self.spec().publish_not_ready_addresses = Some(true);
        self
    }
    pub fn affinity(mut self, value: &str, timeout: Option<i32>) -> Self {
        self.spec().session_affinity = Some(value.to_owned());
        if let Some(timeout) = timeout {
            self.spec().session_affinity_config = Some(SessionAffinityConfig {
                client_ip: Some(ClientIPConfig {
                    timeout_seconds: Some(timeout),
                }),
            });
        }
        self
    }
    pub fn lb_ingress(
        mut self,
        ip: Option<&str>,
        hostname: Option<&str>,
        mode: Option<&str>,
    ) -> Self {
        let status = self.0.status.get_or_insert_with(ServiceStatus::default);
        status
            .load_balancer
            .get_or_insert_with(LoadBalancerStatus::default)
            .ingress
            .get_or_insert_with(Vec::new)
            .push(LoadBalancerIngress {
                ip: ip.map(str::to_owned),
                hostname: hostname.map(str::to_owned),
                ip_mode: mode.map(str::to_owned),
                ports: None,
            });
        self
    }
    pub fn source_ranges(mut self, ranges: &[&str]) -> Self {
        self.spec().load_balancer_source_ranges =
            Some(ranges.iter().map(|r| (*r).to_owned()).collect());
        self
    }
    pub fn external_ips(mut self, ips: &[&str]) -> Self {
        self.spec().external_ips = Some(ips.iter().map(|r| (*r).to_owned()).collect());
        self
    }
    pub fn external_name(mut self, name: &str) -> Self {
        self.spec().type_ = Some("ExternalName".to_owned());
        self.spec().external_name = Some(name.to_owned());
        self.spec().cluster_ip = None;
        self.spec().cluster_ips = None;
        self
    }
    pub fn traffic_distribution(mut self, value: &str) -> Self {
        self.spec().traffic_distribution = Some(value.to_owned());
        self
    }
    pub fn health_check_node_port(mut self, port: i32) -> Self {
        self.spec().health_check_node_port = Some(port);
        self
    }
    pub fn with(mut self, edit: impl FnOnce(&mut ServiceSpec)) -> Self {
        edit(self.spec());
        self
    }
    pub fn build(self) -> Service {
        self.0
    }
}

// ---------------------------------------------------------------------------------------- Pod

pub struct PodBuilder(pub Pod);

pub fn pod(name: &str, ip: &str, node: &str) -> PodBuilder {
    PodBuilder(Pod {
        metadata: meta(Some(NS), name),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".to_owned(),
                ..Container::default()
            }],
            node_name: Some(node.to_owned()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".to_owned()),
            pod_ip: Some(ip.to_owned()),
            pod_ips: Some(vec![PodIP { ip: ip.to_owned() }]),
            conditions: Some(vec![PodCondition {
                type_: "Ready".to_owned(),
                status: "True".to_owned(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    })
}

impl PodBuilder {
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.0.metadata.namespace = Some(namespace.to_owned());
        self
    }
    pub fn labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.0.metadata.labels = Some(labels(pairs));
        self
    }
    pub fn ready(mut self, ready: bool) -> Self {
        if let Some(conditions) = self.0.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            for condition in conditions {
                condition.status = if ready { "True" } else { "False" }.to_owned();
            }
        }
        self
    }
    pub fn terminating(mut self) -> Self {
        self.0.metadata.deletion_timestamp =
            Some(Time("2026-01-01T00:00:00Z".parse().expect("timestamp")));
        self
    }
    pub fn phase(mut self, phase: &str) -> Self {
        if let Some(status) = self.0.status.as_mut() {
            status.phase = Some(phase.to_owned());
        }
        self
    }
    pub fn no_ip(mut self) -> Self {
        if let Some(status) = self.0.status.as_mut() {
            status.pod_ip = None;
            status.pod_ips = None;
        }
        self
    }
    pub fn extra_ip(mut self, ip: &str) -> Self {
        if let Some(ips) = self.0.status.as_mut().and_then(|s| s.pod_ips.as_mut()) {
            ips.push(PodIP { ip: ip.to_owned() });
        }
        self
    }
    fn containers(&mut self) -> &mut Vec<Container> {
        &mut self.0.spec.get_or_insert_with(PodSpec::default).containers
    }
    /// Adds a port to the container `container` (created when missing).
    pub fn container_port(
        mut self,
        container: &str,
        name: Option<&str>,
        port: i32,
        protocol: &str,
    ) -> Self {
        let containers = self.containers();
        if !containers.iter().any(|c| c.name == container) {
            containers.push(Container {
                name: container.to_owned(),
                ..Container::default()
            });
        }
        if let Some(target) = containers.iter_mut().find(|c| c.name == container) {
            target
                .ports
                .get_or_insert_with(Vec::new)
                .push(ContainerPort {
                    name: name.map(str::to_owned),
                    container_port: port,
                    protocol: Some(protocol.to_owned()),
                    ..ContainerPort::default()
                });
        }
        self
    }
    /// Adds an init container; `sidecar` makes it restartable (restartPolicy Always).
    pub fn init_port(mut self, container: &str, sidecar: bool, name: &str, port: i32) -> Self {
        let spec = self.0.spec.get_or_insert_with(PodSpec::default);
        spec.init_containers
            .get_or_insert_with(Vec::new)
            .push(Container {
                name: container.to_owned(),
                restart_policy: sidecar.then(|| "Always".to_owned()),
                ports: Some(vec![ContainerPort {
                    name: Some(name.to_owned()),
                    container_port: port,
                    protocol: Some("TCP".to_owned()),
                    ..ContainerPort::default()
                }]),
                ..Container::default()
            });
        self
    }
    pub fn hostname(mut self, hostname: &str, subdomain: &str) -> Self {
        let spec = self.0.spec.get_or_insert_with(PodSpec::default);
        spec.hostname = Some(hostname.to_owned());
        spec.subdomain = Some(subdomain.to_owned());
        self
    }
    pub fn build(self) -> Pod {
        self.0
    }
}

// --------------------------------------------------------------------------------------- Node

pub fn node(name: &str, zone: Option<&str>, ip: &str) -> Node {
    let mut metadata = meta(None, name);
    if let Some(zone) = zone {
        metadata.labels = Some(labels(&[("topology.kubernetes.io/zone", zone)]));
    }
    Node {
        metadata,
        spec: None,
        status: Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                address: ip.to_owned(),
                type_: "InternalIP".to_owned(),
            }]),
            ..NodeStatus::default()
        }),
    }
}

/// node-a (zone-a, 127.1.0.1), node-b (zone-b, 127.1.0.2), node-c (zone-c, 127.1.0.3).
pub fn three_nodes() -> Vec<Node> {
    vec![
        node("node-a", Some("zone-a"), "127.1.0.1"),
        node("node-b", Some("zone-b"), "127.1.0.2"),
        node("node-c", Some("zone-c"), "127.1.0.3"),
    ]
}

// ------------------------------------------------------------------------------ EndpointSlice

pub struct SliceBuilder(pub EndpointSlice);

pub fn slice(service: &str, name: &str) -> SliceBuilder {
    let mut metadata = meta(Some(NS), name);
    metadata.labels = Some(labels(&[("kubernetes.io/service-name", service)]));
    SliceBuilder(EndpointSlice {
        metadata,
        address_type: "IPv4".to_owned(),
        endpoints: Some(Vec::new()),
        ports: Some(Vec::new()),
    })
}

impl SliceBuilder {
    pub fn address_type(mut self, value: &str) -> Self {
        self.0.address_type = value.to_owned();
        self
    }
    pub fn port(mut self, name: Option<&str>, port: i32, protocol: Option<&str>) -> Self {
        self.0
            .ports
            .get_or_insert_with(Vec::new)
            .push(EndpointPort {
                name: name.map(str::to_owned),
                port: Some(port),
                protocol: protocol.map(str::to_owned),
                app_protocol: None,
            });
        self
    }
    pub fn endpoint(mut self, endpoint: EndpointBuilder) -> Self {
        self.0
            .endpoints
            .get_or_insert_with(Vec::new)
            .push(endpoint.0);
        self
    }
    pub fn build(self) -> EndpointSlice {
        self.0
    }
}

pub struct EndpointBuilder(pub Endpoint);

/// An endpoint with conditions left absent (read as ready, serving, not terminating: A12).
pub fn endpoint(ip: &str, pod: &str, node: &str) -> EndpointBuilder {
    EndpointBuilder(Endpoint {
        addresses: vec![ip.to_owned()],
        conditions: None,
        hints: None,
        hostname: None,
        node_name: Some(node.to_owned()),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".to_owned()),
            name: Some(pod.to_owned()),
            namespace: Some(NS.to_owned()),
            ..ObjectReference::default()
        }),
        zone: None,
        deprecated_topology: None,
    })
}

impl EndpointBuilder {
    /// Sets the conditions explicitly (ready, serving, terminating).
    pub fn conditions(mut self, ready: bool, serving: bool, terminating: bool) -> Self {
        self.0.conditions = Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        });
        self
    }
    pub fn zone(mut self, zone: &str) -> Self {
        self.0.zone = Some(zone.to_owned());
        self
    }
    pub fn zone_hints(mut self, zones: &[&str]) -> Self {
        let hints = self.0.hints.get_or_insert_with(EndpointHints::default);
        hints.for_zones = Some(
            zones
                .iter()
                .map(|z| ForZone {
                    name: (*z).to_owned(),
                })
                .collect(),
        );
        self
    }
    pub fn node_hints(mut self, nodes: &[&str]) -> Self {
        let hints = self.0.hints.get_or_insert_with(EndpointHints::default);
        hints.for_nodes = Some(
            nodes
                .iter()
                .map(|n| ForNode {
                    name: (*n).to_owned(),
                })
                .collect(),
        );
        self
    }
    pub fn hostname(mut self, hostname: &str) -> Self {
        self.0.hostname = Some(hostname.to_owned());
        self
    }
}

// ----------------------------------------------------------------------------------- Ingress

pub fn ingress(
    name: &str,
    host: &str,
    path: &str,
    service: &str,
    port: ServiceBackendPort,
) -> Ingress {
    Ingress {
        metadata: meta(Some(NS), name),
        spec: Some(IngressSpec {
            rules: Some(vec![IngressRule {
                host: Some(host.to_owned()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(path.to_owned()),
                        path_type: "Prefix".to_owned(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: service.to_owned(),
                                port: Some(port),
                            }),
                            resource: None,
                        },
                    }],
                }),
            }]),
            ..IngressSpec::default()
        }),
        status: None,
    }
}

pub fn port_name(name: &str) -> ServiceBackendPort {
    ServiceBackendPort {
        name: Some(name.to_owned()),
        number: None,
    }
}

pub fn port_number(number: i32) -> ServiceBackendPort {
    ServiceBackendPort {
        name: None,
        number: Some(number),
    }
}

// ---------------------------------------------------------------------------------- Snapshot

#[derive(Default)]
pub struct World {
    pub services: Vec<Service>,
    pub pods: Vec<Pod>,
    pub nodes: Vec<Node>,
    pub slices: Vec<EndpointSlice>,
    pub ingresses: Vec<Ingress>,
}

impl World {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn service(mut self, service: ServiceBuilder) -> Self {
        self.services.push(service.build());
        self
    }
    pub fn pod(mut self, pod: PodBuilder) -> Self {
        self.pods.push(pod.build());
        self
    }
    pub fn nodes(mut self, nodes: Vec<Node>) -> Self {
        self.nodes.extend(nodes);
        self
    }
    pub fn slice(mut self, slice: SliceBuilder) -> Self {
        self.slices.push(slice.build());
        self
    }
    pub fn ingress(mut self, ingress: Ingress) -> Self {
        self.ingresses.push(ingress);
        self
    }
    pub fn snapshot(&self) -> ClusterSnapshot {
        ClusterSnapshot {
            generation: 0,
            services: self.services.iter().cloned().map(Arc::new).collect(),
            endpoint_slices: self.slices.iter().cloned().map(Arc::new).collect(),
            pods: self.pods.iter().cloned().map(Arc::new).collect(),
            nodes: self.nodes.iter().cloned().map(Arc::new).collect(),
            ingresses: self.ingresses.iter().cloned().map(Arc::new).collect(),
            namespaces: Vec::new(),
            missing: Vec::new(),
        }
    }
    pub fn model(&self) -> ProxyModel {
        build(&self.snapshot(), &EngineConfig::default())
    }
    pub fn model_with(&self, config: &EngineConfig) -> ProxyModel {
        build(&self.snapshot(), config)
    }
}

pub fn chain<'a>(model: &'a ProxyModel, name: &str) -> &'a ServiceChain {
    model.service(NS, name).expect("service in model")
}

pub fn codes(chain: &ServiceChain) -> Vec<&'static str> {
    chain.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

pub fn has_code(chain: &ServiceChain, code: DiagnosticCode) -> bool {
    chain.diagnostics.iter().any(|d| d.code == code)
}

pub fn from_pod(node: &str) -> TrafficSource {
    TrafficSource::Pod {
        node: node.to_owned(),
    }
}

pub fn from_node(node: &str) -> TrafficSource {
    TrafficSource::Node {
        node: node.to_owned(),
    }
}

pub fn from_outside(node: &str) -> TrafficSource {
    TrafficSource::External {
        node: node.to_owned(),
    }
}

pub fn route(
    model: &ProxyModel,
    destination: &str,
    port: u16,
    source: TrafficSource,
) -> RouteDecision {
    route_full(model, destination, port, Protocol::Tcp, source, None)
}

pub fn route_full(
    model: &ProxyModel,
    destination: &str,
    port: u16,
    protocol: Protocol,
    source: TrafficSource,
    source_ip: Option<&str>,
) -> RouteDecision {
    model.route(&RouteQuery {
        destination: destination.parse().expect("destination ip"),
        port,
        protocol,
        source,
        source_ip: source_ip.map(|ip| ip.parse().expect("source ip")),
    })
}

/// Pod names of a decision's endpoints, sorted.
pub fn endpoint_pods(decision: &RouteDecision) -> Vec<String> {
    let mut pods: Vec<String> = decision
        .endpoints
        .iter()
        .map(|e| e.0.info.pod.clone().unwrap_or_default())
        .collect();
    pods.sort();
    pods
}
