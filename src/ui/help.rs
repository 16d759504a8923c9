//! The help overlay: every key from the keymap table, the input modes and the mouse.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use super::blocks::{centered, pane_block};
use super::text::{pad, wrap};
use super::theme::Theme;
use crate::app::keymap;

/// The key list and how far it is scrolled.
#[derive(Debug, Clone)]
pub struct HelpView {
    pub lines: Vec<Line<'static>>,
    /// Lines skipped at the top, clamped so the last line stays on screen.
    pub scroll: usize,
    /// The box's width.
    pub width: u16,
}

/// From this screen width on, the keys are listed in two columns (so the help fits at
/// 120×40).
pub const TWO_COLUMNS: u16 = 110;

impl HelpView {
    /// `scroll` is the state's offset as the keys moved it; it is clamped here, against the
    /// lines there are.
    pub fn new(scroll: usize, theme: &Theme, screen_width: u16) -> HelpView {
        let (lines, width) = if screen_width >= TWO_COLUMNS {
            let width = screen_width.saturating_sub(4).min(118);
            (two_column_lines(theme, usize::from(width - 2)), width)
        } else {
            (help_lines(theme), 78)
        };
        let scroll = scroll.min(lines.len().saturating_sub(1));
        HelpView {
            lines,
            scroll,
            width,
        }
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
        let box_area = centered(area, self.view.width, height);
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
    // The 78-cell box's inside; long descriptions wrap under their column.
    const INSIDE: usize = 76;
    let mut lines = Vec::new();
    for action in keymap::actions_in_help_order() {
        lines.extend(entry_lines(
            &keymap::keys_for(action),
            action.describe(),
            (INSIDE, 18),
            theme,
        ));
    }
    lines.push(Line::raw(""));
    for (keys, what) in keymap::HELP_NOTES {
        lines.extend(entry_lines(keys, what, (INSIDE, 18), theme));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "marks: ✗ error  ! warning  ✓ ok  i info",
        theme.dim,
    ));
    lines
}

/// One key entry in a column `width` cells wide: the keys, then the words wrapped after them.
fn entry_lines(
    keys: &str,
    what: &str,
    (width, key_width): (usize, usize),
    theme: &Theme,
) -> Vec<Line<'static>> {
    let words = wrap(what, width.saturating_sub(key_width).max(10));
    words
        .into_iter()
        .enumerate()
        .map(|(index, part)| {
            let keys = if index == 0 { keys } else { "" };
            Line::from(vec![
                Span::styled(pad(keys, key_width), theme.accent),
                Span::raw(pad(&part, width.saturating_sub(key_width))),
            ])
        })
        .collect()
}

/// The keys in two columns side by side, then the notes across the whole box.
fn two_column_lines(theme: &Theme, inner: usize) -> Vec<Line<'static>> {
    let column = inner.saturating_sub(2) / 2;
    let entries: Vec<Vec<Line<'static>>> = keymap::actions_in_help_order()
        .into_iter()
        .map(|action| {
            entry_lines(
                &keymap::keys_for(action),
                action.describe(),
                (column, 14),
                theme,
            )
        })
        .collect();
    // Split where the left column's lines reach half of all lines.
    let total: usize = entries.iter().map(Vec::len).sum();
    let mut left = Vec::new();
    let mut right = Vec::new();
    for entry in entries {
        if left.len() < total.div_ceil(2) {
            left.extend(entry);
        } else {
            right.extend(entry);
        }
    }
    let blank = Line::raw(" ".repeat(column));
    let mut lines = Vec::new();
    for index in 0..left.len().max(right.len()) {
        let mut spans = left.get(index).unwrap_or(&blank).spans.clone();
        spans.push(Span::raw("  "));
        spans.extend(right.get(index).unwrap_or(&blank).spans.clone());
        lines.push(Line::from(spans));
    }
    lines.push(Line::raw(""));
    for (keys, what) in keymap::HELP_NOTES {
        lines.extend(entry_lines(keys, what, (inner, 24), theme));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "marks: ✗ error  ! warning  ✓ ok  i info",
        theme.dim,
    ));
    lines
}

/// Ctrl-A: the `:` commands with their aliases, as k9s lists its aliases.
pub fn alias_lines(theme: &Theme) -> Vec<Line<'static>> {
    crate::app::keymap::COMMANDS
        .iter()
        .map(|(names, what)| {
            Line::from(vec![
                Span::styled(pad(names, 30), theme.accent),
                Span::raw(*what),
            ])
        })
        .collect()
}

/// The aliases box, centred over the panes.
pub fn render_aliases(lines: &[Line<'static>], theme: &Theme, area: Rect, buf: &mut Buffer) {
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let box_area = centered(area, 76, height);
    Clear.render(box_area, buf);
    Paragraph::new(lines.to_vec())
        .block(pane_block(
            Line::styled(
                " Commands and aliases (: runs one, any key closes) ",
                theme.title,
            ),
            true,
            theme,
        ))
        .render(box_area, buf);
}

/// The first frame's box: what kubehop is waiting for.
pub fn render_starting(lines: &[Line<'static>], theme: &Theme, area: Rect, buf: &mut Buffer) {
    let widest = lines
        .iter()
        .map(|line| super::text::width(&line.to_string()))
        .max()
        .unwrap_or(0);
    let width = u16::try_from(widest + 4).unwrap_or(u16::MAX);
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let box_area = centered(area, width, height);
    Clear.render(box_area, buf);
    Paragraph::new(lines.to_vec())
        .alignment(ratatui::layout::Alignment::Center)
        .block(pane_block(
            Line::styled(" kubehop ", theme.title),
            true,
            theme,
        ))
        .render(box_area, buf);
}
