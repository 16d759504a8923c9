//! The nodes' data plane: each node's kube-proxy health, and forwarding between nodes.
//!
//! - The kube-proxy DaemonSet's pods (label `k8s-app=kube-proxy`) answer `GET /healthz` and
//!   `/livez` on [`HEALTH_PORT`] with 200 and kube-proxy's JSON, on their pod IP (reached by a
//!   port-forward) and on their node's address (`status.hostIP`), as kube-proxy does on the
//!   host network.
//! - A kube-proxy pod switched off with the readiness switch (`sandbox.kubehop.dev/ready:
//!   "false"`, [`set_node_proxy_healthy`]) is an unhealthy proxy: its health endpoint answers
//!   503, the pod turns NotReady, and the node's NodePorts stop answering (nothing programs
//!   them), as on a real node.
//! - [`CUT_ANNOTATION`] on a node (`sandbox.kubehop.dev/cut-from: node-1,node-3`, written by
//!   [`cut_nodes`] on both sides) breaks forwarding between it and the nodes listed:
//!   a connection entering one of them for a pod on the other is reset (the sandbox has
//!   already accepted it, so it cannot time out the handshake the way lost packets do).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

use crate::control::READY_ANNOTATION;
use crate::resources::ResourceId;
use crate::store::{Part, Store, StoreError, WriteOptions};
use kubehop_engine::ClusterSnapshot;

/// The port kube-proxy serves `/healthz` and `/livez` on.
pub const HEALTH_PORT: u16 = 10256;

/// The node annotation naming the nodes forwarding to and from this one is cut with.
pub const CUT_ANNOTATION: &str = "sandbox.kubehop.dev/cut-from";

/// Whether a pod is one of the kube-proxy DaemonSet's.
pub(crate) fn is_kube_proxy(pod: &Pod) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get("k8s-app"))
        .is_some_and(|app| app == "kube-proxy")
}

/// Whether the pod's readiness switch is off.
fn switched_off(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(READY_ANNOTATION))
        .is_some_and(|value| value == "false")
}

/// For a kube-proxy pod: whether its proxy is healthy (`None` for other pods).
pub(crate) fn proxy_health(pod: &Pod) -> Option<bool> {
    is_kube_proxy(pod).then(|| !switched_off(pod))
}

/// The nodes whose kube-proxy is switched off: their NodePorts do not answer.
pub(crate) fn proxy_down_nodes(snapshot: &ClusterSnapshot) -> BTreeSet<String> {
    snapshot
        .pods
        .iter()
        .filter_map(|pod| pod.object.as_deref())
        .filter(|pod| proxy_health(pod) == Some(false))
        .filter_map(|pod| kubehop_engine::pods::typed::node_name(pod).map(str::to_owned))
        .collect()
}

fn cut_list(node: &Node) -> Vec<String> {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(CUT_ANNOTATION))
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Every cut pair of nodes, both ways round.
pub(crate) fn cuts(snapshot: &ClusterSnapshot) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for node in &snapshot.nodes {
        let Some(name) = node.metadata.name.clone() else {
            continue;
        };
        for other in cut_list(node) {
            out.insert((name.clone(), other.clone()));
            out.insert((other, name.clone()));
        }
    }
    out
}

/// kube-proxy's answer to `/healthz` or `/livez` on `node`.
pub(crate) fn health_response(node: &str, healthy: bool, now: &str, head_only: bool) -> String {
    let body =
        json!({"lastUpdated": now, "currentTime": now, "nodeName": node, "nodeEligible": true})
            .to_string();
    let status = if healthy {
        "200 OK"
    } else {
        "503 Service Unavailable"
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        response.push_str(&body);
    }
    response
}

/// Makes the kube-proxy of `node` healthy or unhealthy (the readiness switch on its pods).
/// Returns how many pods were switched.
pub fn set_node_proxy_healthy(
    store: &Store,
    node: &str,
    healthy: bool,
) -> Result<usize, StoreError> {
    let (pods, _) = store.list_objects(ResourceId::Pods, Some("kube-system"));
    let mut switched = 0;
    for pod in pods.iter() {
        let value = pod.value();
        let on_node = value.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node);
        let proxy = value
            .pointer("/metadata/labels/k8s-app")
            .and_then(Value::as_str)
            == Some("kube-proxy");
        if !(on_node && proxy) {
            continue;
        }
        store.modify_object(
            ResourceId::Pods,
            "kube-system",
            pod.name(),
            Part::Whole,
            WriteOptions::controller(),
            |value| {
                set_annotation(value, READY_ANNOTATION, (!healthy).then_some("false"));
                Ok(())
            },
        )?;
        switched += 1;
    }
    Ok(switched)
}

/// Cuts (or heals) forwarding between nodes `a` and `b`.
pub fn cut_nodes(store: &Store, a: &str, b: &str, cut: bool) -> Result<(), StoreError> {
    for (node, other) in [(a, b), (b, a)] {
        store.modify_object(
            ResourceId::Nodes,
            "",
            node,
            Part::Whole,
            WriteOptions::controller(),
            |value| {
                let current: Vec<String> = value
                    .pointer(&format!(
                        "/metadata/annotations/{}",
                        CUT_ANNOTATION.replace('/', "~1")
                    ))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty() && *name != other)
                    .map(str::to_owned)
                    .collect();
                let mut list = current;
                if cut {
                    list.push(other.to_owned());
                }
                let text = list.join(",");
                set_annotation(
                    value,
                    CUT_ANNOTATION,
                    (!text.is_empty()).then_some(text.as_str()),
                );
                Ok(())
            },
        )?;
    }
    Ok(())
}

fn set_annotation(value: &mut Value, key: &str, wanted: Option<&str>) {
    if !value.get("metadata").is_some_and(Value::is_object) {
        value["metadata"] = json!({});
    }
    let metadata = &mut value["metadata"];
    if !metadata.get("annotations").is_some_and(Value::is_object) {
        metadata["annotations"] = json!({});
    }
    if let Some(annotations) = metadata["annotations"].as_object_mut() {
        match wanted {
            Some(text) => {
                annotations.insert(key.to_owned(), json!(text));
            }
            None => {
                annotations.remove(key);
            }
        }
        if annotations.is_empty()
            && let Some(metadata) = metadata.as_object_mut()
        {
            metadata.remove("annotations");
        }
    }
}
