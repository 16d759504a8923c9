//! What a probe observed, and whether it agrees with the engine's prediction.
//!
//! Errors stay structured up to the UI (STYLE anti-pattern 5): "refused" and "timed out" are
//! different variants, never one string.

use std::fmt;
use std::time::Duration;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::engine::Severity;
use crate::engine::model::{HopKey, ServiceKey};
use crate::engine::plan::{Expectation, HopKind};
use crate::engine::verdict::{HopVerdict, ProbeFinding, ProbeFindingCode};

/// How a hop was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Transport {
    /// Through the API server: `pods/portforward` (works from any machine with API access).
    #[serde(rename = "portForward")]
    PortForward,
    /// A TCP connection from this machine to the address.
    #[serde(rename = "direct")]
    Direct,
    /// Not connected at all (the hop is not reachable from here).
    #[serde(rename = "none")]
    None,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::PortForward => "port-forward",
            Transport::Direct => "direct",
            Transport::None => "none",
        }
    }
}

/// Where a timeout happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Establishing the connection (TCP handshake, port-forward upgrade).
    Connect,
    /// Waiting for the answer after connecting (a userspace proxy that drops holds the
    /// connection open and silent).
    Answer,
}

/// What the server sent back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    /// HTTP status code, when the hop spoke HTTP and the answer parsed as HTTP.
    pub status: Option<u16>,
    pub reason: Option<String>,
    /// A few headers worth showing (server, content-type, content-length, location,
    /// x-kubehop-pod), in the order received.
    pub headers: Vec<(String, String)>,
    /// The first bytes of the body (HTTP) or of whatever the server sent, printable.
    pub first_bytes: String,
    /// Time from the start of the attempt to the first byte of the answer.
    #[serde(serialize_with = "serialize_millis_option")]
    pub first_byte: Option<Duration>,
    /// The server closed the connection without sending anything.
    pub closed_without_data: bool,
    /// For HTTPS hops: the TLS version agreed, or why the handshake failed.
    pub tls: Option<String>,
    /// For TLSRoute hops: who the certificate presented says it is, and its issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// For TLSRoute hops whose handshake did not complete: how it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_failure: Option<TlsFailure>,
}

/// How the TLS handshake of a TLSRoute hop ended without completing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TlsFailure {
    /// The server sent a fatal `unrecognized_name` alert: nothing there takes the server name.
    SniNotRouted,
    /// Any other end: reset or closed before the server's hello, another alert, not TLS.
    HandshakeFailed,
}

impl Answer {
    /// One line: `HTTP 200 OK`, `"SSH-2.0-OpenSSH"`, `closed without data`, `silent`.
    pub fn summary(&self) -> String {
        let plain = self.plain_summary();
        match (&self.tls, &self.certificate) {
            (Some(tls), Some(certificate)) => {
                format!("{tls}, certificate {certificate}, {plain}")
            }
            (Some(tls), None) => format!("{tls}, {plain}"),
            (None, _) => plain,
        }
    }

    fn plain_summary(&self) -> String {
        if let Some(status) = self.status {
            return match &self.reason {
                Some(reason) if !reason.is_empty() => format!("HTTP {status} {reason}"),
                _ => format!("HTTP {status}"),
            };
        }
        if self.closed_without_data {
            return "closed without data".to_owned();
        }
        if self.first_bytes.is_empty() {
            return "silent".to_owned();
        }
        format!("{:?}", self.first_bytes)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What happened when connecting to one hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Connected in `latency` (TCP handshake, or the port-forward set up). `answer` is `None`
    /// when the server stayed silent for the answer window (many protocols wait for the client).
    Connected {
        latency: Duration,
        answer: Option<Answer>,
    },
    /// Connection refused (RST to the SYN, or the kubelet's "connection refused").
    Refused { detail: Option<String> },
    /// Nothing came back in time.
    TimedOut { stage: Stage, after: Duration },
    /// The connection was reset (`after_connect`: it had been accepted first).
    Reset {
        after_connect: bool,
        detail: Option<String>,
    },
    /// A hostname did not resolve.
    DnsFailure(String),
    /// The port-forward through the API server failed (pod gone, not running, ...).
    ForwardFailed(String),
    /// The API server refused the port-forward (RBAC: `create pods/portforward`).
    Forbidden(String),
    /// Not tried: this machine cannot reach the address (reason says why).
    NotReachable(String),
}

impl ProbeOutcome {
    /// A short word for marks and tables: `connected`, `refused`, `timeout`, `reset`, ...
    pub fn word(&self) -> &'static str {
        match self {
            ProbeOutcome::Connected { .. } => "connected",
            ProbeOutcome::Refused { .. } => "refused",
            ProbeOutcome::TimedOut { .. } => "timeout",
            ProbeOutcome::Reset { .. } => "reset",
            ProbeOutcome::DnsFailure(_) => "dns-failure",
            ProbeOutcome::ForwardFailed(_) => "forward-failed",
            ProbeOutcome::Forbidden(_) => "forbidden",
            ProbeOutcome::NotReachable(_) => "not-reachable",
        }
    }

    /// A few characters for inline marks: `1.2 ms`, `refused`, `timeout`, `not reachable`.
    pub fn short(&self) -> String {
        match self {
            ProbeOutcome::Connected { latency, .. } => format_latency(*latency),
            ProbeOutcome::Refused { .. } => "refused".to_owned(),
            ProbeOutcome::TimedOut { .. } => "timeout".to_owned(),
            ProbeOutcome::Reset { .. } => "reset".to_owned(),
            ProbeOutcome::DnsFailure(_) => "dns failed".to_owned(),
            ProbeOutcome::ForwardFailed(_) => "forward failed".to_owned(),
            ProbeOutcome::Forbidden(_) => "forbidden".to_owned(),
            ProbeOutcome::NotReachable(_) => "not reachable".to_owned(),
        }
    }

    pub fn latency(&self) -> Option<Duration> {
        match self {
            ProbeOutcome::Connected { latency, .. } => Some(*latency),
            _ => None,
        }
    }

    pub fn answer(&self) -> Option<&Answer> {
        match self {
            ProbeOutcome::Connected { answer, .. } => answer.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeOutcome::Connected { latency, answer } => {
                write!(f, "connected in {}", format_latency(*latency))?;
                match answer {
                    Some(answer) => write!(f, ", {}", answer.summary()),
                    None => f.write_str(", no answer (silent)"),
                }
            }
            ProbeOutcome::Refused { detail: None } => f.write_str("connection refused"),
            ProbeOutcome::Refused {
                detail: Some(detail),
            } => write!(f, "connection refused ({detail})"),
            ProbeOutcome::TimedOut {
                stage: Stage::Connect,
                after,
            } => write!(f, "no connection after {}", format_latency(*after)),
            ProbeOutcome::TimedOut {
                stage: Stage::Answer,
                after,
            } => write!(
                f,
                "connected, then silence: no answer after {}",
                format_latency(*after)
            ),
            ProbeOutcome::Reset {
                after_connect,
                detail,
            } => {
                f.write_str(if *after_connect {
                    "accepted, then reset"
                } else {
                    "connection reset"
                })?;
                if let Some(detail) = detail {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            ProbeOutcome::DnsFailure(detail) => write!(f, "DNS lookup failed: {detail}"),
            ProbeOutcome::ForwardFailed(detail) => write!(f, "port-forward failed: {detail}"),
            ProbeOutcome::Forbidden(detail) => write!(f, "forbidden: {detail}"),
            ProbeOutcome::NotReachable(reason) => {
                write!(f, "not reachable from this machine: {reason}")
            }
        }
    }
}

impl Serialize for ProbeOutcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("ProbeOutcome", 5)?;
        out.serialize_field("result", self.word())?;
        match self {
            ProbeOutcome::Connected { latency, answer } => {
                out.serialize_field("latencyMs", &millis(*latency))?;
                out.serialize_field("answer", answer)?;
            }
            ProbeOutcome::Refused { detail } => out.serialize_field("detail", detail)?,
            ProbeOutcome::TimedOut { stage, after } => {
                out.serialize_field("stage", stage)?;
                out.serialize_field("afterMs", &millis(*after))?;
            }
            ProbeOutcome::Reset {
                after_connect,
                detail,
            } => {
                out.serialize_field("afterConnect", after_connect)?;
                out.serialize_field("detail", detail)?;
            }
            ProbeOutcome::DnsFailure(detail)
            | ProbeOutcome::ForwardFailed(detail)
            | ProbeOutcome::Forbidden(detail)
            | ProbeOutcome::NotReachable(detail) => out.serialize_field("detail", detail)?,
        }
        out.end()
    }
}

/// Milliseconds with three decimals (microsecond resolution).
pub fn millis(duration: Duration) -> f64 {
    (duration.as_micros() as f64) / 1000.0
}

fn serialize_millis_option<S: Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serializer.serialize_some(&millis(*duration)),
        None => serializer.serialize_none(),
    }
}

/// `0.4 ms`, `12 ms`, `1.2 s`.
pub fn format_latency(duration: Duration) -> String {
    let ms = millis(duration);
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// Which pod answered, and how kubehop knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnsweringPod {
    pub pod: String,
    /// `header` (X-Kubehop-Pod) or `body` (the pod's name appeared in the answer).
    pub from: &'static str,
}

/// Whether the observation matches the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Agreement {
    /// Behaved as the engine predicted.
    Expected,
    /// Did not: the hop is broken, or the engine's picture of the cluster is wrong.
    Unexpected,
    /// Nothing to compare: not reachable from this machine, not permitted, or no prediction.
    Unverified,
}

impl Agreement {
    pub fn as_str(self) -> &'static str {
        match self {
            Agreement::Expected => "expected",
            Agreement::Unexpected => "unexpected",
            Agreement::Unverified => "unverified",
        }
    }
}

/// A fix found by trying the pod's other ports (rule M5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FixSuggestion {
    /// The port that accepted.
    pub port: u16,
    /// "targetPort 8080 refused on web-1; containerPort 80 accepts — set targetPort: 80".
    pub text: String,
}

/// One extra port tried on an endpoint's pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FallbackResult {
    pub port: u16,
    pub declared: bool,
    pub outcome: ProbeOutcome,
}

/// The result of probing one hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopResult {
    pub key: HopKey,
    pub kind: HopKind,
    /// The target as text (`shop/web-1 (127.0.0.5:8080)`, `127.0.0.10:80`).
    pub target: String,
    pub transport: Transport,
    pub outcome: ProbeOutcome,
    pub answered_by: Option<AnsweringPod>,
    pub expected: Expectation,
    pub agreement: Agreement,
    /// Why the agreement is what it is, in words.
    pub why: String,
    pub fix: Option<FixSuggestion>,
    pub fallbacks: Vec<FallbackResult>,
    /// The plan hop's fingerprint: results for an older fingerprint are stale.
    pub fingerprint: u64,
    /// Wall time spent on the hop (fallback attempts included).
    pub elapsed: Duration,
    /// For a failed NodePort hop: the node-level cause the run found (rules K2, K3).
    pub node_cause: Option<NodeCause>,
}

/// Why a NodePort hop failed, when the node (not the Service) is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCause {
    pub code: ProbeFindingCode,
    pub text: String,
}

impl HopResult {
    /// Whether the result counts as a failure (exit status 1).
    pub fn failed(&self) -> bool {
        self.agreement == Agreement::Unexpected
    }

    /// The verdict every renderer shows for this result (`stale`: its prediction changed).
    pub fn verdict(&self, stale: bool) -> HopVerdict {
        if stale {
            return HopVerdict::Stale;
        }
        match self.agreement {
            Agreement::Unexpected => HopVerdict::Unexpected,
            Agreement::Unverified => HopVerdict::NotReachable,
            Agreement::Expected => match self.expected {
                Expectation::Connect { .. } => HopVerdict::Ok,
                _ => HopVerdict::ExpectedFailure,
            },
        }
    }

    /// The finding an unexpected result is (`None` when the result agrees or was not checked),
    /// about `subject` (the hop's label).
    pub fn finding(&self, subject: &str, stale: bool) -> Option<ProbeFinding> {
        if self.agreement != Agreement::Unexpected {
            return None;
        }
        let predicted_connect = matches!(self.expected, Expectation::Connect { .. });
        if let Some(cause) = &self.node_cause {
            return Some(ProbeFinding {
                severity: Severity::Error,
                code: cause.code,
                subject: subject.to_owned(),
                message: format!("{}: {}", self.outcome, cause.text),
                fix: None,
                stale,
            });
        }
        let tls_failure = self.outcome.answer().and_then(|answer| answer.tls_failure);
        let code = match &self.outcome {
            ProbeOutcome::Connected { .. } if tls_failure == Some(TlsFailure::SniNotRouted) => {
                ProbeFindingCode::TlsSniNotRouted
            }
            ProbeOutcome::Connected { .. } if tls_failure.is_some() => {
                ProbeFindingCode::TlsHandshakeFailed
            }
            ProbeOutcome::Refused { .. } => ProbeFindingCode::UnexpectedRefusal,
            ProbeOutcome::Reset { .. } => ProbeFindingCode::UnexpectedReset,
            ProbeOutcome::TimedOut { .. } => ProbeFindingCode::Timeout,
            ProbeOutcome::Connected { .. } if predicted_connect => {
                ProbeFindingCode::UnexpectedAnswer
            }
            ProbeOutcome::Connected { .. } => ProbeFindingCode::UnexpectedConnect,
            ProbeOutcome::DnsFailure(_)
            | ProbeOutcome::ForwardFailed(_)
            | ProbeOutcome::Forbidden(_)
            | ProbeOutcome::NotReachable(_) => ProbeFindingCode::UnreachableTarget,
        };
        let message = if matches!(
            code,
            ProbeFindingCode::UnexpectedAnswer
                | ProbeFindingCode::TlsSniNotRouted
                | ProbeFindingCode::TlsHandshakeFailed
        ) {
            self.why.clone()
        } else {
            let predicted = match &self.expected {
                Expectation::Connect { .. } => "a connection",
                Expectation::Drop { .. } => "a drop (silence until the client gives up)",
                Expectation::Reject { .. } => "a refusal",
                Expectation::NoBackend { .. } => "no backend (503 or a refusal)",
                Expectation::Unrouted { .. } => "nothing in particular",
            };
            // The kubelet's or the kernel's own words stay in the probe's details.
            let observed = match &self.outcome {
                ProbeOutcome::Refused { .. } => "the connection was refused".to_owned(),
                ProbeOutcome::Reset {
                    after_connect: true,
                    ..
                } => "the connection was accepted, then reset".to_owned(),
                ProbeOutcome::Reset { .. } => "the connection was reset".to_owned(),
                other => other.to_string(),
            };
            format!(
                "{observed}, but the engine predicted {predicted}: {}",
                self.expected.reason()
            )
        };
        Some(ProbeFinding {
            severity: if predicted_connect {
                Severity::Error
            } else {
                Severity::Warning
            },
            code,
            subject: subject.to_owned(),
            message,
            fix: self.fix.as_ref().map(|fix| fix.text.clone()),
            stale,
        })
    }
}

/// A whole probe run, in plan order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    pub service: ServiceKey,
    /// The snapshot generation the plan was made from.
    pub generation: u64,
    pub results: Vec<HopResult>,
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

impl ProbeReport {
    pub fn result(&self, key: &HopKey) -> Option<&HopResult> {
        self.results.iter().find(|result| &result.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Duration::from_micros(1234), "1.2 ms")]
    #[case(Duration::from_micros(400), "0.4 ms")]
    #[case(Duration::from_millis(35), "35 ms")]
    #[case(Duration::from_millis(2000), "2.0 s")]
    fn latencies_read_well(#[case] duration: Duration, #[case] text: &str) {
        assert_eq!(format_latency(duration), text);
    }

    #[test]
    fn outcomes_serialise_with_a_result_word() {
        let outcome = ProbeOutcome::TimedOut {
            stage: Stage::Connect,
            after: Duration::from_secs(2),
        };
        assert_eq!(
            serde_json::to_value(&outcome).expect("json"),
            serde_json::json!({"result": "timeout", "stage": "connect", "afterMs": 2000.0})
        );
        assert_eq!(outcome.to_string(), "no connection after 2.0 s");
    }

    fn judged(expected: Expectation, outcome: ProbeOutcome, agreement: Agreement) -> HopResult {
        HopResult {
            key: HopKey("default/web#80/TCP/clusterIP".to_owned()),
            kind: HopKind::ClusterIp,
            target: "127.0.0.10:80".to_owned(),
            transport: Transport::Direct,
            outcome,
            answered_by: None,
            expected,
            agreement,
            why: "why".to_owned(),
            fix: None,
            fallbacks: Vec::new(),
            fingerprint: 1,
            elapsed: Duration::ZERO,
            node_cause: None,
        }
    }

    fn connect() -> Expectation {
        Expectation::Connect {
            endpoints: Vec::new(),
            reason: "ready".to_owned(),
        }
    }

    /// A TLSRoute hop whose handshake ended as `failure`.
    fn tls_failed(failure: TlsFailure) -> ProbeOutcome {
        ProbeOutcome::Connected {
            latency: Duration::ZERO,
            answer: Some(Answer {
                tls: Some("TLS handshake failed: x".to_owned()),
                tls_failure: Some(failure),
                ..Answer::default()
            }),
        }
    }

    #[rstest]
    #[case(connect(), ProbeOutcome::Refused { detail: None }, ProbeFindingCode::UnexpectedRefusal, Severity::Error)]
    #[case(connect(), ProbeOutcome::TimedOut { stage: Stage::Connect, after: Duration::ZERO }, ProbeFindingCode::Timeout, Severity::Error)]
    #[case(connect(), ProbeOutcome::Reset { after_connect: true, detail: None }, ProbeFindingCode::UnexpectedReset, Severity::Error)]
    #[case(connect(), ProbeOutcome::Connected { latency: Duration::ZERO, answer: None }, ProbeFindingCode::UnexpectedAnswer, Severity::Error)]
    #[case(Expectation::Drop { reason: "local".to_owned() }, ProbeOutcome::Connected { latency: Duration::ZERO, answer: None }, ProbeFindingCode::UnexpectedConnect, Severity::Warning)]
    #[case(connect(), ProbeOutcome::ForwardFailed("gone".to_owned()), ProbeFindingCode::UnreachableTarget, Severity::Error)]
    #[case(
        connect(),
        tls_failed(TlsFailure::SniNotRouted),
        ProbeFindingCode::TlsSniNotRouted,
        Severity::Error
    )]
    #[case(
        connect(),
        tls_failed(TlsFailure::HandshakeFailed),
        ProbeFindingCode::TlsHandshakeFailed,
        Severity::Error
    )]
    fn unexpected_results_are_findings(
        #[case] expected: Expectation,
        #[case] outcome: ProbeOutcome,
        #[case] code: ProbeFindingCode,
        #[case] severity: Severity,
    ) {
        let result = judged(expected, outcome, Agreement::Unexpected);
        let finding = result
            .finding("ClusterIP 127.0.0.10:80", false)
            .expect("a finding");
        assert_eq!((finding.code, finding.severity), (code, severity));
        assert_eq!(finding.subject, "ClusterIP 127.0.0.10:80");
        assert_eq!(result.verdict(false), HopVerdict::Unexpected);
        assert_eq!(result.verdict(true), HopVerdict::Stale);
    }

    #[test]
    fn agreeing_and_unchecked_results_are_no_finding() {
        let refused = ProbeOutcome::Refused { detail: None };
        let reject = Expectation::Reject {
            reason: "none".to_owned(),
        };
        let expected_failure = judged(reject, refused.clone(), Agreement::Expected);
        assert_eq!(expected_failure.verdict(false), HopVerdict::ExpectedFailure);
        assert!(expected_failure.finding("x", false).is_none());
        let unchecked = judged(connect(), refused, Agreement::Unverified);
        assert_eq!(unchecked.verdict(false), HopVerdict::NotReachable);
        assert!(unchecked.finding("x", false).is_none());
    }
}
