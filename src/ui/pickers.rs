//! The namespace picker (`n`): "all namespaces", then every namespace of the shown model; the
//! current one is marked.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Widget;

use super::blocks::ListBox;
use super::text::pad;
use super::theme::Theme;
use crate::app::state::AppState;

/// The choices and the cursor.
#[derive(Debug, Clone)]
pub struct NamespacesView {
    pub lines: Vec<Line<'static>>,
    pub cursor: usize,
}

impl NamespacesView {
    /// The line typed so far (`type to filter` before anything is), then each matching choice
    /// with its Services and broken Services.
    pub fn new(state: &AppState, cursor: usize) -> NamespacesView {
        let counts = state.namespace_counts();
        let total: (usize, usize) = counts.values().fold((0, 0), |sum, (services, broken)| {
            (sum.0 + services, sum.1 + broken)
        });
        let mut lines = vec![if state.picker_query.is_empty() {
            Line::raw("  type to filter")
        } else {
            Line::raw(format!("  /{}", state.picker_query))
        }];
        let choices = state.namespace_choices_matching();
        if choices.is_empty() {
            lines.push(Line::raw("  no namespace matches"));
        }
        for choice in choices {
            let current = choice == state.namespace;
            let (services, broken) = match &choice {
                Some(namespace) => counts.get(namespace).copied().unwrap_or_default(),
                None => total,
            };
            let text = choice.unwrap_or_else(|| "all namespaces".to_owned());
            let mark = if current { "● " } else { "  " };
            let count = if broken > 0 {
                format!("{services} svc · {broken} ✗")
            } else {
                format!("{services} svc")
            };
            lines.push(Line::raw(format!("{mark}{} {count:>12}", pad(&text, 22))));
        }
        // The first line is the query: the cursor's row is one below its index.
        NamespacesView {
            lines,
            cursor: cursor + 1,
        }
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
