//! The bordered blocks every pane and overlay is drawn in.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Widget};

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

/// A list in a bordered box centred over the panes (the forwards list, the namespace picker).
pub(super) struct ListBox<'a> {
    pub title: &'a str,
    pub width: u16,
    /// Rows of `area` the box leaves free, at most.
    pub margin: u16,
    pub lines: &'a [Line<'static>],
    pub theme: &'a Theme,
}

impl ListBox<'_> {
    /// Draws the box; `first_row(rows)` says which line comes first when `rows` fit, and
    /// `highlight(index)` the style of a line that stands out.
    pub fn render(
        &self,
        area: Rect,
        buf: &mut Buffer,
        first_row: impl FnOnce(usize) -> usize,
        highlight: impl Fn(usize) -> Option<Style>,
    ) {
        let height = u16::try_from(self.lines.len() + 2)
            .unwrap_or(u16::MAX)
            .min(area.height.saturating_sub(self.margin));
        let box_area = centered(area, self.width, height.max(3));
        Clear.render(box_area, buf);
        let block = pane_block(
            Line::styled(format!(" {} ", self.title), self.theme.title),
            true,
            self.theme,
        );
        let inner = block.inner(box_area);
        block.render(box_area, buf);
        let rows = usize::from(inner.height.max(1));
        let offset = first_row(rows);
        let shown = self.lines.iter().enumerate().skip(offset).take(rows);
        for (row, (index, line)) in shown.enumerate() {
            let Ok(y) = u16::try_from(row) else { break };
            let line_area = Rect {
                y: inner.y + y,
                height: 1,
                ..inner
            };
            if let Some(style) = highlight(index) {
                buf.set_style(line_area, style);
            }
            line.clone().render(line_area, buf);
        }
    }
}
