//! The Gateway data plane's sockets: every address:port a Gateway of the sandbox's class
//! listens on (its status address and each served listener's port: a protocol the sandbox
//! serves, no conflict with another listener on the port), with what the socket speaks and the
//! listener hostnames there (for HTTPS certificates). Which route rule and backend a request
//! or connection takes is the engine's business
//! ([`Gateways`](kubehop_engine::gateway::Gateways)); the data plane asks it per request.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use crate::gateway::attach;
use crate::gateway::objects::World;

/// What a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Https,
    TlsPassthrough,
    Tcp,
}

/// One socket of a Gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Socket {
    pub protocol: Protocol,
    pub namespace: String,
    pub gateway: String,
    /// The hostnames of its listeners (`None`: any host).
    pub hostnames: Vec<Option<String>>,
}

/// The sockets, by address.
pub type Tables = BTreeMap<SocketAddr, Socket>;

fn protocol_of(protocol: &str, mode: &str) -> Option<Protocol> {
    match (protocol, mode) {
        ("HTTP", _) => Some(Protocol::Http),
        ("HTTPS", "Terminate") => Some(Protocol::Https),
        ("TLS", "Passthrough") => Some(Protocol::TlsPassthrough),
        ("TCP", _) => Some(Protocol::Tcp),
        _ => None,
    }
}

/// The sockets of the Gateways of the sandbox's classes that have a status address.
pub fn tables(world: &World) -> Tables {
    let mut tables = Tables::new();
    for gateway in world.gateways.iter().filter(|g| world.is_ours(&g.class)) {
        for (index, listener) in gateway.listeners.iter().enumerate() {
            let Some(protocol) = protocol_of(&listener.protocol, &listener.tls_mode) else {
                continue;
            };
            if attach::conflict(gateway, index).is_some() {
                continue;
            }
            for ip in &gateway.addresses {
                let socket = tables
                    .entry(SocketAddr::new(IpAddr::V4(*ip), listener.port))
                    .or_insert_with(|| Socket {
                        protocol,
                        namespace: gateway.namespace.clone(),
                        gateway: gateway.name.clone(),
                        hostnames: Vec::new(),
                    });
                if socket.protocol == protocol
                    && socket.namespace == gateway.namespace
                    && socket.gateway == gateway.name
                {
                    socket.hostnames.push(listener.hostname.clone());
                }
            }
        }
    }
    tables
}

impl Socket {
    /// Whether a listener here takes `name` (for HTTPS certificates).
    pub fn names(&self, name: &str) -> bool {
        self.hostnames
            .iter()
            .any(|h| h.as_deref().is_none_or(|h| attach::covers(h, name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::tests::{gw, test_crds};
    use crate::gateway::{CONTROLLER_NAME, GROUP};
    use crate::store::Store;
    use serde_json::json;

    #[test]
    fn sockets_are_the_served_listeners_on_the_status_address() {
        let store = Store::new(1000);
        let mut objects = test_crds();
        objects.push(
            json!({"apiVersion": format!("{GROUP}/v1"), "kind": "GatewayClass",
            "metadata": {"name": "sandbox"}, "spec": {"controllerName": CONTROLLER_NAME}}),
        );
        let mut gateway = gw(
            "Gateway",
            "shop",
            "edge",
            json!({"gatewayClassName": "sandbox", "listeners": [
                {"name": "http", "port": 8080, "protocol": "HTTP"},
                {"name": "admin", "port": 8080, "protocol": "HTTP", "hostname": "admin.shop.test"},
                {"name": "tls", "port": 8443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
                {"name": "tcp", "port": 5432, "protocol": "TCP"},
                {"name": "udp", "port": 5353, "protocol": "UDP"},
                {"name": "clash", "port": 5432, "protocol": "HTTP"},
            ]}),
        );
        gateway["status"] = json!({"addresses": [{"type": "IPAddress", "value": "127.2.0.7"}]});
        objects.push(gateway);
        let mut pending = gw(
            "Gateway",
            "shop",
            "pending",
            json!({"gatewayClassName": "sandbox",
            "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}),
        );
        pending["status"] = json!({});
        objects.push(pending);
        let report = store.load_objects(objects);
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        let tables = tables(&World::read(&store));
        let got: Vec<(u16, Protocol, usize)> = tables
            .iter()
            .map(|(addr, s)| (addr.port(), s.protocol, s.hostnames.len()))
            .collect();
        assert_eq!(
            got,
            [
                (8080, Protocol::Http, 2),
                (8443, Protocol::TlsPassthrough, 1)
            ]
        );
        let http = &tables[&"127.2.0.7:8080".parse().unwrap()];
        assert!(http.names("admin.shop.test") && http.names("anything.test"));
    }
}
