//! TUI speed on the synthetic cluster (10,000 Services, 50,000 pods, 500 nodes).
//! Targets (docs/performance.md): one frame at 200×60 ≤ 5 ms; a key press (update + frame) ≤ 16 ms.
//! Run with `cargo bench --bench tui`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use kubehop::app::{AppEvent, AppState, Command, Size, SourceKind, build_catalog, update};
use kubehop::cluster::feed::{ConnectionStatus, SourceLabel};
use kubehop::cluster::synthetic::{SyntheticSpec, generate};
use kubehop::engine::EngineConfig;
use kubehop::ui::theme::Theme;
use kubehop::ui::view::View;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn synthetic_app(width: u16, height: u16) -> AppState {
    let snapshot = Arc::new(generate(&SyntheticSpec::default()));
    let mut state = AppState::new(
        SourceLabel {
            context: "synthetic".to_owned(),
            namespace: None,
        },
        SourceKind::Dump,
        EngineConfig::default(),
        Size { width, height },
    );
    update(&mut state, AppEvent::Status(ConnectionStatus::Static));
    for command in update(&mut state, AppEvent::Snapshot(snapshot)) {
        if let Command::BuildModel {
            snapshot,
            generation,
        } = command
        {
            let catalog = build_catalog(snapshot, &EngineConfig::default(), generation);
            update(
                &mut state,
                AppEvent::ModelBuilt {
                    catalog: Arc::new(catalog),
                    at: Instant::now(),
                },
            );
        }
    }
    assert_eq!(state.list.visible.len(), 10_000);
    state
}

fn key(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new_with_kind(
        code,
        KeyModifiers::NONE,
        KeyEventKind::Press,
    ))
}

fn draw(terminal: &mut Terminal<TestBackend>, state: &AppState, theme: &Theme) {
    terminal
        .draw(|frame| {
            let view = View::from_state(state, theme, Instant::now());
            kubehop::ui::render(frame, &view);
        })
        .expect("a test backend draws");
}

fn tui(c: &mut Criterion) {
    let theme = Theme::colored();
    let mut state = synthetic_app(200, 60);
    // Show a NodePort Service's chain, the busiest kind (a row per node).
    update(&mut state, key(KeyCode::Tab));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("a test terminal");
    let mut group = c.benchmark_group("tui");
    group.sample_size(30);
    group.bench_function("frame 200x60, 10k Services", |b| {
        b.iter(|| draw(&mut terminal, black_box(&state), &theme));
    });
    update(&mut state, key(KeyCode::BackTab));
    let mut down = true;
    group.bench_function("key press: update + frame 200x60, 10k Services", |b| {
        b.iter(|| {
            // Alternate j/k so the cursor stays in the same region.
            let code = if down {
                KeyCode::Char('j')
            } else {
                KeyCode::Char('k')
            };
            down = !down;
            update(&mut state, key(code));
            draw(&mut terminal, black_box(&state), &theme);
        });
    });
    group.bench_function("filter keystroke over 10k Services", |b| {
        b.iter(|| {
            update(&mut state, key(KeyCode::Char('/')));
            update(&mut state, key(KeyCode::Char('7')));
            update(&mut state, key(KeyCode::Esc));
        });
    });
    group.finish();
}

criterion_group!(benches, tui);
criterion_main!(benches);
