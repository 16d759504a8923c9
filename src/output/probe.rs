//! The printed forms of a probe report: text for people, JSON (and YAML) for scripts.
//!
//! The JSON document (README, "Probe") is built here from the plan and the report, so the
//! engine's and the probe's types stay free to change without changing the contract.

use std::collections::BTreeSet;
use std::io::{self, Write};

use serde_json::{Value, json};

use crate::engine::model::HopKey;
use crate::engine::plan::{Expectation, ProbeHop, ProbePlan};
use crate::engine::verdict::HopVerdict;
use crate::probe::outcome::{Agreement, HopResult, ProbeReport, millis};

/// A report with what is needed to print it.
#[derive(Debug, Clone, Copy)]
pub struct ProbeView<'a> {
    pub plan: &'a ProbePlan,
    pub report: &'a ProbeReport,
    /// Hops whose prediction changed while they were probed (see [`crate::probe::stale_keys`]).
    pub stale: &'a BTreeSet<HopKey>,
}

/// Counts for the summary line and the JSON `summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub hops: usize,
    pub expected: usize,
    pub unexpected: usize,
    pub unverified: usize,
    pub stale: usize,
}

impl ProbeView<'_> {
    pub fn is_stale(&self, result: &HopResult) -> bool {
        self.stale.contains(&result.key)
    }

    /// Stale results count only as stale, whatever their agreement.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            hops: self.report.results.len(),
            ..Summary::default()
        };
        for result in &self.report.results {
            if self.is_stale(result) {
                summary.stale += 1;
                continue;
            }
            match result.agreement {
                Agreement::Expected => summary.expected += 1,
                Agreement::Unexpected => summary.unexpected += 1,
                Agreement::Unverified => summary.unverified += 1,
            }
        }
        summary
    }

    /// 0 when every hop that could be checked behaved as predicted, 1 otherwise.
    pub fn exit_status(&self) -> u8 {
        u8::from(self.summary().unexpected > 0)
    }

    fn hop(&self, result: &HopResult) -> Option<&ProbeHop> {
        self.plan.hop(&result.key)
    }
}

/// The verdict of a result (the symbols and words every renderer uses).
fn verdict(view: &ProbeView<'_>, result: &HopResult) -> HopVerdict {
    result.verdict(view.is_stale(result))
}

/// The text report.
pub fn write_text(out: &mut dyn Write, view: &ProbeView<'_>) -> io::Result<()> {
    let report = view.report;
    writeln!(
        out,
        "Probe {} — {} in {} (snapshot {})",
        report.service,
        plural(report.results.len(), "hop", "hops"),
        crate::probe::outcome::format_latency(report.elapsed),
        report.generation
    )?;
    let mut port_label = None;
    let several_ports = {
        let ports: BTreeSet<(i32, &str)> = view
            .plan
            .hops
            .iter()
            .map(|hop| (hop.port.port, hop.port.protocol.as_str()))
            .collect();
        ports.len() > 1
    };
    for result in &report.results {
        let hop = view.hop(result);
        if several_ports && let Some(hop) = hop {
            let label = hop.port.label();
            if port_label.as_ref() != Some(&label) {
                writeln!(out, "port {label} → targetPort {}", hop.port.target_port)?;
                port_label = Some(label);
            }
        }
        let label = hop.map_or_else(|| result.key.to_string(), ProbeHop::label);
        let verdict = verdict(view, result);
        writeln!(
            out,
            "  {} {label}  [{}]  {}",
            verdict.symbol(),
            result.transport.as_str(),
            verdict.word()
        )?;
        let mut observed = result.outcome.to_string();
        if let Some(pod) = &result.answered_by {
            observed.push_str(&format!(" · answered by {}", pod.pod));
        }
        writeln!(out, "      {observed}")?;
        if view.is_stale(result) {
            writeln!(
                out,
                "      stale: the cluster changed while this hop was probed (the prediction is now different); probe again"
            )?;
        } else {
            writeln!(out, "      {}", result.why)?;
        }
        if let Some(fix) = &result.fix {
            writeln!(out, "      fix: {}", fix.text)?;
        }
    }
    for note in &report.notes {
        writeln!(out, "  note: {note}")?;
    }
    let summary = view.summary();
    writeln!(
        out,
        "{} as predicted, {} unexpected, {} not checked, {} stale",
        summary.expected, summary.unexpected, summary.unverified, summary.stale
    )?;
    Ok(())
}

fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

fn expectation_json(expected: &Expectation) -> Value {
    serde_json::to_value(expected).unwrap_or(Value::Null)
}

/// The `kubehop probe -o json` document.
pub fn to_json(view: &ProbeView<'_>) -> Value {
    let report = view.report;
    let summary = view.summary();
    let hops: Vec<Value> = report
        .results
        .iter()
        .map(|result| {
            let hop = view.hop(result);
            json!({
                "key": result.key.to_string(),
                "kind": result.kind,
                "label": hop.map(ProbeHop::label),
                "node": hop.and_then(|hop| hop.node.clone()),
                "port": hop.map(|hop| &hop.port),
                "target": hop.map(|hop| &hop.target),
                "http": hop.and_then(|hop| hop.http.as_ref()),
                "transport": result.transport,
                "expected": expectation_json(&result.expected),
                "outcome": result.outcome,
                "answeredBy": result.answered_by,
                "agreement": result.agreement,
                "verdict": verdict(view, result),
                "stale": view.is_stale(result),
                "why": result.why,
                "fix": result.fix,
                "fallbacks": result.fallbacks,
                "elapsedMs": millis(result.elapsed),
            })
        })
        .collect();
    json!({
        "service": {"namespace": report.service.namespace, "name": report.service.name},
        "generation": report.generation,
        "elapsedMs": millis(report.elapsed),
        "summary": {
            "hops": summary.hops,
            "expected": summary.expected,
            "unexpected": summary.unexpected,
            "unverified": summary.unverified,
            "stale": summary.stale,
        },
        "notes": report.notes,
        "hops": hops,
    })
}
