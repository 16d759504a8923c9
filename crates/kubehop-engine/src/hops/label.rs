//! The one textual form of each hop and of the pieces every view prints: `ip:port`, an Ingress
//! rule, a Service port in words. Views add their own decoration around these.

use std::fmt;
use std::net::IpAddr;

use super::HopKind;
use crate::model::{IngressRef, PortChain};

/// `ip:port`, with brackets for IPv6 (`[::1]:80`); a port outside 0-65535 is printed as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketText(pub IpAddr, pub i32);

impl fmt::Display for SocketText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}:{}", self.1),
            IpAddr::V6(v6) => write!(f, "[{v6}]:{}", self.1),
        }
    }
}

/// An address as written (an IP, or anything else the status holds) and a port: an IP is
/// printed as [`SocketText`], anything else as `address:port`.
pub fn address_text(address: &str, port: i32) -> String {
    match address.parse::<IpAddr>() {
        Ok(ip) => SocketText(ip, port).to_string(),
        Err(_) => format!("{address}:{port}"),
    }
}

/// An Ingress rule's match: `example.com/shop`, `*/shop` (any host), `default backend`.
#[derive(Debug, Clone, Copy)]
pub struct IngressRule<'a>(pub &'a IngressRef);

impl fmt::Display for IngressRule<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.0.host, &self.0.path) {
            (_, None) => f.write_str("default backend"),
            (Some(host), Some(path)) => write!(f, "{host}{path}"),
            (None, Some(path)) => write!(f, "*{path}"),
        }
    }
}

/// A Service port in words: `80/TCP (http)` or `80/TCP`.
#[derive(Debug, Clone, Copy)]
pub struct PortWords<'a>(pub &'a PortChain);

impl fmt::Display for PortWords<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = self.0;
        match &port.name {
            Some(name) if !name.is_empty() => {
                write!(f, "{}/{} ({name})", port.port, port.protocol)
            }
            _ => write!(f, "{}/{}", port.port, port.protocol),
        }
    }
}

/// What the hop is, in a few words: `ClusterIP 127.0.0.10:80`, `NodePort node-2
/// 127.0.1.2:30080`, `endpoint web-1 127.0.2.5:8080`, `Ingress shop/web example.com/`.
impl fmt::Display for HopKind<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HopKind::Ingress { rule, .. } => write!(
                f,
                "Ingress {}/{} {}",
                rule.namespace,
                rule.name,
                IngressRule(rule)
            ),
            HopKind::GatewayRoute { route, .. } => write!(f, "{}", GatewayRouteText(route)),
            HopKind::LoadBalancerPending => f.write_str("LoadBalancer <pending>"),
            HopKind::LoadBalancer { entry, .. } => match (&entry.ip, &entry.hostname) {
                (Some(ip), _) => write!(f, "LoadBalancer {}", address_text(ip, entry.port)),
                (None, Some(host)) => write!(f, "LoadBalancer {host}:{}", entry.port),
                (None, None) => f.write_str("LoadBalancer (empty ingress entry)"),
            },
            HopKind::ExternalIp { ip } => write!(f, "externalIP {ip}"),
            HopKind::NodePorts { node_port } => write!(f, "NodePort {node_port}"),
            HopKind::NodePort { row } => write!(
                f,
                "NodePort {} {}",
                row.node,
                SocketText(row.address, row.port)
            ),
            HopKind::ClusterIp { hop } => write!(f, "ClusterIP {}", SocketText(hop.ip, hop.port)),
            HopKind::ClusterIpMissing => f.write_str("ClusterIP (none in the input)"),
            HopKind::Headless => f.write_str("ClusterIP None (headless)"),
            HopKind::ExternalName { target } => {
                write!(f, "ExternalName → CNAME {}", target.unwrap_or("?"))
            }
            HopKind::EndpointSlice { name } => write!(f, "EndpointSlice {name}"),
            HopKind::Endpoint { endpoint, .. } => {
                let address = SocketText(endpoint.info.ip, endpoint.port);
                match &endpoint.info.pod {
                    Some(pod) => write!(f, "endpoint {pod} {address}"),
                    None => write!(f, "endpoint {address}"),
                }
            }
            HopKind::PodNotReceiving { mapping } => write!(f, "pod {}", mapping.pod),
            HopKind::NoEndpoints => f.write_str("no endpoints"),
        }
    }
}

/// A Gateway route hop in a few words: `Gateway infra/edge http:80 shop.test → HTTPRoute
/// shop/store rule 0 [PathPrefix /cart] 90/100`.
pub struct GatewayRouteText<'a>(pub &'a crate::gateway::GatewayRouteRef);

impl fmt::Display for GatewayRouteText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let route = self.0;
        let gateway = &route.gateway;
        write!(f, "Gateway {}/{}", gateway.namespace, gateway.name)?;
        match (&gateway.listener, gateway.port) {
            (Some(listener), Some(port)) => write!(f, " {listener}:{port}")?,
            (Some(listener), None) => write!(f, " {listener}")?,
            (None, Some(port)) => write!(f, " :{port}")?,
            (None, None) => {}
        }
        if !gateway.hostnames.is_empty() {
            write!(f, " {}", gateway.hostnames.join(","))?;
        }
        write!(
            f,
            " → {} {}/{} rule {}",
            route.kind, route.namespace, route.name, route.rule
        )?;
        if !route.matches.is_empty() {
            write!(f, " [{}]", route.matches.join(" | "))?;
        }
        if route.total_weight != route.weight {
            write!(f, " weight {}/{}", route.weight, route.total_weight)?;
        }
        if let Some(problem) = &gateway.problem {
            write!(f, " ({problem})")?;
        } else if let Some(problem) = route.backend_problem {
            write!(f, " ({})", problem.reason())?;
        }
        Ok(())
    }
}
