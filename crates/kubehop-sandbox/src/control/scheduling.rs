//! The scheduler's filters, as the default scheduler's plugins run them on each node (in
//! their order, the first that fails names the reason): NodeUnschedulable (a cordoned node,
//! unless the pod tolerates `node.kubernetes.io/unschedulable`), TaintToleration (NoSchedule
//! and NoExecute taints; a NotReady node counts as tainted `node.kubernetes.io/not-ready`, as
//! the node lifecycle controller taints it) and NodeAffinity (`nodeSelector` and required
//! node affinity: matchExpressions In / NotIn / Exists / DoesNotExist / Gt / Lt, matchFields
//! on `metadata.name`). The reasons add up to the real FitError message.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Taint};
use serde_json::Value;

pub(crate) const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
pub(crate) const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Why a pod does not fit a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Misfit {
    Unschedulable,
    /// `{key: value}` of the first taint the pod does not tolerate.
    Taint(String),
    Affinity,
}

impl Misfit {
    fn reason(&self) -> String {
        match self {
            Misfit::Unschedulable => "node(s) were unschedulable".into(),
            Misfit::Taint(taint) => format!("node(s) had untolerated taint {taint}"),
            Misfit::Affinity => "node(s) didn't match Pod's node affinity/selector".into(),
        }
    }
}

/// The first filter `spec` (a pod spec) fails on `node`, if any.
pub(crate) fn misfit(spec: &Value, node: &Node) -> Option<Misfit> {
    let tolerations = tolerations(spec);
    let unschedulable = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    let cordon = taint(UNSCHEDULABLE_TAINT, "NoSchedule");
    if unschedulable && !tolerations.iter().any(|t| tolerates(t, &cordon)) {
        return Some(Misfit::Unschedulable);
    }
    let mut taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    if !is_ready(node) && !taints.iter().any(|t| t.key == NOT_READY_TAINT) {
        taints.push(taint(NOT_READY_TAINT, "NoSchedule"));
    }
    if let Some(untolerated) = taints.iter().find(|t| {
        matches!(t.effect.as_str(), "NoSchedule" | "NoExecute")
            && !tolerations.iter().any(|tol| tolerates(tol, t))
    }) {
        let value = untolerated.value.as_deref().unwrap_or("");
        return Some(Misfit::Taint(format!("{{{}: {value}}}", untolerated.key)));
    }
    (!matches_affinity(spec, node)).then_some(Misfit::Affinity)
}

/// The message of a pod no node fits (`total` nodes, one misfit each), as the scheduler's
/// FitError spells it, with the preemption postfilter's verdict.
pub(crate) fn unschedulable_message(total: usize, misfits: &[Misfit]) -> String {
    if total == 0 {
        return "no nodes available to schedule pods".into();
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for misfit in misfits {
        *counts.entry(misfit.reason()).or_default() += 1;
    }
    let mut reasons: Vec<String> = counts
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    reasons.sort();
    format!(
        "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling.",
        reasons.join(", ")
    )
}

fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        effect: effect.into(),
        ..Taint::default()
    }
}

pub(crate) fn is_ready(node: &Node) -> bool {
    // A node without conditions has not reported yet; the sandbox registers it Ready.
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_none_or(|c| {
            c.iter()
                .find(|c| c.type_ == "Ready")
                .is_none_or(|c| c.status == "True")
        })
}

fn tolerations(spec: &Value) -> Vec<Value> {
    spec.get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `v1.Toleration.ToleratesTaint`.
fn tolerates(toleration: &Value, taint: &Taint) -> bool {
    let field = |k: &str| toleration.get(k).and_then(Value::as_str).unwrap_or("");
    let effect = field("effect");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = field("key");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match field("operator") {
        "Exists" => true,
        "" | "Equal" => !key.is_empty() && field("value") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// `nodeSelector` and required node affinity.
fn matches_affinity(spec: &Value, node: &Node) -> bool {
    let empty = BTreeMap::new();
    let labels = node.metadata.labels.as_ref().unwrap_or(&empty);
    let selector_ok = spec
        .get("nodeSelector")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let Some(terms) = spec
        .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
    else {
        return selector_ok;
    };
    let name = node.metadata.name.as_deref().unwrap_or("");
    selector_ok && terms.iter().any(|term| term_matches(term, labels, name))
}

/// One nodeSelectorTerm: every expression and field requirement holds (an empty term
/// matches nothing).
fn term_matches(term: &Value, labels: &BTreeMap<String, String>, name: &str) -> bool {
    let list = |k: &str| {
        term.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (expressions, fields) = (list("matchExpressions"), list("matchFields"));
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    expressions
        .iter()
        .all(|e| requirement(e, |key| labels.get(key).map(String::as_str)))
        && fields
            .iter()
            .all(|e| requirement(e, |key| (key == "metadata.name").then_some(name)))
}

fn requirement<'a>(expression: &Value, get: impl Fn(&str) -> Option<&'a str>) -> bool {
    let key = expression.get("key").and_then(Value::as_str).unwrap_or("");
    let values: Vec<&str> = expression
        .get("values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let value = get(key);
    let number = |s: &str| s.parse::<i64>().ok();
    match expression
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(number), values.first().and_then(|v| number(v))), (Some(v), Some(limit)) if v > limit)
        }
        "Lt" => {
            matches!((value.and_then(number), values.first().and_then(|v| number(v))), (Some(v), Some(limit)) if v < limit)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn node(value: Value) -> Node {
        serde_json::from_value(value).expect("node")
    }

    fn linux() -> Node {
        node(
            json!({"metadata": {"name": "node-1", "labels": {"kubernetes.io/os": "linux", "beta.kubernetes.io/os": "linux", "zone": "a"}}}),
        )
    }

    #[rstest]
    #[case(json!({"nodeSelector": {"beta.kubernetes.io/os": "linux"}}), None)]
    #[case(json!({"nodeSelector": {"kubernetes.io/os": "windows"}}), Some(Misfit::Affinity))]
    #[case(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}, {"key": "gpu", "operator": "DoesNotExist"}]}]}}}}), None)]
    #[case(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}]}}}}), Some(Misfit::Affinity))]
    #[case(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-1"]}]}]}}}}), None)]
    #[case(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]}]}}}}), Some(Misfit::Affinity))]
    fn node_affinity(#[case] spec: Value, #[case] expected: Option<Misfit>) {
        assert_eq!(misfit(&spec, &linux()), expected);
    }

    #[rstest]
    #[case(json!({}), Some(Misfit::Taint("{dedicated: infra}".into())))]
    #[case(json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"}]}), None)]
    #[case(json!({"tolerations": [{"key": "dedicated", "value": "other"}]}), Some(Misfit::Taint("{dedicated: infra}".into())))]
    #[case(json!({"tolerations": [{"operator": "Exists"}]}), None)]
    #[case(json!({"tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]}), Some(Misfit::Taint("{dedicated: infra}".into())))]
    fn taints_and_tolerations(#[case] spec: Value, #[case] expected: Option<Misfit>) {
        let tainted = node(json!({"metadata": {"name": "n"}, "spec": {"taints": [
            {"key": "soft", "effect": "PreferNoSchedule"},
            {"key": "dedicated", "value": "infra", "effect": "NoSchedule"}]}}));
        assert_eq!(misfit(&spec, &tainted), expected);
    }

    #[test]
    fn cordoned_and_not_ready_nodes() {
        let cordoned = node(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}}));
        assert_eq!(misfit(&json!({}), &cordoned), Some(Misfit::Unschedulable));
        let daemon = json!({"tolerations": [{"key": UNSCHEDULABLE_TAINT, "operator": "Exists", "effect": "NoSchedule"}]});
        assert_eq!(misfit(&daemon, &cordoned), None);
        let not_ready = node(
            json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
        );
        assert_eq!(
            misfit(&json!({}), &not_ready),
            Some(Misfit::Taint("{node.kubernetes.io/not-ready: }".into()))
        );
    }

    #[test]
    fn the_message_counts_reasons_in_order() {
        let message = unschedulable_message(
            3,
            &[
                Misfit::Affinity,
                Misfit::Taint("{node-role.kubernetes.io/control-plane: }".into()),
                Misfit::Affinity,
            ],
        );
        assert_eq!(
            message,
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
    }
}
