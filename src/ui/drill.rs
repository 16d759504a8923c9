//! The drill-down page on top of the stack, drawn over the panes (between the header and the
//! status line): a describe page, a log, a YAML text or a `:` list. Log lines and YAML come
//! from the cluster and are escaped before they reach the screen.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use super::blocks::pane_block;
use super::describe::{pod_lines, service_lines};
use super::layout::Areas;
use super::text::{pad, truncate, width as cells};
use super::theme::Theme;
use crate::app::drill::{Drilled, Loaded, LogsPage, Page, TablePage, YamlPage};
use crate::app::state::AppState;
use crate::printable::escape;

/// The page as drawn: its title, every line, the scroll offset (clamped) and the highlighted
/// line (a table's cursor).
#[derive(Debug, Clone)]
pub struct DrillView {
    pub title: Line<'static>,
    pub lines: Vec<Line<'static>>,
    pub scroll: usize,
    pub highlight: Option<usize>,
}

/// Where a page is drawn: everything between the header and the status line.
pub fn page_area(areas: &Areas) -> Rect {
    let full = areas.full;
    Rect {
        x: full.x,
        y: full.y.saturating_add(1),
        width: full.width,
        height: full.height.saturating_sub(2),
    }
}

impl DrillView {
    pub fn new(state: &AppState, theme: &Theme, areas: &Areas) -> Option<DrillView> {
        let drilled = state.drill.top()?;
        let area = page_area(areas);
        let width = usize::from(area.width.saturating_sub(2)).max(10);
        let height = usize::from(area.height.saturating_sub(2)).max(1);
        let (title, lines, highlight) = page_lines(drilled, theme, width);
        let last_page = lines.len().saturating_sub(height);
        let scroll = match &drilled.page {
            Page::Logs(logs) if logs.follow => last_page,
            _ => drilled.scroll.min(last_page),
        };
        Some(DrillView {
            title,
            lines,
            scroll,
            highlight,
        })
    }
}

fn title(text: String, note: Option<String>, theme: &Theme) -> Line<'static> {
    let mut spans = vec![Span::styled(format!(" {text} "), theme.title)];
    if let Some(note) = note {
        spans.push(Span::styled(format!("· {note} "), theme.dim));
    }
    Line::from(spans)
}

fn page_lines(
    drilled: &Drilled,
    theme: &Theme,
    width: usize,
) -> (Line<'static>, Vec<Line<'static>>, Option<usize>) {
    match &drilled.page {
        Page::Pod(page) => {
            let note = if page.cached {
                "cached copy".to_owned()
            } else {
                "read now".to_owned()
            };
            (
                title(
                    format!("Describe {}", escape(&page.target.to_string())),
                    Some(note),
                    theme,
                ),
                pod_lines(page, theme, width),
                None,
            )
        }
        Page::Service(page) => (
            title(
                format!("Describe Service {}", escape(&page.key.to_string())),
                None,
                theme,
            ),
            service_lines(page, theme, width),
            None,
        ),
        Page::Logs(page) => logs_lines(page, theme, width),
        Page::Yaml(page) => yaml_lines(page, theme, width),
        Page::Table(table) => table_lines(table, theme, width),
        Page::Gateways(page) => super::gateways::gateway_lines(page, theme, width),
    }
}

fn logs_lines(
    page: &LogsPage,
    theme: &Theme,
    width: usize,
) -> (Line<'static>, Vec<Line<'static>>, Option<usize>) {
    let container = page.container_name().map_or_else(String::new, |name| {
        format!(
            " · container {} ({}/{})",
            escape(name),
            page.container + 1,
            page.containers.len()
        )
    });
    let mut notes = Vec::new();
    if page.previous {
        notes.push("previous instance".to_owned());
    }
    notes.push(
        if page.follow {
            "following"
        } else {
            "paused (G follows)"
        }
        .to_owned(),
    );
    if !page.search.is_empty() || page.typing {
        notes.push(format!("/{}", escape(&page.search)));
    }
    let heading = title(
        format!("Logs {}{container}", escape(&page.target.to_string())),
        Some(notes.join(" · ")),
        theme,
    );
    let mut lines: Vec<Line<'static>> = page
        .shown()
        .into_iter()
        .map(|line| Line::raw(truncate(&escape(line), width)))
        .collect();
    if lines.is_empty() && page.ended.is_none() {
        lines.push(Line::styled("waiting for log lines…", theme.dim));
    }
    if let Some(ended) = &page.ended {
        lines.push(Line::styled(format!("— {} —", escape(ended)), theme.dim));
    }
    (heading, lines, None)
}

fn yaml_lines(
    page: &YamlPage,
    theme: &Theme,
    width: usize,
) -> (Line<'static>, Vec<Line<'static>>, Option<usize>) {
    let note = page
        .note
        .clone()
        .or_else(|| matches!(page.text, Loaded::Ready(_)).then(|| "read now".to_owned()));
    let heading = title(
        format!("YAML {}", escape(&page.target.to_string())),
        note.map(|text| escape(&text).into_owned()),
        theme,
    );
    let lines = match &page.text {
        Loaded::Ready(text) => text
            .lines()
            .map(|line| Line::raw(truncate(&escape(line), width)))
            .collect(),
        Loaded::Loading => vec![Line::styled("reading…", theme.dim)],
        Loaded::Failed(error) => vec![Line::styled(
            format!("cannot read it: {}", escape(error)),
            theme.error,
        )],
        Loaded::Unavailable(why) => vec![Line::styled(
            format!("not available: {}", escape(why)),
            theme.dim,
        )],
    };
    (heading, lines, None)
}

/// Column widths: each column as wide as its widest cell (at most 40), the last one takes
/// what is left.
fn column_widths(table: &TablePage, width: usize) -> Vec<usize> {
    let count = table.columns.len();
    let mut widths: Vec<usize> = table.columns.iter().map(|title| cells(title)).collect();
    for row in &table.rows {
        for (index, cell) in row.cells.iter().enumerate().take(count) {
            widths[index] = widths[index].max(cells(&escape(cell)).min(40));
        }
    }
    let used: usize = widths
        .iter()
        .take(count.saturating_sub(1))
        .map(|w| w + 2)
        .sum();
    if let Some(last) = widths.last_mut() {
        *last = width.saturating_sub(used).max(4);
    }
    widths
}

fn table_lines(
    table: &TablePage,
    theme: &Theme,
    width: usize,
) -> (Line<'static>, Vec<Line<'static>>, Option<usize>) {
    let widths = column_widths(table, width);
    let row_text = |cells_of: &[String]| -> String {
        cells_of
            .iter()
            .zip(&widths)
            .map(|(cell, cell_width)| pad(&escape(cell), *cell_width))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let titles: Vec<String> = table
        .columns
        .iter()
        .map(|title| (*title).to_owned())
        .collect();
    let mut lines = vec![Line::styled(row_text(&titles), theme.dim)];
    for row in &table.rows {
        let style = if row.cells.iter().any(|cell| cell == "NOT READY") {
            theme.error
        } else {
            ratatui::style::Style::default()
        };
        lines.push(Line::styled(row_text(&row.cells), style));
    }
    if table.rows.is_empty() {
        lines.push(Line::styled("nothing in this scope", theme.dim));
    }
    let heading = title(
        table.title.clone(),
        Some(format!(
            "{} rows · Enter/d describe · l logs · y YAML",
            table.rows.len()
        )),
        theme,
    );
    let highlight = (!table.rows.is_empty()).then_some(table.cursor + 1);
    (heading, lines, highlight)
}

/// Draws the page over the panes.
pub struct DrillPage<'a> {
    pub view: &'a DrillView,
    pub theme: &'a Theme,
}

impl Widget for &DrillPage<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        Clear.render(area, buf);
        let block = pane_block(self.view.title.clone(), true, self.theme);
        let inner = block.inner(area);
        block.render(area, buf);
        let rows = usize::from(inner.height);
        // A table keeps its column titles on screen.
        let fixed = usize::from(self.view.highlight.is_some());
        let mut shown: Vec<(usize, &Line<'static>)> = Vec::new();
        if fixed == 1
            && let Some(first) = self.view.lines.first()
        {
            shown.push((0, first));
        }
        shown.extend(
            self.view
                .lines
                .iter()
                .enumerate()
                .skip(fixed + self.view.scroll)
                .take(rows.saturating_sub(fixed)),
        );
        for (row, (index, line)) in shown.into_iter().enumerate() {
            let Ok(y) = u16::try_from(row) else { break };
            let line_area = Rect {
                y: inner.y + y,
                height: 1,
                ..inner
            };
            if self.view.highlight == Some(index) {
                buf.set_style(line_area, self.theme.selected);
            }
            Paragraph::new(line.clone()).render(line_area, buf);
        }
    }
}
