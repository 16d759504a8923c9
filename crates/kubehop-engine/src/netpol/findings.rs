//! The policy diagnostics (docs/diagnostics.md): `policy-isolated-no-allow`,
//! `policy-port-name-unresolved`, `policy-denies-ingress-controller` per Service and
//! `policy-selects-nothing` per policy. Each fires only on evidence in the objects.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::objects::PodInfo;

use super::PolicyIndex;
use super::eval::named_port;
use super::view::{ChainPolicies, ClosedPort, PodCache};
use crate::diagnostics::{Diagnostic, DiagnosticCode, Severity, Subject};
use crate::model::ServiceChain;
use crate::pods;
use crate::snapshot::{ClusterSnapshot, ResourceKind};

/// The findings of one Service whose endpoints some policy isolates, added to `out`.
pub(super) fn chain_findings<'c>(
    index: &PolicyIndex,
    chain: &'c ServiceChain,
    view: &ChainPolicies,
    cache: &mut PodCache<'c>,
    out: &mut Vec<Diagnostic>,
) {
    let isolated = isolated_no_allow(index, chain, cache);
    let names = port_name_unresolved(index, cache);
    let controller = denies_ingress_controller(view);
    // The list stays with the model: grown by what is added, not doubled (most chains add
    // one finding to a list of one or two).
    out.reserve_exact(usize::from(isolated.is_some()) + names.len() + controller.len());
    out.extend(isolated);
    out.extend(names);
    out.extend(controller);
}

/// N3: every endpoint is isolated for ingress and no rule opens its port to anyone.
fn isolated_no_allow<'c>(
    index: &PolicyIndex,
    chain: &'c ServiceChain,
    cache: &mut PodCache<'c>,
) -> Option<Diagnostic> {
    // The (class, port, protocol) judged closed, in a table the thread reuses.
    let mut closed = cache.take_closed();
    let finding = all_closed(index, chain, cache, &mut closed)
        .then(|| isolated_message(index, chain, cache, &mut closed));
    cache.give_closed(closed);
    finding
}

/// Whether every endpoint of `chain` is isolated for ingress with its port closed to every
/// source (and there is one); `closed` receives each (class, port, protocol) judged.
fn all_closed<'c>(
    index: &PolicyIndex,
    chain: &'c ServiceChain,
    cache: &PodCache<'c>,
    closed: &mut Vec<ClosedPort>,
) -> bool {
    for port in &chain.ports {
        for endpoint in &port.endpoints {
            // The chain's view registered every endpoint whose pod is known.
            let Some((pod, class, _)) = cache.endpoint(endpoint) else {
                return false;
            };
            let key = (class, endpoint.port, port.protocol);
            // The endpoints of a port are mostly of one class: the last one judged first,
            // then the few others (a chain has few classes and ports).
            if closed.last() == Some(&key) || closed.contains(&key) {
                continue;
            }
            let is_open = index.ingress_port_open_with(cache.selecting(class), pod, key.1, key.2);
            if is_open != Some(false) {
                return false;
            }
            closed.push(key);
        }
    }
    !closed.is_empty()
}

/// The `policy-isolated-no-allow` finding for the classes and ports in `closed`.
fn isolated_message<'c>(
    index: &PolicyIndex,
    chain: &ServiceChain,
    cache: &mut PodCache<'c>,
    closed: &mut [ClosedPort],
) -> Diagnostic {
    // The keys of the policies isolating the classes for ingress, each once, sorted (each
    // class's keys are sorted already; most chains have one class).
    for (class, _, _) in closed.iter() {
        cache.keys(index, *class);
    }
    let keys_of = |class: usize| {
        cache
            .known_keys(class)
            .map(|(ingress, _)| &**ingress)
            .unwrap_or_default()
    };
    let first_class = closed.first().map_or(0, |(class, _, _)| *class);
    let single = closed.iter().all(|(class, _, _)| *class == first_class);
    // The ports, each once, sorted as they read (`443/TCP` before `80/TCP`).
    closed.sort_unstable_by(|a, b| {
        let (a, b) = (port_text(a.1, a.2), port_text(b.1, b.2));
        a.as_str().cmp(b.as_str())
    });
    let (head, middle, tail) = (
        "Every endpoint pod is isolated for ingress by NetworkPolicy ",
        " and no rule of those policies admits any source on port ",
        ": connections time out; add an ingress rule for the clients that need it (see docs/diagnostics.md#policy-isolated-no-allow).",
    );
    // Chains of a namespace isolated by the same policies on the same ports read alike: the
    // last message is kept (with the keys it names, so that their address stays theirs) and
    // shared by their findings.
    let message_of = |message: crate::diagnostics::Text| {
        Diagnostic::new(
            DiagnosticCode::PolicyIsolatedNoAllow,
            Subject::Service(chain.name.clone()),
            message,
        )
    };
    let single_keys = single
        .then(|| {
            cache
                .known_keys(first_class)
                .map(|(ingress, _)| ingress.clone())
        })
        .flatten();
    if let Some(keys) = &single_keys
        && let Some(message) = cache.last_message(keys, closed)
    {
        return message_of(message.into());
    }
    // Several classes: their keys merged (one class's keys are one sorted list already).
    let several: Option<Vec<&str>> = (!single).then(|| {
        let mut all: Vec<&str> = closed
            .iter()
            .flat_map(|(class, _, _)| keys_of(*class).iter())
            .map(|key| &**key)
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    });
    let policies_len = match &several {
        Some(all) => joined_len(all),
        None => joined_len(keys_of(first_class)),
    };
    // Written once into a string of its size (the finding fires on every chain it covers).
    let mut message = String::with_capacity(
        head.len() + middle.len() + tail.len() + policies_len + 14 * closed.len(),
    );
    message.push_str(head);
    match &several {
        Some(all) => push_joined(&mut message, all),
        None => push_joined(&mut message, keys_of(first_class)),
    }
    message.push_str(middle);
    let mut last = None;
    for (_, number, protocol) in closed.iter() {
        if last == Some((*number, *protocol)) {
            continue;
        }
        if last.is_some() {
            message.push_str(", ");
        }
        last = Some((*number, *protocol));
        message.push_str(port_text(*number, *protocol).as_str());
    }
    message.push_str(tail);
    match single_keys {
        Some(keys) => {
            let shared: Arc<str> = message.into();
            cache.keep_message(keys, closed, shared.clone());
            message_of(shared.into())
        }
        None => message_of(message.into()),
    }
}

/// `NUMBER/PROTOCOL`, written on the stack without the formatting machinery (the findings
/// sort their ports by this text on every chain they cover).
fn port_text(number: i32, protocol: crate::model::Protocol) -> PortText {
    use std::fmt::Write;
    // The digits, last first: at most ten.
    let mut digits = [0u8; 10];
    let mut count = 0;
    let mut rest = number.unsigned_abs();
    for slot in &mut digits {
        *slot = b'0' + u8::try_from(rest % 10).unwrap_or_default();
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut text = PortText::default();
    if number < 0 {
        text.push(b'-');
    }
    for digit in digits.iter().take(count).rev() {
        text.push(*digit);
    }
    text.push(b'/');
    // A sign, ten digits, a slash and a protocol fit.
    let _ = text.write_str(protocol.as_str());
    text
}

/// A short text on the stack (a port and its protocol).
#[derive(Default)]
struct PortText {
    bytes: [u8; 24],
    len: usize,
}

impl PortText {
    /// Appends one ASCII byte (dropped when full, which the callers' texts never are).
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn as_str(&self) -> &str {
        self.bytes
            .get(..self.len)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or_default()
    }
}

impl std::fmt::Write for PortText {
    fn write_str(&mut self, piece: &str) -> std::fmt::Result {
        let end = self.len + piece.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(piece.as_bytes());
        self.len = end;
        Ok(())
    }
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
    // One class declares a name or does not: the finding needs two (most chains have one).
    if classes < 2 {
        return out;
    }
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
        let names: BTreeSet<(&str, crate::model::Protocol)> =
            rules.iter().flat_map(super::Rule::port_names).collect();
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
    for hop in view.hops().iter().filter(|hop| hop.hop.is_ingress()) {
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
    let mut selecting = Vec::new();
    // Pods of one template share their label set: a pod with the labels and namespace of
    // the one before it is selected by the same policies.
    let mut last: Option<(*const (), &str)> = None;
    for pod in snapshot.pods.iter() {
        if unselected == 0 {
            break;
        }
        let same = pods::labels(pod).map(|labels| Arc::as_ptr(&labels.0).cast::<()>());
        let seen = (same.unwrap_or(std::ptr::null()), pods::namespace(pod));
        if last == Some(seen) {
            continue;
        }
        last = Some(seen);
        selecting.clear();
        index.selecting_into(pod, &mut selecting);
        for position in &selecting {
            if let Some(flag) = selected.get_mut(*position).filter(|flag| !**flag) {
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
            .filter(|pairs| pairs.len() > 0)
        else {
            continue;
        };
        let near = snapshot
            .pods
            .iter()
            .filter(|pod| pods::namespace(pod) == policy.namespace)
            .find_map(|pod| one_value_off(pod, pairs.clone()));
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
fn one_value_off<'a>(
    pod: &PodInfo,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<(String, String, String)> {
    let labels = pods::labels(pod)?;
    let mut wrong = pairs.filter(|(key, value)| labels.get(key) != Some(*value));
    let (key, _) = wrong.next()?;
    if wrong.next().is_some() {
        return None;
    }
    let actual = labels.get(key)?;
    Some((
        pods::name(pod).to_owned(),
        key.to_owned(),
        actual.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::port_text;
    use crate::model::Protocol;

    #[test]
    fn ports_read_and_sort_as_text() {
        let mut ports = [
            (80, Protocol::Tcp),
            (8080, Protocol::Tcp),
            (443, Protocol::Tcp),
            (53, Protocol::Udp),
            (53, Protocol::Tcp),
            (-1, Protocol::Sctp),
        ];
        ports.sort_by(|a, b| {
            port_text(a.0, a.1)
                .as_str()
                .cmp(port_text(b.0, b.1).as_str())
        });
        let texts: Vec<String> = ports
            .iter()
            .map(|(number, protocol)| port_text(*number, *protocol).as_str().to_owned())
            .collect();
        // As the written texts sort (what the message showed when it sorted strings).
        let mut written: Vec<String> = ports
            .iter()
            .map(|(number, protocol)| format!("{number}/{protocol}"))
            .collect();
        written.sort();
        assert_eq!(texts, written);
        assert_eq!(texts.first().map(String::as_str), Some("-1/SCTP"));
        for number in [i32::MIN, -10, -1, 0, 7, 10, 99, 100, 65535, i32::MAX] {
            for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
                assert_eq!(
                    port_text(number, protocol).as_str(),
                    format!("{number}/{protocol}")
                );
            }
        }
    }
}
