//! NetworkPolicy objects read into the shapes the evaluation works on (rules N1-N7).

use std::fmt;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::hash::FxHashSet;

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
///
/// Its `matchLabels` pairs are read from its text (kubectl's syntax, written once for the
/// messages that quote it), where they come first: a selector is one allocation in the usual
/// case of pairs only, and a snapshot's policies hold thousands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The kubectl syntax, written once: messages quote it for every connection judged.
    text: Arc<str>,
    /// Where each `matchLabels` pair is in `text`, in key order.
    pairs: SmallVec<[PairAt; 1]>,
    expressions: Vec<Expression>,
    /// An operator outside In/NotIn/Exists/DoesNotExist (validation refuses it).
    invalid: bool,
}

/// Where a `matchLabels` pair is in a selector's text: the bounds of its key and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PairAt {
    key: (u32, u32),
    value: (u32, u32),
}

impl Default for Selector {
    fn default() -> Self {
        Self {
            text: empty_text(),
            pairs: SmallVec::new(),
            expressions: Vec::new(),
            invalid: false,
        }
    }
}

/// `{}`, the text of every empty selector, shared.
fn empty_text() -> Arc<str> {
    static EMPTY: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "{}".into());
    EMPTY.clone()
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

/// What compiling one policy after another shares: the buffer each text is written in, and
/// the texts and port lists written so far. The policies of a cluster repeat them (every
/// namespace's `kubernetes.io/metadata.name=ingress` peer, `8080/TCP`), so each is kept once.
#[derive(Debug, Default)]
pub(crate) struct Compiler {
    buffer: String,
    texts: FxHashSet<Arc<str>>,
    lists: FxHashSet<Arc<[Arc<str>]>>,
}

impl Compiler {
    /// `buffer` emptied, for the next text.
    fn buffer(&mut self) -> &mut String {
        self.buffer.clear();
        &mut self.buffer
    }

    /// What was written in `buffer`, shared with the same text written before.
    fn text(&mut self) -> Arc<str> {
        if let Some(known) = self.texts.get(self.buffer.as_str()) {
            return known.clone();
        }
        let text: Arc<str> = Arc::from(self.buffer.as_str());
        self.texts.insert(text.clone());
        text
    }

    /// `items`, shared with the same list made before.
    fn list(&mut self, items: &[Arc<str>]) -> Arc<[Arc<str>]> {
        if let Some(known) = self.lists.get(items) {
            return known.clone();
        }
        let list: Arc<[Arc<str>]> = Arc::from(items);
        self.lists.insert(list.clone());
        list
    }
}

impl Selector {
    pub(crate) fn from_api(selector: &LabelSelector) -> Self {
        Self::compile(selector, &mut Compiler::default())
    }

    fn compile(selector: &LabelSelector, compiler: &mut Compiler) -> Self {
        let mut invalid = false;
        let expressions: Vec<Expression> = selector
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
        let labels = selector.match_labels.iter().flatten();
        if labels.clone().next().is_none() && expressions.is_empty() && !invalid {
            return Self::default();
        }
        let text = compiler.buffer();
        let mut pairs = SmallVec::new();
        for (key, value) in labels {
            separate(text);
            let key = append(text, key);
            text.push('=');
            let value = append(text, value);
            pairs.push(PairAt { key, value });
        }
        render_expressions(text, &expressions, invalid);
        Self {
            text: compiler.text(),
            pairs,
            expressions,
            invalid,
        }
    }

    /// The `matchLabels` pairs, in key order.
    fn pairs(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone + '_ {
        let part = |(start, end): (u32, u32)| {
            self.text
                .get(start as usize..end as usize)
                .unwrap_or_default()
        };
        self.pairs
            .iter()
            .map(move |at| (part(at.key), part(at.value)))
    }

    /// The first `matchLabels` pair (the index key of a policy, see `NamespacePolicies`).
    pub(crate) fn first_pair(&self) -> Option<(&str, &str)> {
        if self.invalid {
            return None;
        }
        self.pairs().next()
    }

    /// The `matchLabels` pairs when they are the whole selector (no expressions), else `None`.
    pub(crate) fn plain_pairs(
        &self,
    ) -> Option<impl ExactSizeIterator<Item = (&str, &str)> + Clone + '_> {
        (self.expressions.is_empty() && !self.invalid).then(|| self.pairs())
    }

    /// The label keys it reads (of `matchLabels` and of expressions).
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs()
            .map(|(key, _)| key)
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
        self.pairs().all(|(key, value)| get(key) == Some(value))
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

/// A comma before the next part of a selector's text, unless it is the first.
fn separate(out: &mut String) {
    if !out.is_empty() {
        out.push(',');
    }
}

/// Appends `part` to `out`; returns its bounds there.
fn append(out: &mut String, part: &str) -> (u32, u32) {
    let bound = |length: usize| u32::try_from(length).unwrap_or(u32::MAX);
    let start = bound(out.len());
    out.push_str(part);
    (start, bound(out.len()))
}

/// The expressions (and the invalid operator) of a selector's text, after its pairs.
fn render_expressions(out: &mut String, expressions: &[Expression], invalid: bool) {
    use std::fmt::Write;
    for expression in expressions {
        separate(out);
        let _ = match expression {
            Expression::In(key, values) => write!(out, "{key} in ({})", Joined(values)),
            Expression::NotIn(key, values) => write!(out, "{key} notin ({})", Joined(values)),
            Expression::Exists(key) => write!(out, "{key}"),
            Expression::DoesNotExist(key) => write!(out, "!{key}"),
        };
    }
    if invalid {
        separate(out);
        out.push_str("<invalid operator>");
    }
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
        Self::compile(policy, &mut Compiler::default())
    }

    /// [`Policy::from_api`], with the buffer of the policies compiled before it.
    pub(crate) fn compile(policy: &NetworkPolicy, compiler: &mut Compiler) -> Self {
        // Read in place: a snapshot's policies are compiled on every full build.
        let empty = NetworkPolicySpec::default();
        let spec = policy.spec.as_ref().unwrap_or(&empty);
        let (ingress_isolates, egress_isolates) = policy_types(spec);
        let namespace = policy
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let name = policy.metadata.name.clone().unwrap_or_default();
        let key = {
            let text = compiler.buffer();
            text.push_str(&namespace);
            text.push('/');
            text.push_str(&name);
            Arc::from(text.as_str())
        };
        let selector = spec
            .pod_selector
            .as_ref()
            .map(|selector| Selector::compile(selector, compiler))
            .unwrap_or_default();
        let ingress = ingress_isolates.then(|| {
            let rules = spec.ingress.iter().flatten();
            rules
                .map(|r| rule((r.from.as_deref(), r.ports.as_deref()), compiler))
                .collect()
        });
        let egress = egress_isolates.then(|| {
            let rules = spec.egress.iter().flatten();
            rules
                .map(|r| rule((r.to.as_deref(), r.ports.as_deref()), compiler))
                .collect()
        });
        Self {
            key,
            namespace,
            name,
            selector,
            ingress,
            egress,
        }
    }
}

/// A rule's peers and ports as the API has them.
type RawRule<'a> = (
    Option<&'a [NetworkPolicyPeer]>,
    Option<&'a [NetworkPolicyPort]>,
);

/// N3: empty lists are absent lists (they match everything).
fn rule((peers, ports): RawRule, compiler: &mut Compiler) -> Rule {
    let ports: Option<Vec<PortEntry>> = ports
        .filter(|ports| !ports.is_empty())
        .map(|ports| ports.iter().map(port_entry).collect());
    // Each written into one buffer, then shared.
    let listed: SmallVec<[Arc<str>; 4]> = ports
        .iter()
        .flatten()
        .map(|entry| {
            use std::fmt::Write;
            let _ = write!(compiler.buffer(), "{entry}");
            compiler.text()
        })
        .collect();
    let listed = compiler.list(&listed);
    Rule {
        peers: peers
            .filter(|peers| !peers.is_empty())
            .map(|peers| peers.iter().map(|one| peer(one, compiler)).collect()),
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

fn peer(peer: &NetworkPolicyPeer, compiler: &mut Compiler) -> Peer {
    match &peer.ip_block {
        Some(block) => ip_block(block, compiler),
        None => Peer::Pods {
            pods: (peer.pod_selector.as_ref()).map(|pods| Selector::compile(pods, compiler)),
            namespaces: (peer.namespace_selector.as_ref())
                .map(|namespaces| Selector::compile(namespaces, compiler)),
        },
    }
}

fn ip_block(block: &IPBlock, compiler: &mut Compiler) -> Peer {
    let except = block.except.as_deref().unwrap_or_default();
    let text = compiler.buffer();
    text.push_str(&block.cidr);
    for (position, cidr) in except.iter().enumerate() {
        text.push_str(if position == 0 { " except " } else { ", " });
        text.push_str(cidr);
    }
    Peer::IpBlock {
        cidr: Cidr::parse(&block.cidr),
        except: except.iter().filter_map(|e| Cidr::parse(e)).collect(),
        text: compiler.text(),
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
