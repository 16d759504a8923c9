//! The help overlay: every key from the keymap table, the input modes and the mouse.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use super::blocks::{centered, pane_block};
use super::text::pad;
use super::theme::Theme;
use crate::app::keymap;

/// The key list and how far it is scrolled.
#[derive(Debug, Clone)]
pub struct HelpView {
    pub lines: Vec<Line<'static>>,
    /// Lines skipped at the top, clamped so the last line stays on screen.
    pub scroll: usize,
}

impl HelpView {
    /// `scroll` is the state's offset as the keys moved it; it is clamped here, against the
    /// lines there are.
    pub fn new(scroll: usize, theme: &Theme) -> HelpView {
        let lines = help_lines(theme);
        let scroll = scroll.min(lines.len().saturating_sub(1));
        HelpView { lines, scroll }
    }
}

/// The key list, centred over the panes.
pub struct HelpBox<'a> {
    pub view: &'a HelpView,
    pub theme: &'a Theme,
}

impl Widget for &HelpBox<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let lines = &self.view.lines;
        let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
        let box_area = centered(area, 78, height);
        Clear.render(box_area, buf);
        let more = lines.len() + 2 > usize::from(box_area.height);
        let title = if more {
            " Keys (j/k scroll, Esc closes) "
        } else {
            " Keys (Esc closes) "
        };
        let visible: Vec<Line<'_>> = lines.iter().skip(self.view.scroll).cloned().collect();
        Paragraph::new(visible)
            .block(pane_block(
                Line::styled(title, self.theme.title),
                true,
                self.theme,
            ))
            .render(box_area, buf);
    }
}

/// Every key, from the keymap table, plus the input modes and the mouse.
pub fn help_lines(theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for action in keymap::actions_in_help_order() {
        lines.push(Line::from(vec![
            Span::styled(pad(&keymap::keys_for(action), 18), theme.accent),
            Span::raw(action.describe()),
        ]));
    }
    lines.push(Line::raw(""));
    for (keys, what) in keymap::HELP_NOTES {
        lines.push(Line::from(vec![
            Span::styled(pad(keys, 18), theme.accent),
            Span::raw(*what),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "marks: ✗ error  ! warning  ✓ ok  i info",
        theme.dim,
    ));
    lines
}
