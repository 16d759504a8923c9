//! `View::from_state`: every string and style of a frame, computed from the state, the theme
//! and the time. Rendering then only places them. Only what is on screen is prepared (the
//! visible Service rows, the selected Service's chain), so a frame costs the same with 10 or
//! 10,000 Services.

use std::time::Instant;

use ratatui::text::Line;

use super::chain::ChainPaneView;
use super::details::DetailsView;
use super::explain::ExplainView;
use super::forwards::ForwardsView;
use super::header::header_line;
use super::help::HelpView;
use super::layout::{Areas, MIN_HEIGHT, MIN_WIDTH};
use super::pickers::NamespacesView;
use super::services::ServicesView;
use super::status::hints_line;
use super::theme::Theme;
use crate::app::state::{AppState, Mode, Scrolled};

/// Everything one frame shows.
#[derive(Debug)]
pub struct View<'t> {
    pub theme: &'t Theme,
    pub areas: Areas,
    /// Set when the terminal is below the minimum size: nothing else is drawn.
    pub too_small: Option<Vec<Line<'static>>>,
    pub header: Line<'static>,
    pub services: ServicesView,
    pub chain: ChainPaneView,
    pub explain: ExplainView,
    pub details: DetailsView,
    pub hints: Line<'static>,
    pub overlay: Option<Overlay>,
}

impl<'t> View<'t> {
    pub fn from_state(state: &AppState, theme: &'t Theme, now: Instant) -> View<'t> {
        let areas = Areas::compute(state.size.into());
        let too_small = areas.too_small.then(|| too_small_lines(state, theme));
        let catalog = state.shown().map(AsRef::as_ref);
        View {
            theme,
            areas,
            too_small,
            header: header_line(state, catalog, theme),
            services: ServicesView::new(state, catalog, theme, &areas, now),
            chain: ChainPaneView::new(state, theme, &areas),
            explain: ExplainView::new(state, theme, &areas),
            details: DetailsView::new(state, theme, &areas),
            hints: hints_line(state, theme),
            overlay: Overlay::new(state, theme),
        }
    }

    /// The scroll offsets as drawn, clamped against what there is to show. The loop hands
    /// them back to the state ([`AppState::settle_scroll`]), so the next key scrolls from
    /// what is on screen (ratatui's stateful-widget pattern, with the write-back outside).
    pub fn scrolled(&self) -> Scrolled {
        Scrolled {
            details: self.details.scroll,
            help: match &self.overlay {
                Some(Overlay::Help(help)) => Some(help.scroll),
                _ => None,
            },
        }
    }
}

/// A box drawn over the panes.
#[derive(Debug, Clone)]
pub enum Overlay {
    Help(HelpView),
    Namespaces(NamespacesView),
    Forwards(ForwardsView),
}

impl Overlay {
    fn new(state: &AppState, theme: &Theme) -> Option<Overlay> {
        match &state.mode {
            Mode::Help { scroll } => Some(Overlay::Help(HelpView::new(*scroll, theme))),
            Mode::NamespacePicker { cursor } => {
                Some(Overlay::Namespaces(NamespacesView::new(state, *cursor)))
            }
            Mode::Forwards => Some(Overlay::Forwards(ForwardsView::new(state, theme))),
            _ => None,
        }
    }
}

fn too_small_lines(state: &AppState, theme: &Theme) -> Vec<Line<'static>> {
    vec![
        Line::styled("Terminal too small", theme.warning),
        Line::raw(format!(
            "{}×{}: kubehop needs at least {}×{}.",
            state.size.width, state.size.height, MIN_WIDTH, MIN_HEIGHT
        )),
        Line::styled("Enlarge the window, or press q to quit.", theme.dim),
    ]
}
