//! NetworkPolicy in the data plane (rules N1-N10), judged by the engine's own evaluation
//! ([`ProxyModel::policy_verdicts`] for the front doors, [`PolicyIndex::verdict`] for
//! connections straight to a pod), so a probe proves what the chain says.
//!
//! Who the connection comes from is read from the peer address (on loopback a client may bind
//! any 127.x address before connecting): a pod's address is that pod, a node's address that
//! node's host; any other address is an outside client at a front door, a host process on the
//! first node at a cluster IP (as [`super::proxy`] routes it), and, straight to a pod, the
//! sandbox's own host reaching into the pod (like `kubectl port-forward`, which policies do not
//! see) — not judged. The Ingress controller is a host process on the first node.
//!
//! A denied connection is accepted and reset at once (the client sees "connection reset" on
//! its first read or write): quick, so tests need no long deadlines. Real network plugins
//! mostly drop the packets instead (Calico, Cilium, kube-router: the client's SYN goes
//! unanswered until it times out); some reject (Antrea's and OVN-Kubernetes' reject actions
//! send a TCP reset). An undecided verdict (an ipBlock over a pod address, which depends on
//! the plugin) is let through.
//!
//! [`PolicyIndex::verdict`]: kubehop_engine::netpol::PolicyIndex::verdict

use std::net::{IpAddr, SocketAddr};

use kubehop_engine::netpol::{Client, Seen};
use kubehop_engine::{ProxyModel, RouteDecision};

use super::proxy::DoorKind;

/// Who opens a connection the data plane judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opener {
    /// The client at the other end of the socket.
    Peer(IpAddr),
    /// The sandbox's Ingress controller or Gateway (host processes on the first node).
    IngressController,
}

/// The client as the policies know it, from its address.
fn client_of<'m>(model: &'m ProxyModel, opener: Opener, door: &DoorKind) -> Client<'m> {
    let first = || Client::Node(model.node_names().next().unwrap_or(""));
    let peer = match opener {
        Opener::IngressController => return first(),
        Opener::Peer(peer) => peer,
    };
    if let Some(pod) = model.policies().pod_by_ip(peer) {
        return Client::Pod(pod);
    }
    if let Some(node) = model.node_of_address(peer) {
        return Client::Node(node);
    }
    match door {
        DoorKind::ClusterIp => first(),
        DoorKind::NodePort { .. } | DoorKind::LoadBalancer => Client::External(Some(peer)),
    }
}

/// Whether the policies let `opener` reach `target`, the endpoint kube-proxy picked for
/// `decision` through `door`.
pub(crate) fn front_door_admits(
    model: &ProxyModel,
    decision: &RouteDecision,
    door: &DoorKind,
    opener: Opener,
    target: SocketAddr,
) -> bool {
    if model.policies().is_empty() {
        return true;
    }
    let client = client_of(model, opener, door);
    model
        .policy_verdicts(decision, &client)
        .iter()
        .find(|verdict| verdict.ip == target.ip() && i32::from(target.port()) == verdict.port)
        .is_none_or(|verdict| verdict.verdict.allowed != Some(false))
}

/// Whether the policies let `peer` connect straight to pod `namespace/name` on `local`'s port
/// (N8: the source pod's egress and the pod's ingress; N9: its own node is let in).
pub(crate) fn direct_admits(
    model: &ProxyModel,
    (namespace, name): (&str, &str),
    peer: IpAddr,
    local: SocketAddr,
) -> bool {
    let policies = model.policies();
    if policies.is_empty() {
        return true;
    }
    let Some(destination) = policies.pod(namespace, name) else {
        return true;
    };
    let seen = if let Some(pod) = policies.pod_by_ip(peer) {
        Seen::Pod(pod)
    } else if let Some(node) = model.node_of_address(peer) {
        Seen::Node {
            name: node,
            address: Some(peer),
        }
    } else {
        // The sandbox's host reaching into the pod: not something policies see.
        return true;
    };
    let verdict = policies.verdict(
        &seen,
        destination,
        i32::from(local.port()),
        kubehop_engine::model::Protocol::Tcp,
    );
    verdict.allowed != Some(false)
}
