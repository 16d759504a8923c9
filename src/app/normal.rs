//! Normal mode: what each [`Action`] does.

use super::action::Action;
use super::command::Command;
use super::forwards;
use super::navigate;
use super::state::{AppState, Filter, Focus, Mode, SortOrder};
use crate::engine::model::{HopKey, ServiceKey};

/// Applies an action in normal mode.
pub fn apply(state: &mut AppState, action: Action) -> Vec<Command> {
    state.dirty = true;
    match action {
        Action::Quit => {
            let running = state.forwards.running();
            if running > 0 {
                // Quitting stops every forward: ask first.
                state.mode = Mode::ConfirmQuit;
                return Vec::new();
            }
            state.quit = true;
            return vec![Command::Quit];
        }
        Action::Aliases => state.mode = Mode::Aliases,
        Action::FailingPod => return super::command_line::failing_pod(state),
        Action::Describe | Action::Yaml => return super::drill_keys::act(state, action).1,
        Action::Logs => {
            let (done, commands) = super::drill_keys::act(state, action);
            if done {
                return commands;
            }
            // `l` on a hop that has no log: as `→`.
            navigate::act(state, Action::Expand);
        }
        Action::Toggle
            if state.focus == Focus::Chain
                && matches!(
                    super::drill_keys::selected(state),
                    Some(super::drill_keys::Selected::Pod(_))
                ) =>
        {
            // Enter on a pod drills into it.
            return super::drill_keys::act(state, action).1;
        }
        Action::Help
        | Action::Filter
        | Action::CommandLine
        | Action::NamespacePicker
        | Action::Forwards => open_mode(state, action),
        Action::Sort => {
            state.sort = match state.sort {
                SortOrder::Health => SortOrder::Name,
                SortOrder::Name => SortOrder::Health,
            };
            state.refresh_list();
            state.set_message(format!("sorted by {}", state.sort.label()), false);
        }
        Action::Pause => toggle_pause(state),
        Action::Tab(tab) => {
            if state.tab != tab {
                state.tab = tab;
                state.details_scroll = 0;
            }
        }
        Action::FocusNext => state.focus = state.focus.next(),
        Action::FocusPrevious => state.focus = state.focus.previous(),
        Action::Back => {
            // Esc stops a running probe before it does anything else.
            if let Some(run) = state.probe.cancel() {
                state.set_message("probe cancelled", false);
                return vec![Command::CancelProbe { run }];
            }
            back(state);
        }
        Action::ProbeHop => return probe_hop(state),
        Action::ProbeService => return probe_service(state),
        Action::ForwardPort => prompt_forward(state),
        Action::CopyFix => return copy_fix(state),
        Action::BrokenOnly => {
            state.filter.broken_only = !state.filter.broken_only;
            state.list.cursor = 0;
            state.refresh_list();
            let shown = if state.filter.broken_only {
                "only broken Services (b shows all)"
            } else {
                "all Services"
            };
            state.set_message(shown, false);
        }
        Action::MoveUp
        | Action::MoveDown
        | Action::PageUp
        | Action::PageDown
        | Action::First
        | Action::Last
        | Action::Toggle
        | Action::Expand
        | Action::PaneBack
        | Action::Collapse => navigate::act(state, action),
    }
    Vec::new()
}

/// The actions that open an input mode or a box.
fn open_mode(state: &mut AppState, action: Action) {
    state.mode = match action {
        Action::Help => Mode::Help { scroll: 0 },
        Action::Filter => {
            state.focus = Focus::Services;
            Mode::Filter {
                before: state.filter.text.clone(),
            }
        }
        Action::CommandLine => Mode::Command {
            input: String::new(),
        },
        Action::NamespacePicker => {
            state.picker_query.clear();
            let cursor = state
                .namespace_choices()
                .iter()
                .position(|choice| choice == &state.namespace)
                .unwrap_or(0);
            Mode::NamespacePicker { cursor }
        }
        Action::Forwards => Mode::Forwards,
        _ => return,
    };
}

/// `p`: probes the hop selected in the Chain pane.
fn probe_hop(state: &mut AppState) -> Vec<Command> {
    let Some(service) = state.list.selected.clone() else {
        state.set_message("select a Service to probe", true);
        return Vec::new();
    };
    let hop = state
        .selected_node()
        .and_then(|node| node.hop.as_ref())
        .and_then(|hop| {
            let (_, chain) = state.selected_service()?;
            Some(chain.hop_key(hop))
        });
    if hop.is_none() {
        state.set_message(
            "select a hop in the Chain pane to probe it (P probes the whole Service)",
            true,
        );
        return Vec::new();
    }
    begin_probe(state, service, hop)
}

/// `P`: probes every hop of the selected Service.
fn probe_service(state: &mut AppState) -> Vec<Command> {
    let Some(service) = state.list.selected.clone() else {
        state.set_message("select a Service to probe", true);
        return Vec::new();
    };
    begin_probe(state, service, None)
}

/// Shift-F: asks for the local port of a forward of the selected Service port.
fn prompt_forward(state: &mut AppState) {
    if let Some(reason) = &state.forwards.unavailable {
        let text = format!("cannot forward: {reason}");
        state.set_message(text, true);
        return;
    }
    match forwards::port_choice(state) {
        Ok(port) => {
            let input = port.suggested_local();
            state.mode = Mode::ForwardPrompt { port, input };
        }
        Err(error) => state.set_message(error, true),
    }
}

/// Starts a probe run of the Service (or one hop) on the model on screen; a run still in
/// progress is cancelled.
fn begin_probe(state: &mut AppState, service: ServiceKey, hop: Option<HopKey>) -> Vec<Command> {
    let Some(catalog) = state.shown().cloned() else {
        state.set_message("nothing loaded yet to probe", true);
        return Vec::new();
    };
    let mut commands = Vec::new();
    // A run still in progress is replaced (and stopped) only when the new one starts.
    let previous = state
        .probe
        .run
        .as_ref()
        .filter(|run| run.is_running())
        .map(|run| run.id);
    match state.probe.begin(&catalog, &service, hop.as_ref()) {
        Ok(run) => {
            if let Some(previous) = previous {
                commands.push(Command::CancelProbe { run: previous });
            }
            let what = match &run.hop {
                Some(_) => "1 hop".to_owned(),
                None => format!("{} hops", run.plan.hops.len()),
            };
            let text = format!("probing {service}: {what} (Esc cancels; details in the Probe tab)");
            let dns = match hop {
                Some(_) => None,
                None => super::dns::request(&catalog, &service).map(std::sync::Arc::new),
            };
            if dns.is_some() {
                state.dns.begin(&service);
            }
            commands.push(Command::RunProbe {
                service,
                hop,
                run: run.id,
                plan: run.plan.clone(),
                dns,
            });
            state.set_message(text, false);
        }
        Err(error) => state.set_message(error.to_string(), true),
    }
    commands
}

pub(super) fn toggle_pause(state: &mut AppState) {
    if state.paused() {
        state.frozen = None;
        state.refresh_list();
        state.set_message("live updates resumed", false);
    } else if let Some(live) = state.live.clone() {
        state.frozen = Some(live);
        state.set_message(
            "paused: the view stays as it is while updates keep arriving (Ctrl-P resumes)",
            false,
        );
    }
}

fn back(state: &mut AppState) {
    if state.filter.is_active() {
        state.filter = Filter::default();
        state.refresh_list();
    } else if state.focus != Focus::Services {
        state.focus = Focus::Services;
    } else if state.namespace.is_some() && state.label.namespace.is_none() {
        // Like k9s, Esc from a narrowed scope goes back to where the user started.
        set_namespace(state, None);
    }
}

pub(super) fn set_namespace(state: &mut AppState, namespace: Option<String>) {
    state.namespace = namespace;
    state.list.cursor = 0;
    state.refresh_list();
    state.dirty = true;
}

/// `c`: the selected Service's copy-ready fix (of its most severe finding that has one) goes
/// to the clipboard; kubehop never runs it.
fn copy_fix(state: &mut AppState) -> Vec<Command> {
    let Some((_, chain)) = state.selected_service() else {
        state.set_message("no Service selected", true);
        return Vec::new();
    };
    let mut diagnostics: Vec<_> = chain.diagnostics.iter().collect();
    diagnostics.sort_by_key(|diagnostic| diagnostic.severity);
    let Some(fix) = diagnostics.iter().find_map(|d| d.fix.clone()) else {
        let name = chain.name.clone();
        state.set_message(
            format!("{name} has no copy-ready fix (see the Diagnostics tab)"),
            true,
        );
        return Vec::new();
    };
    state.set_message(format!("copied (OSC 52): {fix}"), false);
    vec![Command::Copy(fix)]
}
