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

/// The Services list with kubectl's columns at each size (whole names first, then TYPE,
/// PORT(S), CLUSTER-IP, EXTERNAL-IP, AGE as the width allows; all of them from 200 columns).
#[rstest]
fn services_list_columns(#[values((80, 24), (120, 40), (200, 60), (260, 60))] size: (u16, u16)) {
    let (width, height) = size;
    let mut state = demo_app(width, height);
    // AGE needs a wall clock: a fixed one keeps the frame reproducible.
    state.wall_clock =
        Some(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_749_000_000));
    let text = screen_text(&render(&state));
    let header = text.lines().nth(2).unwrap_or_default().to_owned();
    let expected: &[&str] = match width {
        80 => &["NAME", "READY"],
        120 => &["NAME", "TYPE", "PORT(S)", "READY"],
        _ => &[
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "READY",
            "AGE",
        ],
    };
    let services_header: Vec<&str> = header
        .split('│')
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(services_header, expected, "{text}");
    // Whole names where the columns leave room.
    if width >= 200 {
        assert!(text.contains("default/mynodeportservice "), "{text}");
    }
    assert_snapshot!(
        format!("services_columns_{width}x{height}"),
        render(&state).backend()
    );
}

/// The namespace picker: typing keeps the matching namespaces, each with its Services and
/// broken Services; Enter picks the one under the cursor.
#[rstest]
fn namespace_picker_filters_and_counts(#[values((80, 24), (120, 40), (200, 60))] size: (u16, u16)) {
    let mut state = demo_app(size.0, size.1);
    press(&mut state, KeyCode::Char('n'));
    let text = screen_text(&render(&state));
    assert!(
        text.contains("all namespaces") && text.contains("18 svc · 7 ✗"),
        "{text}"
    );
    typed(&mut state, "le");
    let terminal = render(&state);
    let text = screen_text(&terminal);
    assert!(text.contains("/le"), "{text}");
    assert!(
        text.contains("legacy") && text.contains("3 svc · 1 ✗"),
        "{text}"
    );
    // One choice is left in the box: the only namespace with "le" in it.
    let choices = text
        .match_indices(" svc")
        .filter(|(at, _)| text[..*at].ends_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(choices, 1, "{text}");
    assert_snapshot!(
        format!("namespace_picker_filtered_{}x{}", size.0, size.1),
        terminal.backend()
    );
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.namespace.as_deref(), Some("legacy"));
}

/// The header counts the namespace shown; `:ns nope` says it does not exist and stays.
#[test]
fn header_counts_follow_the_scope_and_unknown_namespaces_are_refused() {
    let mut state = demo_app(200, 60);
    typed(&mut state, ":ns shop");
    press(&mut state, KeyCode::Enter);
    let text = screen_text(&render(&state));
    let header = text.lines().next().unwrap_or_default();
    assert!(header.contains("namespace shop"), "{header}");
    assert!(header.contains("· 1 Service · 3 pods ·"), "{header}");
    typed(&mut state, ":ns nope");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.namespace.as_deref(), Some("shop"));
    let text = screen_text(&render(&state));
    assert!(
        text.contains("namespace nope does not exist; still showing shop"),
        "{text}"
    );
}
