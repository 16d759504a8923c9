//! The Probe tab and the inline probe marks of the chain tree: per hop, what was expected,
//! what was observed, and the fix when they disagree.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::text::{fit_line, push_wrapped};
use super::theme::Theme;
use crate::app::probe::{Agreement, HopResult, ProbeRun, ProbeState, RunStatus, format_latency};
use crate::engine::model::{HopKey, ServiceChain};
use crate::engine::plan::{Expectation, ProbeHop};
use crate::engine::verdict::HopVerdict;

/// The inline mark of a hop: the verdict's symbol and colour (the engine's vocabulary) with
/// what was seen: `✓ 1.2 ms`, `⊘ timeout` (a drop, as predicted), `✗ refused` (unexpected),
/// `· not reachable`, `↻ stale`; the spinner while probing, `…` while queued.
pub(super) fn probe_mark(
    run: &ProbeRun,
    key: &HopKey,
    spinner: &str,
    theme: &Theme,
) -> Option<Span<'static>> {
    if let Some(result) = run.results.get(key) {
        let verdict = result.verdict(run.is_stale(key));
        let what = match verdict {
            HopVerdict::Stale => verdict.word().to_owned(),
            _ => result.outcome.short(),
        };
        return Some(Span::styled(
            format!("{} {what}", verdict.symbol()),
            theme.verdict(verdict),
        ));
    }
    run.plan.hop(key)?;
    Some(if run.running.contains(key) {
        Span::styled(format!("{spinner} probing"), theme.accent)
    } else {
        match run.status {
            RunStatus::Running => Span::styled("… queued".to_owned(), theme.dim),
            RunStatus::Cancelled => Span::styled("– cancelled".to_owned(), theme.dim),
            RunStatus::Done { .. } => Span::styled("– no result".to_owned(), theme.dim),
        }
    })
}

/// The Probe tab: per hop, target, transport, outcome, latency, answering pod, expected vs
/// observed, and the fix suggestion.
pub(super) fn probe_lines(
    probe: &ProbeState,
    chain: &ServiceChain,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let Some(run) = probe.run_for(&chain.key()) else {
        let text = match &probe.unavailable {
            Some(reason) => format!("Cannot probe: {reason}."),
            None => "No probe yet: press p to probe this hop, P for the whole Service.".to_owned(),
        };
        push_wrapped(&mut lines, &text, 0, width, theme.dim);
        return lines;
    };
    let (head, style) = run_summary(run, probe.spinner_frame(), theme);
    push_wrapped(&mut lines, &head, 0, width, style);
    if !run.stale.is_empty() {
        push_wrapped(
            &mut lines,
            "↻ The cluster changed since these hops were probed: stale results no longer match the prediction. P probes again.",
            0,
            width,
            theme.warning,
        );
    }
    for hop in &run.plan.hops {
        hop_lines(run, hop, probe.spinner_frame(), theme, width, &mut lines);
    }
    for note in &run.plan.notes {
        push_wrapped(&mut lines, &format!("Note: {note}"), 0, width, theme.dim);
    }
    lines
}

/// The run's first line: how far it got and how many results agree with the prediction.
fn run_summary(run: &ProbeRun, spinner: &str, theme: &Theme) -> (String, Style) {
    let total = run.plan.hops.len();
    let done = run.results.len();
    let count = |agreement: Agreement| {
        run.results
            .values()
            .filter(|result| !run.is_stale(&result.key) && result.agreement == agreement)
            .count()
    };
    let tally = format!(
        "{} as predicted · {} unexpected · {} not checked · {} stale",
        count(Agreement::Expected),
        count(Agreement::Unexpected),
        count(Agreement::Unverified),
        run.stale.len()
    );
    match run.status {
        RunStatus::Running => (
            format!("{spinner} probing: {done}/{total} done · Esc cancels · {tally}"),
            theme.accent,
        ),
        RunStatus::Done { elapsed } => (
            format!(
                "Probed {} in {}: {tally}",
                if total == 1 {
                    "1 hop".to_owned()
                } else {
                    format!("{total} hops")
                },
                format_latency(elapsed)
            ),
            if count(Agreement::Unexpected) > 0 {
                theme.error
            } else {
                theme.ok
            },
        ),
        RunStatus::Cancelled => (
            format!("Cancelled after {done}/{total}: {tally}"),
            theme.warning,
        ),
    }
}

/// One hop: its mark, label and transport, what was expected, then what was observed.
fn hop_lines(
    run: &ProbeRun,
    hop: &ProbeHop,
    spinner: &str,
    theme: &Theme,
    width: usize,
    lines: &mut Vec<Line<'static>>,
) {
    let mark = probe_mark(run, &hop.key, spinner, theme).unwrap_or_else(|| Span::raw("-"));
    let result = run.results.get(&hop.key);
    let transport = result.map(|result| result.transport.as_str()).unwrap_or("");
    lines.push(fit_line(
        Line::from(vec![
            mark,
            Span::raw(" "),
            Span::styled(hop.label(), theme.title),
            Span::styled(
                if transport.is_empty() {
                    String::new()
                } else {
                    format!(" [{transport}]")
                },
                theme.dim,
            ),
        ]),
        width,
    ));
    let verdict = match &hop.expected {
        Expectation::Connect { .. } => "connect",
        Expectation::Drop { .. } => "drop (the client times out)",
        Expectation::Reject { .. } => "reject (refused at once)",
        Expectation::NoBackend { .. } => "no backend (503 or refused)",
        Expectation::Unrouted { .. } => "no prediction",
    };
    push_wrapped(
        lines,
        &format!("expected: {verdict} — {}", hop.expected.reason()),
        2,
        width,
        theme.dim,
    );
    if let Some(result) = result {
        observed_lines(run.is_stale(&hop.key), result, theme, width, lines);
    }
}

/// What the probe saw, whether that is stale or unexpected, and the fix.
fn observed_lines(
    stale: bool,
    result: &HopResult,
    theme: &Theme,
    width: usize,
    lines: &mut Vec<Line<'static>>,
) {
    let mut observed = format!("observed: {}", result.outcome);
    if let Some(pod) = &result.answered_by {
        observed.push_str(&format!(" · answered by {}", pod.pod));
    }
    push_wrapped(lines, &observed, 2, width, Style::new());
    let verdict = result.verdict(stale);
    let why = match verdict {
        HopVerdict::Stale => "this hop's prediction has changed since it was probed",
        HopVerdict::Ok => "",
        // The verdict's word already says "as predicted" / "not checked".
        _ => ["as predicted: ", "not checked: "]
            .into_iter()
            .find_map(|prefix| result.why.strip_prefix(prefix))
            .unwrap_or(&result.why),
    };
    if !why.is_empty() {
        push_wrapped(
            lines,
            &format!("{verdict}: {why}"),
            2,
            width,
            theme.verdict(verdict),
        );
    }
    if let Some(fix) = &result.fix {
        push_wrapped(lines, &format!("fix: {}", fix.text), 2, width, theme.accent);
    }
}
