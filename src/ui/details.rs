//! The detail tabs (Ports, Diagnostics, DNS, Probe, YAML, Policy): the tab titles on the border and
//! the selected tab's lines, scrolled. Each tab's lines come from its own module.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::blocks::pane_block;
use super::diagnostics::{cluster_only_lines, diagnostics_lines};
use super::dns::dns_lines;
use super::layout::{Areas, TAB_SEPARATOR, tab_title};
use super::policy::policy_lines;
use super::ports::ports_lines;
use super::probe::probe_lines;
use super::theme::Theme;
use super::yaml::yaml_lines;
use crate::app::action::DetailTab;
use crate::app::state::{AppState, Focus};

/// The detail tabs: which one is selected, its lines and how far they are scrolled.
#[derive(Debug, Clone)]
pub struct DetailsView {
    pub tab: DetailTab,
    pub focused: bool,
    /// Every line of the tab's content; `scroll` of them are skipped.
    pub lines: Vec<Line<'static>>,
    pub scroll: usize,
}

impl DetailsView {
    /// The state's scroll offset is clamped here, against the lines the tab has at the
    /// pane's width: the last page is as far as it goes.
    pub fn new(state: &AppState, theme: &Theme, areas: &Areas) -> DetailsView {
        let inner = areas.details_inner();
        let lines = details_lines(state, theme, inner.width);
        let scroll = state
            .details_scroll
            .min(lines.len().saturating_sub(usize::from(inner.height)));
        DetailsView {
            tab: state.tab,
            focused: state.focus == Focus::Details,
            lines,
            scroll,
        }
    }
}

/// The lines of the current detail tab, wrapped to `width`.
fn details_lines(state: &AppState, theme: &Theme, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width).max(10);
    let Some((catalog, chain)) = state.selected_service() else {
        if state.tab == DetailTab::Diagnostics
            && let Some(catalog) = state.shown()
        {
            return cluster_only_lines(state, catalog, theme, width);
        }
        return vec![Line::styled("No Service selected.", theme.dim)];
    };
    match state.tab {
        DetailTab::Ports => ports_lines(chain, theme, width),
        DetailTab::Diagnostics => diagnostics_lines(state, catalog, chain, theme, width),
        DetailTab::Dns => {
            let mut lines = super::route_dns::route_dns_lines(state, chain, theme, width);
            lines.extend(dns_lines(
                chain,
                state.dns.check(&chain.key()),
                theme,
                width,
            ));
            lines
        }
        DetailTab::Probe => probe_lines(&state.probe, chain, theme, width),
        DetailTab::Yaml => yaml_lines(state, catalog, chain, theme, width),
        DetailTab::Policy => {
            // Like Explain: the Service itself while the Services list has focus.
            let node = match state.focus {
                Focus::Services => None,
                _ => state.selected_node(),
            };
            let source = state.policy_source.as_ref();
            policy_lines(&catalog.model, chain, node, source, theme, width)
        }
    }
}

/// Draws the tab titles on the border (the selected one highlighted) and the visible lines.
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
