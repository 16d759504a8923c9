//! One node's NodePort row in the chain tree (rules K1-K3): what the node does with the
//! connection, what puts its answer in doubt (its condition or its service proxy), and its pod
//! range. The parts come in the order they matter, so a narrow pane drops the least important
//! whole (the local endpoint count first) and keeps the range, in its short form if need be.

use ratatui::text::{Line, Span};

use super::text::{fit_line, mark_span, plural, width as cell_width};
use super::theme::Theme;
use crate::engine::hops::{self, HopState, SocketText};
use crate::engine::model::{NodePortRow, ServiceChain};
use crate::engine::node_proxy::NodeIssue;

/// The prefix of the pod range part, dropped first when the row is too wide.
const RANGE_WORD: &str = " · pods ";

/// The row: mark, node and address, the engine's hop state (or the local endpoint count when
/// it accepts), the node's issue, its pod range.
pub(super) fn node_port_line(
    chain: &ServiceChain,
    port: usize,
    row: &NodePortRow,
    theme: &Theme,
) -> Line<'static> {
    let found = chain.ports.get(port);
    let state = found.map_or(HopState::Reject, |port| hops::node_port_state(port, row));
    let breaks = row
        .node_issue
        .as_ref()
        .is_some_and(|i| i.breaks_node_ports());
    let (mark, mark_style) = match state {
        HopState::Ok if breaks => ("!", theme.warning),
        HopState::Ok => ("✓", theme.ok),
        HopState::Drop => ("!", theme.warning),
        _ => ("✗", theme.error),
    };
    let mut spans = vec![
        mark_span(mark, mark_style),
        Span::raw(format!(
            "{} {}",
            crate::printable::escape(&row.node),
            SocketText(row.address, row.port)
        )),
    ];
    let locals = match state {
        HopState::Ok => Some(Span::styled(
            format!(
                " · {}",
                plural(
                    row.local_endpoints as usize,
                    "local endpoint",
                    "local endpoints"
                )
            ),
            theme.dim,
        )),
        HopState::Drop => {
            spans.push(Span::styled(
                " · drops: no local endpoint (eTP Local)".to_owned(),
                theme.warning,
            ));
            None
        }
        _ => {
            spans.push(Span::styled(
                " · rejects: no ready endpoint".to_owned(),
                theme.error,
            ));
            None
        }
    };
    // Rules K1, K2: a node whose proxy or condition breaks its NodePorts says so before all.
    let issue = row.node_issue.as_ref().map(|issue| {
        let style = if breaks { theme.warning } else { theme.dim };
        Span::styled(format!(" · {}", issue.short()), style)
    });
    if breaks {
        spans.extend(issue.clone());
    }
    // Rule K3: the node's pod range.
    let ranges = found
        .and_then(|port| port.node_ports.node(&row.node))
        .map(|node| {
            node.pod_cidrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|ranges| !ranges.is_empty());
    if let Some(ranges) = ranges {
        spans.push(Span::styled(format!("{RANGE_WORD}{ranges}"), theme.dim));
    }
    spans.extend(locals);
    if !breaks {
        spans.extend(issue);
    }
    Line::from(spans)
}

/// Fits a NodePort row into `room` cells: whole parts after the pod range go first, then the
/// range loses its word (`· 127.1.1.0/24`); behind a state or an issue, the range then goes
/// whole rather than cut, and an issue still too wide takes its fewest words (`proxy down`),
/// which may let the short range back in. What is still too wide is cut at the edge.
pub(super) fn fit_node_port_line(
    line: Line<'static>,
    row: &NodePortRow,
    room: usize,
) -> Line<'static> {
    let mut spans = line.spans;
    if total(&spans) <= room {
        return Line::from(spans);
    }
    let Some(range) = spans
        .iter()
        .position(|span| span.content.starts_with(RANGE_WORD))
    else {
        return fit_line(Line::from(spans), room);
    };
    while spans.len() > range + 1 && total(&spans) > room {
        spans.pop();
    }
    if total(&spans) > room {
        let short = spans[range].content.replacen(RANGE_WORD, " · ", 1);
        spans[range] = Span::styled(short, spans[range].style);
    }
    // A range cut in the middle would read as another range.
    if total(&spans) > room && range > 2 {
        let short_range = spans.remove(range);
        if total(&spans) > room
            && let Some(issue) = &row.node_issue
        {
            let full = format!(" · {}", issue.short());
            if let Some(span) = spans.iter_mut().find(|span| span.content == full) {
                *span = Span::styled(format!(" · {}", fewest_words(issue)), span.style);
            }
        }
        if total(&spans) + cell_width(&short_range.content) <= room {
            spans.push(short_range);
        }
    }
    fit_line(Line::from(spans), room)
}

fn total(spans: &[Span<'static>]) -> usize {
    spans.iter().map(|span| cell_width(&span.content)).sum()
}

/// The node's issue in a word or two, for a narrow pane (the Diagnostics tab says it whole).
fn fewest_words(issue: &NodeIssue) -> &'static str {
    match issue {
        NodeIssue::NotReady(_) => "NotReady",
        NodeIssue::ProxyNotReady { .. } => "proxy down",
        NodeIssue::ProxyMissing(_) => "no proxy",
        NodeIssue::Cordoned => "cordoned",
    }
}
