//! The forwards overlay: per forward, where it listens, what it targets, its counters and
//! the last error.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::blocks::ListBox;
use super::text::{fit_line, plural, push_wrapped};
use super::theme::Theme;
use crate::app::forwards::{ForwardEntry, ForwardStatus};
use crate::app::state::AppState;
use crate::forward::PortStats;
use crate::forward::events::format_bytes;

/// The forwards list; `selected` are the lines of the selected forward.
#[derive(Debug, Clone)]
pub struct ForwardsView {
    pub lines: Vec<Line<'static>>,
    pub selected: Option<std::ops::Range<usize>>,
}

impl ForwardsView {
    pub fn new(state: &AppState, theme: &Theme) -> ForwardsView {
        let width = usize::from(forwards_box_width(state.size.width).saturating_sub(2));
        let (lines, selected) = forwards_lines(state, theme, width);
        ForwardsView { lines, selected }
    }
}

/// The list, centred over the panes; it scrolls so the selected forward's lines are visible.
pub struct ForwardsBox<'a> {
    pub view: &'a ForwardsView,
    pub theme: &'a Theme,
}

impl Widget for &ForwardsBox<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ForwardsView { lines, selected } = self.view;
        let list = ListBox {
            title: "Port-forwards",
            width: forwards_box_width(area.width),
            margin: 2,
            lines,
            theme: self.theme,
        };
        list.render(
            area,
            buf,
            |rows| {
                selected
                    .as_ref()
                    .map_or(0, |range| range.end.saturating_sub(rows).min(range.start))
            },
            |index| {
                selected
                    .as_ref()
                    .is_some_and(|range| range.contains(&index))
                    .then_some(self.theme.selected_unfocused)
            },
        );
    }
}

/// The forwards box: as wide as useful, within the screen.
pub fn forwards_box_width(screen: u16) -> u16 {
    screen.saturating_sub(4).min(112)
}

/// The forwards list: per forward, where it listens, what it targets, its counters, the
/// connections per pod and the last error. Returns the lines and those of the selected entry.
pub fn forwards_lines(
    state: &AppState,
    theme: &Theme,
    width: usize,
) -> (Vec<Line<'static>>, Option<std::ops::Range<usize>>) {
    let mut lines = Vec::new();
    let forwards = &state.forwards;
    if forwards.entries.is_empty() {
        let text = match &forwards.unavailable {
            Some(reason) => format!("Cannot forward: {reason}."),
            None => "No forwards yet: select a Service port and press F (Shift-f).".to_owned(),
        };
        push_wrapped(&mut lines, &text, 0, width, theme.dim);
        return (lines, None);
    }
    let mut selected = None;
    for (index, entry) in forwards.entries.iter().enumerate() {
        let start = lines.len();
        forward_entry_lines(entry, theme, width, &mut lines);
        if index == forwards.cursor {
            selected = Some(start..lines.len());
        }
    }
    (lines, selected)
}

fn forward_entry_lines(
    entry: &ForwardEntry,
    theme: &Theme,
    width: usize,
    lines: &mut Vec<Line<'static>>,
) {
    let target = match &entry.port_name {
        Some(name) => format!("{} ({name})", entry.target()),
        None => entry.target(),
    };
    match &entry.status {
        ForwardStatus::Starting => {
            lines.push(fit_line(
                Line::from(vec![
                    Span::styled("◌ ".to_owned(), theme.warning),
                    Span::styled(format!("starting → {target}"), theme.title),
                ]),
                width,
            ));
        }
        ForwardStatus::Failed(error) => {
            lines.push(fit_line(
                Line::from(vec![
                    Span::styled("✗ ".to_owned(), theme.error),
                    Span::styled(format!("→ {target}"), theme.title),
                ]),
                width,
            ));
            push_wrapped(lines, error, 2, width, theme.error);
        }
        ForwardStatus::Running => running_lines(entry, &target, theme, width, lines),
    }
}

/// A running forward: where it listens, its target and usable pods, then its counters.
fn running_lines(
    entry: &ForwardEntry,
    target: &str,
    theme: &Theme,
    width: usize,
    lines: &mut Vec<Line<'static>>,
) {
    let locals = entry
        .locals
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let stats = entry.stats.as_ref();
    let usable = stats.map_or(0, |stats| stats.usable);
    let (mark, mark_style) = if usable > 0 {
        ("● ", theme.ok)
    } else {
        ("● ", theme.error)
    };
    lines.push(fit_line(
        Line::from(vec![
            Span::styled(mark.to_owned(), mark_style),
            Span::styled(format!("{locals} → {target}"), theme.title),
            Span::styled(
                format!("  {}", plural(usable, "usable pod", "usable pods")),
                if usable > 0 { theme.dim } else { theme.error },
            ),
        ]),
        width,
    ));
    if let Some(stats) = stats {
        stats_lines(stats, theme, width, lines);
    }
}

/// Connections and bytes, what went wrong how often, connections per pod, the last error.
fn stats_lines(stats: &PortStats, theme: &Theme, width: usize, lines: &mut Vec<Line<'static>>) {
    let mut counters = format!(
        "open {} · total {} · ↑ {} sent · ↓ {} received",
        stats.open,
        stats.total,
        format_bytes(stats.bytes_sent),
        format_bytes(stats.bytes_received)
    );
    for (count, what) in [
        (stats.refused, "refused"),
        (stats.failed, "failed"),
        (stats.retries, "retried"),
    ] {
        if count > 0 {
            counters.push_str(&format!(" · {count} {what}"));
        }
    }
    push_wrapped(lines, &counters, 2, width, Style::new());
    let per_pod = crate::forward::ForwardStats::per_pod(stats);
    if !per_pod.is_empty() {
        push_wrapped(lines, &format!("per pod: {per_pod}"), 2, width, theme.dim);
    }
    if let Some(error) = &stats.last_error {
        push_wrapped(
            lines,
            &format!("last error: {error}"),
            2,
            width,
            theme.warning,
        );
    }
}
