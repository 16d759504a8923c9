//! One direction of one connection against the policies that select a pod: allowed by which
//! rule, or denied with the rule that came closest (rules N1-N9).

use std::net::IpAddr;
use std::sync::Arc;

use crate::objects::PodInfo;
use serde::Serialize;

use super::PolicyIndex;
use super::compile::{Peer, Policy, PortSpec, Rule, Selector};
use crate::model::Protocol;
use crate::pods;

/// The other end of a connection as a policy sees it.
#[derive(Debug, Clone, Copy)]
pub enum Remote<'a> {
    /// A pod of the pod network (selectors apply, ipBlocks do not: rule N6).
    Pod(&'a PodInfo),
    /// An address outside the pod network: an external client, a node after SNAT, a load
    /// balancer (ipBlocks apply, selectors do not).
    Address(IpAddr),
    /// An outside client whose address is not known.
    AnyExternal,
}

/// Why a rule did not admit a connection (the near miss), or why kubehop cannot say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Miss {
    /// N7: the rule names a port the destination pod does not declare.
    PortNameUndeclared { name: String, protocol: Protocol },
    /// The rule lists other ports.
    PortNotListed {
        port: i32,
        protocol: Protocol,
        listed: Arc<[Arc<str>]>,
    },
    /// N4/N5: the source's namespace lacks the labels the namespace selector asks for.
    NamespaceLabels {
        namespace: Arc<str>,
        selector: Arc<str>,
        labels_known: bool,
    },
    /// N4: a peer without namespace selector only covers the policy's own namespace.
    OtherNamespace {
        namespace: String,
        policy_namespace: String,
    },
    /// N4: the source pod lacks the labels the pod selector asks for.
    PodLabels { pod: String, selector: Arc<str> },
    /// N6/N10: selectors match pods only; this source is seen as an address (after SNAT).
    NotAPod {
        address: Option<IpAddr>,
        selector: String,
    },
    /// N6: the address lies in an `except` range of the block.
    IpBlockExcept { address: IpAddr, block: Arc<str> },
    /// N6: the address lies outside the block.
    IpBlockOutside { address: IpAddr, block: Arc<str> },
    /// N6: the block covers a pod's address; whether that counts depends on the plugin.
    IpBlockPodAddress { address: IpAddr, block: Arc<str> },
    /// The block decides, and the outside client's address is not known.
    UnknownAddress { block: Arc<str> },
}

/// A [`Miss`] that borrows what it names: rules are judged by thousands, and only the one
/// that comes closest is written out (as a [`Miss`]).
#[derive(Debug, Clone, Copy)]
enum MissRef<'a> {
    PortNameUndeclared {
        name: &'a str,
        protocol: Protocol,
    },
    PortNotListed {
        port: i32,
        protocol: Protocol,
        listed: &'a Arc<[Arc<str>]>,
    },
    NamespaceLabels {
        /// The source pod, whose namespace it is.
        pod: &'a PodInfo,
        selector: &'a Selector,
        labels_known: bool,
    },
    OtherNamespace {
        namespace: &'a str,
        policy_namespace: &'a str,
    },
    PodLabels {
        pod: &'a PodInfo,
        selector: &'a Selector,
    },
    NotAPod {
        address: Option<IpAddr>,
        pods: Option<&'a Selector>,
        namespaces: Option<&'a Selector>,
    },
    IpBlockExcept {
        address: IpAddr,
        block: &'a Arc<str>,
    },
    IpBlockOutside {
        address: IpAddr,
        block: &'a Arc<str>,
    },
    IpBlockPodAddress {
        address: IpAddr,
        block: &'a Arc<str>,
    },
    UnknownAddress {
        block: Option<&'a Arc<str>>,
    },
}

impl MissRef<'_> {
    /// Lower is closer to admitting: label and except misses are the interesting ones.
    fn rank(&self) -> u8 {
        match self {
            Self::PortNameUndeclared { .. }
            | Self::NamespaceLabels { .. }
            | Self::IpBlockExcept { .. }
            | Self::NotAPod { .. } => 0,
            Self::PodLabels { .. } | Self::OtherNamespace { .. } => 1,
            Self::IpBlockPodAddress { .. } | Self::UnknownAddress { .. } => 2,
            Self::PortNotListed { .. } | Self::IpBlockOutside { .. } => 3,
        }
    }

    fn undecided(&self) -> bool {
        matches!(
            self,
            Self::IpBlockPodAddress { .. } | Self::UnknownAddress { .. }
        )
    }

    /// The miss as output carries it.
    fn owned(&self) -> Miss {
        match *self {
            Self::PortNameUndeclared { name, protocol } => Miss::PortNameUndeclared {
                name: name.to_owned(),
                protocol,
            },
            Self::PortNotListed {
                port,
                protocol,
                listed,
            } => Miss::PortNotListed {
                port,
                protocol,
                listed: listed.clone(),
            },
            Self::NamespaceLabels {
                pod,
                selector,
                labels_known,
            } => Miss::NamespaceLabels {
                namespace: pod
                    .namespace
                    .clone()
                    .unwrap_or_else(|| Arc::from(pods::namespace(pod))),
                selector: selector.text(),
                labels_known,
            },
            Self::OtherNamespace {
                namespace,
                policy_namespace,
            } => Miss::OtherNamespace {
                namespace: namespace.to_owned(),
                policy_namespace: policy_namespace.to_owned(),
            },
            Self::PodLabels { pod, selector } => {
                let namespace = pods::namespace(pod);
                Miss::PodLabels {
                    // `NS/*`: the unnamed "any pod of the namespace" source.
                    pod: match pods::name(pod) {
                        "" => format!("{namespace}/*"),
                        name => format!("{namespace}/{name}"),
                    },
                    selector: selector.text(),
                }
            }
            Self::NotAPod {
                address,
                pods,
                namespaces,
            } => Miss::NotAPod {
                address,
                selector: match (pods, namespaces) {
                    (Some(p), Some(n)) => format!("namespaceSelector {n} + podSelector {p}"),
                    (Some(p), None) => format!("podSelector {p}"),
                    (None, Some(n)) => format!("namespaceSelector {n}"),
                    (None, None) => "{}".to_owned(),
                },
            },
            Self::IpBlockExcept { address, block } => Miss::IpBlockExcept {
                address,
                block: block.clone(),
            },
            Self::IpBlockOutside { address, block } => Miss::IpBlockOutside {
                address,
                block: block.clone(),
            },
            Self::IpBlockPodAddress { address, block } => Miss::IpBlockPodAddress {
                address,
                block: block.clone(),
            },
            Self::UnknownAddress { block } => Miss::UnknownAddress {
                block: block.cloned().unwrap_or_else(|| Arc::from("")),
            },
        }
    }
}

/// The rule that came closest to admitting a denied connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NearMiss {
    /// `namespace/name` of the policy.
    pub policy: Arc<str>,
    /// Zero-based index into the policy's `spec.ingress` (or `spec.egress`).
    pub rule: usize,
    /// Everything that stops this rule (one or two reasons: the peer, the port).
    pub reasons: Reasons,
}

/// The one or two reasons of a [`NearMiss`] (the peer, the port), kept inline: a chain's
/// verdicts are written by the thousand and most carry one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reasons([Option<Miss>; 2]);

impl Reasons {
    pub fn iter(&self) -> impl Iterator<Item = &Miss> {
        self.0.iter().flatten()
    }
}

impl FromIterator<Miss> for Reasons {
    /// The first two.
    fn from_iter<I: IntoIterator<Item = Miss>>(iter: I) -> Self {
        let mut iter = iter.into_iter();
        Self([iter.next(), iter.next()])
    }
}

impl Serialize for Reasons {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// The verdict of one direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "verdict",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Decision {
    /// N1: no policy isolates the pod in this direction.
    NotIsolated,
    /// N9: traffic from the pod's own node.
    LocalNode,
    /// N3: this rule admits the connection.
    Allowed { policy: Arc<str>, rule: usize },
    /// Only a rule kubehop cannot decide would admit it (N6: an ipBlock and a pod address, or
    /// an unknown client address).
    Undecided {
        policy: Arc<str>,
        rule: usize,
        reason: Box<Miss>,
    },
    /// Isolated and no rule admits the connection.
    Denied {
        /// Shared by the verdicts of one pod template.
        isolated_by: Arc<[Arc<str>]>,
        near_miss: Option<NearMiss>,
    },
}

impl Decision {
    /// Whether the decision names the remote end's pod (a pod-label miss): for a source's
    /// egress that is the destination pod, so the decision is that pod's own.
    pub fn names_remote_pod(&self) -> bool {
        let names = |reason: &Miss| matches!(reason, Miss::PodLabels { .. });
        match self {
            Self::Undecided { reason, .. } => names(reason),
            Self::Denied {
                near_miss: Some(near),
                ..
            } => near.reasons.iter().any(names),
            _ => false,
        }
    }

    /// `Some(true)` allowed, `Some(false)` denied, `None` undecided.
    pub fn allowed(&self) -> Option<bool> {
        match self {
            Self::NotIsolated | Self::LocalNode | Self::Allowed { .. } => Some(true),
            Self::Denied { .. } => Some(false),
            Self::Undecided { .. } => None,
        }
    }
}

/// Which direction of a pod's policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

/// The connection being judged: `pod` is the pod whose policies apply; `port` lands on
/// `destination` (the same pod for ingress, the remote pod for egress), where named ports are
/// resolved (N7).
pub(crate) struct Question<'a> {
    pub direction: Direction,
    pub pod: &'a PodInfo,
    /// The policies selecting `pod`, when the caller has them already ([`PolicyIndex::selecting_indices`]).
    pub selecting: Option<&'a [usize]>,
    /// The keys of the policies isolating `pod` in this direction, when the caller has them.
    pub isolated_by: Option<&'a Arc<[Arc<str>]>>,
    pub remote: Remote<'a>,
    pub destination: Option<&'a PodInfo>,
    pub port: i32,
    pub protocol: Protocol,
}

/// The outcome of one rule: at most two reasons stop it (the peer, the port).
enum RuleOutcome<'a> {
    Admits,
    Undecided(MissRef<'a>),
    Misses(Option<MissRef<'a>>, Option<MissRef<'a>>),
}

/// The closest rule so far: (number of reasons, best rank), policy, rule index, reasons.
type Closest<'a> = ((usize, u8), &'a Policy, usize, [Option<MissRef<'a>>; 2]);

impl Policy {
    /// Its rules for `direction`, when it isolates in that direction (N2).
    fn rules(&self, direction: Direction) -> Option<&[Rule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
}

impl PolicyIndex {
    /// N1: the keys of the policies among `selecting` that isolate for `direction`, in policy
    /// order.
    pub(crate) fn isolating_keys(
        &self,
        selecting: &[usize],
        direction: Direction,
    ) -> Arc<[Arc<str>]> {
        let mut isolating = selecting
            .iter()
            .filter_map(|index| self.policies.get(*index))
            .filter(|policy| policy.rules(direction).is_some());
        // Counted first, so that the shared list is allocated once, at its size (an iterator
        // of known length), not collected into a vector and copied (once per pod template).
        let count = isolating.clone().count();
        (0..count)
            .map(|_| isolating.next().map_or_else(|| Arc::from(""), Policy::key))
            .collect()
    }

    /// N1/N3: the decision for one direction.
    pub(crate) fn decide(&self, question: &Question<'_>) -> Decision {
        let looked_up;
        let selecting = match question.selecting {
            Some(indices) => indices,
            None => {
                looked_up = self.selecting_indices(question.pod);
                &looked_up
            }
        };
        let isolating = || {
            selecting
                .iter()
                .filter_map(|index| self.policies.get(*index))
                .filter_map(|policy| Some((policy, policy.rules(question.direction)?)))
        };
        if isolating().next().is_none() {
            return Decision::NotIsolated;
        }
        let mut undecided = None;
        let mut best: Option<Closest<'_>> = None;
        for (policy, rules) in isolating() {
            for (index, rule) in rules.iter().enumerate() {
                match self.rule_outcome(policy, rule, question) {
                    RuleOutcome::Admits => {
                        return Decision::Allowed {
                            policy: policy.key(),
                            rule: index,
                        };
                    }
                    RuleOutcome::Undecided(reason) => {
                        undecided.get_or_insert((policy, index, reason));
                    }
                    RuleOutcome::Misses(peer, port) => {
                        let reasons = [peer, port];
                        let count = reasons.iter().flatten().count();
                        let rank = reasons.iter().flatten().map(MissRef::rank).min();
                        let score = (count, rank.unwrap_or(u8::MAX));
                        if best.as_ref().is_none_or(|(known, ..)| score < *known) {
                            best = Some((score, policy, index, reasons));
                        }
                    }
                }
            }
        }
        if let Some((policy, rule, reason)) = undecided {
            return Decision::Undecided {
                policy: policy.key(),
                rule,
                reason: Box::new(reason.owned()),
            };
        }
        Decision::Denied {
            isolated_by: match question.isolated_by {
                Some(keys) => keys.clone(),
                None => self.isolating_keys(selecting, question.direction),
            },
            near_miss: best.map(|(_, policy, rule, reasons)| NearMiss {
                policy: policy.key(),
                rule,
                reasons: reasons.iter().flatten().map(MissRef::owned).collect(),
            }),
        }
    }

    fn rule_outcome<'a>(
        &'a self,
        policy: &'a Policy,
        rule: &'a Rule,
        question: &Question<'a>,
    ) -> RuleOutcome<'a> {
        let peer = match &rule.peers {
            None => Ok(()),
            Some(peers) => self.peers_outcome(policy, peers, question.remote),
        };
        let port = ports_outcome(rule, question);
        match (peer, port) {
            (Ok(()), Ok(())) => RuleOutcome::Admits,
            (Err(miss), Ok(())) if miss.undecided() => RuleOutcome::Undecided(miss),
            (peer, port) => RuleOutcome::Misses(peer.err(), port.err()),
        }
    }

    /// N4: any peer admits (OR); else the closest miss.
    fn peers_outcome<'a>(
        &'a self,
        policy: &'a Policy,
        peers: &'a [Peer],
        remote: Remote<'a>,
    ) -> Result<(), MissRef<'a>> {
        let mut closest: Option<MissRef<'a>> = None;
        for peer in peers {
            match self.peer_outcome(policy, peer, remote) {
                Ok(()) => return Ok(()),
                Err(miss) => {
                    if closest.as_ref().is_none_or(|c| miss.rank() < c.rank()) {
                        closest = Some(miss);
                    }
                }
            }
        }
        Err(closest.unwrap_or(MissRef::UnknownAddress { block: None }))
    }

    fn peer_outcome<'a>(
        &'a self,
        policy: &'a Policy,
        peer: &'a Peer,
        remote: Remote<'a>,
    ) -> Result<(), MissRef<'a>> {
        match (peer, remote) {
            (Peer::Pods { pods, namespaces }, Remote::Pod(pod)) => {
                let namespace = pods::namespace(pod);
                match namespaces {
                    None if namespace != policy.namespace => {
                        return Err(MissRef::OtherNamespace {
                            namespace,
                            policy_namespace: &policy.namespace,
                        });
                    }
                    Some(selector) if !selector.matches(self.namespace_labels(namespace)) => {
                        return Err(MissRef::NamespaceLabels {
                            pod,
                            selector,
                            labels_known: self.namespace_known(namespace),
                        });
                    }
                    _ => {}
                }
                match pods {
                    Some(selector) if !selector.matches(pods::labels(pod)) => {
                        Err(MissRef::PodLabels { pod, selector })
                    }
                    _ => Ok(()),
                }
            }
            (Peer::Pods { pods, namespaces }, Remote::Address(_) | Remote::AnyExternal) => {
                let address = match remote {
                    Remote::Address(ip) => Some(ip),
                    _ => None,
                };
                Err(MissRef::NotAPod {
                    address,
                    pods: pods.as_ref(),
                    namespaces: namespaces.as_ref(),
                })
            }
            (Peer::IpBlock { cidr, except, text }, remote) => {
                ip_block_outcome(cidr.as_ref(), except, text, remote)
            }
        }
    }
}

/// N6: an ipBlock against the remote end.
fn ip_block_outcome<'a>(
    cidr: Option<&crate::cidr::Cidr>,
    except: &[crate::cidr::Cidr],
    block: &'a Arc<str>,
    remote: Remote<'_>,
) -> Result<(), MissRef<'a>> {
    let inside = |ip: IpAddr| cidr.is_some_and(|cidr| cidr.contains(ip));
    match remote {
        Remote::Address(address) => {
            if !inside(address) {
                Err(MissRef::IpBlockOutside { address, block })
            } else if except.iter().any(|range| range.contains(address)) {
                Err(MissRef::IpBlockExcept { address, block })
            } else {
                Ok(())
            }
        }
        Remote::Pod(pod) => match pods::first_ip(pod) {
            Some(address) if inside(address) && !except.iter().any(|r| r.contains(address)) => {
                Err(MissRef::IpBlockPodAddress { address, block })
            }
            Some(address) => Err(MissRef::IpBlockOutside { address, block }),
            None => Err(MissRef::UnknownAddress { block: Some(block) }),
        },
        Remote::AnyExternal => {
            let everything = cidr.is_some_and(|cidr| cidr.prefix == 0) && except.is_empty();
            if everything {
                Ok(())
            } else {
                Err(MissRef::UnknownAddress { block: Some(block) })
            }
        }
    }
}

/// N7: any entry of the rule's ports matches the port (OR; no list matches every port); else
/// why not.
fn ports_outcome<'a>(rule: &'a Rule, question: &Question<'_>) -> Result<(), MissRef<'a>> {
    let Some(entries) = &rule.ports else {
        return Ok(());
    };
    let mut undeclared = None;
    for entry in entries {
        if entry.protocol != question.protocol {
            continue;
        }
        match &entry.port {
            PortSpec::Any => return Ok(()),
            PortSpec::Range(low, high) => {
                if (*low..=*high).contains(&question.port) {
                    return Ok(());
                }
            }
            PortSpec::Name(name) => match named_port(question.destination, name, entry.protocol) {
                Some(number) if number == question.port => return Ok(()),
                Some(_) => {}
                None => {
                    undeclared.get_or_insert(MissRef::PortNameUndeclared {
                        name,
                        protocol: entry.protocol,
                    });
                }
            },
        }
    }
    Err(undeclared.unwrap_or(MissRef::PortNotListed {
        port: question.port,
        protocol: question.protocol,
        listed: rule.listed(),
    }))
}

/// N7: the number a container of `pod` declares under `name` and `protocol`.
pub(crate) fn named_port(pod: Option<&PodInfo>, name: &str, protocol: Protocol) -> Option<i32> {
    pod?.containers
        .iter()
        .flat_map(|container| container.ports.iter())
        .find(|port| {
            port.name.as_deref() == Some(name)
                && port
                    .protocol
                    .as_deref()
                    .and_then(Protocol::parse)
                    .unwrap_or_default()
                    == protocol
        })
        .map(|port| port.container_port)
}

impl PolicyIndex {
    /// N3/N7: whether any ingress rule of the policies isolating `pod` lets some source reach
    /// `port` (the peers aside); `None` when no policy isolates the pod for ingress.
    /// `selecting`: the policies selecting `pod` ([`PolicyIndex::selecting_indices`]).
    pub(crate) fn ingress_port_open_with(
        &self,
        selecting: &[usize],
        pod: &PodInfo,
        port: i32,
        protocol: Protocol,
    ) -> Option<bool> {
        let question = Question {
            direction: Direction::Ingress,
            pod,
            selecting: None,
            isolated_by: None,
            remote: Remote::AnyExternal,
            destination: Some(pod),
            port,
            protocol,
        };
        let mut isolated = false;
        for policy in selecting
            .iter()
            .filter_map(|index| self.policies.get(*index))
        {
            let Some(rules) = &policy.ingress else {
                continue;
            };
            isolated = true;
            let open = rules
                .iter()
                .any(|rule| ports_outcome(rule, &question).is_ok());
            if open {
                return Some(true);
            }
        }
        isolated.then_some(false)
    }
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PortNameUndeclared { name, protocol } => write!(
                f,
                "it allows port {name:?}/{protocol}, which the destination pod does not declare"
            ),
            Self::PortNotListed {
                port,
                protocol,
                listed,
            } => write!(
                f,
                "it allows ports {}, not {port}/{protocol}",
                listed.join(", ")
            ),
            Self::NamespaceLabels {
                namespace,
                selector,
                labels_known,
            } => {
                write!(f, "namespace {namespace} does not carry {selector}")?;
                if !labels_known {
                    f.write_str(" (its labels are not in the input)")?;
                }
                Ok(())
            }
            Self::OtherNamespace {
                namespace,
                policy_namespace,
            } => write!(
                f,
                "its podSelector covers namespace {policy_namespace} only, the source is in {namespace}"
            ),
            Self::PodLabels { pod, selector } => match pod.strip_suffix("/*") {
                Some(namespace) => write!(
                    f,
                    "it admits pods with {selector} only, not any pod of namespace {namespace}"
                ),
                None => write!(f, "pod {pod} does not carry {selector}"),
            },
            Self::NotAPod {
                address: Some(address),
                selector,
            } => write!(
                f,
                "its {selector} matches pods only, and the source is seen as address {address}"
            ),
            Self::NotAPod {
                address: None,
                selector,
            } => write!(
                f,
                "its {selector} matches pods only, and the source is an outside client"
            ),
            Self::IpBlockExcept { address, block } => {
                write!(f, "ipBlock {block} excludes {address}")
            }
            Self::IpBlockOutside { address, block } => {
                write!(f, "ipBlock {block} does not contain {address}")
            }
            Self::IpBlockPodAddress { address, block } => write!(
                f,
                "ipBlock {block} covers the pod address {address}; whether that counts depends on the network plugin"
            ),
            Self::UnknownAddress { block } => write!(
                f,
                "ipBlock {block} decides, and the client's address is not known (give --source-ip)"
            ),
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotIsolated => f.write_str("allowed: no policy isolates the pod"),
            Self::LocalNode => f.write_str("allowed: traffic from the pod's own node"),
            Self::Allowed { policy, rule } => write!(f, "allowed by {policy} rule {rule}"),
            Self::Undecided {
                policy,
                rule,
                reason,
            } => write!(f, "undecided: {policy} rule {rule}: {reason}"),
            Self::Denied {
                isolated_by,
                near_miss,
            } => {
                write!(f, "denied: isolated by {}", isolated_by.join(", "))?;
                match near_miss {
                    Some(near) => {
                        let reasons: Vec<String> =
                            near.reasons.iter().map(ToString::to_string).collect();
                        write!(
                            f,
                            "; nearest rule {} rule {}: {}",
                            near.policy,
                            near.rule,
                            reasons.join("; ")
                        )
                    }
                    None => f.write_str("; no rule admits anything"),
                }
            }
        }
    }
}
