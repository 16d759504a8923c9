//! `View::from_state`: every string and style of a frame, computed from the state, the theme
//! and the time. Rendering then only places them. Only what is on screen is prepared (the
//! visible Service rows, the selected Service's chain), so a frame costs the same with 10 or
//! 10,000 Services.

use std::time::Instant;

use ratatui::text::Line;

use super::chain::ChainPaneView;
use super::details::DetailsView;
use super::drill::DrillView;
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
    /// The drill-down page over the panes, when one is open.
    pub drill: Option<DrillView>,
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
            drill: DrillView::new(state, theme, &areas),
            overlay: Overlay::new(state, theme, &areas),
        }
    }

    /// The scroll offsets as drawn, clamped against what there is to show. The loop hands
    /// them back to the state ([`AppState::settle_scroll`]), so the next key scrolls from
    /// what is on screen (ratatui's stateful-widget pattern, with the write-back outside).
    pub fn scrolled(&self) -> Scrolled {
        Scrolled {
            details: self.details.scroll,
            explain: self.explain.scroll,
            drill: self.drill.as_ref().map(|page| page.scroll),
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
    Aliases(Vec<Line<'static>>),
    /// The first frame, while the source opens.
    Starting(Vec<Line<'static>>),
}

impl Overlay {
    fn new(state: &AppState, theme: &Theme, areas: &Areas) -> Option<Overlay> {
        match &state.mode {
            Mode::Help { scroll } => Some(Overlay::Help(HelpView::new(
                *scroll,
                theme,
                areas.full.width,
            ))),
            Mode::Aliases => Some(Overlay::Aliases(super::help::alias_lines(theme))),
            Mode::Normal if state.shown().is_none() => state.starting.as_ref().map(|what| {
                Overlay::Starting(vec![
                    Line::styled(crate::printable::escape(what).into_owned(), theme.accent),
                    Line::styled("q quits", theme.dim),
                ])
            }),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

    use super::*;
    use crate::app::state::{Focus, Size, SourceKind};
    use crate::app::{AppEvent, Command, build_catalog, update};
    use crate::cluster::feed::{ConnectionStatus, SourceLabel};
    use crate::engine::EngineConfig;

    /// Sends an event, building models inline.
    fn send(state: &mut AppState, event: AppEvent) {
        let mut pending = vec![event];
        while let Some(event) = pending.pop() {
            for command in update(state, event) {
                if let Command::BuildModel {
                    snapshot,
                    generation,
                } = command
                {
                    let catalog = build_catalog(snapshot, &EngineConfig::default(), generation);
                    pending.push(AppEvent::ModelBuilt {
                        catalog: Arc::new(catalog),
                        at: Instant::now(),
                    });
                }
            }
        }
    }

    fn press(state: &mut AppState, keys: &str) {
        for c in keys.chars() {
            let code = match c {
                '\n' => KeyCode::Enter,
                '\t' => KeyCode::Tab,
                c => KeyCode::Char(c),
            };
            let modifiers = if c.is_ascii_uppercase() {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            let key = KeyEvent::new_with_kind(code, modifiers, KeyEventKind::Press);
            send(state, AppEvent::Key(key));
        }
    }

    fn demo() -> AppState {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/scenarios/demo-all.yaml"
        );
        let snapshot = crate::cluster::dump::load_paths(&[path.into()])
            .expect("the demo scenario loads")
            .snapshot;
        let label = SourceLabel {
            context: "demo-all.yaml".to_owned(),
            namespace: None,
        };
        let size = Size {
            width: 120,
            height: 40,
        };
        let mut state = AppState::new(label, SourceKind::Dump, EngineConfig::default(), size);
        send(&mut state, AppEvent::Status(ConnectionStatus::Static));
        send(&mut state, AppEvent::Snapshot(Arc::new(snapshot)));
        state
    }

    /// Keys move the details offset past the end; drawing clamps it to the last page, and once
    /// the drawn offset is settled the next key moves from what was on screen.
    #[test]
    fn details_scroll_is_clamped_when_drawn_and_settled_back() {
        let theme = Theme::plain();
        let mut state = demo();
        press(&mut state, ":svc shop/web\n5\n\t\t");
        assert_eq!(state.focus, Focus::Details);
        press(&mut state, "G");
        let view = View::from_state(&state, &theme, Instant::now());
        let height = usize::from(view.areas.details_inner().height);
        let last_page = view.details.lines.len() - height;
        assert!(
            last_page > 0,
            "the YAML of shop/web is longer than the pane"
        );
        assert!(state.details_scroll > last_page);
        assert_eq!(view.details.scroll, last_page);
        state.settle_scroll(view.scrolled());
        assert_eq!(state.details_scroll, last_page);
        press(&mut state, "k");
        let view = View::from_state(&state, &theme, Instant::now());
        assert_eq!(view.details.scroll, last_page - 1);
    }

    #[test]
    fn help_scroll_is_clamped_when_drawn_and_settled_back() {
        let theme = Theme::plain();
        let mut state = demo();
        press(&mut state, "?G");
        let view = View::from_state(&state, &theme, Instant::now());
        let Some(Overlay::Help(help)) = &view.overlay else {
            panic!("the help is open: {:?}", view.overlay);
        };
        let last = help.lines.len() - 1;
        assert_eq!(view.scrolled().help, Some(last));
        state.settle_scroll(view.scrolled());
        press(&mut state, "k");
        assert_eq!(state.mode, Mode::Help { scroll: last - 1 });
    }
}
