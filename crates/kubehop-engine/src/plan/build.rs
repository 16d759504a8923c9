//! Turns a port's hop tree into probe hops: one arm per kind of hop that can be probed, and the
//! notes for the kinds that cannot (a pending load balancer, a headless Service, no endpoints).

use std::net::IpAddr;

use super::http::{endpoint_extras, http_for_port};
use super::{
    HopKind as ProbeKind, HttpRequest, IngressAddress, PlanContext, PlanPort, ProbeHop, ProbePlan,
    ProbeTarget, StreamProbe, Via,
};
use crate::gateway::RouteKind;
use crate::hops::{HopKind, HopNode, PortHops, PortWords};
use crate::model::{
    IngressRef, LoadBalancerEntry, NotProxied, PortChain, PortEndpoint, ProxyModel,
};

pub(super) struct Planner<'a> {
    pub model: &'a ProxyModel,
    pub context: &'a PlanContext,
}

impl Planner<'_> {
    /// Every hop of the port `via` selects, in the order a connection meets them; endpoints in
    /// the port's endpoint order.
    pub fn port_hops(&self, tree: &PortHops<'_>, via: Via, plan: &mut ProbePlan) {
        for node in tree.walk() {
            if !matches!(node.kind, HopKind::Endpoint { .. }) {
                self.plan_node(tree, node, via, plan);
            }
        }
        if via.includes(ProbeKind::Endpoint) {
            let mut endpoints: Vec<(usize, &HopNode<'_>)> = tree
                .walk()
                .filter_map(|node| match node.kind {
                    HopKind::Endpoint { index, .. } => Some((index, node)),
                    _ => None,
                })
                .collect();
            endpoints.sort_by_key(|(index, _)| *index);
            for (_, node) in endpoints {
                if let HopKind::Endpoint { endpoint, .. } = node.kind {
                    plan.hops.push(self.endpoint_hop(tree, node, endpoint));
                }
            }
        }
    }

    /// One hop (or one note) for a node of the tree.
    fn plan_node(&self, tree: &PortHops<'_>, node: &HopNode<'_>, via: Via, plan: &mut ProbePlan) {
        let port = tree.port;
        let words = PortWords(port);
        match &node.kind {
            HopKind::Ingress { rule, .. } if via.includes(ProbeKind::Ingress) => {
                plan.hops.push(self.ingress_hop(tree, node, rule));
            }
            HopKind::GatewayRoute { route, .. } if via.includes(ProbeKind::Gateway) => {
                if route.kind == RouteKind::Udp {
                    plan.notes.extend(unprobed_route_note(tree, route));
                } else if let Some(hop) = self.gateway_hop(tree, node, route) {
                    plan.hops.push(hop);
                }
            }
            HopKind::LoadBalancerPending if via.includes(ProbeKind::LoadBalancer) => {
                plan.notes.push(format!(
                    "port {words}: the LoadBalancer is pending (no ingress in status): no address to probe"
                ));
            }
            HopKind::LoadBalancer { entry, .. } if via.includes(ProbeKind::LoadBalancer) => {
                if let Some(target) = load_balancer_target(entry) {
                    plan.hops
                        .push(self.hop(tree, node, ProbeKind::LoadBalancer, target));
                }
            }
            HopKind::NodePorts { node_port }
                if via.includes(ProbeKind::NodePort) && node.children.is_empty() =>
            {
                plan.notes.push(format!(
                    "port {words}: nodePort {node_port} has no node address to probe (no node known)"
                ));
            }
            HopKind::NodePort { row } if via.includes(ProbeKind::NodePort) => {
                if let Ok(number) = u16::try_from(row.port) {
                    let target = ProbeTarget::Address {
                        ip: row.address,
                        port: number,
                    };
                    let mut hop = self.hop(tree, node, ProbeKind::NodePort, target);
                    hop.node = Some(row.node.clone());
                    plan.hops.push(hop);
                }
            }
            HopKind::ClusterIp { hop } if via.includes(ProbeKind::ClusterIp) => {
                if tree.chain.details.not_proxied == Some(NotProxied::OtherProxy) {
                    plan.notes.push(format!(
                        "port {words}: kube-proxy does not program this Service (another proxy owns it): the ClusterIP is not probed"
                    ));
                } else if let Ok(number) = u16::try_from(hop.port) {
                    let target = ProbeTarget::Address {
                        ip: hop.ip,
                        port: number,
                    };
                    plan.hops
                        .push(self.hop(tree, node, ProbeKind::ClusterIp, target));
                }
            }
            HopKind::Headless if via.includes(ProbeKind::ClusterIp) => plan.notes.push(format!(
                "port {words}: headless (clusterIP None): no virtual IP to probe; clients connect to the endpoints directly"
            )),
            HopKind::NoEndpoints if via.includes(ProbeKind::Endpoint) => {
                plan.notes.push(format!("port {words}: no endpoints to probe"));
            }
            _ => {}
        }
    }

    /// A probe hop for a tree node: its key, label and expectation come from the tree.
    fn hop(
        &self,
        tree: &PortHops<'_>,
        node: &HopNode<'_>,
        kind: ProbeKind,
        target: ProbeTarget,
    ) -> ProbeHop {
        let hop = tree
            .hop(&node.kind)
            .unwrap_or(crate::model::Hop::ClusterIp {
                port: tree.port.port,
                protocol: tree.port.protocol,
            });
        let expected = tree
            .expectation(node, self.model, self.context.cluster_ip_client.as_ref())
            .unwrap_or_else(|| crate::hops::Expectation::Unrouted {
                reason: "the port number is out of range".to_owned(),
            });
        ProbeHop {
            key: tree.chain.hop_key(&hop),
            hop,
            kind,
            node: None,
            port: plan_port(tree.port),
            target,
            expected,
            http: http_for_port(tree.port),
            stream: None,
            fallbacks: Vec::new(),
            fingerprint: 0,
            label: node.kind.to_string(),
        }
    }

    fn endpoint_hop(
        &self,
        tree: &PortHops<'_>,
        node: &HopNode<'_>,
        endpoint: &PortEndpoint,
    ) -> ProbeHop {
        let info = &endpoint.info;
        let number = u16::try_from(endpoint.port).unwrap_or_default();
        let target = match (&info.pod, &info.namespace) {
            (Some(pod), Some(namespace)) => ProbeTarget::Pod {
                namespace: namespace.to_string(),
                pod: pod.to_string(),
                ip: info.ip,
                port: number,
            },
            _ => ProbeTarget::Address {
                ip: info.ip,
                port: number,
            },
        };
        let mut hop = self.hop(tree, node, ProbeKind::Endpoint, target);
        hop.node = info.node.as_deref().map(str::to_owned);
        hop.fallbacks = endpoint_extras(tree.chain, tree.port, endpoint, &mut hop.http);
        hop
    }

    /// An Ingress rule: an HTTP request with the rule's Host and path to the Ingress's first
    /// `status.loadBalancer` address.
    fn ingress_hop(&self, tree: &PortHops<'_>, node: &HopNode<'_>, rule: &IngressRef) -> ProbeHop {
        let addresses = self
            .context
            .ingress_addresses
            .get(&(rule.namespace.clone(), rule.name.clone()));
        let target = match addresses.and_then(|addresses| addresses.first()) {
            Some(IngressAddress::Ip(ip)) => ProbeTarget::Address { ip: *ip, port: 80 },
            Some(IngressAddress::Hostname(host)) => ProbeTarget::Hostname {
                host: host.clone(),
                port: 80,
            },
            None => ProbeTarget::Unaddressed {
                reason: format!(
                    "Ingress {}/{} has no address in status.loadBalancer (no ingress controller has admitted it)",
                    rule.namespace, rule.name
                ),
            },
        };
        let mut hop = self.hop(tree, node, ProbeKind::Ingress, target);
        hop.http = Some(HttpRequest {
            host: rule.host.clone(),
            path: rule.path.clone().unwrap_or_else(|| "/".to_owned()),
            tls: false,
            because: "Ingress rule".to_owned(),
        });
        hop
    }
}

impl Planner<'_> {
    /// A Gateway route hop through the Gateway's first address on the listener's port, only
    /// for attached routes whose backend is valid (the others are broken in the tree, nothing
    /// to probe): HTTP and gRPC routes get an HTTP request with the route's hostname and a
    /// path its rule matches (GW6), TLS routes a handshake with the route's hostname as SNI,
    /// TCP routes a connection and one line.
    fn gateway_hop(
        &self,
        tree: &PortHops<'_>,
        node: &HopNode<'_>,
        route: &crate::gateway::GatewayRouteRef,
    ) -> Option<ProbeHop> {
        if !route.passes() || unprobed_reason(route.kind).is_some() {
            return None;
        }
        let port = u16::try_from(route.gateway.port?).ok()?;
        let target = match route.gateway.addresses.first() {
            Some(address) => match address.parse::<IpAddr>() {
                Ok(ip) => ProbeTarget::Address { ip, port },
                Err(_) => ProbeTarget::Hostname {
                    host: address.clone(),
                    port,
                },
            },
            None => ProbeTarget::Unaddressed {
                reason: format!(
                    "Gateway {}/{} has no address",
                    route.gateway.namespace, route.gateway.name
                ),
            },
        };
        let mut hop = self.hop(tree, node, ProbeKind::Gateway, target);
        match route.kind {
            RouteKind::Tls => {
                hop.http = None;
                hop.stream = Some(StreamProbe::Tls {
                    sni: probe_host(&route.gateway.hostnames),
                });
            }
            RouteKind::Tcp => {
                hop.http = None;
                hop.stream = Some(StreamProbe::Tcp);
            }
            _ => {
                let host = route
                    .gateway
                    .hostnames
                    .iter()
                    .find(|h| !h.starts_with('*'))
                    .cloned();
                hop.http = Some(HttpRequest {
                    host,
                    path: probe_path(route),
                    tls: route.gateway.protocol.as_deref() == Some("HTTPS"),
                    because: format!("{} rule", route.kind),
                });
            }
        }
        Some(hop)
    }
}

/// Why a route kind's hops are not probed: UDP has no handshake to complete, and silence
/// proves nothing; gRPC needs HTTP/2, which the probe does not speak (an HTTP/1.1 request to
/// the Gateway would be matched against its HTTPRoutes, not its GRPCRoutes, and prove nothing
/// about the gRPC route).
fn unprobed_reason(kind: RouteKind) -> Option<&'static str> {
    match kind {
        RouteKind::Udp => Some("UDP has no handshake"),
        RouteKind::Grpc => Some("gRPC needs HTTP/2, which the probe does not speak yet"),
        _ => None,
    }
}

/// The notes of a port's route hops that are not probed ([`unprobed_reason`]).
pub(super) fn unprobed_route_notes(tree: &PortHops<'_>, via: Via) -> Vec<String> {
    if !via.includes(ProbeKind::Gateway) {
        return Vec::new();
    }
    tree.walk()
        .filter_map(|node| match &node.kind {
            HopKind::GatewayRoute { route, .. } => unprobed_route_note(tree, route),
            _ => None,
        })
        .collect()
}

fn unprobed_route_note(
    tree: &PortHops<'_>,
    route: &crate::gateway::GatewayRouteRef,
) -> Option<String> {
    let reason = unprobed_reason(route.kind)?;
    route.passes().then(|| {
        format!(
            "port {}: {} {}/{} through Gateway {}/{}: not probed: {reason}",
            PortWords(tree.port),
            route.kind,
            route.namespace,
            route.name,
            route.gateway.namespace,
            route.gateway.name
        )
    })
}

/// The server name a TLS route hop's handshake asks for: the route's first exact hostname on
/// the listener, else a name under its first wildcard (`*.shop.test`: `probe.shop.test`), else
/// (every name) `probe.kubehop.invalid`.
fn probe_host(hostnames: &[String]) -> String {
    if let Some(exact) = hostnames.iter().find(|h| !h.starts_with('*')) {
        return exact.clone();
    }
    match hostnames.first().and_then(|h| h.strip_prefix("*.")) {
        Some(suffix) => format!("probe.{suffix}"),
        None => "probe.kubehop.invalid".to_owned(),
    }
}

/// A path the route's rule matches: its first match's Exact or PathPrefix value, else `/`.
fn probe_path(route: &crate::gateway::GatewayRouteRef) -> String {
    let first = route.matches.first().map(String::as_str).unwrap_or("");
    let mut words = first.split(' ');
    match (words.next(), words.next()) {
        (Some("Exact" | "PathPrefix"), Some(path)) => path.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Where a load balancer entry is reached: its IP, else its hostname; `None` for an empty
/// entry.
fn load_balancer_target(entry: &LoadBalancerEntry) -> Option<ProbeTarget> {
    let port = u16::try_from(entry.port).unwrap_or_default();
    match (&entry.ip, &entry.hostname) {
        (Some(ip), _) => Some(match ip.trim().parse::<IpAddr>() {
            Ok(parsed) => ProbeTarget::Address { ip: parsed, port },
            Err(_) => ProbeTarget::Unaddressed {
                reason: format!("{ip:?} is not an IP address"),
            },
        }),
        (None, Some(host)) => Some(ProbeTarget::Hostname {
            host: host.clone(),
            port,
        }),
        (None, None) => None,
    }
}

fn plan_port(port: &PortChain) -> PlanPort {
    PlanPort {
        name: port.name.clone(),
        port: port.port,
        protocol: port.protocol,
        target_port: port.target_port.clone(),
    }
}
