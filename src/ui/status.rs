//! The status line at the bottom: the input being typed, a message, or the most useful keys
//! for what has focus.

use ratatui::text::{Line, Span};

use super::text::width;
use super::theme::Theme;
use crate::app::probe::ProbeOutcome;
use crate::app::state::{AppState, Focus, Mode};
use crate::engine::unbound::UnboundReason;

/// A key and what it does.
fn hint(keys: &str, what: &str, theme: &Theme) -> Vec<Span<'static>> {
    vec![
        Span::styled(keys.to_owned(), theme.accent),
        Span::styled(format!(" {what}  "), theme.dim),
    ]
}

/// The status line: what is being typed and how to finish, or the keys that matter now.
pub(super) fn hints_line(state: &AppState, theme: &Theme) -> Line<'static> {
    match &state.mode {
        Mode::Filter { .. } => Line::from(vec![
            Span::styled(format!("/{}", state.filter.text), theme.input),
            Span::styled("█".to_owned(), theme.accent),
            Span::styled(
                "  filter: text or label=value · Enter keep · Esc cancel".to_owned(),
                theme.dim,
            ),
        ]),
        Mode::Command { input } => Line::from(vec![
            Span::styled(format!(":{input}"), theme.input),
            Span::styled("█".to_owned(), theme.accent),
            Span::styled(
                "  :svc NAME · :pods · :ep · :ing · :ns NAME · :ctx · :q · Enter run · Esc cancel"
                    .to_owned(),
                theme.dim,
            ),
        ]),
        Mode::Help { .. } => {
            let mut spans = hint("j/k", "scroll", theme);
            spans.extend(hint("Esc/?", "close help", theme));
            Line::from(spans)
        }
        Mode::NamespacePicker { .. } => {
            let mut spans = hint("type", "filter", theme);
            spans.extend(hint("↑/↓", "move", theme));
            spans.extend(hint("Enter", "choose", theme));
            spans.extend(hint("Esc", "cancel", theme));
            Line::from(spans)
        }
        Mode::ForwardPrompt { port, input } => Line::from(vec![
            Span::styled(
                format!("Forward {} from local port: {input}", port.label()),
                theme.input,
            ),
            Span::styled("█".to_owned(), theme.accent),
            Span::styled(
                "  empty: any free port · Enter start · Esc cancel".to_owned(),
                theme.dim,
            ),
        ]),
        Mode::Forwards => {
            let mut spans = hint("j/k", "move", theme);
            spans.extend(hint("d", "stop the selected forward", theme));
            spans.extend(hint("Esc", "close", theme));
            Line::from(spans)
        }
        Mode::ConfirmQuit => {
            let running = state.forwards.running();
            let forwards = if running == 1 {
                "1 port-forward is running".to_owned()
            } else {
                format!("{running} port-forwards are running")
            };
            let mut spans = vec![Span::styled(
                format!(" {forwards}: quit and stop them?  "),
                theme.warning,
            )];
            spans.extend(hint("y/Enter", "quit", theme));
            spans.extend(hint("n/Esc", "stay", theme));
            Line::from(spans)
        }
        Mode::Aliases => {
            let mut spans = hint(":", "type a command", theme);
            spans.extend(hint("any key", "close", theme));
            Line::from(spans)
        }
        Mode::Normal if state.drill.is_open() && state.message.is_none() => {
            page_hints(state, theme)
        }
        Mode::Normal => normal_hints(state, theme),
    }
}

/// The keys of the open drill-down page.
fn page_hints(state: &AppState, theme: &Theme) -> Line<'static> {
    use crate::app::drill::Page;
    let keys: &[(&str, &str)] = match state.drill.top().map(|top| &top.page) {
        Some(Page::Logs(logs)) if logs.typing => {
            return Line::from(vec![
                Span::styled(format!("/{}", logs.search), theme.input),
                Span::styled("█".to_owned(), theme.accent),
                Span::styled(
                    "  search the log · Enter keep · Esc clear".to_owned(),
                    theme.dim,
                ),
            ]);
        }
        Some(Page::Logs(_)) => &[
            ("Esc", "back"),
            ("j/k", "scroll"),
            ("G", "follow"),
            ("c", "container"),
            ("p", "previous"),
            ("/", "search"),
            ("s", "follow on/off"),
            ("d", "describe"),
        ],
        Some(Page::Table(_)) => &[
            ("j/k", "move"),
            ("Enter/d", "describe"),
            ("l", "logs"),
            ("y", "YAML"),
            ("Esc", "back"),
        ],
        Some(Page::Gateways(_)) => &[
            ("j/k", "move"),
            ("Enter", "the Service's chain"),
            ("d", "describe"),
            ("Esc", "back"),
        ],
        Some(Page::Yaml(_)) => &[
            ("j/k", "scroll"),
            ("d", "describe"),
            ("l", "logs"),
            ("Esc", "back"),
        ],
        _ => &[
            ("j/k", "scroll"),
            ("l", "logs"),
            ("y", "YAML"),
            ("Esc", "back"),
        ],
    };
    let mut spans = vec![Span::raw(" ")];
    for (key, what) in keys {
        spans.extend(hint(key, what, theme));
    }
    spans.extend(hint("?", "help", theme));
    Line::from(spans)
}

/// A message when there is one; else the keys for what has focus, most useful first.
fn normal_hints(state: &AppState, theme: &Theme) -> Line<'static> {
    if let Some(message) = &state.message {
        let style = if message.error {
            theme.error
        } else {
            theme.accent
        };
        return Line::styled(format!(" {}", message.text), style);
    }
    if let Some(note) = unbound_note(state) {
        let mut spans = vec![Span::styled(format!(" {note}  "), theme.warning)];
        spans.extend(hint("?", "help", theme));
        spans.extend(hint("q", "quit", theme));
        return Line::from(spans);
    }
    let toggle = match state.focus {
        Focus::Header => "pause",
        Focus::Services => "chain",
        Focus::Chain => "expand",
        Focus::Explain | Focus::Details => "",
    };
    // Most useful first; what does not fit is left out ("?" lists everything).
    let candidates = [
        ("j/k", "move"),
        ("Enter", toggle),
        ("Tab", "pane"),
        ("1-6", "tabs"),
        ("/", "filter"),
        (":", "cmd"),
        ("n", "namespace"),
        ("s", "sort"),
        ("Ctrl-P", "pause"),
    ];
    let tail = [("?", "help"), ("q", "quit")];
    let tail_width: usize = tail.iter().map(|(k, w)| width(k) + width(w) + 3).sum();
    let room = usize::from(state.size.width).saturating_sub(1 + tail_width);
    let mut used = 0;
    let mut spans = vec![Span::raw(" ")];
    for (keys, what) in candidates {
        if what.is_empty() {
            continue;
        }
        let cost = width(keys) + width(what) + 3;
        if used + cost > room {
            break;
        }
        used += cost;
        spans.extend(hint(keys, what, theme));
    }
    for (keys, what) in tail {
        spans.extend(hint(keys, what, theme));
    }
    Line::from(spans)
}

/// Once for the whole run, instead of on every hop: how many hops of the probe run on screen
/// could not be probed because the sandbox cannot listen on their ports without root.
fn unbound_note(state: &AppState) -> Option<String> {
    let run = state.probe.run.as_ref()?;
    let reason = UnboundReason::Privileged.explain();
    let count = run
        .results
        .values()
        .filter(
            |result| matches!(&result.outcome, ProbeOutcome::NotReachable(text) if text == reason),
        )
        .count();
    let hops = if count == 1 { "hop" } else { "hops" };
    (count > 0).then(|| format!("{count} {hops} not reachable here: {reason}"))
}
