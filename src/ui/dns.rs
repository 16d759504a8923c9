//! The DNS tab: the records cluster DNS serves for the selected Service and, once `P` asked
//! the cluster DNS, what its pods answered beside each record, the names as a pod types them,
//! and the findings.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::text::{pad, push_wrapped, truncate, width as cell_width};
use super::theme::Theme;
use crate::engine::diagnostics::Severity;
use crate::engine::dnscheck::{DnsCheck, FoundBy, LookupForm, LookupResult, LookupStatus};
use crate::engine::model::ServiceChain;
use crate::printable::escape;

/// Cells kept for the answer column beside each record once a check exists (a quarter of the
/// width, within these bounds).
const ANSWER_CELLS: (usize, usize) = (14, 24);

/// One line per record (type, name, value), names in one column; why there is none when
/// there is none. With a DNS check, each record carries its answer and the check follows.
pub(super) fn dns_lines(
    chain: &ServiceChain,
    check: Option<&DnsCheck>,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    if chain.dns.is_empty() {
        let why = if chain.headless {
            "No records: a headless Service's name resolves only to ready endpoints, and none is ready (NXDOMAIN)."
        } else {
            "No records."
        };
        let mut lines = Vec::new();
        push_wrapped(&mut lines, why, 0, width, theme.warning);
        return lines;
    }
    let answer_cells = (width / 4).clamp(ANSWER_CELLS.0, ANSWER_CELLS.1);
    let answers = if check.is_some() { answer_cells + 1 } else { 0 };
    let name_width = chain
        .dns
        .iter()
        .map(|record| cell_width(&record.name))
        .max()
        .unwrap_or(0)
        .min(width.saturating_sub(24 + answers));
    let mut lines: Vec<Line<'static>> = chain
        .dns
        .iter()
        .map(|record| {
            let kind = format!("{:?}", record.record_type);
            let room = width.saturating_sub(6 + name_width + 3 + answers);
            let mut spans = vec![
                Span::styled(pad(&kind, 6), theme.accent),
                Span::raw(pad(&record.name, name_width)),
                Span::styled(" → ".to_owned(), theme.dim),
            ];
            match check {
                None => spans.push(Span::raw(truncate(&record.value, room))),
                Some(check) => {
                    spans.push(Span::raw(pad(&truncate(&record.value, room), room)));
                    let result = check.results.iter().find(|result| {
                        result.lookup.form == LookupForm::Record
                            && result.lookup.record_type == record.record_type
                            && result.lookup.answers_as.eq_ignore_ascii_case(&record.name)
                    });
                    let (text, style) = answer_cell(result, theme);
                    spans.push(Span::styled(
                        format!(" {}", truncate(&text, answer_cells)),
                        style,
                    ));
                }
            }
            Line::from(spans)
        })
        .collect();
    if let Some(check) = check {
        check_lines(check, theme, width, &mut lines);
    }
    lines
}

/// `✓ 2/2 pods`, or the first wrong answer.
fn answer_cell(result: Option<&LookupResult>, theme: &Theme) -> (String, Style) {
    let Some(result) = result else {
        return ("not asked".to_owned(), theme.dim);
    };
    let total = result.statuses.len();
    let matched = result
        .statuses
        .iter()
        .filter(|status| **status == LookupStatus::Matched)
        .count();
    if total > 0 && matched == total {
        return (format!("✓ {matched}/{total} pods"), theme.ok);
    }
    let worst = result
        .statuses
        .iter()
        .find(|status| status.is_wrong_data())
        .or_else(|| {
            result
                .statuses
                .iter()
                .find(|s| **s != LookupStatus::Matched)
        });
    match worst {
        Some(status) if status.is_wrong_data() => (format!("✗ {}", status.word()), theme.error),
        Some(status) => (format!("! {}", status.word()), theme.warning),
        None => ("no DNS pod".to_owned(), theme.dim),
    }
}

fn found_by(found: FoundBy) -> &'static str {
    match found {
        FoundBy::Nameserver => "its cluster IP is the pods' nameserver",
        FoundBy::Label => "label k8s-app=kube-dns",
        FoundBy::Name => "name",
        FoundBy::Port => "the only kube-system Service with port 53",
    }
}

/// The server, the names as a pod types them, and the findings.
fn check_lines(check: &DnsCheck, theme: &Theme, width: usize, lines: &mut Vec<Line<'static>>) {
    lines.push(Line::raw(""));
    let pods: Vec<String> = check.pods.iter().map(|pod| pod.name.clone()).collect();
    let server = format!(
        "Asked {}/{} ({}) through port-forwards to {}: {}",
        check.server.namespace,
        check.server.name,
        found_by(check.server.found_by),
        if pods.len() == 1 {
            "its pod"
        } else {
            "its pods"
        },
        if pods.is_empty() {
            "none ready".to_owned()
        } else {
            pods.join(", ")
        }
    );
    push_wrapped(lines, &escape(&server), 0, width, theme.dim);
    let asked: Vec<&LookupResult> = check
        .results
        .iter()
        .filter(|result| result.lookup.form != LookupForm::Record)
        .collect();
    let asked_width = asked
        .iter()
        .map(|result| cell_width(&result.lookup.asked))
        .max()
        .unwrap_or(0)
        .min(width / 2);
    for result in asked {
        let (text, style) = answer_cell(Some(result), theme);
        lines.push(Line::from(vec![
            Span::styled(
                pad(&format!("{:?}", result.lookup.record_type), 6),
                theme.accent,
            ),
            Span::raw(pad(
                &truncate(&escape(&result.lookup.asked), asked_width),
                asked_width,
            )),
            Span::styled(" → ".to_owned(), theme.dim),
            Span::styled(
                truncate(&text, width.saturating_sub(asked_width + 9)),
                style,
            ),
        ]));
    }
    if check.findings.is_empty() {
        lines.push(Line::styled("✓ every answer matches the records", theme.ok));
        return;
    }
    for finding in &check.findings {
        let (mark, style) = match finding.severity {
            Severity::Error => ("✗", theme.error),
            Severity::Warning => ("!", theme.warning),
            Severity::Info => ("i", theme.info),
        };
        let text = format!(
            "{mark} {} {}: {}",
            finding.code, finding.subject, finding.message
        );
        push_wrapped(lines, &escape(&text), 0, width, style);
    }
}
