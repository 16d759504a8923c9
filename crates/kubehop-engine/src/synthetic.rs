//! A deterministic synthetic cluster for benchmarks and robustness tests: Services of every type,
//! Deployment-style pods with (partly named) ports, EndpointSlices that agree with the
//! EndpointSlice controller's rules, Nodes in three zones and a few Ingresses. Every address is in
//! 127.0.0.0/8 (the project's network rule).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, LoadBalancerIngress, LoadBalancerStatus, Namespace, Node,
    NodeAddress, NodeSpec, NodeStatus, Pod, PodCondition, PodIP, PodSpec, PodStatus, Service,
    ServicePort, ServiceSpec, ServiceStatus,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, NetworkPolicy, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::ClusterSnapshot;
use crate::endpointslice::desired_endpoint_slices;
use crate::nodes::{NodeTable, ZONE_LABEL};
use crate::objects::{Interner, PodInfo, SliceInfo};

/// The size of the synthetic cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticSpec {
    pub services: usize,
    pub pods: usize,
    pub nodes: usize,
    /// Namespaces the Services and pods are spread over.
    pub namespaces: usize,
}

impl Default for SyntheticSpec {
    /// 10,000 Services, 50,000 pods, 500 nodes (the benchmark size of docs/performance.md).
    fn default() -> Self {
        Self {
            services: 10_000,
            pods: 50_000,
            nodes: 500,
            namespaces: 20,
        }
    }
}

const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

/// `127.<base>.x.y` for index `n` (n < 65536 per base octet step).
fn loopback(base: u8, n: usize) -> String {
    let high = u8::try_from((n >> 16) & 0xff).unwrap_or(0);
    let mid = u8::try_from((n >> 8) & 0xff).unwrap_or(0);
    let low = u8::try_from(n & 0xff).unwrap_or(0);
    Ipv4Addr::new(127, base.saturating_add(high), mid, low).to_string()
}

fn meta(name: String, namespace: Option<String>, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace,
        labels: (!labels.is_empty()).then_some(labels),
        ..ObjectMeta::default()
    }
}

/// What kind of Service index `i` is: 70% ClusterIP (some with topology hints), 10% NodePort,
/// 5% LoadBalancer, 5% headless, 5% ExternalName, 5% ClusterIP with internalTrafficPolicy Local.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    ClusterIp,
    ClusterIpHinted,
    InternalLocal,
    NodePort,
    LoadBalancer,
    Headless,
    ExternalName,
}

fn shape(index: usize) -> Shape {
    match index % 20 {
        14 | 15 => Shape::NodePort,
        16 => Shape::LoadBalancer,
        17 => Shape::Headless,
        18 => Shape::ExternalName,
        19 => Shape::InternalLocal,
        12 | 13 => Shape::ClusterIpHinted,
        _ => Shape::ClusterIp,
    }
}

struct Generated {
    namespaces: Vec<Namespace>,
    nodes: Vec<Node>,
    services: Vec<Service>,
    pods: Vec<Pod>,
    slices: Vec<EndpointSlice>,
    ingresses: Vec<Ingress>,
}

fn namespace_of(spec: &SyntheticSpec, service_index: usize) -> String {
    format!("team-{:02}", service_index % spec.namespaces.max(1))
}

fn app_label(service_index: usize) -> String {
    format!("app-{service_index:05}")
}

fn generate_objects(spec: &SyntheticSpec) -> Generated {
    let namespaces: Vec<Namespace> = (0..spec.namespaces.max(1))
        .map(|n| Namespace {
            metadata: meta(format!("team-{n:02}"), None, BTreeMap::new()),
            ..Namespace::default()
        })
        .collect();
    let nodes: Vec<Node> = (0..spec.nodes).map(synthetic_node).collect();
    let mut counters = Counters {
        next_node_port: 30_000,
        lb_index: 0,
    };
    let services: Vec<Service> = (0..spec.services)
        .map(|i| synthetic_service(spec, i, &mut counters))
        .collect();
    let pods: Vec<Pod> = (0..spec.pods).map(|j| synthetic_pod(spec, j)).collect();
    let slices = synthetic_slices(spec, &nodes, &services, &pods);
    // One Ingress per namespace, routing to its first five web Services.
    let ingresses: Vec<Ingress> = (0..spec.namespaces.max(1))
        .map(|n| namespace_ingress(n, &services))
        .collect();
    Generated {
        namespaces,
        nodes,
        services,
        pods,
        slices,
        ingresses,
    }
}

/// Node `n`: in zone `n % 3`, with an InternalIP on loopback.
fn synthetic_node(n: usize) -> Node {
    let labels = BTreeMap::from([
        (ZONE_LABEL.to_owned(), ZONES[n % ZONES.len()].to_owned()),
        ("kubernetes.io/hostname".to_owned(), format!("node-{n:04}")),
    ]);
    Node {
        metadata: meta(format!("node-{n:04}"), None, labels),
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                address: loopback(1, n + 1),
                type_: "InternalIP".to_owned(),
            }]),
            ..NodeStatus::default()
        }),
    }
}

/// What the Service generator carries from one Service to the next.
struct Counters {
    /// The next nodePort to hand out (none after 32767).
    next_node_port: i32,
    /// How many LoadBalancer Services came so far.
    lb_index: usize,
}

/// Service `i`: its shape decides the type; every third targets a named port, every fourth
/// has a metrics port.
fn synthetic_service(spec: &SyntheticSpec, i: usize, counters: &mut Counters) -> Service {
    let shape = shape(i);
    let namespace = namespace_of(spec, i);
    let node_ports = matches!(shape, Shape::NodePort | Shape::LoadBalancer);
    let ports = synthetic_ports(i, node_ports, counters);
    let selector = BTreeMap::from([("app".to_owned(), app_label(i))]);
    let service_type = match shape {
        Shape::NodePort => "NodePort",
        Shape::LoadBalancer => "LoadBalancer",
        Shape::ExternalName => "ExternalName",
        _ => "ClusterIP",
    };
    let cluster_ip = match shape {
        Shape::Headless => Some("None".to_owned()),
        Shape::ExternalName => None,
        _ => Some(loopback(10, i + 1)),
    };
    let status = (shape == Shape::LoadBalancer).then(|| {
        counters.lb_index += 1;
        // Every sixteenth LoadBalancer stays pending.
        let ingress = (!counters.lb_index.is_multiple_of(16)).then(|| {
            vec![LoadBalancerIngress {
                ip: Some(loopback(20, counters.lb_index)),
                ip_mode: Some("VIP".to_owned()),
                ..LoadBalancerIngress::default()
            }]
        });
        ServiceStatus {
            load_balancer: Some(LoadBalancerStatus { ingress }),
            ..ServiceStatus::default()
        }
    });
    Service {
        metadata: meta(format!("svc-{i:05}"), Some(namespace), BTreeMap::new()),
        spec: Some(ServiceSpec {
            type_: Some(service_type.to_owned()),
            cluster_ip: cluster_ip.clone(),
            cluster_ips: cluster_ip.map(|ip| vec![ip]),
            external_name: (shape == Shape::ExternalName)
                .then(|| format!("backend-{i}.example.test")),
            selector: (shape != Shape::ExternalName).then_some(selector),
            ports: Some(ports),
            external_traffic_policy: node_ports
                .then(|| if i % 40 == 14 { "Local" } else { "Cluster" }.to_owned()),
            internal_traffic_policy: (shape != Shape::ExternalName).then(|| {
                if shape == Shape::InternalLocal {
                    "Local"
                } else {
                    "Cluster"
                }
                .to_owned()
            }),
            traffic_distribution: (shape == Shape::ClusterIpHinted)
                .then(|| "PreferSameZone".to_owned()),
            session_affinity: Some(if i % 10 == 3 { "ClientIP" } else { "None" }.to_owned()),
            ..ServiceSpec::default()
        }),
        status,
    }
}

/// The ports of Service `i`: http (a named targetPort on every third Service), metrics on
/// every fourth, and nodePorts when the Service has them.
fn synthetic_ports(i: usize, node_ports: bool, counters: &mut Counters) -> Vec<ServicePort> {
    let named = i.is_multiple_of(3);
    let with_metrics = i.is_multiple_of(4);
    let mut ports = vec![ServicePort {
        name: Some("http".to_owned()),
        port: 80,
        protocol: Some("TCP".to_owned()),
        target_port: Some(if named {
            IntOrString::String("http".to_owned())
        } else {
            IntOrString::Int(8080)
        }),
        ..ServicePort::default()
    }];
    if with_metrics {
        ports.push(ServicePort {
            name: Some("metrics".to_owned()),
            port: 9090,
            protocol: Some("TCP".to_owned()),
            target_port: Some(IntOrString::String("metrics".to_owned())),
            ..ServicePort::default()
        });
    }
    if node_ports {
        for port in &mut ports {
            if counters.next_node_port <= 32_767 {
                port.node_port = Some(counters.next_node_port);
                counters.next_node_port += 1;
            }
        }
    }
    ports
}

/// Pod `j`: replica `j / services` of Service `j % services`, on node `j % nodes`; every
/// fiftieth is not ready.
fn synthetic_pod(spec: &SyntheticSpec, j: usize) -> Pod {
    let service_index = j % spec.services.max(1);
    let replica = j / spec.services.max(1);
    let namespace = namespace_of(spec, service_index);
    let named = service_index.is_multiple_of(3);
    let labels = BTreeMap::from([
        ("app".to_owned(), app_label(service_index)),
        (
            "tier".to_owned(),
            if service_index.is_multiple_of(2) {
                "frontend"
            } else {
                "backend"
            }
            .to_owned(),
        ),
        (
            "pod-template-hash".to_owned(),
            format!("{:08x}", service_index * 2_654_435_761 % 0xffff_ffff),
        ),
    ]);
    let mut container_ports = vec![ContainerPort {
        name: named.then(|| "http".to_owned()),
        container_port: 8080,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }];
    container_ports.push(ContainerPort {
        name: Some("metrics".to_owned()),
        container_port: 9090,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    });
    let ready = j % 50 != 7;
    let pod_ip = loopback(2, j + 1);
    let name = format!("svc-{service_index:05}-{replica:03}");
    Pod {
        metadata: meta(name, Some(namespace), labels),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".to_owned(),
                ports: Some(container_ports),
                ..Container::default()
            }],
            node_name: (spec.nodes > 0).then(|| format!("node-{:04}", j % spec.nodes)),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".to_owned()),
            pod_ip: Some(pod_ip.clone()),
            pod_ips: Some(vec![PodIP { ip: pod_ip }]),
            conditions: Some(vec![PodCondition {
                type_: "Ready".to_owned(),
                status: if ready { "True" } else { "False" }.to_owned(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    }
}

/// EndpointSlices exactly as the controller's rules publish them.
fn synthetic_slices(
    spec: &SyntheticSpec,
    nodes: &[Node],
    services: &[Service],
    pods: &[Pod],
) -> Vec<EndpointSlice> {
    let node_table = NodeTable::new(nodes.iter());
    let mut interner = Interner::new();
    let infos: Vec<PodInfo> = pods
        .iter()
        .map(|pod| PodInfo::from_pod(pod, &mut interner))
        .collect();
    let mut pods_by_service: Vec<Vec<&PodInfo>> = vec![Vec::new(); spec.services];
    for (j, pod) in infos.iter().enumerate() {
        if let Some(list) = pods_by_service.get_mut(j % spec.services.max(1)) {
            list.push(pod);
        }
    }
    services
        .iter()
        .zip(&pods_by_service)
        .flat_map(|(service, service_pods)| {
            desired_endpoint_slices(service, service_pods, &node_table)
        })
        .collect()
}

/// The Ingress of namespace `n`: its first five ClusterIP Services, one path each.
fn namespace_ingress(n: usize, services: &[Service]) -> Ingress {
    let namespace = format!("team-{n:02}");
    let paths: Vec<HTTPIngressPath> = services
        .iter()
        .filter(|service| service.metadata.namespace.as_deref() == Some(&namespace))
        .filter(|service| {
            service.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ClusterIP")
        })
        .take(5)
        .map(|service| {
            let name = service.metadata.name.clone().unwrap_or_default();
            HTTPIngressPath {
                path: Some(format!("/{name}")),
                path_type: "Prefix".to_owned(),
                backend: IngressBackend {
                    service: Some(IngressServiceBackend {
                        name,
                        port: Some(ServiceBackendPort {
                            name: Some("http".to_owned()),
                            number: None,
                        }),
                    }),
                    resource: None,
                },
            }
        })
        .collect();
    Ingress {
        metadata: meta("web".to_owned(), Some(namespace.clone()), BTreeMap::new()),
        spec: Some(IngressSpec {
            rules: Some(vec![IngressRule {
                host: Some(format!("{namespace}.example.test")),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            ..IngressSpec::default()
        }),
        status: None,
    }
}

impl SyntheticSpec {
    /// Kubernetes' published scalability envelope: 150,000 pods, 5,000 nodes, 10,000 Services
    /// (in 100 namespaces).
    pub const ENVELOPE: SyntheticSpec = SyntheticSpec {
        services: 10_000,
        pods: 150_000,
        nodes: 5_000,
        namespaces: 100,
    };
}

/// The snapshot with every kind sorted by (namespace, name), as live sources publish it (the
/// order [`crate::incremental::IncrementalModel`] follows object by object).
pub fn sorted(mut snapshot: ClusterSnapshot) -> ClusterSnapshot {
    fn sort<K: k8s_openapi::Metadata<Ty = ObjectMeta>>(objects: &mut [Arc<K>]) {
        objects.sort_by(|a, b| {
            let (a, b) = (a.metadata(), b.metadata());
            (a.namespace.as_deref(), a.name.as_deref())
                .cmp(&(b.namespace.as_deref(), b.name.as_deref()))
        });
    }
    sort(&mut snapshot.services);
    sort(&mut snapshot.endpoint_slices);
    Arc::make_mut(&mut snapshot.pods).sort_by(|a, b| {
        (a.namespace.as_deref(), a.name.as_deref())
            .cmp(&(b.namespace.as_deref(), b.name.as_deref()))
    });
    sort(&mut snapshot.nodes);
    sort(&mut snapshot.ingresses);
    sort(&mut snapshot.namespaces);
    snapshot
}

/// Two snapshots of `spec` (sorted, as live sources publish them) that differ in one pod (a
/// label added, its readiness flipped) and the matching endpoint of its Service's
/// EndpointSlice, as the controller writes it (the benchmarks' one pod event).
pub fn one_pod_apart(spec: &SyntheticSpec) -> Option<(Arc<ClusterSnapshot>, Arc<ClusterSnapshot>)> {
    let before = sorted(generate(spec));
    let mut after = before.clone();
    let pod_position = after.pods.len() / 2;
    let mut pod = (**after.pods.get(pod_position)?).clone();
    let pod_name = pod.name.as_deref()?.to_owned();
    pod.ready = !pod.ready;
    let mut labels: std::collections::BTreeMap<String, String> = pod
        .labels
        .iter()
        .flatten()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    labels.insert("bench/relabelled".to_owned(), "yes".to_owned());
    pod.labels = Some(crate::objects::Labels::from_map(
        &labels,
        &mut crate::objects::Interner::new(),
    ));
    *Arc::make_mut(&mut after.pods).get_mut(pod_position)? = Arc::new(pod);
    let slice_position = after.endpoint_slices.iter().position(|slice| {
        slice
            .endpoints()
            .iter()
            .any(|endpoint| endpoint.pod_name() == Some(&pod_name))
    })?;
    let mut slice = (**after.endpoint_slices.get(slice_position)?).clone();
    for endpoint in slice
        .endpoints
        .iter_mut()
        .flat_map(|endpoints| endpoints.iter_mut())
    {
        if endpoint.pod_name() == Some(&pod_name)
            && let Some(conditions) = endpoint.conditions.as_mut()
        {
            conditions.ready = Some(!conditions.ready.unwrap_or(true));
        }
    }
    *after.endpoint_slices.get_mut(slice_position)? = Arc::new(slice);
    Some((Arc::new(before), Arc::new(after)))
}

/// The synthetic cluster as a snapshot.
pub fn generate(spec: &SyntheticSpec) -> ClusterSnapshot {
    let generated = generate_objects(spec);
    let mut interner = Interner::new();
    ClusterSnapshot {
        generation: 0,
        services: generated.services.into_iter().map(Arc::new).collect(),
        endpoint_slices: generated
            .slices
            .into_iter()
            .map(|slice| Arc::new(SliceInfo::from_owned(slice, &mut interner)))
            .collect(),
        pods: Arc::new(
            generated
                .pods
                .iter()
                .map(|pod| Arc::new(PodInfo::from_pod(pod, &mut interner)))
                .collect(),
        ),
        nodes: generated.nodes.into_iter().map(Arc::new).collect(),
        ingresses: generated.ingresses.into_iter().map(Arc::new).collect(),
        namespaces: generated.namespaces.into_iter().map(Arc::new).collect(),
        ingress_classes: Vec::new(),
        network_policies: Vec::new(),
        gateway_api: Default::default(),
        missing: Vec::new(),
    }
}

/// The synthetic cluster as API objects (with apiVersion and kind), ready to be written as a
/// dump or scenario file.
pub fn objects(spec: &SyntheticSpec) -> Vec<serde_json::Value> {
    let generated = generate_objects(spec);
    let mut out = Vec::new();
    fn push<T: serde::Serialize>(out: &mut Vec<serde_json::Value>, items: Vec<T>) {
        out.extend(
            items
                .iter()
                .filter_map(|item| serde_json::to_value(item).ok()),
        );
    }
    push(&mut out, generated.namespaces);
    push(&mut out, generated.nodes);
    push(&mut out, generated.services);
    push(&mut out, generated.pods);
    push(&mut out, generated.slices);
    push(&mut out, generated.ingresses);
    out
}

/// `count` NetworkPolicies shaped like charts ship them, spread over the namespaces: per
/// namespace a default-deny (both directions) and an allow-DNS egress policy, then per app an
/// ingress policy admitting the previous app of its namespace on port 8080 and the ingress
/// controller's namespace on the named port `http`, every fifth also an ipBlock for the node
/// range, and an egress policy to the next app (rules N1-N7).
pub fn network_policies(spec: &SyntheticSpec, count: usize) -> Vec<NetworkPolicy> {
    let namespaces = spec.namespaces.max(1);
    let mut out: Vec<NetworkPolicy> = Vec::with_capacity(count);
    for n in 0..namespaces.min(count / 2) {
        let namespace = format!("team-{n:02}");
        out.push(policy(
            &namespace,
            "default-deny",
            serde_json::json!({
            "podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        ));
        out.push(policy(&namespace, "allow-dns", serde_json::json!({
            "podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]})));
    }
    let services = spec.services.max(1);
    let mut i = 0;
    while out.len() < count {
        let app = i % services;
        let namespace = namespace_of(spec, app);
        let peer = app_label((app + services - namespaces) % services);
        let mut from = vec![
            serde_json::json!({"podSelector": {"matchLabels": {"app": peer}}}),
            serde_json::json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}),
        ];
        if i % 5 == 0 {
            from.push(serde_json::json!({"ipBlock": {"cidr": "127.1.0.0/16", "except": ["127.1.255.0/24"]}}));
        }
        let spec_value = if i % 2 == 0 {
            serde_json::json!({"podSelector": {"matchLabels": {"app": app_label(app)}},
                "ingress": [{"from": from, "ports": [{"port": 8080}, {"port": "http"}]}]})
        } else {
            serde_json::json!({"podSelector": {"matchLabels": {"app": app_label(app)}}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"app": app_label((app + namespaces) % services)}}}],
                            "ports": [{"port": 8000, "endPort": 8100}]}]})
        };
        out.push(policy(&namespace, &format!("app-{i:05}"), spec_value));
        i += 1;
    }
    out
}

fn policy(namespace: &str, name: &str, spec: serde_json::Value) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta(name.to_owned(), Some(namespace.to_owned()), BTreeMap::new()),
        // The JSON is written above and always matches the type.
        spec: serde_json::from_value(spec).ok(),
    }
}

/// [`generate`] with `policies` NetworkPolicies ([`network_policies`]).
pub fn generate_with_policies(spec: &SyntheticSpec, policies: usize) -> ClusterSnapshot {
    let mut snapshot = generate(spec);
    snapshot.network_policies = network_policies(spec, policies)
        .into_iter()
        .map(Arc::new)
        .collect();
    snapshot
}
