//! The mouse: the wheel scrolls the pane under it, a click selects (a Service, a hop, a tab)
//! or focuses.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

use super::layout::{Areas, Pane};
use super::navigate::{move_focused, move_services, scroll_details, toggle_selected};
use super::normal::toggle_pause;
use super::state::{AppState, Focus, Mode};

/// A wheel turn or a left click, in normal mode only.
pub(super) fn on_mouse(state: &mut AppState, mouse: MouseEvent) {
    if !matches!(state.mode, Mode::Normal) {
        return;
    }
    if state.drill.is_open() {
        // A page covers the panes: the wheel scrolls it.
        if let Some(top) = state.drill.top_mut() {
            match mouse.kind {
                MouseEventKind::ScrollDown => top.scroll = top.scroll.saturating_add(3),
                MouseEventKind::ScrollUp => top.scroll = top.scroll.saturating_sub(3),
                _ => return,
            }
            state.dirty = true;
        }
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
            Pane::Explain => {
                state.explain_scroll = state.explain_scroll.saturating_add_signed(step);
            }
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
        Pane::Explain => state.focus = Focus::Explain,
        Pane::Hints => state.dirty = false,
    }
}
