//! The `:` lists: `:pods` (the pods behind the Services in scope, each with its hops), `:ep`
//! (every endpoint) and `:ing` (every Ingress rule), built from the model on screen.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::drill::{RowTarget, TablePage, TableRow, pod_ref};
use super::state::AppState;
use crate::engine::model::ServiceChain;

/// The Services in the namespace scope.
fn in_scope(state: &AppState) -> Vec<Arc<ServiceChain>> {
    let Some(catalog) = state.shown() else {
        return Vec::new();
    };
    catalog
        .model
        .services
        .iter()
        .filter(|chain| {
            state
                .namespace
                .as_deref()
                .is_none_or(|scope| scope == chain.namespace)
        })
        .cloned()
        .collect()
}

/// `80`, or `53/UDP` for a protocol other than TCP.
fn port_label(port: &crate::engine::model::PortChain) -> String {
    if port.protocol == crate::engine::model::Protocol::Tcp {
        port.port.to_string()
    } else {
        format!("{}/{}", port.port, port.protocol)
    }
}

fn ready_word(ready: bool) -> String {
    if ready { "ready" } else { "NOT READY" }.to_owned()
}

/// A `:pods` row of a pod that fails: not ready and not going away.
pub fn is_failing_pod(row: &TableRow) -> bool {
    matches!(row.target, RowTarget::Pod(_))
        && row
            .cells
            .get(1)
            .is_some_and(|ready| *ready == ready_word(false))
}

/// A pod of `:pods`: ready, node, IP, and the hops that reach it.
struct PodRow {
    ready: bool,
    /// Being deleted: not ready because it is going away, not because it fails.
    terminating: bool,
    node: String,
    ip: String,
    hops: Vec<String>,
}

/// `:pods`: one row per pod behind a Service, with every hop that reaches it; the pods that
/// are not ready first.
pub fn pods(state: &AppState) -> TablePage {
    let mut pods: BTreeMap<(String, String), PodRow> = BTreeMap::new();
    for chain in in_scope(state) {
        for port in &chain.ports {
            for endpoint in &port.endpoints {
                let info = &endpoint.info;
                let Some(pod) = &info.pod else { continue };
                let entry = pods
                    .entry((chain.namespace.clone(), pod.to_string()))
                    .or_insert_with(|| PodRow {
                        ready: info.ready,
                        terminating: info.terminating,
                        node: info.node.as_deref().unwrap_or("-").to_owned(),
                        ip: info.ip.to_string(),
                        hops: Vec::new(),
                    });
                entry.hops.push(format!(
                    "{}:{}→:{}",
                    chain.name,
                    port_label(port),
                    endpoint.port
                ));
            }
        }
    }
    // Pods that are not ready first (what a diagnosis looks for: those failing, then those
    // going away), then by namespace/name.
    let mut pods: Vec<((String, String), PodRow)> = pods.into_iter().collect();
    pods.sort_by_key(|(_, row)| (row.ready, row.terminating));
    let rows = pods
        .into_iter()
        .map(|((namespace, name), row)| TableRow {
            cells: vec![
                format!("{namespace}/{name}"),
                if row.terminating && !row.ready {
                    "terminating".to_owned()
                } else {
                    ready_word(row.ready)
                },
                row.node,
                row.ip,
                row.hops.join(", "),
            ],
            target: RowTarget::Pod(crate::cluster::inspect::ObjectRef {
                kind: crate::cluster::inspect::ObjectKind::Pod,
                namespace: Some(namespace),
                name,
            }),
        })
        .collect();
    TablePage {
        title: "Pods behind Services".to_owned(),
        columns: vec![
            "POD",
            "READY",
            "NODE",
            "IP",
            "HOPS (service:port→:targetPort)",
        ],
        rows,
        cursor: 0,
    }
}

/// `:ep`: every endpoint of every Service port.
pub fn endpoints(state: &AppState) -> TablePage {
    let mut rows = Vec::new();
    for chain in in_scope(state) {
        for port in &chain.ports {
            for endpoint in &port.endpoints {
                let info = &endpoint.info;
                let target = match &info.pod {
                    Some(pod) => RowTarget::Pod(pod_ref(&chain, pod)),
                    None => RowTarget::Service(chain.key()),
                };
                rows.push(TableRow {
                    cells: vec![
                        format!("{}/{}:{}", chain.namespace, chain.name, port.port),
                        format!("{}:{}", info.ip, endpoint.port),
                        ready_word(info.ready),
                        info.pod.as_deref().unwrap_or("-").to_owned(),
                        info.node.as_deref().unwrap_or("-").to_owned(),
                    ],
                    target,
                });
            }
        }
    }
    TablePage {
        title: "Endpoints".to_owned(),
        columns: vec!["SERVICE:PORT", "ENDPOINT", "READY", "POD", "NODE"],
        rows,
        cursor: 0,
    }
}

/// `:ing`: every Ingress rule and the Service it sends to.
pub fn ingresses(state: &AppState) -> TablePage {
    let mut rows = Vec::new();
    for chain in in_scope(state) {
        for ingress in &chain.ingresses {
            let port = ingress
                .service_port
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string);
            let rule = if ingress.default_backend {
                "(default backend)".to_owned()
            } else {
                format!(
                    "{}{}",
                    ingress.host.as_deref().unwrap_or("*"),
                    ingress.path.as_deref().unwrap_or("")
                )
            };
            rows.push(TableRow {
                cells: vec![
                    format!("{}/{}", ingress.namespace, ingress.name),
                    rule,
                    format!("{}/{}:{port}", chain.namespace, chain.name),
                ],
                target: RowTarget::Service(chain.key()),
            });
        }
    }
    TablePage {
        title: "Ingress rules".to_owned(),
        columns: vec!["INGRESS", "HOST/PATH", "SERVICE:PORT"],
        rows,
        cursor: 0,
    }
}
