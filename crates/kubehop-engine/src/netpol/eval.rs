//! One direction of one connection against the policies that select a pod: allowed by which
//! rule, or denied with the rule that came closest (rules N1-N9).

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

use super::PolicyIndex;
use super::compile::{Peer, Policy, PortEntry, PortSpec, Rule};
use crate::model::Protocol;
use crate::pods;

/// The other end of a connection as a policy sees it.
#[derive(Debug, Clone, Copy)]
pub enum Remote<'a> {
    /// A pod of the pod network (selectors apply, ipBlocks do not: rule N6).
    Pod(&'a Pod),
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
        listed: Vec<String>,
    },
    /// N4/N5: the source's namespace lacks the labels the namespace selector asks for.
    NamespaceLabels {
        namespace: String,
        selector: String,
        labels_known: bool,
    },
    /// N4: a peer without namespace selector only covers the policy's own namespace.
    OtherNamespace {
        namespace: String,
        policy_namespace: String,
    },
    /// N4: the source pod lacks the labels the pod selector asks for.
    PodLabels { pod: String, selector: String },
    /// N6/N10: selectors match pods only; this source is seen as an address (after SNAT).
    NotAPod {
        address: Option<IpAddr>,
        selector: String,
    },
    /// N6: the address lies in an `except` range of the block.
    IpBlockExcept { address: IpAddr, block: String },
    /// N6: the address lies outside the block.
    IpBlockOutside { address: IpAddr, block: String },
    /// N6: the block covers a pod's address; whether that counts depends on the plugin.
    IpBlockPodAddress { address: IpAddr, block: String },
    /// The block decides, and the outside client's address is not known.
    UnknownAddress { block: String },
}

impl Miss {
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
}

/// The rule that came closest to admitting a denied connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NearMiss {
    /// `namespace/name` of the policy.
    pub policy: String,
    /// Zero-based index into the policy's `spec.ingress` (or `spec.egress`).
    pub rule: usize,
    /// Everything that stops this rule (one or two reasons: the peer, the port).
    pub reasons: Vec<Miss>,
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
    Allowed { policy: String, rule: usize },
    /// Only a rule kubehop cannot decide would admit it (N6: an ipBlock and a pod address, or
    /// an unknown client address).
    Undecided {
        policy: String,
        rule: usize,
        reason: Miss,
    },
    /// Isolated and no rule admits the connection.
    Denied {
        isolated_by: Vec<String>,
        near_miss: Option<NearMiss>,
    },
}

impl Decision {
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
    pub pod: &'a Pod,
    /// The policies selecting `pod`, when the caller has them already ([`PolicyIndex::selecting_indices`]).
    pub selecting: Option<&'a [usize]>,
    pub remote: Remote<'a>,
    pub destination: Option<&'a Pod>,
    pub port: i32,
    pub protocol: Protocol,
}

/// The outcome of one rule.
enum RuleOutcome {
    Admits,
    Undecided(Miss),
    Misses(Vec<Miss>),
}

impl PolicyIndex {
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
        let isolating: Vec<(&Policy, &[Rule])> = selecting
            .iter()
            .filter_map(|index| self.policies.get(*index))
            .filter_map(|policy| {
                let rules = match question.direction {
                    Direction::Ingress => policy.ingress.as_deref(),
                    Direction::Egress => policy.egress.as_deref(),
                }?;
                Some((policy, rules))
            })
            .collect();
        if isolating.is_empty() {
            return Decision::NotIsolated;
        }
        let mut undecided = None;
        let mut best: Option<(usize, u8, NearMiss)> = None;
        for (policy, rules) in &isolating {
            for (index, rule) in rules.iter().enumerate() {
                match self.rule_outcome(policy, rule, question) {
                    RuleOutcome::Admits => {
                        return Decision::Allowed {
                            policy: policy.key(),
                            rule: index,
                        };
                    }
                    RuleOutcome::Undecided(reason) => {
                        undecided.get_or_insert((policy.key(), index, reason));
                    }
                    RuleOutcome::Misses(reasons) => {
                        let rank = reasons.iter().map(Miss::rank).min().unwrap_or(u8::MAX);
                        let score = (reasons.len(), rank);
                        if best.as_ref().is_none_or(|(len, r, _)| score < (*len, *r)) {
                            let near = NearMiss {
                                policy: policy.key(),
                                rule: index,
                                reasons,
                            };
                            best = Some((score.0, score.1, near));
                        }
                    }
                }
            }
        }
        if let Some((policy, rule, reason)) = undecided {
            return Decision::Undecided {
                policy,
                rule,
                reason,
            };
        }
        Decision::Denied {
            isolated_by: isolating.iter().map(|(policy, _)| policy.key()).collect(),
            near_miss: best.map(|(_, _, near)| near),
        }
    }

    fn rule_outcome(&self, policy: &Policy, rule: &Rule, question: &Question<'_>) -> RuleOutcome {
        let peer = match &rule.peers {
            None => Ok(()),
            Some(peers) => self.peers_outcome(policy, peers, question.remote),
        };
        let port = match &rule.ports {
            None => Ok(()),
            Some(entries) => ports_outcome(entries, question),
        };
        match (peer, port) {
            (Ok(()), Ok(())) => RuleOutcome::Admits,
            (Err(miss), Ok(())) if miss.undecided() => RuleOutcome::Undecided(miss),
            (peer, port) => RuleOutcome::Misses(peer.err().into_iter().chain(port.err()).collect()),
        }
    }

    /// N4: any peer admits (OR); else the closest miss.
    fn peers_outcome(
        &self,
        policy: &Policy,
        peers: &[Peer],
        remote: Remote<'_>,
    ) -> Result<(), Miss> {
        let mut closest: Option<Miss> = None;
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
        Err(closest.unwrap_or(Miss::UnknownAddress {
            block: String::new(),
        }))
    }

    fn peer_outcome(&self, policy: &Policy, peer: &Peer, remote: Remote<'_>) -> Result<(), Miss> {
        match (peer, remote) {
            (Peer::Pods { pods, namespaces }, Remote::Pod(pod)) => {
                let namespace = pods::namespace(pod);
                match namespaces {
                    None if namespace != policy.namespace => {
                        return Err(Miss::OtherNamespace {
                            namespace: namespace.to_owned(),
                            policy_namespace: policy.namespace.clone(),
                        });
                    }
                    Some(selector) if !selector.matches(self.namespace_labels(namespace)) => {
                        return Err(Miss::NamespaceLabels {
                            namespace: namespace.to_owned(),
                            selector: selector.to_string(),
                            labels_known: self.namespace_known(namespace),
                        });
                    }
                    _ => {}
                }
                match pods {
                    Some(selector) if !selector.matches(pods::labels(pod)) => {
                        Err(Miss::PodLabels {
                            // `NS/*`: the unnamed "any pod of the namespace" source.
                            pod: match pods::name(pod) {
                                "" => format!("{namespace}/*"),
                                name => format!("{namespace}/{name}"),
                            },
                            selector: selector.to_string(),
                        })
                    }
                    _ => Ok(()),
                }
            }
            (Peer::Pods { pods, namespaces }, Remote::Address(_) | Remote::AnyExternal) => {
                let selector = match (pods, namespaces) {
                    (Some(p), Some(n)) => format!("namespaceSelector {n} + podSelector {p}"),
                    (Some(p), None) => format!("podSelector {p}"),
                    (None, Some(n)) => format!("namespaceSelector {n}"),
                    (None, None) => "{}".to_owned(),
                };
                let address = match remote {
                    Remote::Address(ip) => Some(ip),
                    _ => None,
                };
                Err(Miss::NotAPod { address, selector })
            }
            (Peer::IpBlock { cidr, except, text }, remote) => {
                ip_block_outcome(cidr.as_ref(), except, text, remote)
            }
        }
    }
}

/// N6: an ipBlock against the remote end.
fn ip_block_outcome(
    cidr: Option<&crate::cidr::Cidr>,
    except: &[crate::cidr::Cidr],
    text: &str,
    remote: Remote<'_>,
) -> Result<(), Miss> {
    let block = text.to_owned();
    let inside = |ip: IpAddr| cidr.is_some_and(|cidr| cidr.contains(ip));
    match remote {
        Remote::Address(address) => {
            if !inside(address) {
                Err(Miss::IpBlockOutside { address, block })
            } else if except.iter().any(|range| range.contains(address)) {
                Err(Miss::IpBlockExcept { address, block })
            } else {
                Ok(())
            }
        }
        Remote::Pod(pod) => {
            let address = pods::ips(pod).into_iter().next();
            match address {
                Some(address) if inside(address) && !except.iter().any(|r| r.contains(address)) => {
                    Err(Miss::IpBlockPodAddress { address, block })
                }
                Some(address) => Err(Miss::IpBlockOutside { address, block }),
                None => Err(Miss::UnknownAddress { block }),
            }
        }
        Remote::AnyExternal => {
            let everything = cidr.is_some_and(|cidr| cidr.prefix == 0) && except.is_empty();
            if everything {
                Ok(())
            } else {
                Err(Miss::UnknownAddress { block })
            }
        }
    }
}

/// N7: any entry matches the port (OR); else why not.
fn ports_outcome(entries: &[PortEntry], question: &Question<'_>) -> Result<(), Miss> {
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
                    undeclared.get_or_insert_with(|| Miss::PortNameUndeclared {
                        name: name.clone(),
                        protocol: entry.protocol,
                    });
                }
            },
        }
    }
    Err(undeclared.unwrap_or_else(|| Miss::PortNotListed {
        port: question.port,
        protocol: question.protocol,
        listed: entries.iter().map(ToString::to_string).collect(),
    }))
}

/// N7: the number a container of `pod` declares under `name` and `protocol`.
pub(crate) fn named_port(pod: Option<&Pod>, name: &str, protocol: Protocol) -> Option<i32> {
    let spec = pod?.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|container| container.ports.iter().flatten())
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
    pub(crate) fn ingress_port_open(
        &self,
        pod: &Pod,
        port: i32,
        protocol: Protocol,
    ) -> Option<bool> {
        let question = Question {
            direction: Direction::Ingress,
            pod,
            selecting: None,
            remote: Remote::AnyExternal,
            destination: Some(pod),
            port,
            protocol,
        };
        let mut isolated = false;
        for policy in self.selecting(pod) {
            let Some(rules) = &policy.ingress else {
                continue;
            };
            isolated = true;
            let open = rules.iter().any(|rule| match &rule.ports {
                None => true,
                Some(entries) => ports_outcome(entries, &question).is_ok(),
            });
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
