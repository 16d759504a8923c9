//! The panes: thin widgets over prepared view data (`impl Widget for &XPane`).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, StatefulWidget, Widget, Wrap};
use tui_tree_widget::{Tree, TreeState};

use super::layout::{TAB_SEPARATOR, tab_title};
use super::theme::Theme;
use super::view::{ChainPaneView, DetailsView, Overlay, ServicesView, TextPaneView};
use crate::app::action::DetailTab;

fn pane_block<'a>(title: Line<'a>, focused: bool, theme: &Theme) -> Block<'a> {
    Block::bordered().title(title).border_style(if focused {
        theme.border_focused
    } else {
        theme.border
    })
}

/// The list of Services.
pub struct ServicesPane<'a> {
    pub view: &'a ServicesView,
    pub theme: &'a Theme,
}

impl Widget for &ServicesPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = pane_block(self.view.title.clone(), self.view.focused, self.theme);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        let mut lines = vec![self.view.columns.clone()];
        if self.view.rows.is_empty() {
            lines.extend(self.view.empty.iter().cloned());
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .render(inner, buf);
            return;
        }
        lines.extend(self.view.rows.iter().cloned());
        for (row, line) in lines.iter().enumerate() {
            let Ok(offset) = u16::try_from(row) else {
                break;
            };
            if offset >= inner.height {
                break;
            }
            let line_area = Rect {
                y: inner.y + offset,
                height: 1,
                ..inner
            };
            buf.set_style(line_area, line.style);
            line.render(line_area, buf);
        }
    }
}

/// The chain tree (tui-tree-widget).
pub struct ChainPane<'a> {
    pub view: &'a ChainPaneView,
    pub theme: &'a Theme,
}

impl Widget for &ChainPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = pane_block(self.view.title.clone(), self.view.focused, self.theme);
        let inner = block.inner(area);
        block.render(area, buf);
        if self.view.items.is_empty() {
            Paragraph::new(self.view.empty.clone())
                .wrap(Wrap { trim: false })
                .render(inner, buf);
            return;
        }
        let Ok(tree) = Tree::new(&self.view.items) else {
            return;
        };
        let highlight = if self.view.focused {
            self.theme.selected
        } else {
            self.theme.selected_unfocused
        };
        let tree = tree
            .highlight_style(highlight)
            .highlight_symbol("")
            .node_open_symbol("▾ ")
            .node_closed_symbol("▸ ")
            .node_no_children_symbol("  ");
        // The app keeps the scroll offset; the widget only exposes relative scrolling, so
        // measure once on a 1×1 scratch buffer, then scroll to the offset.
        let mut state = TreeState::default();
        for path in &self.view.opened {
            state.open(path.clone());
        }
        state.select(self.view.selected.clone());
        let scratch_area = Rect::new(0, 0, 1, 1);
        let mut scratch = Buffer::empty(scratch_area);
        StatefulWidget::render(tree.clone(), scratch_area, &mut scratch, &mut state);
        state.scroll_up(usize::MAX);
        state.scroll_down(self.view.offset);
        StatefulWidget::render(tree, inner, buf, &mut state);
    }
}

/// Explain: plain sentences about the selected hop.
pub struct ExplainPane<'a> {
    pub view: &'a TextPaneView,
    pub theme: &'a Theme,
}

impl Widget for &ExplainPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = pane_block(self.view.title.clone(), false, self.theme);
        Paragraph::new(self.view.lines.clone())
            .block(block)
            .render(area, buf);
    }
}

/// The detail tabs.
pub struct DetailsPane<'a> {
    pub view: &'a DetailsView,
    pub theme: &'a Theme,
}

impl Widget for &DetailsPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let mut titles = Vec::new();
        for (index, tab) in DetailTab::ALL.into_iter().enumerate() {
            if index > 0 {
                titles.push(Span::styled(TAB_SEPARATOR, self.theme.border));
            }
            let style = if tab == self.view.tab {
                self.theme.selected
            } else {
                self.theme.dim
            };
            titles.push(Span::styled(tab_title(tab), style));
        }
        let block = pane_block(Line::from(titles), self.view.focused, self.theme);
        let inner = block.inner(area);
        block.render(area, buf);
        let lines: Vec<Line<'_>> = self
            .view
            .lines
            .iter()
            .skip(self.view.scroll)
            .take(usize::from(inner.height))
            .cloned()
            .collect();
        Paragraph::new(lines).render(inner, buf);
    }
}

/// Help and the namespace picker, drawn over the panes.
pub struct OverlayPane<'a> {
    pub overlay: &'a Overlay,
    pub theme: &'a Theme,
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

impl Widget for &OverlayPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        match self.overlay {
            Overlay::Help { lines, scroll } => {
                let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
                let box_area = centered(area, 78, height);
                Clear.render(box_area, buf);
                let more = lines.len() + 2 > usize::from(box_area.height);
                let title = if more {
                    " Keys (j/k scroll, Esc closes) "
                } else {
                    " Keys (Esc closes) "
                };
                let visible: Vec<Line<'_>> = lines.iter().skip(*scroll).cloned().collect();
                Paragraph::new(visible)
                    .block(pane_block(
                        Line::styled(title, self.theme.title),
                        true,
                        self.theme,
                    ))
                    .render(box_area, buf);
            }
            Overlay::Forwards { lines, selected } => {
                let width = super::view::forwards_box_width(area.width);
                let height = u16::try_from(lines.len() + 2)
                    .unwrap_or(u16::MAX)
                    .min(area.height.saturating_sub(2));
                let box_area = centered(area, width, height.max(3));
                Clear.render(box_area, buf);
                let block = pane_block(
                    Line::styled(" Port-forwards ", self.theme.title),
                    true,
                    self.theme,
                );
                let inner = block.inner(box_area);
                block.render(box_area, buf);
                let rows = usize::from(inner.height.max(1));
                // Scroll so the selected forward's lines are visible.
                let offset = selected
                    .as_ref()
                    .map_or(0, |range| range.end.saturating_sub(rows).min(range.start));
                for (row, (index, line)) in
                    lines.iter().enumerate().skip(offset).take(rows).enumerate()
                {
                    let Ok(y) = u16::try_from(row) else { break };
                    let line_area = Rect {
                        y: inner.y + y,
                        height: 1,
                        ..inner
                    };
                    if selected
                        .as_ref()
                        .is_some_and(|range| range.contains(&index))
                    {
                        buf.set_style(line_area, self.theme.selected_unfocused);
                    }
                    line.clone().render(line_area, buf);
                }
            }
            Overlay::Namespaces { lines, cursor } => {
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
                for (row, (index, line)) in
                    lines.iter().enumerate().skip(offset).take(rows).enumerate()
                {
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
    }
}
