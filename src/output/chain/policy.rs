//! The NetworkPolicy lines of a Service's text tree: one per hop that a default source of the
//! chain's `networkPolicy` block cannot pass (rules N1-N10).

use crate::engine::ServiceChain;
use crate::engine::netpol::Decision;
use crate::output::style::Style;

/// `policy: SOURCE cannot pass HOP: why` for each hop whose every endpoint denies the source.
pub(super) fn policy_lines(chain: &ServiceChain, style: Style) -> Vec<String> {
    let Some(view) = &chain.network_policy else {
        return Vec::new();
    };
    view.hops()
        .iter()
        .filter(|hop| hop.all_denied())
        .map(|hop| {
            let (seen, why) = view
                .verdicts(hop)
                .next()
                .map(|endpoint| {
                    let why = match &endpoint.verdict.egress {
                        Some(egress @ Decision::Denied { .. }) => format!("egress {egress}"),
                        _ => endpoint.verdict.ingress.to_string(),
                    };
                    (endpoint.verdict.seen_as.to_string(), why)
                })
                .unwrap_or_default();
            format!(
                "{} policy: {} cannot pass {} (seen as {seen}): {why}",
                style.broken(),
                hop.source,
                hop.hop
            )
        })
        .collect()
}
