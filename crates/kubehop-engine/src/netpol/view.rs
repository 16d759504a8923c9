//! A chain's `networkPolicy` block: the policies that isolate each endpoint, and per hop the
//! verdict for the default sources (rules N8-N10).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;

use crate::objects::PodInfo;
use k8s_openapi::api::networking::v1::Ingress;
use serde::Serialize;

use super::{Client, DoorFacts, PolicyIndex, PolicyVerdict};
use crate::hash::FxHashMap as HashMap;
use crate::model::{Hop, PortChain, PortEndpoint, ServiceChain, TrafficPolicy};
use crate::nodes::NodeTable;
use crate::pods;
use crate::route::FrontDoor;
use crate::snapshot::ClusterSnapshot;

/// `networkPolicy` of a chain (present only when a policy isolates an endpoint for ingress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainPolicies {
    pub endpoints: Vec<EndpointPolicies>,
    pub hops: Vec<HopVerdict>,
}

/// The policies that select one endpoint pod (N1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPolicies {
    /// `namespace/name`.
    pub pod: String,
    pub ip: IpAddr,
    /// Policies that isolate the pod for ingress, `namespace/name`, sorted.
    pub ingress: Vec<String>,
    /// Policies that isolate the pod for egress.
    pub egress: Vec<String>,
}

/// One hop and one default source: the verdict for each endpoint it can reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HopVerdict {
    /// The hop, as in hop keys (`80/TCP/clusterIP`, `80/TCP/nodePort/node-a/127.0.1.1`,
    /// `ingress/shop/web/*/`).
    pub hop: String,
    /// `namespace/NS` (a pod of that namespace without labels), `external`, or
    /// `pod/NS/NAME` (an Ingress controller pod).
    pub source: String,
    pub endpoints: Vec<SourceVerdict>,
}

impl HopVerdict {
    /// Whether this source is denied on every endpoint of the hop (and there is one).
    pub fn all_denied(&self) -> bool {
        !self.endpoints.is_empty()
            && self
                .endpoints
                .iter()
                .all(|endpoint| endpoint.verdict.allowed == Some(false))
    }
}

/// The verdict for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceVerdict {
    pub pod: String,
    pub ip: IpAddr,
    pub port: i32,
    #[serde(flatten)]
    pub verdict: PolicyVerdict,
}

/// Pod name → the positions of the policies selecting it.
type PodCache<'c> = BTreeMap<&'c str, Vec<usize>>;

/// The endpoint's pod, from the Service's selected pods.
fn endpoint_pod<'c>(chain: &'c ServiceChain, endpoint: &PortEndpoint) -> Option<&'c Arc<PodInfo>> {
    let name = endpoint.info.pod.as_deref()?;
    let pods = &chain.details.selected_pods;
    pods.binary_search_by(|pod| pods::name(pod).cmp(name))
        .ok()
        .and_then(|index| pods.get(index))
}

/// A pod of `namespace` without labels or address: the "any pod of the namespace" source.
pub(super) fn anonymous_pod(namespace: &str) -> PodInfo {
    PodInfo::anonymous(namespace)
}

impl PolicyIndex {
    /// The `networkPolicy` block of a chain, when some endpoint pod is isolated for ingress.
    pub fn chain_view(&self, chain: &ServiceChain, nodes: &NodeTable) -> Option<ChainPolicies> {
        if self.is_empty() {
            return None;
        }
        let mut endpoints = Vec::new();
        // The policies selecting each endpoint pod, looked up once for every hop.
        let mut cache: PodCache<'_> = BTreeMap::new();
        for info in &chain.details.endpoints {
            let Some(name) = info.pod.as_deref() else {
                continue;
            };
            let pods = &chain.details.selected_pods;
            let Some(pod) = pods
                .binary_search_by(|pod| pods::name(pod).cmp(name))
                .ok()
                .and_then(|index| pods.get(index))
            else {
                continue;
            };
            let indices = self.selecting_indices(pod);
            let selecting: Vec<&super::Policy> = indices
                .iter()
                .filter_map(|i| self.policies.get(*i))
                .collect();
            cache.insert(name, indices);
            endpoints.push(EndpointPolicies {
                pod: format!("{}/{name}", pods::namespace(pod)),
                ip: info.ip,
                ingress: selecting
                    .iter()
                    .filter(|p| p.ingress.is_some())
                    .map(|p| p.key())
                    .collect(),
                egress: selecting
                    .iter()
                    .filter(|p| p.egress.is_some())
                    .map(|p| p.key())
                    .collect(),
            });
        }
        if endpoints.iter().all(|endpoint| endpoint.ingress.is_empty()) {
            return None;
        }
        let mut hops = self.ingress_hops(chain, &cache);
        for port in &chain.ports {
            hops.extend(self.cluster_ip_hop(chain, port, &cache));
            hops.extend(self.node_port_hop(chain, port, nodes, &cache));
        }
        Some(ChainPolicies { endpoints, hops })
    }

    /// Verdicts for `client` through `door` to every endpoint of `port` (those `filter` keeps).
    fn endpoint_verdicts(
        &self,
        chain: &ServiceChain,
        port: &PortChain,
        client: &Client<'_>,
        door: &DoorFacts<'_>,
        nodes: &NodeTable,
        cache: &PodCache<'_>,
    ) -> Vec<SourceVerdict> {
        // The source pod's policies, looked up once for every endpoint (its egress, N8).
        let source_policies = match client {
            Client::Pod(pod) => Some(self.selecting_indices(pod)),
            _ => None,
        };
        port.endpoints
            .iter()
            .filter_map(|endpoint| {
                let pod = endpoint_pod(chain, endpoint)?;
                let seen = PolicyIndex::seen(client, door, nodes, endpoint.info.ip);
                Some(SourceVerdict {
                    pod: format!("{}/{}", pods::namespace(pod), pods::name(pod)),
                    ip: endpoint.info.ip,
                    port: endpoint.port,
                    verdict: self.verdict_with(
                        &seen,
                        pod,
                        (
                            cache.get(pods::name(pod)).map(Vec::as_slice),
                            source_policies.as_deref(),
                        ),
                        endpoint.port,
                        port.protocol,
                    ),
                })
            })
            .collect()
    }

    /// The cluster IP, from a pod of the Service's namespace without labels (N8).
    fn cluster_ip_hop(
        &self,
        chain: &ServiceChain,
        port: &PortChain,
        cache: &PodCache<'_>,
    ) -> Option<HopVerdict> {
        port.cluster_ip?;
        let anonymous = anonymous_pod(&chain.namespace);
        let door = DoorFacts {
            via: FrontDoor::ClusterIp,
            external_policy: TrafficPolicy::Cluster,
            forwarding: None,
            proxy_address: None,
        };
        let nodes = NodeTable::default();
        let endpoints =
            self.endpoint_verdicts(chain, port, &Client::Pod(&anonymous), &door, &nodes, cache);
        Some(HopVerdict {
            hop: Hop::ClusterIp {
                port: port.port,
                protocol: port.protocol,
            }
            .to_string(),
            source: format!("namespace/{}", chain.namespace),
            endpoints,
        })
    }

    /// The nodePort, from an outside client (N10). Under eTP Cluster each endpoint is judged
    /// as reached through another node, so seen as that node's address (the first other node
    /// by name; through its own node N9 lets it in); under eTP Local through its own node, with
    /// the client's address kept and unknown here (`route --source-ip` gives it).
    fn node_port_hop(
        &self,
        chain: &ServiceChain,
        port: &PortChain,
        nodes: &NodeTable,
        cache: &PodCache<'_>,
    ) -> Option<HopVerdict> {
        port.node_port?;
        let policy = chain
            .external_traffic_policy
            .unwrap_or(TrafficPolicy::Cluster);
        let endpoints = port
            .endpoints
            .iter()
            .filter_map(|endpoint| {
                let pod = endpoint_pod(chain, endpoint)?;
                let own = endpoint.info.node.as_deref();
                let forwarding = match policy {
                    TrafficPolicy::Local => own,
                    TrafficPolicy::Cluster => nodes
                        .iter()
                        .map(|node| node.name.as_ref())
                        .find(|name| Some(*name) != own),
                };
                let door = DoorFacts {
                    via: FrontDoor::NodePort,
                    external_policy: policy,
                    forwarding,
                    proxy_address: None,
                };
                let seen =
                    PolicyIndex::seen(&Client::External(None), &door, nodes, endpoint.info.ip);
                Some(SourceVerdict {
                    pod: format!("{}/{}", pods::namespace(pod), pods::name(pod)),
                    ip: endpoint.info.ip,
                    port: endpoint.port,
                    verdict: self.verdict_with(
                        &seen,
                        pod,
                        (cache.get(pods::name(pod)).map(Vec::as_slice), None),
                        endpoint.port,
                        port.protocol,
                    ),
                })
            })
            .collect();
        Some(HopVerdict {
            hop: format!("{}/{}/nodePort", port.port, port.protocol),
            source: "external".to_owned(),
            endpoints,
        })
    }

    /// Each Ingress path, from each of its controller's pods when they are known (N10: the
    /// controller opens its own connection to the endpoints).
    fn ingress_hops(&self, chain: &ServiceChain, cache: &PodCache<'_>) -> Vec<HopVerdict> {
        let mut hops = Vec::new();
        let door = DoorFacts {
            via: FrontDoor::ClusterIp,
            external_policy: TrafficPolicy::Cluster,
            forwarding: None,
            proxy_address: None,
        };
        let nodes = NodeTable::default();
        for reference in &chain.ingresses {
            let controllers = self.controller_pods(&reference.namespace, &reference.name);
            let ports = chain
                .ports
                .iter()
                .filter(|port| match &reference.service_port {
                    None => true,
                    Some(wanted) => {
                        *wanted == port.port_ref()
                            || matches!(wanted, crate::model::PortRef::Number(n) if *n == port.port)
                    }
                });
            let ports: Vec<&PortChain> = ports.collect();
            // N9: a host-network controller is seen as its node, which plugins treat
            // differently; such controllers are left out rather than guessed.
            for controller in controllers.iter().filter(|pod| !super::host_network(pod)) {
                let client = Client::Pod(controller);
                let endpoints = ports
                    .iter()
                    .flat_map(|port| {
                        self.endpoint_verdicts(chain, port, &client, &door, &nodes, cache)
                    })
                    .collect();
                hops.push(HopVerdict {
                    hop: Hop::Ingress {
                        namespace: reference.namespace.clone(),
                        name: reference.name.clone(),
                        host: reference.host.clone(),
                        path: reference.path.clone(),
                    }
                    .to_string(),
                    source: format!(
                        "pod/{}/{}",
                        pods::namespace(controller),
                        pods::name(controller)
                    ),
                    endpoints,
                });
            }
        }
        hops
    }
}

/// Ingress → its controller's pods: the pods selected by the LoadBalancer Service whose
/// status carries the Ingress's status address (how controllers publish their address).
pub(crate) fn ingress_controllers(
    snapshot: &ClusterSnapshot,
) -> HashMap<(String, String), Vec<Arc<PodInfo>>> {
    let mut by_address: HashMap<String, &Service> = HashMap::default();
    for service in &snapshot.services {
        let entries = service
            .status
            .as_ref()
            .and_then(|status| status.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref());
        for entry in entries.into_iter().flatten() {
            for address in entry.ip.iter().chain(entry.hostname.iter()) {
                by_address.entry(address.clone()).or_insert(service);
            }
        }
    }
    let mut out = HashMap::default();
    if by_address.is_empty() {
        return out;
    }
    for ingress in &snapshot.ingresses {
        let Some(service) = ingress_addresses(ingress)
            .into_iter()
            .find_map(|address| by_address.get(&address))
        else {
            continue;
        };
        let pods = service_pods(snapshot, service);
        if pods.is_empty() {
            continue;
        }
        let key = (
            ingress
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            ingress.metadata.name.clone().unwrap_or_default(),
        );
        out.insert(key, pods);
    }
    out
}

fn ingress_addresses(ingress: &Ingress) -> Vec<String> {
    ingress
        .status
        .as_ref()
        .and_then(|status| status.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|entry| entry.ip.iter().chain(entry.hostname.iter()).cloned())
        .collect()
}

/// The running pods a Service selects (A2), sorted by name.
fn service_pods(snapshot: &ClusterSnapshot, service: &Service) -> Vec<Arc<PodInfo>> {
    let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
    let Some(selector) = service
        .spec
        .as_ref()
        .and_then(|spec| spec.selector.as_ref())
        .filter(|selector| !selector.is_empty())
    else {
        return Vec::new();
    };
    let selector: &BTreeMap<String, String> = selector;
    let mut out: Vec<Arc<PodInfo>> = snapshot
        .pods
        .iter()
        .filter(|pod| pods::namespace(pod) == namespace && pods::matches_selector(pod, selector))
        .filter(|pod| pods::phase_exclusion(pod).is_none())
        .cloned()
        .collect();
    out.sort_by(|a, b| pods::name(a).cmp(pods::name(b)));
    out
}
