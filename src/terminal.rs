//! Owning the terminal: enter (raw mode, alternate screen, mouse capture), restore, and hooks
//! that restore it before a panic or error report prints.
//!
//! Restoring is idempotent and happens on every way out: [`Terminal::restore`], `Drop`, the
//! panic hook and the color-eyre error hook. Nothing is written to the terminal for restoring
//! unless it was entered, so the hooks are harmless for subcommands that print plain text.

use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossterm::cursor::Show;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::backend::CrosstermBackend;

use crate::app::state::{AppState, Scrolled, Size};
use crate::ui::theme::Theme;
use crate::ui::view::View;

/// Whether the terminal is in TUI mode right now (raw, alternate screen).
static ENTERED: AtomicBool = AtomicBool::new(false);

/// Leaves TUI mode if it is on: mouse capture off, alternate screen left, cursor shown, raw
/// mode off. Safe to call any number of times, from any path.
pub fn restore() -> io::Result<()> {
    if !ENTERED.swap(false, Ordering::SeqCst) {
        return Ok(());
    }
    let mut stdout = io::stdout();
    let screen = execute!(stdout, DisableMouseCapture, LeaveAlternateScreen, Show);
    let raw = disable_raw_mode();
    stdout.flush()?;
    screen.and(raw)
}

/// Installs color-eyre's report and panic hooks, each wrapped so that the terminal is restored
/// before anything is printed. Call once, early in `main`.
pub fn install_hooks() -> color_eyre::Result<()> {
    let (panic_hook, eyre_hook) = color_eyre::config::HookBuilder::default().into_hooks();
    let eyre_hook = eyre_hook.into_eyre_hook();
    color_eyre::eyre::set_hook(Box::new(move |error| {
        let _ = restore();
        eyre_hook(error)
    }))?;
    let panic_hook = panic_hook.into_panic_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = restore();
        panic_hook(info);
    }));
    Ok(())
}

/// The terminal in TUI mode. Dropping it restores the terminal.
pub struct Terminal {
    inner: ratatui::Terminal<CrosstermBackend<Stdout>>,
}

impl Terminal {
    /// Raw mode, alternate screen, mouse capture; the screen is cleared.
    pub fn enter() -> io::Result<Terminal> {
        enable_raw_mode()?;
        ENTERED.store(true, Ordering::SeqCst);
        let mut stdout = io::stdout();
        if let Err(error) = execute!(stdout, EnterAlternateScreen, EnableMouseCapture) {
            let _ = restore();
            return Err(error);
        }
        let inner = match ratatui::Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(inner) => inner,
            Err(error) => {
                let _ = restore();
                return Err(error);
            }
        };
        let mut terminal = Terminal { inner };
        terminal.inner.clear()?;
        Ok(terminal)
    }

    pub fn size(&self) -> io::Result<Size> {
        let size = self.inner.size()?;
        Ok(Size {
            width: size.width,
            height: size.height,
        })
    }

    /// Draws one frame of the state; returns the scroll offsets as drawn (clamped against
    /// what there was to show) for [`AppState::settle_scroll`].
    pub fn draw(&mut self, state: &AppState, theme: &Theme, now: Instant) -> io::Result<Scrolled> {
        let mut drawn = Scrolled::default();
        self.inner.draw(|frame| {
            let view = View::from_state(state, theme, now);
            crate::ui::render(frame, &view);
            drawn = view.scrolled();
        })?;
        Ok(drawn)
    }

    /// Puts `text` on the clipboard of the terminal (through SSH and tmux alike).
    pub fn copy(&mut self, text: &str) -> io::Result<()> {
        write_clipboard(self.inner.backend_mut(), text)
    }

    pub fn restore(self) -> io::Result<()> {
        // Drop restores; restoring here first reports an error instead of ignoring it.
        restore()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = restore();
    }
}

/// The OSC 52 sequence that sets the clipboard to `text`: `ESC ] 52 ; c ; BASE64 BEL`.
pub fn osc52(text: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    format!("\x1b]52;c;{encoded}\x07")
}

/// Writes [`osc52`] of `text` to `out` and flushes: terminals (and tmux with `set-clipboard
/// on`) put it on the clipboard; it draws nothing.
pub fn write_clipboard(out: &mut impl Write, text: &str) -> io::Result<()> {
    out.write_all(osc52(text).as_bytes())?;
    out.flush()
}
