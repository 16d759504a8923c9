//! Listeners the sandbox could not open, as it publishes them on every Node (annotation
//! [`UNBOUND_ANNOTATION`]): a non-root sandbox cannot listen on ports below 1024, so a
//! Service on port 80 has no listener there, through no fault of the cluster. The annotation
//! travels with the Node objects, so a live source, a dump of the same cluster and the
//! sandbox itself all see the same set; probes of such an address are "not reachable here",
//! never a refusal nobody predicted.
//!
//! The value is a comma-separated list of `ADDRESS=REASON`, sorted by address, e.g.
//! `127.33.0.1:80=privileged,127.33.0.2:443=privileged`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use k8s_openapi::api::core::v1::Node;

use crate::snapshot::ClusterSnapshot;

/// The Node annotation the sandbox publishes its unbound listeners in.
pub const UNBOUND_ANNOTATION: &str = "sandbox.kubehop.dev/unbound";

/// Why a listener could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UnboundReason {
    /// A port below 1024 and a process without the privilege to bind it.
    Privileged,
    /// Another program holds the address.
    InUse,
    /// Anything else.
    Failed,
}

impl UnboundReason {
    /// What a bind error means.
    pub fn of(error: &std::io::Error, port: u16) -> Self {
        match error.kind() {
            std::io::ErrorKind::PermissionDenied if port < 1024 => UnboundReason::Privileged,
            std::io::ErrorKind::AddrInUse => UnboundReason::InUse,
            _ => UnboundReason::Failed,
        }
    }

    /// The word in the annotation.
    pub fn as_str(self) -> &'static str {
        match self {
            UnboundReason::Privileged => "privileged",
            UnboundReason::InUse => "in-use",
            UnboundReason::Failed => "failed",
        }
    }

    fn parse(word: &str) -> Self {
        match word.trim() {
            "privileged" => UnboundReason::Privileged,
            "in-use" => UnboundReason::InUse,
            _ => UnboundReason::Failed,
        }
    }

    /// Why a probe of the address is not reachable here, in a user's words.
    pub fn explain(self) -> &'static str {
        match self {
            UnboundReason::Privileged => {
                "the sandbox needs root for ports below 1024 (or net.ipv4.ip_unprivileged_port_start)"
            }
            UnboundReason::InUse => {
                "the sandbox could not listen there: another program holds the address"
            }
            UnboundReason::Failed => "the sandbox could not listen there",
        }
    }
}

/// The sandbox's unbound listeners.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unbound {
    addresses: BTreeMap<SocketAddr, UnboundReason>,
}

impl Unbound {
    pub fn new(addresses: BTreeMap<SocketAddr, UnboundReason>) -> Self {
        Unbound { addresses }
    }

    /// The union of what the nodes' annotations say.
    pub fn from_nodes<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Self {
        let mut addresses = BTreeMap::new();
        for node in nodes {
            let Some(text) = node
                .metadata
                .annotations
                .as_ref()
                .and_then(|annotations| annotations.get(UNBOUND_ANNOTATION))
            else {
                continue;
            };
            addresses.extend(Self::parse(text).addresses);
        }
        Unbound { addresses }
    }

    pub fn from_snapshot(snapshot: &ClusterSnapshot) -> Self {
        Self::from_nodes(snapshot.nodes.iter().map(AsRef::as_ref))
    }

    /// Reads an annotation value; entries that do not parse are skipped.
    pub fn parse(text: &str) -> Self {
        let addresses = text
            .split(',')
            .filter_map(|entry| {
                let (address, reason) = entry.split_once('=').unwrap_or((entry, ""));
                let address = address.trim().parse::<SocketAddr>().ok()?;
                Some((address, UnboundReason::parse(reason)))
            })
            .collect();
        Unbound { addresses }
    }

    /// The annotation value (empty when nothing is unbound).
    pub fn annotation(&self) -> String {
        self.addresses
            .iter()
            .map(|(address, reason)| format!("{address}={}", reason.as_str()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Why `address` has no listener, if the sandbox could not open it.
    pub fn reason(&self, address: SocketAddr) -> Option<UnboundReason> {
        self.addresses.get(&address).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }

    pub fn len(&self) -> usize {
        self.addresses.len()
    }

    /// Whether some listener is missing for want of privilege.
    pub fn any_privileged(&self) -> bool {
        self.addresses
            .values()
            .any(|reason| *reason == UnboundReason::Privileged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotation_round_trips_and_merges_over_nodes() {
        let text = "127.33.0.1:80=privileged,[::1]:443=in-use,nonsense,127.0.0.9:8080=odd";
        let unbound = Unbound::parse(text);
        assert_eq!(unbound.len(), 3);
        assert_eq!(
            unbound.reason("127.33.0.1:80".parse().expect("address")),
            Some(UnboundReason::Privileged)
        );
        assert_eq!(
            unbound.reason("127.0.0.9:8080".parse().expect("address")),
            Some(UnboundReason::Failed)
        );
        assert_eq!(Unbound::parse(&unbound.annotation()), unbound);
        assert!(unbound.any_privileged());

        let node = |name: &str, value: Option<&str>| {
            let mut node = Node::default();
            node.metadata.name = Some(name.to_owned());
            node.metadata.annotations = value.map(|value| {
                [(UNBOUND_ANNOTATION.to_owned(), value.to_owned())]
                    .into_iter()
                    .collect()
            });
            node
        };
        let nodes = [
            node("a", Some("127.33.0.1:80=privileged")),
            node("b", None),
            node("c", Some("127.33.0.2:443=privileged")),
        ];
        let merged = Unbound::from_nodes(&nodes);
        assert_eq!(
            merged.annotation(),
            "127.33.0.1:80=privileged,127.33.0.2:443=privileged"
        );
        assert!(Unbound::default().annotation().is_empty());
    }
}
