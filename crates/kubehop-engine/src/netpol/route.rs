//! `kubehop route` with a source: the policy verdict for each endpoint kube-proxy may pick
//! (rules N8-N10 on top of the routing decision).

use super::view::SourceVerdict;
use super::{Client, DoorFacts, PolicyIndex};
use crate::model::{ProxyModel, TrafficPolicy};
use crate::pods;
use crate::route::{RouteDecision, RouteReason};

impl ProxyModel {
    /// The policy verdict from `client` to every endpoint of a forwarded decision; empty when
    /// the decision forwards nowhere.
    pub fn policy_verdicts(
        &self,
        decision: &RouteDecision,
        client: &Client<'_>,
    ) -> Vec<SourceVerdict> {
        let Some(matched) = &decision.matched else {
            return Vec::new();
        };
        let Some(chain) = self.service(&matched.namespace, &matched.service) else {
            return Vec::new();
        };
        let forwarding = decision.reasons.iter().find_map(|reason| match reason {
            RouteReason::ProcessedOn { node, .. } => Some(node.as_str()),
            _ => None,
        });
        let door = DoorFacts {
            via: matched.via,
            external_policy: chain
                .external_traffic_policy
                .unwrap_or(TrafficPolicy::Cluster),
            forwarding,
            proxy_address: None,
        };
        decision
            .endpoints
            .iter()
            .filter_map(|endpoint| {
                let endpoint = &endpoint.0;
                let pod = super::chain_pod(chain, endpoint.info.pod.as_deref()?)?;
                let seen = PolicyIndex::seen(client, &door, &self.nodes, endpoint.info.ip);
                Some(SourceVerdict {
                    pod: format!("{}/{}", pods::namespace(pod), pods::name(pod)).into(),
                    ip: endpoint.info.ip,
                    port: endpoint.port,
                    verdict: std::sync::Arc::new(self.policies.verdict(
                        &seen,
                        pod,
                        endpoint.port,
                        decision.destination.protocol,
                    )),
                })
            })
            .collect()
    }
}
