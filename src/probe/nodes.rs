//! The nodes behind a Service's NodePort hops: each node's service proxy health endpoint,
//! checked through a port-forward to the proxy pod (rule K2: read-only, `pods/portforward`
//! only), and what the NodePort results say about the forwarding between nodes (K3).
//!
//! After the hops ran, a failed NodePort hop gets a node cause when the evidence names one:
//! - its node's proxy health check failed: the node's proxy is the broken hop;
//! - the same port answered on a node that hosts the endpoints while this node hosts none:
//!   forwarding from this node to the pods' node (routing, IP forwarding, the CNI) is the
//!   broken hop, not the Service.

use std::collections::{BTreeMap, BTreeSet};

use super::check::{self, CheckSpec, HttpSpec};
use super::outcome::{Agreement, HopResult, NodeCause, ProbeOutcome};
use super::{DialTarget, ProbeOptions, Transports};
use crate::engine::plan::{Expectation, HopKind, NodeProxyCheck, ProbePlan};
use crate::engine::verdict::ProbeFindingCode;

/// What one node's proxy health check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    pub check: NodeProxyCheck,
    /// `Ok(())` healthy (HTTP 200); `Err(what)` unhealthy; `None` not checked (no
    /// port-forward, forbidden, the pod gone).
    pub healthy: Option<Result<(), String>>,
}

impl NodeHealth {
    /// `kube-proxy /healthz through a port-forward to kube-system/kube-proxy-x`.
    fn source(&self) -> String {
        let check = &self.check;
        format!(
            "{} {} through a port-forward to {}/{}",
            check.kind, check.path, check.namespace, check.pod
        )
    }
}

/// Checks every proxy of `plan`, at most the options' concurrency at once.
pub async fn check_proxies(
    plan: &ProbePlan,
    transports: &Transports,
    options: &ProbeOptions,
) -> Vec<NodeHealth> {
    let slots = tokio::sync::Semaphore::new(options.concurrency.max(1));
    let checks: Vec<_> = plan
        .node_proxies
        .iter()
        .map(|check| {
            let slots = &slots;
            async move {
                // The semaphore is never closed; a failed acquire would only mean no limit.
                let _slot = slots.acquire().await.ok();
                NodeHealth {
                    check: check.clone(),
                    healthy: check_one(check, transports, options).await,
                }
            }
        })
        .collect();
    futures::future::join_all(checks).await
}

async fn check_one(
    check: &NodeProxyCheck,
    transports: &Transports,
    options: &ProbeOptions,
) -> Option<Result<(), String>> {
    let dialer = transports.port_forward.as_ref()?;
    let target = DialTarget::Pod {
        namespace: check.namespace.clone(),
        pod: check.pod.clone(),
        port: check.port,
    };
    let spec = CheckSpec {
        timeout: options.timeout,
        http: Some(HttpSpec {
            host: None,
            path: check.path.clone(),
            tls: false,
        }),
        answer_window: options.answer_window,
        stream: None,
    };
    judge(check::check(dialer.as_ref(), &target, HopKind::Endpoint, &spec).await)
}

fn judge(outcome: ProbeOutcome) -> Option<Result<(), String>> {
    match &outcome {
        ProbeOutcome::Connected { answer, .. } => match answer.as_ref().and_then(|a| a.status) {
            Some(200) => Some(Ok(())),
            Some(_) | None => Some(Err(answer
                .as_ref()
                .map_or_else(|| "no answer".to_owned(), |answer| answer.summary()))),
        },
        ProbeOutcome::Refused { .. }
        | ProbeOutcome::Reset { .. }
        | ProbeOutcome::TimedOut { .. } => Some(Err(outcome.to_string())),
        ProbeOutcome::ForwardFailed(_)
        | ProbeOutcome::Forbidden(_)
        | ProbeOutcome::DnsFailure(_)
        | ProbeOutcome::NotReachable(_) => None,
    }
}

/// Notes for the report: every proxy found unhealthy, every one that could not be checked.
pub fn notes(health: &[NodeHealth]) -> Vec<String> {
    health
        .iter()
        .filter_map(|found| match &found.healthy {
            Some(Ok(())) => None,
            Some(Err(what)) => Some(format!(
                "node {}: {} answered {what}: the node's service proxy is unhealthy",
                found.check.node,
                found.source()
            )),
            None => Some(format!(
                "node {}: {} could not be checked",
                found.check.node,
                found.source()
            )),
        })
        .collect()
}

/// Whether a NodePort result failed where a connection was predicted.
fn failed_connect(result: &HopResult) -> bool {
    result.kind == HopKind::NodePort
        && result.agreement == Agreement::Unexpected
        && matches!(result.expected, Expectation::Connect { .. })
        && !matches!(result.outcome, ProbeOutcome::Connected { .. })
}

/// Gives failed NodePort results their node cause (see the module documentation).
pub fn attribute(results: &mut [HopResult], plan: &ProbePlan, health: &[NodeHealth]) {
    let unhealthy: BTreeMap<&str, &NodeHealth> = health
        .iter()
        .filter(|found| matches!(found.healthy, Some(Err(_))))
        .map(|found| (found.check.node.as_str(), found))
        .collect();
    // Per Service port: the nodes whose NodePort answered as predicted.
    let mut answered: BTreeMap<(i32, String), BTreeSet<String>> = BTreeMap::new();
    for result in results.iter() {
        let Some(hop) = plan.hop(&result.key) else {
            continue;
        };
        if hop.kind == HopKind::NodePort
            && result.agreement == Agreement::Expected
            && matches!(result.outcome, ProbeOutcome::Connected { .. })
            && let Some(node) = &hop.node
        {
            answered
                .entry((hop.port.port, hop.port.protocol.to_string()))
                .or_default()
                .insert(node.clone());
        }
    }
    for result in results.iter_mut().filter(|result| failed_connect(result)) {
        let Some(hop) = plan.hop(&result.key) else {
            continue;
        };
        let Some(node) = hop.node.as_deref() else {
            continue;
        };
        if let Some(found) = unhealthy.get(node) {
            let what = match &found.healthy {
                Some(Err(what)) => what.clone(),
                _ => String::new(),
            };
            set_cause(
                result,
                ProbeFindingCode::NodeProxyDown,
                format!(
                    "node {node}'s {} is unhealthy ({} answered {what}), so nothing programs the node's Service rules: the node is the broken hop, not the Service",
                    found.check.kind,
                    found.source()
                ),
            );
            continue;
        }
        let Expectation::Connect { endpoints, .. } = &result.expected else {
            continue;
        };
        let hosting: BTreeSet<&str> = endpoints
            .iter()
            .filter_map(|endpoint| endpoint.node.as_deref())
            .collect();
        if hosting.is_empty() || hosting.contains(node) {
            continue;
        }
        let key = (hop.port.port, hop.port.protocol.to_string());
        let Some(good) = answered
            .get(&key)
            .and_then(|nodes| nodes.iter().find(|n| hosting.contains(n.as_str())))
        else {
            continue;
        };
        let pods_on: Vec<&str> = hosting.into_iter().collect();
        set_cause(
            result,
            ProbeFindingCode::NodeForwarding,
            format!(
                "the NodePort answers on {good}, which hosts the pods, but not through {node}: forwarding from {node} to {} (routing, IP forwarding, the CNI) is the broken hop, not the Service",
                pods_on.join(", ")
            ),
        );
    }
}

/// Records the node cause, and says it in the result's why too.
fn set_cause(result: &mut HopResult, code: ProbeFindingCode, text: String) {
    result.why = format!("{}; {text}", result.why);
    result.node_cause = Some(NodeCause { code, text });
}
