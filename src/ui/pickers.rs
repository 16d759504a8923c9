//! The namespace picker (`n`): "all namespaces", then every namespace of the shown model; the
//! current one is marked.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Widget};

use super::blocks::{centered, pane_block};
use super::theme::Theme;
use crate::app::state::AppState;

/// The choices and the cursor.
#[derive(Debug, Clone)]
pub struct NamespacesView {
    pub lines: Vec<Line<'static>>,
    pub cursor: usize,
}

impl NamespacesView {
    pub fn new(state: &AppState, cursor: usize) -> NamespacesView {
        let lines = state
            .namespace_choices()
            .into_iter()
            .map(|choice| {
                let current = choice == state.namespace;
                let text = choice.unwrap_or_else(|| "all namespaces".to_owned());
                let mark = if current { "● " } else { "  " };
                Line::raw(format!("{mark}{text}"))
            })
            .collect();
        NamespacesView { lines, cursor }
    }
}

/// The picker, centred over the panes; it scrolls so the cursor stays inside the box.
pub struct NamespacesBox<'a> {
    pub view: &'a NamespacesView,
    pub theme: &'a Theme,
}

impl Widget for &NamespacesBox<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let NamespacesView { lines, cursor } = self.view;
        let height = u16::try_from(lines.len() + 2)
            .unwrap_or(u16::MAX)
            .min(area.height.saturating_sub(4));
        let box_area = centered(area, 40, height.max(3));
        Clear.render(box_area, buf);
        let block = pane_block(
            Line::styled(" Namespace ", self.theme.title),
            true,
            self.theme,
        );
        let inner = block.inner(box_area);
        block.render(box_area, buf);
        let rows = usize::from(inner.height.max(1));
        let offset = cursor.saturating_sub(rows.saturating_sub(1));
        for (row, (index, line)) in lines.iter().enumerate().skip(offset).take(rows).enumerate() {
            let Ok(y) = u16::try_from(row) else { break };
            let line_area = Rect {
                y: inner.y + y,
                height: 1,
                ..inner
            };
            if index == *cursor {
                buf.set_style(line_area, self.theme.selected);
            }
            line.clone().render(line_area, buf);
        }
    }
}
