//! NetworkPolicy objects read into the shapes the evaluation works on (rules N1-N7).

use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cidr::Cidr;
use crate::model::Protocol;
use crate::objects::LabelLookup;

/// A label selector (rule N4): every `matchLabels` pair and every expression must hold. An
/// empty selector matches everything; one with an unknown operator matches nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pairs: Vec<(String, String)>,
    expressions: Vec<Expression>,
    /// An operator outside In/NotIn/Exists/DoesNotExist (validation refuses it).
    invalid: bool,
    /// The kubectl syntax, written once: messages quote it for every connection judged.
    text: Arc<str>,
}

impl Default for Selector {
    fn default() -> Self {
        Self::new(Vec::new(), Vec::new(), false)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expression {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Expression {
    fn key(&self) -> &str {
        match self {
            Self::In(key, _)
            | Self::NotIn(key, _)
            | Self::Exists(key)
            | Self::DoesNotExist(key) => key,
        }
    }
}

impl Selector {
    fn new(pairs: Vec<(String, String)>, expressions: Vec<Expression>, invalid: bool) -> Self {
        let text = render(&pairs, &expressions, invalid).into();
        Self {
            pairs,
            expressions,
            invalid,
            text,
        }
    }

    pub(crate) fn from_api(selector: &LabelSelector) -> Self {
        let pairs = selector
            .match_labels
            .iter()
            .flatten()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let mut invalid = false;
        let expressions = selector
            .match_expressions
            .iter()
            .flatten()
            .filter_map(|requirement| {
                let key = requirement.key.clone();
                let values = requirement.values.clone().unwrap_or_default();
                let expression = match requirement.operator.as_str() {
                    "In" => Expression::In(key, values),
                    "NotIn" => Expression::NotIn(key, values),
                    "Exists" => Expression::Exists(key),
                    "DoesNotExist" => Expression::DoesNotExist(key),
                    _ => {
                        invalid = true;
                        return None;
                    }
                };
                Some(expression)
            })
            .collect();
        Self::new(pairs, expressions, invalid)
    }

    /// The first `matchLabels` pair (the index key of a policy, see `NamespacePolicies`).
    pub(crate) fn first_pair(&self) -> Option<(&str, &str)> {
        if self.invalid {
            return None;
        }
        self.pairs
            .first()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// The `matchLabels` pairs when they are the whole selector (no expressions), else `None`.
    pub(crate) fn plain_pairs(&self) -> Option<&[(String, String)]> {
        (self.expressions.is_empty() && !self.invalid).then_some(self.pairs.as_slice())
    }

    /// The label keys it reads (of `matchLabels` and of expressions).
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs
            .iter()
            .map(|(key, _)| key.as_str())
            .chain(self.expressions.iter().map(Expression::key))
    }

    /// `{}`: matches every object.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty() && self.expressions.is_empty() && !self.invalid
    }

    pub fn matches<L: LabelLookup + ?Sized>(&self, labels: Option<&L>) -> bool {
        if self.invalid {
            return false;
        }
        let get = |key: &str| labels.and_then(|labels| labels.label(key));
        let listed = |values: &[String], v: &str| values.iter().any(|value| value == v);
        self.pairs
            .iter()
            .all(|(key, value)| get(key) == Some(value.as_str()))
            && self.expressions.iter().all(|expression| match expression {
                Expression::In(key, values) => get(key).is_some_and(|v| listed(values, v)),
                Expression::NotIn(key, values) => get(key).is_none_or(|v| !listed(values, v)),
                Expression::Exists(key) => get(key).is_some(),
                Expression::DoesNotExist(key) => get(key).is_none(),
            })
    }
}

impl fmt::Display for Selector {
    /// kubectl's selector syntax: `app=web,tier in (a,b),!debug`; `{}` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Selector {
    /// Its text (see `Display`), shared.
    pub(crate) fn text(&self) -> Arc<str> {
        self.text.clone()
    }
}

/// A [`Selector`]'s text (see its `Display`), written once into one string.
fn render(pairs: &[(String, String)], expressions: &[Expression], invalid: bool) -> String {
    use std::fmt::Write;
    if pairs.is_empty() && expressions.is_empty() && !invalid {
        return "{}".to_owned();
    }
    let mut out = String::new();
    let separate = |out: &mut String| {
        if !out.is_empty() {
            out.push(',');
        }
    };
    for (key, value) in pairs {
        separate(&mut out);
        let _ = write!(out, "{key}={value}");
    }
    for expression in expressions {
        separate(&mut out);
        let _ = match expression {
            Expression::In(key, values) => write!(out, "{key} in ({})", Joined(values)),
            Expression::NotIn(key, values) => write!(out, "{key} notin ({})", Joined(values)),
            Expression::Exists(key) => write!(out, "{key}"),
            Expression::DoesNotExist(key) => write!(out, "!{key}"),
        };
    }
    if invalid {
        separate(&mut out);
        out.push_str("<invalid operator>");
    }
    out
}

/// Values joined by commas, written when displayed.
struct Joined<'a>(&'a [String]);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, value) in self.0.iter().enumerate() {
            if position > 0 {
                f.write_str(",")?;
            }
            f.write_str(value)?;
        }
        Ok(())
    }
}

/// One peer of a rule (rule N4, N6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// `podSelector` and/or `namespaceSelector`. `namespaces: None` means the policy's own
    /// namespace; `pods: None` means every pod of the selected namespaces.
    Pods {
        pods: Option<Selector>,
        namespaces: Option<Selector>,
    },
    /// `ipBlock`: `cidr` minus `except` (rule N6). `None` when the CIDR does not parse.
    IpBlock {
        cidr: Option<Cidr>,
        except: Vec<Cidr>,
        /// As written, for messages (shared by every verdict that quotes it).
        text: Arc<str>,
    },
}

/// The port part of a port entry (rule N7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// Every port of the protocol.
    Any,
    /// `port` to `endPort` (the same number without `endPort`).
    Range(i32, i32),
    /// A container port name, resolved on the destination pod.
    Name(String),
}

/// One entry of a rule's `ports` (rule N7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEntry {
    pub protocol: Protocol,
    pub port: PortSpec,
}

impl fmt::Display for PortEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.port {
            PortSpec::Any => write!(f, "any/{}", self.protocol),
            PortSpec::Range(low, high) if low == high => write!(f, "{low}/{}", self.protocol),
            PortSpec::Range(low, high) => write!(f, "{low}-{high}/{}", self.protocol),
            PortSpec::Name(name) => write!(f, "{name}/{}", self.protocol),
        }
    }
}

/// One ingress or egress rule (rule N3): `None` lists match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    pub peers: Option<Vec<Peer>>,
    pub ports: Option<Vec<PortEntry>>,
    /// `ports` as messages list them (`80/TCP`), written once.
    listed: Arc<[Arc<str>]>,
}

impl Rule {
    /// The rule's ports as messages list them, shared.
    pub(crate) fn listed(&self) -> &Arc<[Arc<str>]> {
        &self.listed
    }

    /// The port names it lists (N7: resolved on the destination pod), with their protocol,
    /// in order.
    pub(crate) fn port_names(&self) -> impl Iterator<Item = (&str, Protocol)> {
        self.ports
            .iter()
            .flatten()
            .filter_map(|entry| match &entry.port {
                PortSpec::Name(name) => Some((name.as_str(), entry.protocol)),
                _ => None,
            })
    }
}

/// A NetworkPolicy as the evaluation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    pub selector: Selector,
    /// `Some` when the policy isolates for ingress (rule N2's defaulting applied): its rules.
    pub ingress: Option<Vec<Rule>>,
    /// `Some` when the policy isolates for egress: its rules.
    pub egress: Option<Vec<Rule>>,
    /// `namespace/name`, made once and shared by every verdict that names the policy.
    key: Arc<str>,
}

impl Policy {
    /// `namespace/name`.
    pub fn key(&self) -> Arc<str> {
        self.key.clone()
    }

    /// Whether an ingress rule names a port (N7: resolved on each destination pod).
    pub fn names_ingress_port(&self) -> bool {
        self.ingress
            .iter()
            .flatten()
            .any(|rule| rule.port_names().next().is_some())
    }

    pub fn from_api(policy: &NetworkPolicy) -> Self {
        // Read in place: a snapshot's policies are compiled on every full build.
        let empty = NetworkPolicySpec::default();
        let spec = policy.spec.as_ref().unwrap_or(&empty);
        let (ingress_isolates, egress_isolates) = policy_types(spec);
        let ingress = || {
            let rules = spec.ingress.iter().flatten();
            rules
                .map(|r| rule((r.from.as_deref(), r.ports.as_deref())))
                .collect()
        };
        let egress = || {
            let rules = spec.egress.iter().flatten();
            rules
                .map(|r| rule((r.to.as_deref(), r.ports.as_deref())))
                .collect()
        };
        let namespace = policy
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let name = policy.metadata.name.clone().unwrap_or_default();
        Self {
            key: format!("{namespace}/{name}").into(),
            namespace,
            name,
            selector: spec
                .pod_selector
                .as_ref()
                .map(Selector::from_api)
                .unwrap_or_default(),
            ingress: ingress_isolates.then(ingress),
            egress: egress_isolates.then(egress),
        }
    }
}

/// A rule's peers and ports as the API has them.
type RawRule<'a> = (
    Option<&'a [NetworkPolicyPeer]>,
    Option<&'a [NetworkPolicyPort]>,
);

/// N3: empty lists are absent lists (they match everything).
fn rule((peers, ports): RawRule) -> Rule {
    let ports: Option<Vec<PortEntry>> = ports
        .filter(|ports| !ports.is_empty())
        .map(|ports| ports.iter().map(port_entry).collect());
    // Each written into one buffer, then shared.
    let mut text = String::new();
    let listed = ports
        .iter()
        .flatten()
        .map(|entry| {
            use std::fmt::Write;
            text.clear();
            let _ = write!(text, "{entry}");
            Arc::from(text.as_str())
        })
        .collect();
    Rule {
        peers: peers
            .filter(|peers| !peers.is_empty())
            .map(|peers| peers.iter().map(peer).collect()),
        ports,
        listed,
    }
}

/// N2: the effective (ingress, egress) policy types; empty means Ingress, plus Egress when
/// there is an egress rule.
fn policy_types(spec: &NetworkPolicySpec) -> (bool, bool) {
    match spec.policy_types.as_deref() {
        Some(types) if !types.is_empty() => (
            types.iter().any(|t| t == "Ingress"),
            types.iter().any(|t| t == "Egress"),
        ),
        _ => (
            true,
            spec.egress.as_ref().is_some_and(|rules| !rules.is_empty()),
        ),
    }
}

fn peer(peer: &NetworkPolicyPeer) -> Peer {
    match &peer.ip_block {
        Some(block) => ip_block(block),
        None => Peer::Pods {
            pods: peer.pod_selector.as_ref().map(Selector::from_api),
            namespaces: peer.namespace_selector.as_ref().map(Selector::from_api),
        },
    }
}

fn ip_block(block: &IPBlock) -> Peer {
    let except: Vec<&String> = block.except.iter().flatten().collect();
    let text = if except.is_empty() {
        block.cidr.clone()
    } else {
        let list: Vec<&str> = except.iter().map(|e| e.as_str()).collect();
        format!("{} except {}", block.cidr, list.join(", "))
    };
    Peer::IpBlock {
        cidr: Cidr::parse(&block.cidr),
        except: except.iter().filter_map(|e| Cidr::parse(e)).collect(),
        text: text.into(),
    }
}

/// N7: TCP when the protocol is omitted; a numeric port with `endPort` is a range.
fn port_entry(entry: &NetworkPolicyPort) -> PortEntry {
    let protocol = entry
        .protocol
        .as_deref()
        .and_then(Protocol::parse)
        .unwrap_or_default();
    let port = match &entry.port {
        None => PortSpec::Any,
        Some(IntOrString::Int(number)) => {
            PortSpec::Range(*number, entry.end_port.unwrap_or(*number))
        }
        Some(IntOrString::String(text)) => match text.parse::<i32>() {
            Ok(number) => PortSpec::Range(number, entry.end_port.unwrap_or(number)),
            Err(_) => PortSpec::Name(text.clone()),
        },
    };
    PortEntry { protocol, port }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn selector(json: serde_json::Value) -> Selector {
        Selector::from_api(&serde_json::from_value(json).expect("a label selector"))
    }

    fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    // N4: label-selector semantics, every requirement ANDed; `{}` matches everything.
    #[rstest]
    #[case::empty(serde_json::json!({}), &[], true)]
    #[case::pair(serde_json::json!({"matchLabels": {"app": "web"}}), &[("app", "web")], true)]
    #[case::pair_other(serde_json::json!({"matchLabels": {"app": "web"}}), &[("app", "api")], false)]
    #[case::in_(serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}), &[("tier", "b")], true)]
    #[case::in_absent(serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}), &[], false)]
    #[case::not_in_absent(serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}), &[], true)]
    #[case::exists(serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}), &[("tier", "")], true)]
    #[case::does_not_exist(serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}), &[("tier", "a")], false)]
    #[case::and(serde_json::json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}), &[("app", "web")], false)]
    #[case::unknown_operator(serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]}), &[("tier", "2")], false)]
    fn selectors(
        #[case] json: serde_json::Value,
        #[case] pairs: &[(&str, &str)],
        #[case] expected: bool,
    ) {
        assert_eq!(selector(json).matches(Some(&labels(pairs))), expected);
    }

    #[test]
    fn selectors_print_like_kubectl() {
        let printed = selector(serde_json::json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "debug", "operator": "DoesNotExist"}]}));
        assert_eq!(printed.to_string(), "app=web,tier in (a,b),!debug");
        assert_eq!(selector(serde_json::json!({})).to_string(), "{}");
    }

    // N7: TCP by default; a number with endPort is a range; a string of digits is a number.
    #[rstest]
    #[case(serde_json::json!({}), "any/TCP")]
    #[case(serde_json::json!({"port": 80, "protocol": "UDP"}), "80/UDP")]
    #[case(serde_json::json!({"port": 8000, "endPort": 8100}), "8000-8100/TCP")]
    #[case(serde_json::json!({"port": "http"}), "http/TCP")]
    fn port_entries(#[case] json: serde_json::Value, #[case] expected: &str) {
        let entry: NetworkPolicyPort = serde_json::from_value(json).expect("a port");
        assert_eq!(port_entry(&entry).to_string(), expected);
    }
}
