//! The namespace picker (`n`): "all namespaces", then every namespace of the shown model; the
//! current one is marked.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Widget;

use super::blocks::ListBox;
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
        let list = ListBox {
            title: "Namespace",
            width: 40,
            margin: 4,
            lines,
            theme: self.theme,
        };
        list.render(
            area,
            buf,
            |rows| cursor.saturating_sub(rows.saturating_sub(1)),
            |index| (index == *cursor).then_some(self.theme.selected),
        );
    }
}
