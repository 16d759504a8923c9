//! The DNS tab: the records cluster DNS serves for the selected Service.

use ratatui::text::{Line, Span};

use super::text::{pad, push_wrapped, truncate, width as cell_width};
use super::theme::Theme;
use crate::engine::model::ServiceChain;

/// One line per record (type, name, value), names in one column; why there is none when
/// there is none.
pub(super) fn dns_lines(chain: &ServiceChain, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    if chain.dns.is_empty() {
        let why = if chain.headless {
            "No records: a headless Service's name resolves only to ready endpoints, and none is ready (NXDOMAIN)."
        } else {
            "No records."
        };
        let mut lines = Vec::new();
        push_wrapped(&mut lines, why, 0, width, theme.warning);
        return lines;
    }
    let name_width = chain
        .dns
        .iter()
        .map(|record| cell_width(&record.name))
        .max()
        .unwrap_or(0)
        .min(width.saturating_sub(24));
    chain
        .dns
        .iter()
        .map(|record| {
            let kind = format!("{:?}", record.record_type);
            let room = width.saturating_sub(6 + name_width + 3);
            Line::from(vec![
                Span::styled(pad(&kind, 6), theme.accent),
                Span::raw(pad(&record.name, name_width)),
                Span::styled(" → ".to_owned(), theme.dim),
                Span::raw(truncate(&record.value, room)),
            ])
        })
        .collect()
}
