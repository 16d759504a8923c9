//! The policy diagnostics (docs/diagnostics.md): `policy-isolated-no-allow`,
//! `policy-port-name-unresolved`, `policy-denies-ingress-controller` per Service and
//! `policy-selects-nothing` per policy. Each fires only on evidence in the objects.

use std::collections::BTreeSet;

use crate::objects::PodInfo;

use super::PolicyIndex;
use super::compile::PortSpec;
use super::eval::named_port;
use super::view::{ChainPolicies, PodCache};
use crate::diagnostics::{Diagnostic, DiagnosticCode, Severity, Subject};
use crate::model::ServiceChain;
use crate::pods;
use crate::snapshot::{ClusterSnapshot, ResourceKind};

/// The findings of one Service whose endpoints some policy isolates.
pub(super) fn chain_findings<'c>(
    index: &PolicyIndex,
    chain: &'c ServiceChain,
    view: &ChainPolicies,
    cache: &mut PodCache<'c>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    out.extend(isolated_no_allow(index, chain, cache));
    out.extend(port_name_unresolved(index, cache));
    out.extend(denies_ingress_controller(view));
    out
}

/// N3: every endpoint is isolated for ingress and no rule opens its port to anyone.
fn isolated_no_allow<'c>(
    index: &PolicyIndex,
    chain: &'c ServiceChain,
    cache: &mut PodCache<'c>,
) -> Option<Diagnostic> {
    let mut checked = 0usize;
    let mut ports: Vec<(i32, crate::model::Protocol)> = Vec::new();
    // Per class of pods (same labels and declared ports) and port: whether the port is open
    // (a chain has few of them); and the classes seen.
    let mut open: Vec<((usize, i32, crate::model::Protocol), Option<bool>)> = Vec::new();
    let mut classes: Vec<usize> = Vec::new();
    // The endpoints of a port are mostly of one class: the last one asked, first.
    let mut last = None;
    for port in &chain.ports {
        for endpoint in &port.endpoints {
            // The chain's view registered every endpoint whose pod is known.
            let (pod, class, _) = cache.endpoint(endpoint)?;
            let key = (class, endpoint.port, port.protocol);
            checked += 1;
            if last == Some(key) {
                continue;
            }
            last = Some(key);
            let is_open = match open.iter().find(|(known, _)| *known == key) {
                Some((_, is_open)) => *is_open,
                None => {
                    let is_open = index.ingress_port_open_with(
                        cache.selecting(class),
                        pod,
                        endpoint.port,
                        port.protocol,
                    );
                    open.push((key, is_open));
                    is_open
                }
            };
            if is_open != Some(false) {
                return None;
            }
            if !classes.contains(&class) {
                classes.push(class);
            }
            let port = (endpoint.port, port.protocol);
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
    }
    if checked == 0 {
        return None;
    }
    // The keys of the policies isolating the classes for ingress, each once, sorted (each
    // class's keys are sorted already; most chains have one class).
    let keys: Vec<_> = classes
        .iter()
        .filter_map(|class| Some(cache.keys(index, *class)?.0.clone()))
        .collect();
    let mut policies: Vec<&str> = keys
        .iter()
        .flat_map(|keys| keys.iter())
        .map(|key| &**key)
        .collect();
    if keys.len() > 1 {
        policies.sort_unstable();
        policies.dedup();
    }
    // Sorted as text, as they read.
    let mut ports: Vec<String> = ports
        .into_iter()
        .map(|(number, protocol)| format!("{number}/{protocol}"))
        .collect();
    ports.sort_unstable();
    // Written once into a string of its size (the finding fires on every chain it covers).
    let (head, middle, tail) = (
        "Every endpoint pod is isolated for ingress by NetworkPolicy ",
        " and no rule of those policies admits any source on port ",
        ": connections time out; add an ingress rule for the clients that need it (see docs/diagnostics.md#policy-isolated-no-allow).",
    );
    let mut message = String::with_capacity(
        head.len() + middle.len() + tail.len() + joined_len(&policies) + joined_len(&ports),
    );
    message.push_str(head);
    push_joined(&mut message, &policies);
    message.push_str(middle);
    push_joined(&mut message, &ports);
    message.push_str(tail);
    Some(Diagnostic::new(
        DiagnosticCode::PolicyIsolatedNoAllow,
        Subject::Service(chain.name.clone()),
        message,
    ))
}

/// `items` joined by `, `.
fn push_joined(out: &mut String, items: &[impl AsRef<str>]) {
    for (position, item) in items.iter().enumerate() {
        if position > 0 {
            out.push_str(", ");
        }
        out.push_str(item.as_ref());
    }
}

/// The length of `items` joined by `, ` (at most).
fn joined_len(items: &[impl AsRef<str>]) -> usize {
    items.iter().map(|item| item.as_ref().len() + 2).sum()
}

/// N7: a policy's named port that some endpoint pods it selects declare and others do not
/// (two versions of the pod template).
fn port_name_unresolved(index: &PolicyIndex, cache: &PodCache<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // Pods of one class have the same labels and declared ports: a policy selects all of
    // them or none, and they all declare a port name or none do.
    let classes = cache.class_count();
    // Only the policies that select an endpoint pod and name an ingress port, each once, in
    // policy order (most chains have none: nothing is collected).
    let mut policies: Vec<(usize, &super::Policy)> = (0..classes)
        .flat_map(|class| cache.selecting(class).iter())
        .filter_map(|i| Some((*i, index.policies().get(*i)?)))
        .filter(|(_, policy)| policy.names_ingress_port())
        .collect();
    policies.sort_by(|(_, a), (_, b)| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    policies.dedup_by(|(_, a), (_, b)| a.namespace == b.namespace && a.name == b.name);
    for (position, policy) in policies {
        let Some(rules) = &policy.ingress else {
            continue;
        };
        let names: BTreeSet<(&str, crate::model::Protocol)> = rules
            .iter()
            .flat_map(|rule| rule.ports.iter().flatten())
            .filter_map(|entry| match &entry.port {
                PortSpec::Name(name) => Some((name.as_str(), entry.protocol)),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            continue;
        }
        let selected: Vec<usize> = (0..classes)
            .filter(|class| cache.selecting(*class).contains(&position))
            .collect();
        for (name, protocol) in names {
            let declares =
                |class: usize| named_port(cache.class_pod(class), name, protocol).is_some();
            if selected.iter().all(|class| declares(*class))
                || !selected.iter().any(|class| declares(*class))
            {
                continue;
            }
            // The selected endpoint pods, sorted by name, split by their class.
            let (mut declaring, mut missing): (Vec<&PodInfo>, Vec<&PodInfo>) = Default::default();
            for (pod, class) in cache.endpoint_pods() {
                if selected.contains(&class) {
                    match declares(class) {
                        true => declaring.push(pod),
                        false => missing.push(pod),
                    }
                }
            }
            let (Some(first_missing), Some(first_declaring)) = (missing.first(), declaring.first())
            else {
                continue;
            };
            out.push(Diagnostic::new(
                DiagnosticCode::PolicyPortNameUnresolved,
                Subject::Pod(pods::name(first_missing).to_owned()),
                format!(
                    "NetworkPolicy {} allows port {name:?}/{protocol}, which pod {} declares but {} of the Service's pods ({}) do not: connections to those pods on that port are not admitted by the rule; declare the port in the pod template or name the port by number in the policy (see docs/diagnostics.md#policy-port-name-unresolved).",
                    policy.key(),
                    pods::name(first_declaring),
                    missing.len(),
                    crate::diagnostics::name_list(
                        &missing.iter().map(|pod| pods::name(pod)).collect::<Vec<_>>()
                    ),
                ),
            ));
        }
    }
    out
}

/// N10: an Ingress whose controller pods the backends' policies (or the controller's own
/// egress policies) do not let through.
fn denies_ingress_controller(view: &ChainPolicies) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut seen = BTreeSet::new();
    for hop in view.hops.iter().filter(|hop| hop.hop.is_ingress()) {
        let denied: Vec<_> = view
            .verdicts(hop)
            .filter(|endpoint| endpoint.verdict.allowed == Some(false))
            .collect();
        let Some(first) = denied.first() else {
            continue;
        };
        let super::view::HopLabel::Ingress(label) = &hop.hop else {
            continue;
        };
        let ingress = label.split('/').nth(2).unwrap_or_default().to_owned();
        if !seen.insert(ingress.clone()) {
            continue;
        }
        let decision = match &first.verdict.egress {
            Some(egress) if egress.allowed() == Some(false) => format!("egress {egress}"),
            _ => format!("{}", first.verdict.ingress),
        };
        let all = denied.len() == hop.len();
        let diagnostic = Diagnostic::new(
            DiagnosticCode::PolicyDeniesIngressController,
            Subject::Ingress(ingress.clone()),
            format!(
                "The Ingress controller pod {} cannot reach {} of {} endpoints ({} on port {}): {decision}; allow the controller's namespace and pods in the policy (see docs/diagnostics.md#policy-denies-ingress-controller).",
                hop.source.trim_start_matches("pod/"),
                denied.len(),
                hop.len(),
                first.pod,
                first.port,
            ),
        );
        out.push(if all {
            diagnostic
        } else {
            diagnostic.at(Severity::Warning)
        });
    }
    out
}

/// A policy that selects no pod while a pod of its namespace misses its `matchLabels` by
/// one value (a typo); with pods known only.
pub(crate) fn selects_nothing(
    index: &PolicyIndex,
    snapshot: &ClusterSnapshot,
) -> Vec<(String, Diagnostic)> {
    if index.is_empty() || !snapshot.has(ResourceKind::Pod) {
        return Vec::new();
    }
    // Which policies select some pod: each pod against the policies its labels index, until
    // every policy has one.
    let mut selected = vec![false; index.policies().len()];
    let mut unselected = selected.len();
    for pod in snapshot.pods.iter() {
        if unselected == 0 {
            break;
        }
        for position in index.selecting_indices(pod) {
            if let Some(flag) = selected.get_mut(position).filter(|flag| !**flag) {
                *flag = true;
                unselected -= 1;
            }
        }
    }
    let mut out = Vec::new();
    for (position, policy) in index.policies().iter().enumerate() {
        if selected.get(position).copied().unwrap_or(false) {
            continue;
        }
        let Some(pairs) = policy
            .selector
            .plain_pairs()
            .filter(|pairs| !pairs.is_empty())
        else {
            continue;
        };
        let near = snapshot
            .pods
            .iter()
            .filter(|pod| pods::namespace(pod) == policy.namespace)
            .find_map(|pod| one_value_off(pod, pairs));
        let Some((pod, key, actual)) = near else {
            continue;
        };
        out.push((
            policy.namespace.clone(),
            Diagnostic::new(
                DiagnosticCode::PolicySelectsNothing,
                Subject::NetworkPolicy(policy.name.clone()),
                format!(
                    "NetworkPolicy {} selects no pod ({}), while pod {pod} carries {key}={actual}: the policy protects nothing; fix the podSelector (see docs/diagnostics.md#policy-selects-nothing).",
                    policy.key(),
                    policy.selector,
                ),
            ),
        ));
    }
    out
}

/// (pod, key, its value) when the pod carries every pair but one, and that one's key with
/// another value.
fn one_value_off(pod: &PodInfo, pairs: &[(String, String)]) -> Option<(String, String, String)> {
    let labels = pods::labels(pod)?;
    let mut wrong = pairs
        .iter()
        .filter(|(key, value)| labels.get(key) != Some(value.as_str()));
    let (key, _) = wrong.next()?;
    if wrong.next().is_some() {
        return None;
    }
    let actual = labels.get(key)?;
    Some((pods::name(pod).to_owned(), key.clone(), actual.to_owned()))
}
