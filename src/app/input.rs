//! Keys in the input modes: the help, the `/` filter, the `:` command line, the forward
//! prompt, the forwards list and the namespace picker. Normal mode is [`super::normal`].

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::command::Command;
use super::command_line::run_command;
use super::forwards::{self, ForwardStatus, PortChoice};
use super::keymap;
use super::navigate::move_services;
use super::normal::set_namespace;
use super::state::{AppState, Mode};

/// Scrolls the help. The offset is clamped when the help is drawn, against its lines.
pub(super) fn on_help_key(state: &mut AppState, key: KeyEvent, scroll: usize) {
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

pub(super) fn on_filter_key(state: &mut AppState, key: KeyEvent, before: String) {
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
        state.filter = state.filter.reparse(&text);
        state.list.cursor = 0;
        state.refresh_list();
    }
    state.dirty = true;
}

pub(super) fn on_command_key(
    state: &mut AppState,
    key: KeyEvent,
    mut input: String,
) -> Vec<Command> {
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
pub(super) fn on_forward_prompt_key(
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
pub(super) fn on_forwards_key(state: &mut AppState, key: KeyEvent) -> Vec<Command> {
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

/// The namespace picker: typing narrows the choices (Backspace widens them), arrows and
/// PgUp/PgDn/Home/End move, Enter picks, Esc closes.
pub(super) fn on_picker_key(state: &mut AppState, key: KeyEvent, cursor: usize) {
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char(c) if !control && c != ' ' => {
            state.picker_query.push(c);
            state.mode = Mode::NamespacePicker { cursor: 0 };
            state.dirty = true;
            return;
        }
        KeyCode::Backspace => {
            state.picker_query.pop();
            state.mode = Mode::NamespacePicker { cursor: 0 };
            state.dirty = true;
            return;
        }
        _ => {}
    }
    let choices = state.namespace_choices_matching();
    let last = choices.len().saturating_sub(1);
    let cursor = match key.code {
        KeyCode::Down => (cursor + 1).min(last),
        KeyCode::Up => cursor.saturating_sub(1),
        KeyCode::Home => 0,
        KeyCode::End => last,
        KeyCode::PageDown => (cursor + 10).min(last),
        KeyCode::PageUp => cursor.saturating_sub(10),
        KeyCode::Enter | KeyCode::Char(' ') => {
            state.mode = Mode::Normal;
            state.dirty = true;
            let Some(choice) = choices.get(cursor).cloned() else {
                state.set_message("no namespace matches", true);
                return;
            };
            set_namespace(state, choice);
            return;
        }
        KeyCode::Esc => {
            state.mode = Mode::Normal;
            state.dirty = true;
            return;
        }
        _ => return,
    };
    state.mode = Mode::NamespacePicker { cursor };
    state.dirty = true;
}
