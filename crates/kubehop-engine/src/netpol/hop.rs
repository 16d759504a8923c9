//! The policies of one hop for a source the user picks (the TUI's Policy tab and `:from`):
//! which policies select the endpoints the hop reaches, and the verdict for that source on
//! each of them (rules N1-N10). Pure: everything comes from the model.

use super::view::{EndpointPolicies, HopVerdict, SourceVerdict, anonymous_pod};
use super::{Client, DoorFacts, PolicyIndex, chain_pod};
use crate::model::{Hop, PortChain, ProxyModel, ServiceChain, TrafficPolicy};
use crate::pods;
use crate::route::FrontDoor;

/// A source picked by the user (`:from pod/NS/NAME`, `:from ns/NAME`, `:from external`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceChoice {
    /// A named pod.
    Pod { namespace: String, name: String },
    /// Any pod of a namespace without labels.
    Namespace(String),
    /// A client outside the cluster, address unknown.
    External,
}

impl SourceChoice {
    /// `pod/NS/NAME`, `ns/NAME` (also `namespace/NAME`), `external`; `None` otherwise.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if matches!(text, "external" | "outside" | "internet") {
            return Some(Self::External);
        }
        let (kind, rest) = text.split_once('/')?;
        match kind {
            "pod" | "po" | "pods" => {
                let (namespace, name) = rest.split_once('/')?;
                (!namespace.is_empty() && !name.is_empty() && !name.contains('/')).then(|| {
                    Self::Pod {
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                    }
                })
            }
            "ns" | "namespace" => {
                (!rest.is_empty() && !rest.contains('/')).then(|| Self::Namespace(rest.to_owned()))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for SourceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pod { namespace, name } => write!(f, "pod/{namespace}/{name}"),
            Self::Namespace(namespace) => write!(f, "namespace/{namespace}"),
            Self::External => f.write_str("external"),
        }
    }
}

/// Which hop of a chain, as the Policy tab names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyHop<'a> {
    /// An Ingress rule (index into `chain.ingresses`): the controller connects.
    Ingress(usize),
    /// The port's cluster IP.
    ClusterIp(usize),
    /// The port's nodePort, on one node (`None`: any other node than the endpoint's).
    NodePort { port: usize, node: Option<&'a str> },
    /// The port's load-balancer address.
    LoadBalancer(usize),
    /// Straight to the port's endpoints (one, or all): pod to pod.
    Direct {
        port: usize,
        endpoint: Option<usize>,
    },
}

/// What the Policy tab shows for one hop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HopPolicies {
    /// The endpoints the hop reaches, with the policies selecting each.
    pub endpoints: Vec<EndpointPolicies>,
    /// One per source judged (an Ingress hop has one per controller pod).
    pub verdicts: Vec<HopVerdict>,
    /// Why there is no verdict, or what the source means on this hop.
    pub notes: Vec<String>,
}

impl ProxyModel {
    /// The policies and verdicts of `hop` for `source` (`None`: the hop's default source, as
    /// in the chain's `networkPolicy` block).
    pub fn hop_policies(
        &self,
        chain: &ServiceChain,
        hop: PolicyHop<'_>,
        source: Option<&SourceChoice>,
    ) -> HopPolicies {
        let policies = &*self.policies;
        let mut out = HopPolicies::default();
        let port_index = match hop {
            PolicyHop::Ingress(index) => return policies.ingress_policies(chain, index, source),
            PolicyHop::ClusterIp(port) | PolicyHop::LoadBalancer(port) => port,
            PolicyHop::NodePort { port, .. } | PolicyHop::Direct { port, .. } => port,
        };
        let Some(port) = chain.ports.get(port_index) else {
            return out;
        };
        let only = match hop {
            PolicyHop::Direct { endpoint, .. } => endpoint,
            _ => None,
        };
        out.endpoints = policies.endpoint_policies(chain, port, only);
        let default = match hop {
            PolicyHop::NodePort { .. } | PolicyHop::LoadBalancer(_) => SourceChoice::External,
            _ => SourceChoice::Namespace(chain.namespace.clone()),
        };
        let choice = source.unwrap_or(&default);
        let anonymous;
        let client = match choice {
            SourceChoice::Pod { namespace, name } => match policies.pod(namespace, name) {
                Some(pod) => Client::Pod(pod),
                None => {
                    out.notes
                        .push(format!("No pod {namespace}/{name} in this snapshot."));
                    return out;
                }
            },
            SourceChoice::Namespace(namespace) => {
                anonymous = anonymous_pod(namespace);
                Client::Pod(&anonymous)
            }
            SourceChoice::External => Client::External(None),
        };
        let (via, label) = match hop {
            PolicyHop::NodePort { node, .. } => (
                FrontDoor::NodePort,
                format!(
                    "{}/{}/nodePort{}",
                    port.port,
                    port.protocol,
                    node.map(|node| format!("/{node}")).unwrap_or_default()
                ),
            ),
            PolicyHop::LoadBalancer(_) => (
                FrontDoor::LoadBalancer,
                format!("{}/{}/loadBalancer", port.port, port.protocol),
            ),
            PolicyHop::Direct { .. } => (
                FrontDoor::ClusterIp,
                format!("{}/{}/endpoints", port.port, port.protocol),
            ),
            _ => (
                FrontDoor::ClusterIp,
                Hop::ClusterIp {
                    port: port.port,
                    protocol: port.protocol,
                }
                .to_string(),
            ),
        };
        let node = match hop {
            PolicyHop::NodePort { node, .. } => node,
            _ => None,
        };
        let proxy_address = match hop {
            PolicyHop::LoadBalancer(_) => proxy_mode_address(port),
            _ => None,
        };
        let endpoints = self.door_verdicts(chain, port, &client, (via, node, proxy_address), only);
        out.verdicts.push(HopVerdict {
            hop: label,
            source: choice.to_string(),
            endpoints,
        });
        out
    }

    /// The verdicts for `client` entering through `via` (on `node`, when given; through a
    /// load balancer in ipMode Proxy at `proxy_address`) to the port's endpoints (only endpoint
    /// `only`, when given). Through a node door without a node, the packet is taken to arrive
    /// on another node than the endpoint's under eTP Cluster (so it is masqueraded, N10) and on
    /// the endpoint's own under eTP Local.
    fn door_verdicts(
        &self,
        chain: &ServiceChain,
        port: &PortChain,
        client: &Client<'_>,
        (via, node, proxy_address): (FrontDoor, Option<&str>, Option<std::net::IpAddr>),
        only: Option<usize>,
    ) -> Vec<SourceVerdict> {
        let external_policy = chain
            .external_traffic_policy
            .unwrap_or(TrafficPolicy::Cluster);
        port.endpoints
            .iter()
            .enumerate()
            .filter(|(index, _)| only.is_none_or(|only| only == *index))
            .filter_map(|(_, endpoint)| {
                let pod = chain_pod(chain, endpoint.info.pod.as_deref()?)?;
                let own = endpoint.info.node.as_deref();
                let forwarding = match (via, node, external_policy) {
                    (FrontDoor::ClusterIp, _, _) => None,
                    (_, Some(node), _) => Some(node),
                    (_, None, TrafficPolicy::Local) => own,
                    (_, None, TrafficPolicy::Cluster) => self
                        .nodes
                        .iter()
                        .map(|node| node.name.as_ref())
                        .find(|name| Some(*name) != own),
                };
                let door = DoorFacts {
                    via,
                    external_policy,
                    forwarding,
                    proxy_address,
                };
                let seen = PolicyIndex::seen(client, &door, &self.nodes, endpoint.info.ip);
                Some(SourceVerdict {
                    pod: format!("{}/{}", pods::namespace(pod), pods::name(pod)).into(),
                    ip: endpoint.info.ip,
                    port: endpoint.port,
                    verdict: std::sync::Arc::new(self.policies.verdict(
                        &seen,
                        pod,
                        endpoint.port,
                        port.protocol,
                    )),
                })
            })
            .collect()
    }
}

/// N10: the load balancer's own address when it proxies (every IP entry of the port in ipMode
/// Proxy): it opens the connection to the nodePorts, so the policies see it, not the client.
fn proxy_mode_address(port: &PortChain) -> Option<std::net::IpAddr> {
    let mut entries = port
        .load_balancer
        .iter()
        .filter(|entry| entry.ip.is_some())
        .peekable();
    entries.peek()?;
    let mut first = None;
    for entry in entries {
        if entry.ip_mode != Some(crate::model::IpMode::Proxy) {
            return None;
        }
        first = first.or_else(|| entry.ip.as_deref().and_then(|ip| ip.parse().ok()));
    }
    first
}

impl PolicyIndex {
    /// The policies selecting each endpoint of `port` (only endpoint `only`, when given).
    fn endpoint_policies(
        &self,
        chain: &ServiceChain,
        port: &PortChain,
        only: Option<usize>,
    ) -> Vec<EndpointPolicies> {
        port.endpoints
            .iter()
            .enumerate()
            .filter(|(index, _)| only.is_none_or(|only| only == *index))
            .filter_map(|(_, endpoint)| {
                let pod = chain_pod(chain, endpoint.info.pod.as_deref()?)?;
                let selecting = self.selecting_indices(pod);
                Some(EndpointPolicies {
                    pod: super::view::PodName::of(&endpoint.info)?,
                    ip: endpoint.info.ip,
                    ingress: self.isolating_keys(&selecting, super::Direction::Ingress),
                    egress: self.isolating_keys(&selecting, super::Direction::Egress),
                })
            })
            .collect()
    }

    /// An Ingress rule: the controller's pods open the connection (N10), whoever the client.
    fn ingress_policies(
        &self,
        chain: &ServiceChain,
        index: usize,
        source: Option<&SourceChoice>,
    ) -> HopPolicies {
        let mut out = HopPolicies::default();
        let Some(reference) = chain.ingresses.get(index) else {
            return out;
        };
        let ports: Vec<&PortChain> = chain
            .ports
            .iter()
            .filter(|port| match &reference.service_port {
                None => true,
                Some(wanted) => {
                    *wanted == port.port_ref()
                        || matches!(wanted, crate::model::PortRef::Number(n) if *n == port.port)
                }
            })
            .collect();
        for port in &ports {
            out.endpoints
                .extend(self.endpoint_policies(chain, port, None));
        }
        if let Some(source) = source {
            out.notes.push(format!(
                "Through an Ingress the controller opens the connection to the pods: they see the controller, not {source}."
            ));
        }
        let controllers = self.controller_pods(&reference.namespace, &reference.name);
        if controllers.is_empty() {
            out.notes.push(
                "The Ingress controller's pods are not known (no LoadBalancer Service carries the Ingress's address): no verdict."
                    .to_owned(),
            );
        }
        let door = DoorFacts {
            via: FrontDoor::ClusterIp,
            external_policy: TrafficPolicy::Cluster,
            forwarding: None,
            proxy_address: None,
        };
        let nodes = crate::nodes::NodeTable::default();
        let hop = Hop::Ingress {
            namespace: reference.namespace.clone(),
            name: reference.name.clone(),
            host: reference.host.clone(),
            path: reference.path.clone(),
        }
        .to_string();
        for controller in controllers {
            if super::host_network(controller) {
                out.notes.push(format!(
                    "Controller pod {}/{} uses the host network: policies see its node, which plugins treat differently (N9); not judged.",
                    pods::namespace(controller),
                    pods::name(controller)
                ));
                continue;
            }
            let client = Client::Pod(controller);
            let endpoints = ports
                .iter()
                .flat_map(|port| {
                    port.endpoints.iter().filter_map(|endpoint| {
                        let pod = chain_pod(chain, endpoint.info.pod.as_deref()?)?;
                        let seen = PolicyIndex::seen(&client, &door, &nodes, endpoint.info.ip);
                        Some(SourceVerdict {
                            pod: format!("{}/{}", pods::namespace(pod), pods::name(pod)).into(),
                            ip: endpoint.info.ip,
                            port: endpoint.port,
                            verdict: std::sync::Arc::new(self.verdict(
                                &seen,
                                pod,
                                endpoint.port,
                                port.protocol,
                            )),
                        })
                    })
                })
                .collect();
            out.verdicts.push(HopVerdict {
                hop: hop.clone(),
                source: format!(
                    "pod/{}/{}",
                    pods::namespace(controller),
                    pods::name(controller)
                ),
                endpoints,
            });
        }
        out
    }
}
