//! The bordered blocks every pane and overlay is drawn in.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Block;

use super::theme::Theme;

/// A bordered block with a title; the border is highlighted when the pane has focus.
pub(super) fn pane_block<'a>(title: Line<'a>, focused: bool, theme: &Theme) -> Block<'a> {
    Block::bordered().title(title).border_style(if focused {
        theme.border_focused
    } else {
        theme.border
    })
}

/// A `width`×`height` box in the middle of `area` (cut to fit).
pub(super) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}
