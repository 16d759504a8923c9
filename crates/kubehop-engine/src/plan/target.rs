//! Where a probe connects: Ingress addresses from the cluster's own objects, the target of a
//! hop, and `ip:port` text.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::networking::v1::Ingress;
use serde::Serialize;

use crate::hops::SocketText;
use crate::route::TrafficSource;
use crate::snapshot::ClusterSnapshot;

/// An address an Ingress controller published in the Ingress's `status.loadBalancer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum IngressAddress {
    Ip(IpAddr),
    Hostname(String),
}

/// What the plan needs beyond the model: Ingress addresses (the model keeps Ingress rules, not
/// their status) and where ClusterIP connections are assumed to come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanContext {
    /// `status.loadBalancer.ingress` of each Ingress, by (namespace, name).
    pub ingress_addresses: BTreeMap<(String, String), Vec<IngressAddress>>,
    /// The client of ClusterIP hops; default: a host process on the first node by name (what
    /// matters only for internalTrafficPolicy Local, rule D7).
    pub cluster_ip_client: Option<TrafficSource>,
}

impl PlanContext {
    /// Ingress addresses from the snapshot's Ingress objects.
    pub fn from_snapshot(snapshot: &ClusterSnapshot) -> Self {
        PlanContext {
            ingress_addresses: ingress_addresses(snapshot.ingresses.iter().map(AsRef::as_ref)),
            cluster_ip_client: None,
        }
    }
}

/// `status.loadBalancer.ingress` of each Ingress, by (namespace, name).
pub fn ingress_addresses<'a>(
    ingresses: impl IntoIterator<Item = &'a Ingress>,
) -> BTreeMap<(String, String), Vec<IngressAddress>> {
    let mut out = BTreeMap::new();
    for ingress in ingresses {
        let namespace = ingress
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let name = ingress.metadata.name.clone().unwrap_or_default();
        let entries = ingress
            .status
            .as_ref()
            .and_then(|status| status.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_deref())
            .unwrap_or_default();
        let mut addresses = Vec::new();
        for entry in entries {
            if let Some(ip) = entry.ip.as_deref().and_then(|ip| ip.trim().parse().ok()) {
                addresses.push(IngressAddress::Ip(ip));
            } else if let Some(host) = entry.hostname.as_deref().filter(|h| !h.is_empty()) {
                addresses.push(IngressAddress::Hostname(host.to_owned()));
            }
        }
        out.insert((namespace, name), addresses);
    }
    out
}

/// Where a hop's connection goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ProbeTarget {
    /// A pod's port: reached through a port-forward via the API server, or directly.
    Pod {
        namespace: String,
        pod: String,
        ip: IpAddr,
        port: u16,
    },
    /// An IP address and port (ClusterIP, node address, LoadBalancer IP, an endpoint without a
    /// pod).
    Address { ip: IpAddr, port: u16 },
    /// A DNS name and port (a LoadBalancer or Ingress hostname).
    Hostname { host: String, port: u16 },
    /// Nothing to connect to; the reason says why (an Ingress without an address).
    Unaddressed { reason: String },
}

impl ProbeTarget {
    /// `127.0.0.5:8080`, `lb.example.com:80`, `shop/web-1 (127.0.0.5:8080)`.
    pub fn describe(&self) -> String {
        match self {
            ProbeTarget::Pod {
                namespace,
                pod,
                ip,
                port,
            } => format!("{namespace}/{pod} ({})", socket_text(*ip, *port)),
            ProbeTarget::Address { ip, port } => socket_text(*ip, *port),
            ProbeTarget::Hostname { host, port } => format!("{host}:{port}"),
            ProbeTarget::Unaddressed { reason } => format!("no address: {reason}"),
        }
    }

    /// The port connected to, when there is one.
    pub fn port(&self) -> Option<u16> {
        match self {
            ProbeTarget::Pod { port, .. }
            | ProbeTarget::Address { port, .. }
            | ProbeTarget::Hostname { port, .. } => Some(*port),
            ProbeTarget::Unaddressed { .. } => None,
        }
    }
}

/// `ip:port`, with brackets for IPv6.
pub fn socket_text(ip: IpAddr, port: u16) -> String {
    SocketText(ip, i32::from(port)).to_string()
}
