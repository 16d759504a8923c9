//! Pure rendering of the app state (issue 5). [`view::View::from_state`] prepares every string;
//! [`render`] places the panes in the areas [`layout::Areas`] computed. No I/O, no clock, no
//! globals: the theme and the time come in with the view.

pub mod layout;
pub mod panes;
pub mod text;
pub mod theme;
pub mod view;

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::widgets::{Paragraph, Widget};

use panes::{ChainPane, DetailsPane, ExplainPane, OverlayPane, ServicesPane};
use view::View;

/// Draws one frame.
pub fn render(frame: &mut Frame<'_>, view: &View<'_>) {
    let buffer = frame.buffer_mut();
    if let Some(lines) = &view.too_small {
        let area = view.areas.full;
        let height = u16::try_from(lines.len()).unwrap_or(area.height);
        let top = area.y + area.height.saturating_sub(height) / 2;
        Paragraph::new(lines.clone())
            .alignment(Alignment::Center)
            .render(
                Rect {
                    y: top,
                    height: height.min(area.height),
                    ..area
                },
                buffer,
            );
        return;
    }
    let areas = &view.areas;
    Paragraph::new(view.header.clone()).render(areas.header, buffer);
    (&ServicesPane {
        view: &view.services,
        theme: view.theme,
    })
        .render(areas.services, buffer);
    (&ChainPane {
        view: &view.chain,
        theme: view.theme,
    })
        .render(areas.chain, buffer);
    (&ExplainPane {
        view: &view.explain,
        theme: view.theme,
    })
        .render(areas.explain, buffer);
    (&DetailsPane {
        view: &view.details,
        theme: view.theme,
    })
        .render(areas.details, buffer);
    Paragraph::new(view.hints.clone()).render(areas.hints, buffer);
    if let Some(overlay) = &view.overlay {
        (&OverlayPane {
            overlay,
            theme: view.theme,
        })
            .render(areas.full, buffer);
    }
}
