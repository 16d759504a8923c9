//! `update`: the one way in for state changes. Pure: no await, no I/O, no clock (time comes
//! in with the events). It returns the side effects it wants as [`Command`]s and marks the
//! state dirty when something visible changed, so the loop draws only then.
//!
//! Model updates are handled here; keys go to `app/normal.rs` (normal mode) or
//! `app/input.rs` (the input modes and boxes), the mouse to `app/mouse.rs`, and both move
//! through `app/navigate.rs`.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::catalog::Catalog;
use super::chain::NodeKind;
use super::command::Command;
use super::event::AppEvent;
use super::forwards::ForwardUpdate;
use super::input::{
    on_command_key, on_filter_key, on_forward_prompt_key, on_forwards_key, on_help_key,
    on_picker_key,
};
use super::keymap;
use super::mouse::on_mouse;
pub use super::normal::apply;
use super::state::{AppState, CHANGE_HIGHLIGHT, Mode, Size};
use crate::cluster::ClusterSnapshot;

/// Applies one event. Returns the side effects to perform.
pub fn update(state: &mut AppState, event: AppEvent) -> Vec<Command> {
    let mut commands = apply_event(state, event);
    // A not-ready endpoint in the chain: its pod's Events say why (for Explain).
    commands.extend(super::drill::read_unhealthy(state));
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
        AppEvent::Inspected { id, answer } => {
            super::drill::on_inspected(state, id, answer);
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
        AppEvent::Dns { service, check } => {
            state.probe.dns.land(service.clone(), &check);
            state.dns.land(service, *check);
            // Its findings mark the Service in this very frame (list and header).
            state.refresh_list();
            state.dirty = true;
            Vec::new()
        }
        AppEvent::Probe(event) => {
            let done = matches!(event, crate::probe::ProbeEvent::Done { .. });
            let landed = !matches!(event, crate::probe::ProbeEvent::Started { .. });
            if state.probe.apply(event) {
                state.dirty = true;
                if landed {
                    // A probe finding marks the Service in this very frame (list and header).
                    state.refresh_list();
                }
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
    state.probe.refresh_findings(&catalog);
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
        // The same summary at the same place: an incremental update kept the Service (the
        // builder replaces the summaries of the Services it built again, and all of them on a
        // full build), so nothing about it changed.
        if let (Some(before), Some(now)) =
            (previous.summaries.get(index), next.summaries.get(index))
            && Arc::ptr_eq(before, now)
        {
            continue;
        }
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
        Mode::ConfirmQuit => on_confirm_quit_key(state, key),
        Mode::Aliases => {
            // Any key closes the list; `:` opens the command line at once.
            state.mode = match key.code {
                KeyCode::Char(':') => Mode::Command {
                    input: String::new(),
                },
                _ => Mode::Normal,
            };
            state.dirty = true;
            Vec::new()
        }
        Mode::Normal => {
            if state.message.take().is_some() {
                state.dirty = true;
            }
            if state.drill.is_open() {
                return super::drill_keys::on_page_key(state, key);
            }
            match keymap::action_for(&key) {
                Some(action) => apply(state, action),
                None => {
                    unknown_key_hint(state, &key);
                    Vec::new()
                }
            }
        }
    }
}

/// `q` with forwards running: `y`/`q`/Enter quits (stopping them), anything else stays.
fn on_confirm_quit_key(state: &mut AppState, key: KeyEvent) -> Vec<Command> {
    state.mode = Mode::Normal;
    state.dirty = true;
    match key.code {
        KeyCode::Char('y' | 'Y' | 'q') | KeyCode::Enter => {
            state.quit = true;
            vec![Command::Quit]
        }
        _ => {
            state.set_message("still running", false);
            Vec::new()
        }
    }
}

/// A key that means nothing here says so on the status line, instead of nothing.
pub(super) fn unknown_key_hint(state: &mut AppState, key: &KeyEvent) {
    // Modifier keys alone and the like are not worth a word.
    let shown = match key.code {
        KeyCode::Char(c) if !c.is_control() => {
            if key.modifiers.contains(KeyModifiers::CONTROL) {
                format!("Ctrl-{}", c.to_ascii_uppercase())
            } else if key.modifiers.contains(KeyModifiers::ALT) {
                format!("Alt-{c}")
            } else {
                c.to_string()
            }
        }
        KeyCode::F(number) => format!("F{number}"),
        KeyCode::Backspace => "Backspace".to_owned(),
        KeyCode::Delete => "Delete".to_owned(),
        KeyCode::Insert => "Insert".to_owned(),
        _ => return,
    };
    let here = if state.drill.is_open() {
        " on this page"
    } else {
        ""
    };
    state.set_message(
        format!(
            "{shown} does nothing{here} · ? lists the keys · : runs a command (Ctrl-A lists them)"
        ),
        false,
    );
}

/// The kinds of node whose YAML is the Service itself.
pub fn node_shows_service(kind: &NodeKind) -> bool {
    matches!(
        kind,
        NodeKind::Port { .. }
            | NodeKind::Ingress { .. }
            | NodeKind::GatewayRoute { .. }
            | NodeKind::LoadBalancer { .. }
            | NodeKind::LoadBalancerPending { .. }
            | NodeKind::NodePorts { .. }
            | NodeKind::ClusterIp { .. }
            | NodeKind::Headless { .. }
            | NodeKind::ExternalName
            | NodeKind::Broken { .. }
    )
}
