//! Opening the data plane's listening sockets, and remembering the ones that could not be
//! opened: run as a normal user, the sandbox cannot listen on ports below 1024. Those are
//! published on every Node ([`UNBOUND_ANNOTATION`]) so that whoever reads the cluster (the
//! TUI, `probe`, a dump of it) knows there is no listener there, and why.
//!
//! [`BindPolicy::unprivileged`] makes a root sandbox behave like a normal user's (ports below
//! 1024 fail with "permission denied"): the failure is testable without dropping privileges.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use kubehop_engine::unbound::{UNBOUND_ANNOTATION, Unbound, UnboundReason};
use serde_json::{Value, json};
use tokio::net::{TcpListener, UdpSocket};

use crate::resources::ResourceId;
use crate::store::{Part, Store, WriteOptions};

/// How listeners are opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindPolicy {
    /// Fail ports below 1024 as an unprivileged process would, even as root.
    pub unprivileged: bool,
}

impl BindPolicy {
    pub(crate) async fn bind(self, addr: SocketAddr) -> std::io::Result<TcpListener> {
        if self.unprivileged && addr.port() < 1024 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "Permission denied (the sandbox runs as if unprivileged)",
            ));
        }
        TcpListener::bind(addr).await
    }

    /// A UDP socket, under the same rule.
    pub(crate) async fn bind_udp(self, addr: SocketAddr) -> std::io::Result<UdpSocket> {
        if self.unprivileged && addr.port() < 1024 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "Permission denied (the sandbox runs as if unprivileged)",
            ));
        }
        UdpSocket::bind(addr).await
    }
}

/// The listeners that failed in the last sync, by address.
pub(crate) type Failed = BTreeMap<SocketAddr, UnboundReason>;

/// Writes `unbound` onto every Node whose annotation differs (removing it when nothing is
/// unbound); nodes that already say the same are not touched, so a sync that changes
/// nothing writes nothing.
pub(crate) fn publish(store: &Store, unbound: &Unbound) {
    let wanted = unbound.annotation();
    let pointer = format!(
        "/metadata/annotations/{}",
        UNBOUND_ANNOTATION.replace('/', "~1")
    );
    let (nodes, _) = store.list_objects(ResourceId::Nodes, None);
    for node in nodes.iter() {
        let value = node.value();
        let current = value
            .pointer(&pointer)
            .and_then(Value::as_str)
            .unwrap_or("");
        if current == wanted {
            continue;
        }
        let name = node.name().to_owned();
        let written = store.modify_object(
            ResourceId::Nodes,
            "",
            &name,
            Part::Whole,
            WriteOptions::controller(),
            |value| {
                set_annotation(value, &wanted);
                Ok(())
            },
        );
        if let Err(error) = written {
            tracing::debug!("sandbox data plane: cannot annotate node {name}: {error}");
        }
    }
}

fn set_annotation(node: &mut Value, wanted: &str) {
    let metadata = &mut node["metadata"];
    if !metadata["annotations"].is_object() {
        metadata["annotations"] = json!({});
    }
    let Some(annotations) = metadata["annotations"].as_object_mut() else {
        return;
    };
    if wanted.is_empty() {
        annotations.remove(UNBOUND_ANNOTATION);
    } else {
        annotations.insert(UNBOUND_ANNOTATION.to_owned(), json!(wanted));
    }
}
