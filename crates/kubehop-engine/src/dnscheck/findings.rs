//! Findings of a DNS check: wrong answers per lookup, sick or unreachable DNS pods.

use super::judge::{DnsFinding, DnsFindingCode, LookupResult, LookupStatus};
use super::{DnsPod, DnsRcode, DnsReply, LookupForm, PodReplies};
use crate::diagnostics::Severity;

/// One finding per DNS pod that failed questions: unreachable (every question failed in
/// transport) or unhealthy (SERVFAIL, REFUSED, timeouts). An error when no pod answered any
/// question, a warning while a sibling answers.
pub(super) fn pod_findings(replies: &[PodReplies]) -> Vec<DnsFinding> {
    let answers_cleanly = |pod: &PodReplies| {
        pod.replies.values().any(|reply| {
            matches!(
                reply,
                DnsReply::Answered {
                    rcode: DnsRcode::NoError | DnsRcode::NxDomain,
                    ..
                }
            )
        })
    };
    let healthy_siblings = replies.iter().filter(|pod| answers_cleanly(pod)).count();
    let mut out = Vec::new();
    for pod in replies {
        let total = pod.replies.len();
        let mut errors: Vec<(String, usize)> = Vec::new();
        let mut count = |word: String| match errors.iter_mut().find(|(w, _)| *w == word) {
            Some((_, n)) => *n += 1,
            None => errors.push((word, 1)),
        };
        let mut failed = None;
        let mut failures = 0;
        for reply in pod.replies.values() {
            match reply {
                DnsReply::Answered {
                    rcode: DnsRcode::NoError | DnsRcode::NxDomain,
                    ..
                } => {}
                DnsReply::Answered { rcode, .. } => count(rcode.as_str()),
                DnsReply::TimedOut => count("no answer in time".to_owned()),
                DnsReply::Failed { reason } => {
                    failures += 1;
                    failed.get_or_insert_with(|| reason.clone());
                }
            }
        }
        if total > 0 && failures == total {
            out.push(DnsFinding {
                severity: Severity::Warning,
                code: DnsFindingCode::PodUnreachable,
                subject: pod.pod.label(),
                message: format!(
                    "could not reach it: {}; nothing was learnt from this pod",
                    failed.unwrap_or_default()
                ),
            });
            continue;
        }
        if errors.is_empty() {
            continue;
        }
        let counted: Vec<String> = errors
            .iter()
            .map(|(word, n)| format!("{word} to {n} of {total} questions"))
            .collect();
        let siblings = healthy_siblings - usize::from(answers_cleanly(pod));
        let (severity, tail) = if siblings > 0 {
            (
                Severity::Warning,
                format!(
                    " while {siblings} other DNS pod(s) answer: one pod of the Service is unhealthy"
                ),
            )
        } else {
            (Severity::Error, String::new())
        };
        out.push(DnsFinding {
            severity,
            code: DnsFindingCode::PodUnhealthy,
            subject: pod.pod.label(),
            message: format!("{}{tail}", counted.join(", ")),
        });
    }
    out
}

fn code_of(status: &LookupStatus) -> Option<DnsFindingCode> {
    Some(match status {
        LookupStatus::NxDomain | LookupStatus::NoData => DnsFindingCode::NameMissing,
        LookupStatus::Stale { .. } => DnsFindingCode::StaleAnswer,
        LookupStatus::Incomplete { .. } => DnsFindingCode::AnswerIncomplete,
        LookupStatus::Shadowed { .. } => DnsFindingCode::SearchPathShadowed,
        LookupStatus::Truncated { .. } => DnsFindingCode::Truncated,
        _ => return None,
    })
}

/// What one pod's wrong answer was, in words.
fn detail(status: &LookupStatus, expected: &[String]) -> String {
    let current = if expected.is_empty() {
        "nothing".to_owned()
    } else {
        expected.join(", ")
    };
    match status {
        LookupStatus::NxDomain => "NXDOMAIN".to_owned(),
        LookupStatus::NoData => "no record of this type".to_owned(),
        LookupStatus::Stale { unexpected, .. } => format!(
            "answers {} where the current records are {current}",
            unexpected.join(", ")
        ),
        LookupStatus::Incomplete { missing } => format!("leaves out {}", missing.join(", ")),
        LookupStatus::Shadowed { name, values } => {
            format!("{name} answers first ({})", values.join(", "))
        }
        LookupStatus::Truncated { values } => format!(
            "sets the TC bit even over TCP ({} of {} records came back)",
            values.len(),
            expected.len()
        ),
        other => other.word(),
    }
}

/// At most one finding per lookup: the most important wrong answer, naming every pod that
/// gave one and how many siblings answered right. A short form (or `kubernetes.default`)
/// whose full name already has a wrong answer from the same pod says nothing more.
pub(super) fn data_finding(
    result: &LookupResult,
    earlier: &[LookupResult],
    pods: &[DnsPod],
) -> Option<DnsFinding> {
    let lookup = &result.lookup;
    let root_is_wrong = |pod: usize| {
        earlier.iter().any(|other| {
            other.lookup.form == LookupForm::Record
                && other.lookup.answers_as == lookup.answers_as
                && other.lookup.record_type == lookup.record_type
                && other
                    .statuses
                    .get(pod)
                    .is_some_and(LookupStatus::is_wrong_data)
        })
    };
    let wrong: Vec<(usize, &LookupStatus, DnsFindingCode)> = result
        .statuses
        .iter()
        .enumerate()
        .filter(|(pod, _)| lookup.form == LookupForm::Record || !root_is_wrong(*pod))
        .filter_map(|(pod, status)| code_of(status).map(|code| (pod, status, code)))
        .collect();
    let code = wrong.iter().map(|(_, _, code)| *code).min()?;
    let said: Vec<String> = wrong
        .iter()
        .filter(|(_, _, c)| *c == code)
        .filter_map(|(pod, status, _)| {
            let pod = pods.get(*pod)?;
            Some(format!(
                "{}: {}",
                pod.name,
                detail(status, &lookup.expected)
            ))
        })
        .collect();
    let right: Vec<&str> = result
        .statuses
        .iter()
        .zip(pods)
        .filter(|(status, _)| **status == LookupStatus::Matched)
        .map(|(_, pod)| pod.name.as_str())
        .collect();
    let mut message = match lookup.form {
        LookupForm::Record => String::new(),
        LookupForm::Short | LookupForm::Kubernetes => format!(
            "a pod asking {} tries {}; ",
            lookup.asked,
            lookup.tries.join(", ")
        ),
    };
    message.push_str(&said.join("; "));
    if !right.is_empty() {
        message.push_str(&format!(
            "; {} answer(s) as expected: the DNS pods disagree",
            right.join(", ")
        ));
    }
    let severity = match code {
        DnsFindingCode::NameMissing | DnsFindingCode::StaleAnswer => Severity::Error,
        _ => Severity::Warning,
    };
    Some(DnsFinding {
        severity,
        code,
        subject: format!("DNS {} {:?}", lookup.asked, lookup.record_type),
        message,
    })
}
