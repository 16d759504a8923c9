//! `kubehop route`'s NetworkPolicy verdict beside kube-proxy's: who the destination pods'
//! policies see as the source and whether they let it in (engine `netpol`, rules N1-N10).

use serde::Serialize;

use super::route::{RouteInputError, named_pod};
use super::tree::TreeNode;
use crate::engine::netpol::{Client, Decision, SourceVerdict};
use crate::engine::{ProxyModel, RouteDecision, RouteQuery, TrafficSource};

/// `policy` in `route -o json` (present only when the input has NetworkPolicies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutePolicy {
    /// `pod/NS/NAME`, `node/NAME`, `external`, `external/ADDRESS`, or `null` for a pod that is
    /// not named (then nothing is judged).
    pub source: Option<String>,
    /// One verdict per endpoint of the decision.
    pub endpoints: Vec<SourceVerdict>,
}

/// The `route` answer with the policy verdict.
#[derive(Serialize)]
pub struct RouteWithPolicy<'a> {
    #[serde(flatten)]
    pub decision: &'a RouteDecision,
    pub policy: &'a RoutePolicy,
}

/// The client the policies judge: a pod named by `--from pod/NS/NAME` or by `--source-ip`, a
/// node, or an outside client (with `--source-ip` as its address).
fn client<'m>(
    model: &'m ProxyModel,
    query: &'m RouteQuery,
    from: Option<&str>,
) -> Result<(Option<String>, Option<Client<'m>>), RouteInputError> {
    if let Some(pod) = from
        .map(|text| named_pod(model, text))
        .transpose()?
        .flatten()
    {
        let name = format!(
            "pod/{}/{}",
            crate::engine::pods::namespace(pod),
            crate::engine::pods::name(pod)
        );
        return Ok((Some(name), Some(Client::Pod(pod))));
    }
    Ok(match &query.source {
        TrafficSource::Pod { .. } => {
            match query
                .source_ip
                .and_then(|ip| model.policies().pod_by_ip(ip))
            {
                Some(pod) => (
                    Some(format!(
                        "pod/{}/{}",
                        crate::engine::pods::namespace(pod),
                        crate::engine::pods::name(pod)
                    )),
                    Some(Client::Pod(pod)),
                ),
                None => (None, None),
            }
        }
        TrafficSource::Node { node } => (Some(format!("node/{node}")), Some(Client::Node(node))),
        TrafficSource::External { .. } => (
            Some(match query.source_ip {
                Some(ip) => format!("external/{ip}"),
                None => "external".to_owned(),
            }),
            Some(Client::External(query.source_ip)),
        ),
    })
}

/// The policy verdict for a decision; `None` when the input has no NetworkPolicy.
pub fn evaluate(
    model: &ProxyModel,
    query: &RouteQuery,
    decision: &RouteDecision,
    from: Option<&str>,
) -> Result<Option<RoutePolicy>, RouteInputError> {
    if model.policies().is_empty() {
        return Ok(None);
    }
    let (source, client) = client(model, query, from)?;
    let endpoints = match &client {
        Some(client) => model.policy_verdicts(decision, client),
        None => Vec::new(),
    };
    Ok(Some(RoutePolicy { source, endpoints }))
}

/// The `policy` branch of the text tree.
pub fn add_text(root: &mut TreeNode, policy: &RoutePolicy) {
    let Some(source) = &policy.source else {
        root.child(
            "policy: not judged: name the client pod (--from pod/NAMESPACE/NAME or --source-ip) for a NetworkPolicy verdict",
        );
        return;
    };
    let node = root.child(format!("policy (NetworkPolicy, from {source})"));
    if policy.endpoints.is_empty() {
        node.child("no endpoint to judge");
    }
    for endpoint in &policy.endpoints {
        let verdict = &endpoint.verdict;
        let word = match verdict.allowed {
            Some(true) => "allowed",
            Some(false) => "denied",
            None => "undecided",
        };
        let line = node.child(format!(
            "{} {}:{}: {word}, seen as {}",
            endpoint.pod, endpoint.ip, endpoint.port, verdict.seen_as
        ));
        if let Some(egress) = &verdict.egress
            && !matches!(egress, Decision::NotIsolated)
        {
            line.child(format!("egress of the source: {egress}"));
        }
        line.child(format!("ingress of the pod: {}", verdict.ingress));
    }
}
