//! Colours and text styles, passed into the view (never read from a global inside a widget).
//! With `NO_COLOR` set (<https://no-color.org>) no colour is used; marks (✗ ! ✓) and modifiers
//! (bold, reversed, underline) still tell things apart.

use ratatui::style::{Color, Modifier, Style};

use crate::app::catalog::Health;
use crate::engine::Severity;
use crate::engine::verdict::HopVerdict;

/// Every style the panes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub error: Style,
    pub warning: Style,
    pub ok: Style,
    pub info: Style,
    pub dim: Style,
    pub accent: Style,
    pub title: Style,
    pub border: Style,
    pub border_focused: Style,
    /// The selected row in the focused pane.
    pub selected: Style,
    /// The selected row in a pane without focus.
    pub selected_unfocused: Style,
    /// A Service row that changed a moment ago.
    pub changed: Style,
    /// A Service row that changed, fading out.
    pub changed_fading: Style,
    pub header: Style,
    pub paused: Style,
    pub input: Style,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set to a non-empty value.
    pub fn from_env() -> Theme {
        match std::env::var_os("NO_COLOR") {
            Some(value) if !value.is_empty() => Theme::plain(),
            _ => Theme::colored(),
        }
    }

    pub fn colored() -> Theme {
        Theme {
            color: true,
            error: Style::new().fg(Color::Red),
            warning: Style::new().fg(Color::Yellow),
            ok: Style::new().fg(Color::Green),
            info: Style::new().fg(Color::Cyan),
            dim: Style::new().fg(Color::DarkGray),
            accent: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
            title: Style::new().fg(Color::White).add_modifier(Modifier::BOLD),
            border: Style::new().fg(Color::DarkGray),
            border_focused: Style::new().fg(Color::Cyan),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            selected_unfocused: Style::new().bg(Color::DarkGray),
            changed: Style::new().bg(Color::Yellow).fg(Color::Black),
            changed_fading: Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            header: Style::new().fg(Color::White),
            paused: Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
            input: Style::new().fg(Color::White).add_modifier(Modifier::BOLD),
        }
    }

    /// No colours at all: modifiers only.
    pub fn plain() -> Theme {
        let none = Style::new();
        Theme {
            color: false,
            error: none.add_modifier(Modifier::BOLD),
            warning: none,
            ok: none,
            info: none,
            dim: none,
            accent: none.add_modifier(Modifier::BOLD),
            title: none.add_modifier(Modifier::BOLD),
            border: none,
            border_focused: none.add_modifier(Modifier::BOLD),
            selected: none.add_modifier(Modifier::REVERSED),
            selected_unfocused: none.add_modifier(Modifier::UNDERLINED),
            changed: none.add_modifier(Modifier::BOLD | Modifier::ITALIC),
            changed_fading: none.add_modifier(Modifier::ITALIC),
            header: none,
            paused: none.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            input: none.add_modifier(Modifier::BOLD),
        }
    }

    pub fn health(&self, health: Health) -> Style {
        match health {
            Health::Broken => self.error,
            Health::Warning => self.warning,
            Health::Ok => self.ok,
        }
    }

    /// The colour of a probe verdict (the symbol and word are the engine's).
    pub fn verdict(&self, verdict: HopVerdict) -> Style {
        match verdict {
            HopVerdict::Ok => self.ok,
            HopVerdict::ExpectedFailure => self.info,
            HopVerdict::Unexpected => self.error,
            HopVerdict::NotReachable => self.dim,
            HopVerdict::Stale => self.warning,
        }
    }

    pub fn severity(&self, severity: Severity) -> Style {
        match severity {
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Info => self.info,
        }
    }
}

/// The mark of a health state.
pub fn health_mark(health: Health) -> &'static str {
    health.symbol()
}

/// The mark of a diagnostic severity.
pub fn severity_mark(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "✗",
        Severity::Warning => "!",
        Severity::Info => "i",
    }
}
