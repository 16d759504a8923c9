//! The Diagnostics tab: the engine's findings for the selected Service, most severe first,
//! and the notes about what the source could not read.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::text::{fit_line, mark_span, push_wrapped};
use super::theme::{Theme, severity_mark};
use crate::app::catalog::Catalog;
use crate::engine::Severity;
use crate::engine::model::ServiceChain;

/// A ✓ line when there is no finding; else each finding (mark, code, subject) and its message,
/// then notes on kinds the source could not read and the source's own notes.
pub(super) fn diagnostics_lines(
    notes: &[String],
    catalog: &Catalog,
    chain: &ServiceChain,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if chain.diagnostics.is_empty() {
        lines.push(Line::from(vec![
            mark_span("✓", theme.ok),
            Span::raw("No findings: every hop of this Service is wired as it should be."),
        ]));
    }
    let mut diagnostics: Vec<_> = chain.diagnostics.iter().collect();
    diagnostics.sort_by_key(|diagnostic| diagnostic.severity);
    for diagnostic in diagnostics {
        let style = theme.severity(diagnostic.severity);
        let word = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        lines.push(fit_line(
            Line::from(vec![
                mark_span(severity_mark(diagnostic.severity), style),
                Span::styled(format!("{word} {} ", diagnostic.code), style),
                Span::styled(diagnostic.subject.to_string(), theme.dim),
            ]),
            width,
        ));
        push_wrapped(&mut lines, &diagnostic.message, 2, width, Style::new());
    }
    for missing in &catalog.snapshot.missing {
        push_wrapped(
            &mut lines,
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
        push_wrapped(&mut lines, &format!("Note: {note}"), 0, width, theme.dim);
    }
    lines
}
