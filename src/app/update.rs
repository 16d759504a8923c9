//! `update`: the one place where state changes. Pure: no await, no I/O, no clock (time comes in
//! with the events). It returns the side effects it wants as [`Command`]s and marks the state
//! dirty when something visible changed, so the loop draws only then.

use std::sync::Arc;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::action::Action;
use super::catalog::Catalog;
use super::chain::NodeKind;
use super::command::Command;
use super::event::AppEvent;
use super::forwards::{self, ForwardStatus, ForwardUpdate, PortChoice};
use super::keymap;
use super::layout::{Areas, Pane};
use super::state::{AppState, CHANGE_HIGHLIGHT, Filter, Focus, Mode, Size, SortOrder, SourceKind};
use crate::cluster::ClusterSnapshot;

/// Applies one event. Returns the side effects to perform.
pub fn update(state: &mut AppState, event: AppEvent) -> Vec<Command> {
    let mut commands = apply_event(state, event);
    // A running probe belongs to the selected Service: selecting another one stops it.
    if let Some(run) = state.probe.run.as_ref()
        && run.is_running()
        && state.list.selected.as_ref() != Some(&run.service)
        && let Some(id) = state.probe.cancel()
    {
        commands.push(Command::CancelProbe { run: id });
        state.dirty = true;
    }
    commands
}

fn apply_event(state: &mut AppState, event: AppEvent) -> Vec<Command> {
    match event {
        AppEvent::Key(key) => {
            if key.kind == KeyEventKind::Release {
                return Vec::new();
            }
            on_key(state, key)
        }
        AppEvent::Mouse(mouse) => {
            on_mouse(state, mouse);
            Vec::new()
        }
        AppEvent::Resize { width, height } => {
            state.size = Size { width, height };
            state.list.offset = 0;
            state.sync_selection();
            state.keep_chain_selection_visible();
            state.dirty = true;
            Vec::new()
        }
        AppEvent::Snapshot(snapshot) => on_snapshot(state, snapshot),
        AppEvent::Status(status) => {
            if state.status != status {
                state.status = status;
                state.dirty = true;
            }
            Vec::new()
        }
        AppEvent::ModelBuilt { catalog, at } => on_model(state, catalog, at),
        AppEvent::Notice(text) => {
            state.set_message(text, true);
            Vec::new()
        }
        AppEvent::Tick(now) => {
            let before = state.changed.len();
            state
                .changed
                .retain(|_, at| now.saturating_duration_since(*at) < CHANGE_HIGHLIGHT);
            // Fading rows change look on every tick while any is left.
            if before > 0 {
                state.dirty = true;
            }
            if state.probe.tick() {
                state.dirty = true;
            }
            Vec::new()
        }
        AppEvent::Forward { id, update } => {
            let visible = matches!(
                update,
                ForwardUpdate::Started(_) | ForwardUpdate::StartFailed(_)
            ) || state.mode == Mode::Forwards;
            if let Some((text, error)) = state.forwards.apply(id, update) {
                state.set_message(text, error);
            }
            if visible {
                state.dirty = true;
            }
            Vec::new()
        }
        AppEvent::Probe(event) => {
            let done = matches!(event, crate::probe::ProbeEvent::Done { .. });
            if state.probe.apply(event) {
                state.dirty = true;
                if done && let Some((text, unexpected)) = state.probe.summary() {
                    state.set_message(text, unexpected);
                }
            }
            Vec::new()
        }
    }
}

fn on_snapshot(state: &mut AppState, snapshot: Arc<ClusterSnapshot>) -> Vec<Command> {
    if state.build.in_flight.is_some() {
        // One build at a time: remember only the newest snapshot.
        state.build.waiting = Some(snapshot);
        return Vec::new();
    }
    vec![issue_build(state, snapshot)]
}

fn issue_build(state: &mut AppState, snapshot: Arc<ClusterSnapshot>) -> Command {
    let generation = state.build.last_issued.next();
    state.build.last_issued = generation;
    state.build.in_flight = Some(generation);
    Command::BuildModel {
        snapshot,
        generation,
    }
}

fn on_model(state: &mut AppState, catalog: Arc<Catalog>, at: std::time::Instant) -> Vec<Command> {
    if state.build.in_flight != Some(catalog.generation) {
        // A result for a snapshot that is no longer the newest asked for: drop it.
        return Vec::new();
    }
    state.build.in_flight = None;
    let mut commands = Vec::new();
    if let Some(waiting) = state.build.waiting.take() {
        commands.push(issue_build(state, waiting));
    }
    // Probe results whose prediction changed on the newest model are stale.
    if state.probe.refresh_stale(&catalog)
        && !state.probe.is_running()
        && let Some((text, unexpected)) = state.probe.summary()
    {
        state.set_message(text, unexpected);
    }
    if state.paused() {
        state.live = Some(catalog);
        state.dirty = true;
        return commands;
    }
    if let Some(previous) = state.live.as_ref() {
        mark_changes(state, &previous.clone(), &catalog, at);
    }
    state.live = Some(catalog);
    state.refresh_list();
    state.dirty = true;
    commands
}

/// Records the Services whose row looks different in `next` (new ones included).
fn mark_changes(state: &mut AppState, previous: &Catalog, next: &Catalog, at: std::time::Instant) {
    for (index, chain) in next.model.services.iter().enumerate() {
        let key = chain.key();
        let before = previous
            .service(&key)
            .and_then(|(old_index, _)| previous.summary(old_index))
            .map(|summary| summary.fingerprint);
        let now = next.summary(index).map(|summary| summary.fingerprint);
        if before != now {
            state.changed.insert(key, at);
        }
    }
}

fn on_key(state: &mut AppState, key: KeyEvent) -> Vec<Command> {
    // Ctrl-C always quits, whatever is open.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        state.quit = true;
        return vec![Command::Quit];
    }
    match state.mode.clone() {
        Mode::Filter { before } => {
            on_filter_key(state, key, before);
            Vec::new()
        }
        Mode::Command { input } => on_command_key(state, key, input),
        Mode::Help { scroll } => {
            on_help_key(state, key, scroll);
            Vec::new()
        }
        Mode::NamespacePicker { cursor } => {
            on_picker_key(state, key, cursor);
            Vec::new()
        }
        Mode::ForwardPrompt { port, input } => on_forward_prompt_key(state, key, port, input),
        Mode::Forwards => on_forwards_key(state, key),
        Mode::Normal => match keymap::action_for(&key) {
            Some(action) => {
                if state.message.take().is_some() {
                    state.dirty = true;
                }
                apply(state, action)
            }
            None => Vec::new(),
        },
    }
}

/// Scrolls the help. The offset is clamped when the help is drawn, against its lines.
fn on_help_key(state: &mut AppState, key: KeyEvent, scroll: usize) {
    let scroll = match keymap::action_for(&key) {
        Some(Action::Back | Action::Help | Action::Quit) => {
            state.mode = Mode::Normal;
            state.dirty = true;
            return;
        }
        Some(Action::MoveDown) => scroll.saturating_add(1),
        Some(Action::MoveUp) => scroll.saturating_sub(1),
        Some(Action::PageDown) => scroll.saturating_add(10),
        Some(Action::PageUp) => scroll.saturating_sub(10),
        Some(Action::First) => 0,
        Some(Action::Last) => usize::MAX,
        _ => return,
    };
    state.mode = Mode::Help { scroll };
    state.dirty = true;
}

fn on_filter_key(state: &mut AppState, key: KeyEvent, before: String) {
    let mut text = state.filter.text.clone();
    match key.code {
        KeyCode::Esc => {
            state.mode = Mode::Normal;
            text = before;
        }
        KeyCode::Enter => state.mode = Mode::Normal,
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => text.clear(),
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
        KeyCode::Down => {
            state.mode = Mode::Normal;
            move_services(state, 1);
        }
        _ => return,
    }
    if text != state.filter.text {
        state.filter = Filter::parse(&text);
        state.list.cursor = 0;
        state.refresh_list();
    }
    state.dirty = true;
}

fn on_command_key(state: &mut AppState, key: KeyEvent, mut input: String) -> Vec<Command> {
    match key.code {
        KeyCode::Esc => state.mode = Mode::Normal,
        KeyCode::Enter => {
            state.mode = Mode::Normal;
            state.dirty = true;
            return run_command(state, input.trim());
        }
        KeyCode::Backspace => {
            if input.pop().is_none() {
                state.mode = Mode::Normal;
            } else {
                state.mode = Mode::Command { input };
            }
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            input.push(c);
            state.mode = Mode::Command { input };
        }
        _ => return Vec::new(),
    }
    state.dirty = true;
    Vec::new()
}

/// Shift-F's prompt: digits, Enter starts the forward, Esc cancels.
fn on_forward_prompt_key(
    state: &mut AppState,
    key: KeyEvent,
    port: PortChoice,
    mut input: String,
) -> Vec<Command> {
    match key.code {
        KeyCode::Esc => state.mode = Mode::Normal,
        KeyCode::Enter => {
            state.mode = Mode::Normal;
            match forwards::parse_local(&input) {
                Ok(local) => {
                    let (id, request) = state.forwards.begin(&port, local);
                    state.set_message(format!("starting a forward of {}", port.label()), false);
                    return vec![Command::StartForward { id, request }];
                }
                Err(error) => state.set_message(error, true),
            }
        }
        KeyCode::Backspace => {
            input.pop();
            state.mode = Mode::ForwardPrompt { port, input };
        }
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            state.mode = Mode::ForwardPrompt {
                port,
                input: String::new(),
            };
        }
        KeyCode::Char(c) if c.is_ascii_digit() && input.len() < 5 => {
            input.push(c);
            state.mode = Mode::ForwardPrompt { port, input };
        }
        _ => return Vec::new(),
    }
    state.dirty = true;
    Vec::new()
}

/// The forwards list: move, `d`/Delete stops the selected forward, Esc/f/q close.
fn on_forwards_key(state: &mut AppState, key: KeyEvent) -> Vec<Command> {
    if matches!(key.code, KeyCode::Char('d') | KeyCode::Delete) {
        state.dirty = true;
        let Some(entry) = state.forwards.remove_selected() else {
            return Vec::new();
        };
        let target = entry.target();
        if matches!(entry.status, ForwardStatus::Failed(_)) {
            state.set_message(format!("removed the failed forward of {target}"), false);
            return Vec::new();
        }
        state.set_message(format!("stopped the forward of {target}"), false);
        return vec![Command::StopForward { id: entry.id }];
    }
    match keymap::action_for(&key) {
        Some(Action::MoveDown) => state.forwards.move_cursor(1),
        Some(Action::MoveUp) => state.forwards.move_cursor(-1),
        Some(Action::PageDown) => state.forwards.move_cursor(10),
        Some(Action::PageUp) => state.forwards.move_cursor(-10),
        Some(Action::First) => state.forwards.move_cursor(isize::MIN / 2),
        Some(Action::Last) => state.forwards.move_cursor(isize::MAX / 2),
        Some(Action::Back | Action::Forwards | Action::Quit) => state.mode = Mode::Normal,
        _ => return Vec::new(),
    }
    state.dirty = true;
    Vec::new()
}

fn on_picker_key(state: &mut AppState, key: KeyEvent, cursor: usize) {
    let choices = state.namespace_choices();
    let last = choices.len().saturating_sub(1);
    let cursor = match keymap::action_for(&key) {
        Some(Action::MoveDown) => (cursor + 1).min(last),
        Some(Action::MoveUp) => cursor.saturating_sub(1),
        Some(Action::First) => 0,
        Some(Action::Last) => last,
        Some(Action::PageDown) => (cursor + 10).min(last),
        Some(Action::PageUp) => cursor.saturating_sub(10),
        Some(Action::Toggle | Action::Expand) => {
            let choice = choices.get(cursor).cloned().flatten();
            state.mode = Mode::Normal;
            set_namespace(state, choice);
            return;
        }
        Some(Action::Back | Action::NamespacePicker | Action::Quit) => {
            state.mode = Mode::Normal;
            state.dirty = true;
            return;
        }
        _ => return,
    };
    state.mode = Mode::NamespacePicker { cursor };
    state.dirty = true;
}

fn set_namespace(state: &mut AppState, namespace: Option<String>) {
    state.namespace = namespace;
    state.list.cursor = 0;
    state.refresh_list();
    state.dirty = true;
}

/// `:ns NAME|all`, `:ctx NAME`, `:svc NAME`, `:q`.
fn run_command(state: &mut AppState, line: &str) -> Vec<Command> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or_default();
    let argument = words.next();
    match (verb, argument) {
        ("", _) => Vec::new(),
        ("q" | "q!" | "quit" | "exit", _) => {
            state.quit = true;
            vec![Command::Quit]
        }
        ("ns" | "namespace", Some("all" | "-A" | "*")) => {
            set_namespace(state, None);
            state.set_message("all namespaces", false);
            Vec::new()
        }
        ("ns" | "namespace", Some(name)) => {
            let known = state
                .shown()
                .is_some_and(|catalog| catalog.namespaces.iter().any(|known| known == name));
            set_namespace(state, Some(name.to_owned()));
            if known {
                state.set_message(format!("namespace {name}"), false);
            } else {
                state.set_message(
                    format!("namespace {name}: no such namespace in this source"),
                    true,
                );
            }
            Vec::new()
        }
        ("ns" | "namespace", None) => {
            state.mode = Mode::NamespacePicker { cursor: 0 };
            Vec::new()
        }
        ("ctx" | "context", Some(name)) => match state.source {
            SourceKind::Live => vec![Command::SwitchContext(name.to_owned())],
            SourceKind::Dump => {
                state.set_message(
                    "no contexts in a dump: restart kubehop with --context instead",
                    true,
                );
                Vec::new()
            }
            SourceKind::Demo => {
                state.set_message("the demo cluster has a single context", true);
                Vec::new()
            }
        },
        ("ctx" | "context", None) => {
            state.set_message(
                format!("context: {} (:ctx NAME switches)", state.label.context),
                false,
            );
            Vec::new()
        }
        ("svc" | "service" | "services", Some(name)) => {
            jump_to_service(state, name);
            Vec::new()
        }
        ("svc" | "service" | "services", None) => {
            state.focus = Focus::Services;
            Vec::new()
        }
        ("help" | "h", _) => {
            state.mode = Mode::Help { scroll: 0 };
            Vec::new()
        }
        ("pf" | "forwards" | "portforwards", _) => {
            state.mode = Mode::Forwards;
            Vec::new()
        }
        (other, _) => {
            state.set_message(
                format!(
                    "unknown command :{other} (try :ns NAME, :ns all, :ctx NAME, :svc NAME, :pf, :q)"
                ),
                true,
            );
            Vec::new()
        }
    }
}

/// `:svc NAME` or `:svc NAMESPACE/NAME`: select it, widening the scope and clearing the filter
/// when they hide it.
fn jump_to_service(state: &mut AppState, wanted: &str) {
    let Some(catalog) = state.shown().cloned() else {
        state.set_message("no Services loaded yet", true);
        return;
    };
    let (namespace, name) = match wanted.split_once('/') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, wanted),
    };
    let candidates: Vec<&crate::engine::ServiceChain> = catalog
        .model
        .services
        .iter()
        .filter(|chain| chain.name == name && namespace.is_none_or(|ns| chain.namespace == ns))
        .collect();
    let preferred = candidates
        .iter()
        .find(|chain| state.namespace.as_deref() == Some(chain.namespace.as_str()))
        .or_else(|| candidates.first());
    let Some(chain) = preferred else {
        state.set_message(format!("no Service {wanted}"), true);
        return;
    };
    let key = chain.key();
    if state
        .namespace
        .as_deref()
        .is_some_and(|scope| scope != key.namespace)
    {
        state.namespace = Some(key.namespace.clone());
    }
    if !state.filter.matches(chain) {
        state.filter = Filter::default();
    }
    state.list.selected = Some(key.clone());
    state.refresh_list();
    state.focus = Focus::Chain;
    if candidates.len() > 1 && namespace.is_none() {
        state.set_message(
            format!(
                "{} Services are named {name}; showing {key} (use :svc NAMESPACE/NAME)",
                candidates.len()
            ),
            false,
        );
    }
    state.dirty = true;
}

fn page(state: &AppState) -> usize {
    let areas = Areas::compute(state.size.into());
    match state.focus {
        Focus::Chain => areas.chain_rows(),
        Focus::Details => usize::from(areas.details_inner().height),
        _ => areas.services_rows(),
    }
    .saturating_sub(1)
    .max(1)
}

/// Applies an action in normal mode.
pub fn apply(state: &mut AppState, action: Action) -> Vec<Command> {
    state.dirty = true;
    match action {
        Action::Quit => {
            state.quit = true;
            return vec![Command::Quit];
        }
        Action::Help => state.mode = Mode::Help { scroll: 0 },
        Action::Filter => {
            state.mode = Mode::Filter {
                before: state.filter.text.clone(),
            };
            state.focus = Focus::Services;
        }
        Action::CommandLine => {
            state.mode = Mode::Command {
                input: String::new(),
            }
        }
        Action::NamespacePicker => {
            let cursor = state
                .namespace_choices()
                .iter()
                .position(|choice| choice == &state.namespace)
                .unwrap_or(0);
            state.mode = Mode::NamespacePicker { cursor };
        }
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
        Action::ProbeHop | Action::ProbeService => {
            let Some(service) = state.list.selected.clone() else {
                state.set_message("select a Service to probe", true);
                return Vec::new();
            };
            let hop = match action {
                Action::ProbeHop => state
                    .selected_node()
                    .and_then(|node| node.hop.as_ref())
                    .and_then(|hop| {
                        let (_, chain) = state.selected_service()?;
                        Some(chain.hop_key(hop))
                    }),
                _ => None,
            };
            if action == Action::ProbeHop && hop.is_none() {
                state.set_message(
                    "select a hop in the Chain pane to probe it (P probes the whole Service)",
                    true,
                );
                return Vec::new();
            }
            return begin_probe(state, service, hop);
        }
        Action::ForwardPort => {
            if let Some(reason) = &state.forwards.unavailable {
                let text = format!("cannot forward: {reason}");
                state.set_message(text, true);
                return Vec::new();
            }
            match forwards::port_choice(state) {
                Ok(port) => {
                    let input = port.suggested_local();
                    state.mode = Mode::ForwardPrompt { port, input };
                }
                Err(error) => state.set_message(error, true),
            }
        }
        Action::Forwards => state.mode = Mode::Forwards,
        Action::MoveUp => move_focused(state, -1),
        Action::MoveDown => move_focused(state, 1),
        Action::PageUp => {
            let step = page(state);
            move_focused(state, -(isize::try_from(step).unwrap_or(1)));
        }
        Action::PageDown => {
            let step = page(state);
            move_focused(state, isize::try_from(step).unwrap_or(1));
        }
        Action::First => move_focused(state, isize::MIN / 2),
        Action::Last => move_focused(state, isize::MAX / 2),
        Action::Toggle => match state.focus {
            Focus::Header => toggle_pause(state),
            Focus::Services => focus_chain(state),
            Focus::Chain => toggle_selected(state),
            Focus::Details => {}
        },
        Action::Expand => match state.focus {
            Focus::Header => state.focus = Focus::Services,
            Focus::Services => focus_chain(state),
            Focus::Chain => expand_selected(state),
            Focus::Details => {}
        },
        Action::Collapse => match state.focus {
            Focus::Header | Focus::Services => {}
            Focus::Chain => collapse_selected(state),
            Focus::Details => state.focus = Focus::Chain,
        },
    }
    Vec::new()
}

/// Starts a probe run of the Service (or one hop) on the model on screen; a run still in
/// progress is cancelled.
fn begin_probe(
    state: &mut AppState,
    service: crate::engine::model::ServiceKey,
    hop: Option<crate::engine::model::HopKey>,
) -> Vec<Command> {
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
            commands.push(Command::RunProbe {
                service,
                hop,
                run: run.id,
                plan: run.plan.clone(),
            });
            state.set_message(text, false);
        }
        Err(error) => state.set_message(error.to_string(), true),
    }
    commands
}

fn toggle_pause(state: &mut AppState) {
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

fn focus_chain(state: &mut AppState) {
    state.focus = Focus::Chain;
    let empty = state
        .chain_view()
        .is_none_or(|view| view.selected.is_empty());
    if empty {
        state.select_chain_index(0);
    }
}

fn move_focused(state: &mut AppState, delta: isize) {
    match state.focus {
        Focus::Header => {
            if delta > 0 {
                state.focus = Focus::Services;
            }
        }
        Focus::Services => move_services(state, delta),
        Focus::Chain => {
            let (rows, index) = state.chain_rows();
            let count = rows.len();
            drop(rows);
            if count == 0 {
                return;
            }
            let target = index
                .unwrap_or(0)
                .saturating_add_signed(delta)
                .min(count - 1);
            state.select_chain_index(target);
        }
        Focus::Details => scroll_details(state, delta),
    }
}

fn move_services(state: &mut AppState, delta: isize) {
    let count = state.list.visible.len();
    if count == 0 {
        return;
    }
    state.list.cursor = state
        .list
        .cursor
        .saturating_add_signed(delta)
        .min(count - 1);
    state.sync_selection();
}

/// Moves the details offset; it is clamped when the tab is drawn, against its lines.
fn scroll_details(state: &mut AppState, delta: isize) {
    state.details_scroll = state.details_scroll.saturating_add_signed(delta);
}

fn toggle_selected(state: &mut AppState) {
    let Some(view) = state.chain_view() else {
        return;
    };
    let path = view.selected.clone();
    let has_children = state
        .chain
        .outline
        .get(&path)
        .is_some_and(|node| !node.children.is_empty());
    if has_children {
        let closed = view.closed.contains(&path);
        state.set_closed(&path, !closed);
        state.keep_chain_selection_visible();
    } else {
        // A leaf: show its details.
        state.focus = Focus::Details;
    }
}

fn expand_selected(state: &mut AppState) {
    let Some(view) = state.chain_view() else {
        return;
    };
    let path = view.selected.clone();
    let closed = view.closed.contains(&path);
    let has_children = state
        .chain
        .outline
        .get(&path)
        .is_some_and(|node| !node.children.is_empty());
    if has_children && closed {
        state.set_closed(&path, false);
    } else if has_children {
        let (_, index) = state.chain_rows();
        state.select_chain_index(index.unwrap_or(0) + 1);
    } else {
        state.focus = Focus::Details;
    }
    state.keep_chain_selection_visible();
}

fn collapse_selected(state: &mut AppState) {
    let Some(view) = state.chain_view() else {
        state.focus = Focus::Services;
        return;
    };
    let path = view.selected.clone();
    let open = !view.closed.contains(&path)
        && state
            .chain
            .outline
            .get(&path)
            .is_some_and(|node| !node.children.is_empty());
    if open {
        state.set_closed(&path, true);
    } else if path.len() > 1 {
        let parent = path[..path.len() - 1].to_vec();
        let (rows, _) = state.chain_rows();
        let index = rows.iter().position(|row| row.path == parent);
        drop(rows);
        if let Some(index) = index {
            state.select_chain_index(index);
        }
    } else {
        state.focus = Focus::Services;
    }
    state.keep_chain_selection_visible();
}

fn on_mouse(state: &mut AppState, mouse: MouseEvent) {
    if !matches!(state.mode, Mode::Normal) {
        return;
    }
    let areas = Areas::compute(state.size.into());
    let Some(pane) = areas.pane_at(mouse.column, mouse.row) else {
        return;
    };
    let step = match mouse.kind {
        MouseEventKind::ScrollDown => 1,
        MouseEventKind::ScrollUp => -1,
        MouseEventKind::Down(MouseButton::Left) => 0,
        _ => return,
    };
    state.dirty = true;
    if step != 0 {
        match pane {
            Pane::Services => move_services(state, step),
            Pane::Chain => {
                let previous = state.focus;
                state.focus = Focus::Chain;
                move_focused(state, step);
                state.focus = previous;
            }
            Pane::Details => scroll_details(state, step * 3),
            _ => state.dirty = false,
        }
        return;
    }
    match pane {
        Pane::Header => {
            state.focus = Focus::Header;
            toggle_pause(state);
        }
        Pane::Services => {
            state.focus = Focus::Services;
            let first = areas.services_first_row();
            if mouse.row >= first {
                let index = state.list.offset + usize::from(mouse.row - first);
                if index < state.list.visible.len() {
                    state.list.cursor = index;
                    state.sync_selection();
                }
            }
        }
        Pane::Chain => {
            let inner = areas.chain_inner();
            let offset = state.chain_view().map_or(0, |view| view.offset);
            if mouse.row >= inner.y {
                let index = offset + usize::from(mouse.row - inner.y);
                let (rows, current) = state.chain_rows();
                let count = rows.len();
                drop(rows);
                if index < count {
                    if state.focus == Focus::Chain && current == Some(index) {
                        toggle_selected(state);
                    } else {
                        state.select_chain_index(index);
                    }
                }
            }
            state.focus = Focus::Chain;
        }
        Pane::Details => {
            if let Some(tab) = areas.tab_at(mouse.column, mouse.row) {
                state.tab = tab;
                state.details_scroll = 0;
            }
            state.focus = Focus::Details;
        }
        Pane::Explain | Pane::Hints => state.dirty = false,
    }
}

/// The kinds of node whose YAML is the Service itself.
pub fn node_shows_service(kind: &NodeKind) -> bool {
    matches!(
        kind,
        NodeKind::Port { .. }
            | NodeKind::Ingress { .. }
            | NodeKind::LoadBalancer { .. }
            | NodeKind::LoadBalancerPending { .. }
            | NodeKind::NodePorts { .. }
            | NodeKind::ClusterIp { .. }
            | NodeKind::Headless { .. }
            | NodeKind::ExternalName
            | NodeKind::Broken { .. }
    )
}
