//! The Services pane: one row per visible Service (health mark, name, type, ports, ready
//! endpoints). Only the rows on screen are prepared.

use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::blocks::pane_block;
use super::layout::Areas;
use super::text::{pad, pad_left};
use super::theme::{Theme, health_mark};
use crate::app::catalog::{Catalog, ServiceSummary};
use crate::app::state::{AppState, CHANGE_HIGHLIGHT, Focus};
use crate::engine::model::{ServiceChain, ServiceType};

/// The Services pane.
#[derive(Debug, Clone)]
pub struct ServicesView {
    pub title: Line<'static>,
    pub focused: bool,
    pub columns: Line<'static>,
    pub rows: Vec<Line<'static>>,
    /// Shown instead of rows when there are none.
    pub empty: Vec<Line<'static>>,
}

/// Column widths of the Services pane for an inner width.
struct Columns {
    name: usize,
    kind: usize,
    ports: usize,
    endpoints: usize,
}

fn columns(inner: usize) -> Columns {
    let mark = 2;
    let endpoints = 6;
    if inner < 44 {
        return Columns {
            name: inner.saturating_sub(mark + endpoints),
            kind: 0,
            ports: 0,
            endpoints,
        };
    }
    let kind = 13;
    if inner < 64 {
        return Columns {
            name: inner.saturating_sub(mark + kind + endpoints),
            kind,
            ports: 0,
            endpoints,
        };
    }
    let rest = inner.saturating_sub(mark + kind + endpoints);
    let name = rest * 11 / 20;
    Columns {
        name,
        kind,
        ports: rest - name,
        endpoints,
    }
}

impl ServicesView {
    /// The rows on screen, each cut to the pane's columns.
    pub fn new(
        state: &AppState,
        catalog: Option<&Catalog>,
        theme: &Theme,
        areas: &Areas,
        now: Instant,
    ) -> ServicesView {
        let cols = columns(usize::from(areas.services_inner().width));
        let focused = state.focus == Focus::Services;
        let mut rows = Vec::new();
        if let Some(catalog) = catalog {
            let height = areas.services_rows();
            for (position, index) in state
                .list
                .visible
                .iter()
                .enumerate()
                .skip(state.list.offset)
                .take(height)
            {
                let (Some(chain), Some(summary)) =
                    (catalog.model.services.get(*index), catalog.summary(*index))
                else {
                    continue;
                };
                let style = row_style(state, chain, position == state.list.cursor, now, theme);
                rows.push(service_row(state, chain, summary, &cols, theme).style(style));
            }
        }
        let empty = if rows.is_empty() {
            services_empty(state, catalog, theme)
        } else {
            Vec::new()
        };
        ServicesView {
            title: services_title(state, theme),
            focused,
            columns: Line::styled(column_titles(&cols), theme.dim),
            rows,
            empty,
        }
    }
}

/// "Services", how many are shown of how many in scope, the sort and the filter.
fn services_title(state: &AppState, theme: &Theme) -> Line<'static> {
    let mut title = vec![Span::styled(" Services ", theme.title)];
    title.push(Span::styled(
        format!(
            "{}/{} · sort {} ",
            state.list.visible.len(),
            state.list.scope_total,
            state.sort.label()
        ),
        theme.dim,
    ));
    if state.filter.is_active() {
        title.push(Span::styled(
            format!("· /{} ", state.filter.text),
            theme.accent,
        ));
    }
    Line::from(title)
}

/// The column titles, in the widths the rows use.
fn column_titles(cols: &Columns) -> String {
    let mut header = pad("  NAME", cols.name + 2);
    if cols.kind > 0 {
        header.push_str(&pad("TYPE", cols.kind));
    }
    if cols.ports > 0 {
        header.push_str(&pad("PORTS", cols.ports));
    }
    header.push_str(&pad_left("READY", cols.endpoints));
    header
}

/// One Service's row: health mark, name (with its namespace when all are shown), type,
/// ports, ready/total endpoints.
fn service_row(
    state: &AppState,
    chain: &ServiceChain,
    summary: &ServiceSummary,
    cols: &Columns,
    theme: &Theme,
) -> Line<'static> {
    let name = if state.namespace.is_none() {
        format!("{}/{}", chain.namespace, chain.name)
    } else {
        chain.name.clone()
    };
    let health = state.probe.health(chain, summary.health);
    let mut spans = vec![
        Span::styled(format!("{} ", health_mark(health)), theme.health(health)),
        Span::raw(format!("{} ", pad(&name, cols.name.saturating_sub(1)))),
    ];
    if cols.kind > 0 {
        let kind = if chain.headless {
            "Headless"
        } else {
            chain.service_type.as_str()
        };
        spans.push(Span::styled(pad(kind, cols.kind), theme.dim));
    }
    if cols.ports > 0 {
        spans.push(Span::raw(pad(&summary.ports, cols.ports.saturating_sub(1))));
        spans.push(Span::raw(" "));
    }
    let external = chain.service_type == ServiceType::ExternalName;
    let ready_text = if external {
        "—".to_owned()
    } else {
        format!("{}/{}", summary.ready, summary.total)
    };
    let ready_style = if external {
        theme.dim
    } else if summary.ready == 0 {
        theme.error
    } else if summary.ready < summary.total {
        theme.warning
    } else {
        Style::new()
    };
    spans.push(Span::styled(
        pad_left(&ready_text, cols.endpoints),
        ready_style,
    ));
    Line::from(spans)
}

/// The selected row is highlighted; a row that just changed fades out.
fn row_style(
    state: &AppState,
    chain: &ServiceChain,
    selected: bool,
    now: Instant,
    theme: &Theme,
) -> Style {
    if selected {
        return if state.focus == Focus::Services {
            theme.selected
        } else {
            theme.selected_unfocused
        };
    }
    match state.changed.get(&chain.key()) {
        Some(at) => {
            let age = now.saturating_duration_since(*at);
            if age < CHANGE_HIGHLIGHT / 2 {
                theme.changed
            } else if age < CHANGE_HIGHLIGHT {
                theme.changed_fading
            } else {
                Style::new()
            }
        }
        None => Style::new(),
    }
}

fn services_empty(
    state: &AppState,
    catalog: Option<&Catalog>,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let Some(catalog) = catalog else {
        return vec![Line::styled("Reading the cluster…", theme.dim)];
    };
    let mut lines = Vec::new();
    if state.filter.is_active() && state.list.scope_total > 0 {
        lines.push(Line::styled(
            format!("No Service matches /{}", state.filter.text),
            theme.warning,
        ));
        lines.push(Line::styled("Esc clears the filter.", theme.dim));
    } else if let Some(namespace) = &state.namespace {
        lines.push(Line::styled(
            format!("No Services in namespace {namespace}."),
            theme.warning,
        ));
        lines.push(Line::styled(
            "n picks another namespace; :ns all shows every one.",
            theme.dim,
        ));
    } else {
        lines.push(Line::styled("No Services in this source.", theme.warning));
    }
    for missing in &catalog.snapshot.missing {
        lines.push(Line::styled(
            format!("Note: {}: {}", missing.kind, missing.reason),
            theme.dim,
        ));
    }
    lines
}

/// Draws the column titles and the rows (or the reason there are none).
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
