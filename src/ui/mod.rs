//! Pure rendering of the app state. [`view::View::from_state`] prepares every string and
//! clamps every scroll offset against what there is to show; [`render`] places the panes in
//! the areas [`layout::Areas`] computed. No I/O, no clock, no globals: the theme and the time
//! come in with the view.
//!
//! One module per pane or box, each with its prepared data, the function that prepares it and
//! the widget that draws it:
//!
//! | on screen                         | module                                   |
//! |-----------------------------------|------------------------------------------|
//! | header line                       | [`header`]                               |
//! | Services list                     | [`services`]                             |
//! | Chain tree                        | [`chain`]                                |
//! | Explain                           | [`explain`]                              |
//! | detail tabs (border, scrolling)   | [`details`]                              |
//! | the tabs' lines                   | [`ports`], [`diagnostics`], [`dns`], [`probe`], [`yaml`] |
//! | status line                       | [`status`]                               |
//! | boxes over the panes              | [`help`], [`pickers`], [`forwards`]      |
//! | drill-down pages (d, l, y, lists) | [`drill`], [`describe`]                  |
//!
//! Shared pieces: [`blocks`] (bordered blocks), [`text`] (widths, wrapping, marks),
//! [`theme`] (styles), [`layout`] (the areas, shared with the app).

pub mod blocks;
pub mod chain;
pub mod describe;
pub mod details;
pub mod diagnostics;
pub mod dns;
pub mod drill;
pub mod explain;
pub mod forwards;
pub mod gateways;
pub mod header;
pub mod help;
pub mod layout;
mod node_rows;
pub mod pickers;
pub mod policy;
pub mod ports;
pub mod probe;
mod route_dns;
pub mod services;
pub mod status;
pub mod text;
pub mod theme;
pub mod view;
pub mod yaml;

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget};

use chain::ChainPane;
use details::DetailsPane;
use explain::ExplainPane;
use forwards::ForwardsBox;
use help::HelpBox;
use pickers::NamespacesBox;
use services::ServicesPane;
use theme::Theme;
use view::{Overlay, View};

/// Draws one frame.
pub fn render(frame: &mut Frame<'_>, view: &View<'_>) {
    let buffer = frame.buffer_mut();
    if let Some(lines) = &view.too_small {
        render_too_small(lines, view.areas.full, buffer);
        return;
    }
    let areas = &view.areas;
    let theme = view.theme;
    Paragraph::new(view.header.clone()).render(areas.header, buffer);
    (&ServicesPane {
        view: &view.services,
        theme,
    })
        .render(areas.services, buffer);
    (&ChainPane {
        view: &view.chain,
        theme,
    })
        .render(areas.chain, buffer);
    (&ExplainPane {
        view: &view.explain,
        theme,
    })
        .render(areas.explain, buffer);
    (&DetailsPane {
        view: &view.details,
        theme,
    })
        .render(areas.details, buffer);
    Paragraph::new(view.hints.clone()).render(areas.hints, buffer);
    if let Some(page) = &view.drill {
        (&drill::DrillPage { view: page, theme }).render(drill::page_area(areas), buffer);
    }
    if let Some(overlay) = &view.overlay {
        render_overlay(overlay, theme, areas.full, buffer);
    }
}

/// Only the message that the terminal is too small, centred.
fn render_too_small(lines: &[Line<'static>], area: Rect, buffer: &mut ratatui::buffer::Buffer) {
    let height = u16::try_from(lines.len()).unwrap_or(area.height);
    let top = area.y + area.height.saturating_sub(height) / 2;
    Paragraph::new(lines.to_vec())
        .alignment(Alignment::Center)
        .render(
            Rect {
                y: top,
                height: height.min(area.height),
                ..area
            },
            buffer,
        );
}

fn render_overlay(
    overlay: &Overlay,
    theme: &Theme,
    area: Rect,
    buffer: &mut ratatui::buffer::Buffer,
) {
    match overlay {
        Overlay::Help(view) => (&HelpBox { view, theme }).render(area, buffer),
        Overlay::Namespaces(view) => (&NamespacesBox { view, theme }).render(area, buffer),
        Overlay::Forwards(view) => (&ForwardsBox { view, theme }).render(area, buffer),
        Overlay::Aliases(lines) => help::render_aliases(lines, theme, area, buffer),
        Overlay::Starting(lines) => help::render_starting(lines, theme, area, buffer),
    }
}
