//! The Diagnostics tab: the engine's findings for the selected Service, most severe first,
//! then the probe's findings (stale ones marked), the findings that belong to no Service, and
//! the notes about what the source could not read.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::text::{fit_line, mark_span, push_wrapped};
use super::theme::{Theme, severity_mark};
use crate::app::catalog::Catalog;
use crate::app::state::AppState;
use crate::engine::model::ServiceChain;
use crate::engine::verdict::{HopVerdict, ProbeFinding};
use crate::engine::{Diagnostic, Severity};

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// A ✓ line when there is no finding; else each finding (mark, code, subject) and its message;
/// then the probe's findings, the cluster's, and the notes.
pub(super) fn diagnostics_lines(
    state: &AppState,
    catalog: &Catalog,
    chain: &ServiceChain,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let probed = state.probe.findings_for(&chain.key());
    if chain.diagnostics.is_empty() && probed.iter().all(|finding| finding.stale) {
        lines.push(Line::from(vec![
            mark_span("✓", theme.ok),
            Span::raw("No findings: every hop of this Service is wired as it should be."),
        ]));
    }
    let mut diagnostics: Vec<_> = chain.diagnostics.iter().collect();
    diagnostics.sort_by_key(|diagnostic| diagnostic.severity);
    for diagnostic in diagnostics {
        diagnostic_lines(diagnostic, None, theme, width, &mut lines);
    }
    for finding in probed {
        probe_finding_lines(finding, theme, width, &mut lines);
    }
    lines.extend(cluster_lines(state, catalog, theme, width));
    notes_lines(&state.notes, catalog, theme, width, &mut lines);
    lines
}

/// The Diagnostics tab with no Service selected: what belongs to no Service, and the notes.
pub(super) fn cluster_only_lines(
    state: &AppState,
    catalog: &Catalog,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled("No Service selected.", theme.dim)];
    lines.extend(cluster_lines(state, catalog, theme, width));
    notes_lines(&state.notes, catalog, theme, width, &mut lines);
    lines
}

/// One finding: `✗ error CODE subject`, then its message.
fn diagnostic_lines(
    diagnostic: &Diagnostic,
    namespace: Option<&str>,
    theme: &Theme,
    width: usize,
    lines: &mut Vec<Line<'static>>,
) {
    let style = theme.severity(diagnostic.severity);
    let subject = match namespace {
        Some(namespace) => format!("{namespace}/{}", diagnostic.subject),
        None => diagnostic.subject.to_string(),
    };
    lines.push(fit_line(
        Line::from(vec![
            mark_span(severity_mark(diagnostic.severity), style),
            Span::styled(
                format!(
                    "{} {} ",
                    severity_word(diagnostic.severity),
                    diagnostic.code
                ),
                style,
            ),
            Span::styled(subject, theme.dim),
        ]),
        width,
    ));
    push_wrapped(lines, &diagnostic.message, 2, width, Style::new());
    if let Some(fix) = &diagnostic.fix {
        // Cluster findings belong to no Service, so `c` (the Service's fix) does not copy them.
        let label = if namespace.is_none() {
            "fix (c copies)"
        } else {
            "fix"
        };
        push_wrapped(lines, &format!("{label}: {fix}"), 2, width, theme.accent);
    }
}

/// A probe finding like an engine finding; a stale one says so instead of its severity.
fn probe_finding_lines(
    finding: &ProbeFinding,
    theme: &Theme,
    width: usize,
    lines: &mut Vec<Line<'static>>,
) {
    let (mark, word, style) = if finding.stale {
        let stale = HopVerdict::Stale;
        (stale.symbol(), stale.word(), theme.verdict(stale))
    } else {
        (
            severity_mark(finding.severity),
            severity_word(finding.severity),
            theme.severity(finding.severity),
        )
    };
    lines.push(fit_line(
        Line::from(vec![
            mark_span(mark, style),
            Span::styled(format!("{word} {} ", finding.code), style),
            Span::styled(finding.subject.clone(), theme.dim),
        ]),
        width,
    ));
    let body = if finding.stale {
        theme.dim
    } else {
        Style::new()
    };
    push_wrapped(lines, &finding.message, 2, width, body);
    if let Some(fix) = &finding.fix {
        push_wrapped(lines, &format!("fix: {fix}"), 2, width, theme.accent);
    }
    if finding.stale {
        push_wrapped(
            lines,
            "the prediction for this hop changed since it was probed: P probes again",
            2,
            width,
            theme.verdict(HopVerdict::Stale),
        );
    }
}

/// Findings in scope that belong to no Service, under their own heading.
fn cluster_lines(
    state: &AppState,
    catalog: &Catalog,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (index, (namespace, diagnostic)) in state.cluster_findings(catalog).enumerate() {
        if index == 0 {
            lines.push(Line::raw(""));
            lines.push(fit_line(
                Line::from(vec![
                    Span::styled("Cluster findings ", theme.title),
                    Span::styled("(they belong to no Service)", theme.dim),
                ]),
                width,
            ));
        }
        diagnostic_lines(diagnostic, Some(namespace), theme, width, &mut lines);
    }
    lines
}

/// Kinds the source could not read, then the source's own notes.
fn notes_lines(
    notes: &[String],
    catalog: &Catalog,
    theme: &Theme,
    width: usize,
    lines: &mut Vec<Line<'static>>,
) {
    // The Gateway API's absence is the header's one line, not a note.
    for missing in catalog
        .snapshot
        .missing
        .iter()
        .filter(|missing| !missing.kind.is_gateway_api())
    {
        push_wrapped(
            lines,
            &format!(
                "Note: {}: {}; findings that need them may be missing.",
                missing.kind, missing.reason
            ),
            0,
            width,
            theme.dim,
        );
    }
    for note in notes {
        push_wrapped(lines, &format!("Note: {note}"), 0, width, theme.dim);
    }
}
