//! Judging the DNS pods' replies: per lookup and pod a [`LookupStatus`], and findings with
//! stable codes (docs/diagnostics.md, "DNS probe findings"; precision rules in docs/rules.md,
//! group F, "Checking cluster DNS").

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use super::{ClusterDns, DnsLookup, DnsPod, DnsQuestion, DnsRcode, DnsReply, PodReplies};
use crate::diagnostics::Severity;
use crate::verdict::{ProbeFinding, ProbeFindingCode};

/// How one DNS pod did on one lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum LookupStatus {
    /// Exactly the expected values.
    Matched,
    /// Only expected values, but not all of them.
    Incomplete {
        missing: Vec<String>,
    },
    /// Values that are not the current ones (an old cluster IP, a gone endpoint).
    Stale {
        unexpected: Vec<String>,
        missing: Vec<String>,
    },
    /// NXDOMAIN for a name the engine expects.
    NxDomain,
    /// The name exists, without records of this type.
    NoData,
    /// The search path reached another name first, which answered.
    Shadowed {
        name: String,
        values: Vec<String>,
    },
    /// The TC bit was set: the answer was cut short even over TCP.
    Truncated {
        values: Vec<String>,
    },
    /// SERVFAIL, REFUSED or another error code.
    ServerError {
        rcode: DnsRcode,
    },
    TimedOut,
    /// The port-forward or the connection failed.
    Failed {
        reason: String,
    },
    /// The question was not sent (the run stopped early).
    NotAsked,
}

impl LookupStatus {
    /// A wrong answer (not a sick or unreachable server).
    pub fn is_wrong_data(&self) -> bool {
        matches!(
            self,
            Self::Incomplete { .. }
                | Self::Stale { .. }
                | Self::NxDomain
                | Self::NoData
                | Self::Shadowed { .. }
                | Self::Truncated { .. }
        )
    }

    /// Short words for a table cell.
    pub fn word(&self) -> String {
        match self {
            Self::Matched => "ok".to_owned(),
            Self::Incomplete { missing } => format!("missing {}", missing.join(", ")),
            Self::Stale { unexpected, .. } => format!("stale {}", unexpected.join(", ")),
            Self::NxDomain => "NXDOMAIN".to_owned(),
            Self::NoData => "no records".to_owned(),
            Self::Shadowed { name, .. } => format!("answered as {name}"),
            Self::Truncated { .. } => "truncated (TC)".to_owned(),
            Self::ServerError { rcode } => rcode.as_str(),
            Self::TimedOut => "timed out".to_owned(),
            Self::Failed { .. } => "unreachable".to_owned(),
            Self::NotAsked => "not asked".to_owned(),
        }
    }
}

/// Walks the lookup's tries the way a resolver does: NXDOMAIN or an empty answer moves on to
/// the next name; the first name with records of the type decides.
pub fn status_of(lookup: &DnsLookup, replies: &BTreeMap<DnsQuestion, DnsReply>) -> LookupStatus {
    for name in &lookup.tries {
        let question = DnsQuestion {
            name: name.clone(),
            record_type: lookup.record_type,
        };
        let Some(reply) = replies.get(&question) else {
            return LookupStatus::NotAsked;
        };
        let (rcode, truncated, answers) = match reply {
            DnsReply::TimedOut => return LookupStatus::TimedOut,
            DnsReply::Failed { reason } => {
                return LookupStatus::Failed {
                    reason: reason.clone(),
                };
            }
            DnsReply::Answered {
                rcode,
                truncated,
                answers,
            } => (*rcode, *truncated, answers),
        };
        let is_target = name.eq_ignore_ascii_case(&lookup.answers_as);
        let mut values: Vec<String> = answers
            .iter()
            .filter(|answer| {
                answer.record_type == lookup.record_type && answer.name.eq_ignore_ascii_case(name)
            })
            .map(|answer| answer.value.clone())
            .collect();
        values.sort();
        values.dedup();
        match rcode {
            DnsRcode::NxDomain if is_target => return LookupStatus::NxDomain,
            DnsRcode::NoError if values.is_empty() && is_target && truncated => {
                return LookupStatus::Truncated { values };
            }
            DnsRcode::NoError if values.is_empty() && is_target => return LookupStatus::NoData,
            DnsRcode::NxDomain | DnsRcode::NoError if values.is_empty() => {}
            DnsRcode::NoError if !is_target => {
                return LookupStatus::Shadowed {
                    name: name.clone(),
                    values,
                };
            }
            DnsRcode::NoError if truncated => return LookupStatus::Truncated { values },
            DnsRcode::NoError => return judge_values(&lookup.expected, values),
            rcode => return LookupStatus::ServerError { rcode },
        }
    }
    LookupStatus::NxDomain
}

fn judge_values(expected: &[String], got: Vec<String>) -> LookupStatus {
    let missing: Vec<String> = expected
        .iter()
        .filter(|value| !got.contains(value))
        .cloned()
        .collect();
    let unexpected: Vec<String> = got
        .into_iter()
        .filter(|value| !expected.contains(value))
        .collect();
    match (unexpected.is_empty(), missing.is_empty()) {
        (true, true) => LookupStatus::Matched,
        (true, false) => LookupStatus::Incomplete { missing },
        (false, _) => LookupStatus::Stale {
            unexpected,
            missing,
        },
    }
}

/// The stable codes of DNS probe findings (docs/diagnostics.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DnsFindingCode {
    /// NXDOMAIN (or no records of the type) for a name the engine expects.
    NameMissing,
    /// Answers that are not the current cluster IPs or endpoints.
    StaleAnswer,
    /// Some expected values are not answered (and nothing else is).
    AnswerIncomplete,
    /// A short form reaches another name first through the search path.
    SearchPathShadowed,
    /// The TC bit over TCP.
    Truncated,
    /// SERVFAIL, REFUSED or timeouts from one DNS pod.
    PodUnhealthy,
    /// The port-forward to a DNS pod failed: nothing was learnt from it.
    PodUnreachable,
    /// No cluster DNS Service, or none of its pods is ready.
    NoServer,
}

impl DnsFindingCode {
    pub const ALL: [DnsFindingCode; 8] = [
        Self::NameMissing,
        Self::StaleAnswer,
        Self::AnswerIncomplete,
        Self::SearchPathShadowed,
        Self::Truncated,
        Self::PodUnhealthy,
        Self::PodUnreachable,
        Self::NoServer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NameMissing => "dns-name-missing",
            Self::StaleAnswer => "dns-stale-answer",
            Self::AnswerIncomplete => "dns-answer-incomplete",
            Self::SearchPathShadowed => "dns-search-path-shadowed",
            Self::Truncated => "dns-truncated",
            Self::PodUnhealthy => "dns-pod-unhealthy",
            Self::PodUnreachable => "dns-pod-unreachable",
            Self::NoServer => "dns-no-server",
        }
    }
}

impl fmt::Display for DnsFindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DnsFindingCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One finding of a DNS check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsFinding {
    pub severity: Severity,
    pub code: DnsFindingCode,
    /// `DNS web.shop.svc.cluster.local A` or a DNS pod's label.
    pub subject: String,
    pub message: String,
}

impl DnsFinding {
    /// The finding as a probe finding: the one object the Diagnostics tab, the header's
    /// counts, `kubehop probe` and `chain --probe` show. A DNS answer has no hop whose
    /// prediction could change under it, so it is never stale when made.
    pub fn to_probe_finding(&self) -> ProbeFinding {
        ProbeFinding {
            severity: self.severity,
            code: ProbeFindingCode::Dns(self.code),
            subject: self.subject.clone(),
            message: self.message.clone(),
            fix: None,
            stale: false,
        }
    }
}

/// One lookup and how every DNS pod did on it (pods in [`DnsCheck::pods`] order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LookupResult {
    pub lookup: DnsLookup,
    pub statuses: Vec<LookupStatus>,
}

impl LookupResult {
    /// The pods' statuses agree, and it is [`LookupStatus::Matched`].
    pub fn all_matched(&self) -> bool {
        !self.statuses.is_empty()
            && self
                .statuses
                .iter()
                .all(|status| *status == LookupStatus::Matched)
    }
}

/// A whole DNS check of one Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsCheck {
    pub server: ClusterDns,
    pub pods: Vec<DnsPod>,
    pub results: Vec<LookupResult>,
    pub findings: Vec<DnsFinding>,
}

impl DnsCheck {
    /// Every finding as a probe finding ([`DnsFinding::to_probe_finding`]).
    pub fn probe_findings(&self) -> Vec<ProbeFinding> {
        self.findings
            .iter()
            .map(DnsFinding::to_probe_finding)
            .collect()
    }

    /// How many lookups every pod answered exactly as expected.
    pub fn matched(&self) -> usize {
        self.results
            .iter()
            .filter(|result| result.all_matched())
            .count()
    }
}

/// Judges every pod's replies against the lookups.
pub fn compare(server: &ClusterDns, lookups: &[DnsLookup], replies: &[PodReplies]) -> DnsCheck {
    let pods: Vec<DnsPod> = replies.iter().map(|pod| pod.pod.clone()).collect();
    let results: Vec<LookupResult> = lookups
        .iter()
        .map(|lookup| LookupResult {
            lookup: lookup.clone(),
            statuses: replies
                .iter()
                .map(|pod| status_of(lookup, &pod.replies))
                .collect(),
        })
        .collect();
    let mut findings = Vec::new();
    if pods.is_empty() {
        findings.push(no_server(server));
    }
    findings.extend(pod_findings(replies));
    for (index, result) in results.iter().enumerate() {
        findings.extend(data_finding(result, &results[..index], &pods));
    }
    DnsCheck {
        server: server.clone(),
        pods,
        results,
        findings,
    }
}

fn no_server(server: &ClusterDns) -> DnsFinding {
    DnsFinding {
        severity: Severity::Warning,
        code: DnsFindingCode::NoServer,
        subject: format!("DNS Service {}/{}", server.namespace, server.name),
        message: format!(
            "{}/{} has no ready pod behind port 53: nothing to ask",
            server.namespace, server.name
        ),
    }
}

use super::findings::{data_finding, pod_findings};
