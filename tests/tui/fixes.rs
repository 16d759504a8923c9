//! Copy-ready fixes in the TUI (shown under the finding, `c` writes the OSC 52 sequence), and
//! the `b` broken-only toggle and `/` filter terms of the Services list.

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use kubehop::app::Command;
use ratatui::backend::CrosstermBackend;
use rstest::rstest;

use crate::support::tui::*;

const INVOICES_FIX: &str = r#"kubectl patch svc invoices -n billing --type merge -p '{"spec":{"selector":{"app":"invoices-api"}}}'"#;

/// The Diagnostics tab shows the command under its finding, at each size.
#[rstest]
fn diagnostic_with_its_command(#[values((80, 24), (120, 40), (200, 60))] size: (u16, u16)) {
    let (width, height) = size;
    let mut state = demo_app(width, height);
    open_service(&mut state, "billing/invoices");
    press(&mut state, KeyCode::Char('2'));
    let terminal = render(&state);
    let text = screen_text(&terminal);
    assert!(
        text.contains("fix (c copies): kubectl patch svc invoices"),
        "{text}"
    );
    assert_snapshot!(
        format!("diagnostic_fix_{width}x{height}"),
        terminal.backend()
    );
}

/// `c` asks for the copy, and what the loop writes through the terminal backend is the OSC 52
/// sequence `ESC ] 52 ; c ; BASE64 BEL` of the command.
#[test]
fn c_writes_the_osc52_sequence() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "billing/invoices");
    let commands = press(&mut state, KeyCode::Char('c'));
    let [Command::Copy(text)] = commands.as_slice() else {
        panic!("one copy expected: {commands:?}");
    };
    assert_eq!(text, INVOICES_FIX);
    // The loop's `Terminal::copy` writes through its crossterm backend; here the backend
    // writes into memory.
    let mut written = Vec::new();
    kubehop::terminal::write_clipboard(&mut CrosstermBackend::new(&mut written), text)
        .expect("written");
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(INVOICES_FIX);
    assert_eq!(written, format!("\x1b]52;c;{encoded}\x07").into_bytes());
    assert!(screen_text(&render(&state)).contains("copied (OSC 52)"));
}

/// A Service without a mechanical fix copies nothing and says so.
#[test]
fn c_without_a_fix_copies_nothing() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "orders/orders");
    assert!(press(&mut state, KeyCode::Char('c')).is_empty());
    assert!(screen_text(&render(&state)).contains("orders has no copy-ready fix"));
}

fn visible_names(state: &kubehop::app::AppState) -> Vec<String> {
    let catalog = state.shown().expect("a model");
    state
        .list
        .visible
        .iter()
        .map(|index| {
            let chain = &catalog.model.services[*index];
            format!("{}/{}", chain.namespace, chain.name)
        })
        .collect()
}

/// `b` keeps only the broken Services, and again shows all.
#[test]
fn b_toggles_broken_only() {
    let mut state = demo_app(120, 40);
    assert_eq!(visible_names(&state).len(), 18);
    press(&mut state, KeyCode::Char('b'));
    let broken = visible_names(&state);
    assert_eq!(broken.len(), 7, "{broken:?}");
    assert!(broken.contains(&"orders/orders".to_owned()));
    assert!(!broken.contains(&"shop/web".to_owned()));
    press(&mut state, KeyCode::Char('b'));
    assert_eq!(visible_names(&state).len(), 18);
}

/// `/` terms: a regex, `!ok`, `!TERM`, `-l SELECTOR`.
#[rstest]
#[case::regex("^edge/(front|gate)", &["edge/frontend", "edge/gateway"])]
#[case::not_ok("!ok edge", &["edge/preview"])]
#[case::inverse("edge !front !gate", &["edge/preview"])]
#[case::selector("-l app=search", &["search/search"])]
#[case::selector_not("-l app.kubernetes.io/name=mongodb,!nothing", &["data/mongodb", "data/mongodb-headless"])]
#[case::not_label("!app=web shop", &[])]
fn filter_terms(#[case] text: &str, #[case] expected: &[&str]) {
    let mut state = demo_app(120, 40);
    press(&mut state, KeyCode::Char('s'));
    press(&mut state, KeyCode::Char('/'));
    typed(&mut state, text);
    press(&mut state, KeyCode::Enter);
    assert_eq!(visible_names(&state), expected, "filter {text:?}");
}
