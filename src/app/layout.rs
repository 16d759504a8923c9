//! The one place that splits the screen into named areas. It is a pure function of the
//! terminal size, so the app can page, keep a cursor inside its pane and hit-test the mouse
//! without asking the UI, and the UI draws the panes into the very same areas.

use ratatui::layout::{Constraint, Layout, Position, Rect};

use super::action::DetailTab;

/// Below this size the screen only says it is too small.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// From this width on, the Chain gets its own column.
pub const WIDE: u16 = 160;

/// The screen's areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub full: Rect,
    pub header: Rect,
    pub services: Rect,
    pub chain: Rect,
    pub explain: Rect,
    pub details: Rect,
    pub hints: Rect,
    pub too_small: bool,
}

fn inner(rect: Rect) -> Rect {
    Rect {
        x: rect.x.saturating_add(1),
        y: rect.y.saturating_add(1),
        width: rect.width.saturating_sub(2),
        height: rect.height.saturating_sub(2),
    }
}

impl Areas {
    pub fn compute(full: Rect) -> Areas {
        let too_small = full.width < MIN_WIDTH || full.height < MIN_HEIGHT;
        let [header, body, hints] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(full);
        let (services, chain, explain, details) = if full.width >= WIDE {
            // The Services list gets kubectl's columns and whole names (all of them from 200
            // columns); the chain and the explanation share the rest.
            let [services, chain, right] = Layout::horizontal([
                Constraint::Percentage(46),
                Constraint::Percentage(31),
                Constraint::Percentage(23),
            ])
            .areas(body);
            let explain_height = if body.height >= 40 { 10 } else { 8 };
            let [explain, details] =
                Layout::vertical([Constraint::Length(explain_height), Constraint::Min(3)])
                    .areas(right);
            (services, chain, explain, details)
        } else {
            let details_height = match body.height {
                30.. => body.height * 2 / 5,
                20..30 => 7,
                _ => 5,
            };
            let [top, details] =
                Layout::vertical([Constraint::Min(6), Constraint::Length(details_height)])
                    .areas(body);
            // From 100 columns the list is wide enough for TYPE and PORT(S) next to whole names.
            let services_share = if full.width >= 100 { 48 } else { 42 };
            let [services, right] = Layout::horizontal([
                Constraint::Percentage(services_share),
                Constraint::Percentage(100 - services_share),
            ])
            .areas(top);
            let explain_height = match body.height {
                30.. => 7,
                20..30 => 7,
                _ => 4,
            };
            let [chain, explain] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(explain_height)])
                    .areas(right);
            (services, chain, explain, details)
        };
        Areas {
            full,
            header,
            services,
            chain,
            explain,
            details,
            hints,
            too_small,
        }
    }

    /// Service rows that fit (inside the border, below the column titles).
    pub fn services_rows(&self) -> usize {
        usize::from(inner(self.services).height.saturating_sub(1))
    }

    /// The first Service row's screen line.
    pub fn services_first_row(&self) -> u16 {
        inner(self.services).y.saturating_add(1)
    }

    pub fn chain_inner(&self) -> Rect {
        inner(self.chain)
    }

    pub fn chain_rows(&self) -> usize {
        usize::from(self.chain_inner().height)
    }

    pub fn details_inner(&self) -> Rect {
        inner(self.details)
    }

    pub fn explain_inner(&self) -> Rect {
        inner(self.explain)
    }

    pub fn services_inner(&self) -> Rect {
        inner(self.services)
    }

    /// Which pane a screen position is in.
    pub fn pane_at(&self, column: u16, row: u16) -> Option<Pane> {
        let position = Position::new(column, row);
        [
            (self.header, Pane::Header),
            (self.services, Pane::Services),
            (self.chain, Pane::Chain),
            (self.explain, Pane::Explain),
            (self.details, Pane::Details),
            (self.hints, Pane::Hints),
        ]
        .into_iter()
        .find(|(area, _)| area.contains(position))
        .map(|(_, pane)| pane)
    }

    /// The detail tab whose title is at a position on the details border.
    pub fn tab_at(&self, column: u16, row: u16) -> Option<DetailTab> {
        if row != self.details.y {
            return None;
        }
        tab_title_ranges(self.details)
            .into_iter()
            .find(|(_, start, end)| (*start..*end).contains(&column))
            .map(|(tab, _, _)| tab)
    }
}

/// A pane, for hit tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Header,
    Services,
    Chain,
    Explain,
    Details,
    Hints,
}

/// The text of a tab title on the details border.
pub fn tab_title(tab: DetailTab) -> String {
    format!(" {} {} ", tab.digit(), tab.title())
}

/// The separator between tab titles.
pub const TAB_SEPARATOR: &str = "│";

/// (tab, first column, end column) of every tab title, as the details pane draws them.
pub fn tab_title_ranges(details: Rect) -> Vec<(DetailTab, u16, u16)> {
    let mut x = details.x.saturating_add(1);
    let mut out = Vec::new();
    for (index, tab) in DetailTab::ALL.into_iter().enumerate() {
        if index > 0 {
            x = x.saturating_add(1);
        }
        let width = u16::try_from(tab_title(tab).chars().count()).unwrap_or(u16::MAX);
        out.push((tab, x, x.saturating_add(width)));
        x = x.saturating_add(width);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(80, 24)]
    #[case(120, 40)]
    #[case(200, 60)]
    #[case(60, 16)]
    fn areas_tile_the_screen_without_overlap(#[case] width: u16, #[case] height: u16) {
        let areas = Areas::compute(Rect::new(0, 0, width, height));
        assert!(!areas.too_small);
        let panes = [
            areas.header,
            areas.services,
            areas.chain,
            areas.explain,
            areas.details,
            areas.hints,
        ];
        let covered: u32 = panes.iter().map(|area| area.area()).sum();
        assert_eq!(covered, u32::from(width) * u32::from(height));
        for (index, a) in panes.iter().enumerate() {
            assert!(a.height > 0 && a.width > 0, "{a:?}");
            for b in panes.iter().skip(index + 1) {
                assert!(!a.intersects(*b), "{a:?} overlaps {b:?}");
            }
        }
        assert!(areas.services_rows() >= 3);
        assert!(areas.chain_rows() >= 3);
    }

    #[test]
    fn small_screens_are_flagged() {
        assert!(Areas::compute(Rect::new(0, 0, 59, 30)).too_small);
        assert!(Areas::compute(Rect::new(0, 0, 100, 15)).too_small);
    }

    #[test]
    fn tab_titles_are_hit_where_drawn() {
        let areas = Areas::compute(Rect::new(0, 0, 120, 40));
        let ranges = tab_title_ranges(areas.details);
        for (tab, start, _) in ranges {
            assert_eq!(areas.tab_at(start + 1, areas.details.y), Some(tab));
        }
        assert_eq!(areas.tab_at(areas.details.x + 1, areas.details.y + 1), None);
    }
}
