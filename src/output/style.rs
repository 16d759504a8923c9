//! Optional colour for the text forms: only on a terminal, never with `NO_COLOR` set
//! (<https://no-color.org>). Every mark also carries a symbol and a word, so nothing depends on
//! colour.

use std::io::IsTerminal;

use crate::engine::Severity;

/// Whether to colour text output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub const PLAIN: Style = Style { color: false };

    /// Colour when standard output is a terminal and `NO_COLOR` is unset or empty.
    pub fn for_stdout() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Self {
            color: !no_color && std::io::stdout().is_terminal(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub fn cyan(self, text: &str) -> String {
        self.paint("36", text)
    }

    /// A good hop: `✓`.
    pub fn ok(self) -> String {
        self.green("✓")
    }

    /// A hop where the chain breaks: `✗`.
    pub fn broken(self) -> String {
        self.red("✗")
    }

    /// A hop that works with a caveat (or a Service with warnings): `!`, as in the TUI.
    pub fn caveat(self) -> String {
        self.yellow("!")
    }

    /// `✗ error`, `! warning`, `i info`: the TUI's marks.
    pub fn severity(self, severity: Severity) -> String {
        match severity {
            Severity::Error => self.red("✗ error"),
            Severity::Warning => self.yellow("! warning"),
            Severity::Info => self.cyan("i info"),
        }
    }
}
