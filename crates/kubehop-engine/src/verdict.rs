//! One vocabulary for what kubehop concludes, shared by every renderer (the TUI, `probe` and
//! `chain` text, JSON): the verdict of one probed hop, the health of a Service, and the
//! findings a probe adds to the engine's diagnostics.
//!
//! Symbols and words live here; colours are the TUI's (its theme maps each value to a style).

use std::fmt;

use serde::{Serialize, Serializer};

use crate::diagnostics::Severity;
use crate::model::ServiceChain;

/// What one probed hop means, in five values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HopVerdict {
    /// The probe saw what the engine predicted, and it works: `✓ ok`.
    Ok,
    /// The engine predicted a failure (a drop, a refusal, no backend) and the probe saw it:
    /// `⊘ fails as predicted`. Not a problem of the probe: the chain itself says why.
    ExpectedFailure,
    /// The probe saw something else than predicted: `✗ unexpected`.
    Unexpected,
    /// Not checked: this machine cannot reach the hop, the API server forbids it, or there
    /// is no prediction to compare with: `· not checked` (the why says which; the word
    /// matches the summaries' "not checked" count).
    NotReachable,
    /// The prediction changed since the hop was probed: `↻ stale`.
    Stale,
}

impl HopVerdict {
    pub const ALL: [HopVerdict; 5] = [
        Self::Ok,
        Self::ExpectedFailure,
        Self::Unexpected,
        Self::NotReachable,
        Self::Stale,
    ];

    /// One terminal cell.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Ok => "✓",
            Self::ExpectedFailure => "⊘",
            Self::Unexpected => "✗",
            Self::NotReachable => "·",
            Self::Stale => "↻",
        }
    }

    /// The words shown next to the symbol.
    pub fn word(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ExpectedFailure => "fails as predicted",
            Self::Unexpected => "unexpected",
            Self::NotReachable => "not checked",
            Self::Stale => "stale",
        }
    }

    /// The JSON value (`verdict` of a probed hop).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::ExpectedFailure => "expectedFailure",
            Self::Unexpected => "unexpected",
            Self::NotReachable => "notReachable",
            Self::Stale => "stale",
        }
    }
}

impl fmt::Display for HopVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.symbol(), self.word())
    }
}

impl Serialize for HopVerdict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The health of a Service: its worst finding (engine diagnostics and, when probed, probe
/// findings that are not stale). Ordered worst first, for sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Health {
    Broken,
    Warning,
    Ok,
}

impl Health {
    /// From the engine's diagnostics alone.
    pub fn of(chain: &ServiceChain) -> Health {
        Health::worst(
            chain
                .diagnostics
                .iter()
                .map(|diagnostic| diagnostic.severity),
        )
    }

    /// The health a set of severities gives (info counts as ok).
    pub fn worst(severities: impl IntoIterator<Item = Severity>) -> Health {
        match severities.into_iter().min() {
            Some(Severity::Error) => Health::Broken,
            Some(Severity::Warning) => Health::Warning,
            _ => Health::Ok,
        }
    }

    /// The worse of two.
    pub fn and(self, other: Health) -> Health {
        self.min(other)
    }

    /// With the live (not stale) probe findings of the Service.
    pub fn with_probe<'a>(self, findings: impl IntoIterator<Item = &'a ProbeFinding>) -> Health {
        self.and(Health::worst(
            findings
                .into_iter()
                .filter(|finding| !finding.stale)
                .map(|finding| finding.severity),
        ))
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::Broken => "✗",
            Self::Warning => "!",
            Self::Ok => "✓",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broken => "broken",
            Self::Warning => "warning",
            Self::Ok => "ok",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Health {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// How many Services are broken, have warnings, are ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthCounts {
    pub broken: usize,
    pub warning: usize,
    pub ok: usize,
}

impl HealthCounts {
    pub fn add(&mut self, health: Health) {
        match health {
            Health::Broken => self.broken += 1,
            Health::Warning => self.warning += 1,
            Health::Ok => self.ok += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.broken + self.warning + self.ok
    }

    /// `19 Services: 7 broken, 3 warnings, 9 ok`.
    pub fn summary_line(&self) -> String {
        let total = self.total();
        format!(
            "{total} {}: {} broken, {} {}, {} ok",
            if total == 1 { "Service" } else { "Services" },
            self.broken,
            self.warning,
            if self.warning == 1 {
                "warning"
            } else {
                "warnings"
            },
            self.ok
        )
    }
}

impl FromIterator<Health> for HealthCounts {
    fn from_iter<I: IntoIterator<Item = Health>>(iter: I) -> Self {
        let mut counts = HealthCounts::default();
        for health in iter {
            counts.add(health);
        }
        counts
    }
}

/// The codes of probe findings (docs/diagnostics.md, "Probe findings"). Each is an observation
/// that disagrees with the engine's prediction for one hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeFindingCode {
    /// Refused where a connection was predicted.
    UnexpectedRefusal,
    /// Reset (accepted, then reset) where a connection was predicted.
    UnexpectedReset,
    /// No connection or no answer in time where a connection was predicted.
    Timeout,
    /// Connected where a drop, a refusal or no backend was predicted.
    UnexpectedConnect,
    /// Connected, but the answer was wrong: a pod the engine did not predict, a gateway
    /// error from an ingress controller, a close without an answer.
    UnexpectedAnswer,
    /// The port-forward through the API server failed, or a name did not resolve.
    UnreachableTarget,
    /// A NodePort failed on a node whose service proxy's health check fails (rule K2).
    NodeProxyDown,
    /// A NodePort answers on the node hosting the pods but not through another node: the
    /// forwarding between the nodes is broken (rule K3).
    NodeForwarding,
    /// A TLSRoute hop: the Gateway answered the handshake with a fatal `unrecognized_name`
    /// alert: no route takes the server name the engine predicted it routes.
    TlsSniNotRouted,
    /// A TLSRoute hop: the TLS handshake did not complete (reset or closed before the
    /// server's hello, another alert, an answer that is not TLS).
    TlsHandshakeFailed,
    /// What the cluster DNS answered about the Service disagrees with its records: the DNS
    /// probe's own codes (`dns-*`, rules F10, F11), in the same list as the hops' findings.
    Dns(crate::dnscheck::DnsFindingCode),
}

impl ProbeFindingCode {
    /// The codes of hop findings ([`Self::Dns`] wraps the DNS probe's, which
    /// `DnsFindingCode::ALL` lists).
    pub const ALL: [ProbeFindingCode; 10] = [
        Self::UnexpectedRefusal,
        Self::UnexpectedReset,
        Self::Timeout,
        Self::UnexpectedConnect,
        Self::UnexpectedAnswer,
        Self::UnreachableTarget,
        Self::NodeProxyDown,
        Self::NodeForwarding,
        Self::TlsSniNotRouted,
        Self::TlsHandshakeFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnexpectedRefusal => "probe-unexpected-refusal",
            Self::UnexpectedReset => "probe-unexpected-reset",
            Self::Timeout => "probe-timeout",
            Self::UnexpectedConnect => "probe-unexpected-connect",
            Self::UnexpectedAnswer => "probe-unexpected-answer",
            Self::UnreachableTarget => "probe-unreachable-target",
            Self::NodeProxyDown => "probe-node-proxy-down",
            Self::NodeForwarding => "probe-node-forwarding",
            Self::TlsSniNotRouted => "probe-tls-sni-not-routed",
            Self::TlsHandshakeFailed => "probe-tls-handshake-failed",
            Self::Dns(code) => code.as_str(),
        }
    }
}

impl fmt::Display for ProbeFindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ProbeFindingCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One unexpected probe result as a finding: what was seen, in plain words, and the fix the
/// probe found (when it found one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeFinding {
    /// An error where the engine predicted a working hop (the Service is broken there); a
    /// warning where it predicted a failure that did not happen (the picture is wrong).
    pub severity: Severity,
    pub code: ProbeFindingCode,
    /// The hop, as its label reads (`endpoint shop/web-1 127.0.0.5:8080`).
    pub subject: String,
    pub message: String,
    pub fix: Option<String>,
    /// The hop's prediction changed since it was probed: shown, not counted.
    pub stale: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_has_its_own_symbol_and_word() {
        let symbols: std::collections::BTreeSet<_> = HopVerdict::ALL
            .iter()
            .map(|verdict| verdict.symbol())
            .collect();
        let words: std::collections::BTreeSet<_> = HopVerdict::ALL
            .iter()
            .map(|verdict| verdict.word())
            .collect();
        assert_eq!(symbols.len(), HopVerdict::ALL.len());
        assert_eq!(words.len(), HopVerdict::ALL.len());
        assert_eq!(
            HopVerdict::ExpectedFailure.to_string(),
            "⊘ fails as predicted"
        );
    }

    #[test]
    fn summary_lines_count_every_service() {
        let counts: HealthCounts = [Health::Broken, Health::Ok, Health::Warning, Health::Ok]
            .into_iter()
            .collect();
        assert_eq!(
            counts.summary_line(),
            "4 Services: 1 broken, 1 warning, 2 ok"
        );
        let one: HealthCounts = [Health::Ok].into_iter().collect();
        assert_eq!(one.summary_line(), "1 Service: 0 broken, 0 warnings, 1 ok");
    }

    #[test]
    fn stale_probe_findings_do_not_count() {
        let finding = |severity, stale| ProbeFinding {
            severity,
            code: ProbeFindingCode::UnexpectedRefusal,
            subject: "endpoint".to_owned(),
            message: String::new(),
            fix: None,
            stale,
        };
        let findings = [
            finding(Severity::Error, true),
            finding(Severity::Warning, false),
        ];
        assert_eq!(Health::Ok.with_probe(&findings), Health::Warning);
        assert_eq!(Health::Broken.with_probe(&findings), Health::Broken);
    }
}
