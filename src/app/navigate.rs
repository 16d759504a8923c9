//! Moving around: the cursor of the focused pane, paging, the chain tree's branches, the
//! details offset. Keys and the mouse both come here.

use super::action::Action;
use super::layout::Areas;
use super::normal::toggle_pause;
use super::state::{AppState, Focus};

/// The movement actions: up and down, paging, first and last, and opening, closing or
/// entering what the cursor is on.
pub(super) fn act(state: &mut AppState, action: Action) {
    match action {
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
            Focus::Explain | Focus::Details => {}
        },
        Action::Expand => match state.focus {
            Focus::Header => state.focus = Focus::Services,
            Focus::Services => focus_chain(state),
            Focus::Chain => expand_selected(state),
            Focus::Explain => state.focus = Focus::Details,
            Focus::Details => {}
        },
        Action::Collapse => match state.focus {
            Focus::Header | Focus::Services => {}
            Focus::Chain => collapse_selected(state),
            Focus::Explain | Focus::Details => state.focus = Focus::Chain,
        },
        Action::PaneBack => state.focus = state.focus.back(),
        _ => {}
    }
}

/// One page of the focused pane, less a line of overlap.
fn page(state: &AppState) -> usize {
    let areas = Areas::compute(state.size.into());
    match state.focus {
        Focus::Chain => areas.chain_rows(),
        Focus::Explain => usize::from(areas.explain_inner().height),
        Focus::Details => usize::from(areas.details_inner().height),
        _ => areas.services_rows(),
    }
    .saturating_sub(1)
    .max(1)
}

pub(super) fn focus_chain(state: &mut AppState) {
    state.focus = Focus::Chain;
    let empty = state
        .chain_view()
        .is_none_or(|view| view.selected.is_empty());
    if empty {
        state.select_chain_index(0);
    }
}

pub(super) fn move_focused(state: &mut AppState, delta: isize) {
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
        Focus::Explain => {
            state.explain_scroll = state.explain_scroll.saturating_add_signed(delta);
        }
        Focus::Details => scroll_details(state, delta),
    }
}

pub(super) fn move_services(state: &mut AppState, delta: isize) {
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
pub(super) fn scroll_details(state: &mut AppState, delta: isize) {
    state.details_scroll = state.details_scroll.saturating_add_signed(delta);
}

pub(super) fn toggle_selected(state: &mut AppState) {
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

pub(super) fn expand_selected(state: &mut AppState) {
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

pub(super) fn collapse_selected(state: &mut AppState) {
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
