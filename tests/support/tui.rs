//! Drives the TUI through `update` with synthetic events and renders it into a TestBackend.
//! No terminal, no runtime, no sleeps: engine builds run inline.

use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use kubehop::app::{AppEvent, AppState, Command, Size, SourceKind, build_catalog, update};
use kubehop::cluster::ClusterSnapshot;
use kubehop::cluster::feed::{ConnectionStatus, SourceLabel};
use kubehop::engine::EngineConfig;
use kubehop::ui::theme::Theme;
use kubehop::ui::view::View;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

pub const DEMO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/scenarios/demo-all.yaml"
);

pub fn demo_snapshot() -> ClusterSnapshot {
    kubehop::cluster::dump::load_paths(&[DEMO.into()])
        .expect("the demo scenario loads")
        .snapshot
}

/// An app over the demo scenario, as `kubehop -f demo-all.yaml -A` starts.
pub fn demo_app(width: u16, height: u16) -> AppState {
    app_with(demo_snapshot(), width, height)
}

pub fn app_with(snapshot: ClusterSnapshot, width: u16, height: u16) -> AppState {
    let label = SourceLabel {
        context: "demo-all.yaml".to_owned(),
        namespace: None,
    };
    let mut state = AppState::new(
        label,
        SourceKind::Dump,
        EngineConfig::default(),
        Size { width, height },
    );
    apply(&mut state, AppEvent::Status(ConnectionStatus::Static));
    apply(&mut state, AppEvent::Snapshot(Arc::new(snapshot)));
    state
}

/// Sends an event and carries out engine builds inline; returns the other commands.
pub fn apply(state: &mut AppState, event: AppEvent) -> Vec<Command> {
    let mut pending = vec![event];
    let mut other = Vec::new();
    while let Some(event) = pending.pop() {
        for command in update(state, event) {
            match command {
                Command::BuildModel {
                    snapshot,
                    generation,
                } => {
                    let catalog = build_catalog(snapshot, &EngineConfig::default(), generation);
                    pending.push(AppEvent::ModelBuilt {
                        catalog: Arc::new(catalog),
                        at: Instant::now(),
                    });
                }
                command => other.push(command),
            }
        }
    }
    other
}

pub fn key_event(code: KeyCode, modifiers: KeyModifiers) -> AppEvent {
    AppEvent::Key(KeyEvent::new_with_kind(
        code,
        modifiers,
        KeyEventKind::Press,
    ))
}

/// Presses one key.
pub fn press(state: &mut AppState, code: KeyCode) -> Vec<Command> {
    let modifiers = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        KeyCode::BackTab => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    apply(state, key_event(code, modifiers))
}

pub fn ctrl(state: &mut AppState, c: char) -> Vec<Command> {
    apply(state, key_event(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Types characters, one key press each.
pub fn typed(state: &mut AppState, text: &str) -> Vec<Command> {
    let mut commands = Vec::new();
    for c in text.chars() {
        commands.extend(press(state, KeyCode::Char(c)));
    }
    commands
}

/// `:svc NAME` Enter, then Enter: selects a Service (the focus stays on the list) and
/// opens its chain.
pub fn open_service(state: &mut AppState, name: &str) {
    select_service(state, name);
    press(state, KeyCode::Enter);
    assert_eq!(state.focus, kubehop::app::Focus::Chain, "opening {name}");
}

/// `:svc NAME` Enter: selects a Service; the focus stays on the Services list.
pub fn select_service(state: &mut AppState, name: &str) {
    typed(state, &format!(":svc {name}"));
    press(state, KeyCode::Enter);
    let expected = name.rsplit('/').next().unwrap_or(name);
    assert_eq!(
        state.list.selected.as_ref().map(|key| key.name.as_str()),
        Some(expected),
        "selecting {name}"
    );
}

pub fn click(state: &mut AppState, column: u16, row: u16) -> Vec<Command> {
    apply(
        state,
        AppEvent::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        }),
    )
}

/// Renders the state into a TestBackend of the state's size.
pub fn render_with(state: &AppState, theme: &Theme) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(state.size.width, state.size.height))
        .expect("a test terminal");
    terminal
        .draw(|frame| {
            let view = View::from_state(state, theme, Instant::now());
            kubehop::ui::render(frame, &view);
        })
        .expect("drawing into a test backend");
    terminal
}

pub fn render(state: &AppState) -> Terminal<TestBackend> {
    render_with(state, &Theme::colored())
}

/// The screen as plain lines.
pub fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}
