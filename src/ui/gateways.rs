//! The `:gw` page: Gateways → listeners → route rules → Services, one line each, with a
//! route's findings beside it and, for the selected route, in full under it. Every name comes
//! from the cluster and is escaped.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::text::{fit_line, mark_span, push_wrapped};
use super::theme::{Theme, severity_mark};
use crate::app::gateways::{GatewayRow, GatewayRowKind, GatewaysPage, RowMark};
use crate::printable::escape;

fn mark(row: &GatewayRow, theme: &Theme) -> Span<'static> {
    match row.mark {
        RowMark::Ok => mark_span("✓", theme.ok),
        RowMark::Warning => mark_span("!", theme.warning),
        RowMark::Error => mark_span("✗", theme.error),
        RowMark::Plain => Span::raw(""),
    }
}

fn label_style(row: &GatewayRow, theme: &Theme) -> Style {
    match row.kind {
        GatewayRowKind::Gateway => theme.title,
        GatewayRowKind::Service => theme.accent,
        _ => Style::default(),
    }
}

fn row_line(row: &GatewayRow, theme: &Theme, width: usize) -> Line<'static> {
    let line = Line::from(vec![
        Span::styled(row.guides.clone(), theme.dim),
        mark(row, theme),
        Span::styled(escape(&row.label).into_owned(), label_style(row, theme)),
        Span::styled(format!("  {}", escape(&row.detail)), theme.dim),
    ]);
    fit_line(line, width)
}

/// The page's title, its lines (the first one stays on screen) and the highlighted line.
pub(super) fn gateway_lines(
    page: &GatewaysPage,
    theme: &Theme,
    width: usize,
) -> (Line<'static>, Vec<Line<'static>>, Option<usize>) {
    let mut lines = vec![Line::styled(
        "GATEWAY → LISTENER → ROUTE RULE → SERVICE".to_owned(),
        theme.dim,
    )];
    for (index, row) in page.rows.iter().enumerate() {
        lines.push(row_line(row, theme, width));
        if index != page.cursor {
            continue;
        }
        // The selected route's findings in full, under it.
        let indent = super::text::width(&row.guides) + 2;
        for finding in &row.findings {
            let style = theme.severity(finding.severity);
            push_wrapped(
                &mut lines,
                &format!(
                    "{} {}: {}",
                    severity_mark(finding.severity),
                    finding.code,
                    finding.message
                ),
                indent,
                width,
                style,
            );
        }
    }
    let title = Line::from(vec![
        Span::styled(" Gateways ".to_owned(), theme.title),
        Span::styled(
            format!(
                "· {} · Enter: the Service's chain · Esc back ",
                page.summary
            ),
            theme.dim,
        ),
    ]);
    let highlight = (!page.rows.is_empty()).then_some(page.cursor + 1);
    (title, lines, highlight)
}
