//! Frame snapshots of the TUI over the demo scenario (assets/scenarios/demo-all.yaml), driven
//! through `update` with synthetic keys, at 80×24 and 120×40. Plus cell-style checks: error
//! marks are red, ok marks green, and NO_COLOR removes every colour.

use crate::support::tui::*;
use crossterm::event::KeyCode;
use insta::assert_snapshot;
use kubehop::ui::theme::Theme;
use ratatui::style::Color;
use rstest::rstest;

fn size_name(width: u16, height: u16) -> String {
    format!("{width}x{height}")
}

#[rstest]
fn first_screen(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let state = demo_app(size.0, size.1);
    let terminal = render(&state);
    assert_snapshot!(
        format!("first_screen_{}", size_name(size.0, size.1)),
        terminal.backend()
    );
}

/// The chain of each Service type: ClusterIP with Ingress, headless, NodePort, LoadBalancer,
/// ExternalName.
#[rstest]
fn chain_of_each_service_type(
    #[values(
        "shop/web",
        "data/mongodb-headless",
        "default/mynodeportservice",
        "edge/frontend",
        "legacy/payments"
    )]
    service: &str,
    #[values((80, 24), (120, 40))] size: (u16, u16),
) {
    let mut state = demo_app(size.0, size.1);
    open_service(&mut state, service);
    let terminal = render(&state);
    let name = service.replace('/', "_");
    assert_snapshot!(
        format!("chain_{name}_{}", size_name(size.0, size.1)),
        terminal.backend()
    );
}

/// The Diagnostics tab of every Service with a finding.
#[rstest]
fn diagnostics_of_each_broken_service(
    #[values(
        "billing/invoices",
        "blog/blog",
        "dns/dns-cache",
        "docs/docs",
        "legacy/legacy-api",
        "orders/orders",
        "search/search",
        "cart/cart",
        "edge/gateway",
        "edge/preview"
    )]
    service: &str,
) {
    let mut state = demo_app(120, 40);
    open_service(&mut state, service);
    press(&mut state, KeyCode::Char('2'));
    let terminal = render(&state);
    let text = screen_text(&terminal);
    // edge/gateway's only finding is info (eTP Local behind a health-checked load balancer).
    assert!(
        text.contains("error") || text.contains("warning") || text.contains("i info"),
        "{text}"
    );
    let name = service.replace('/', "_");
    assert_snapshot!(format!("diagnostics_{name}"), terminal.backend());
}

#[rstest]
#[case::named_port_missing("search/search", '1', "ports_search")]
#[case::multi_port("edge/frontend", '1', "ports_frontend")]
#[case::dns_headless("data/mongodb-headless", '3', "dns_mongodb_headless")]
#[case::dns_clusterip("data/mongodb", '3', "dns_mongodb")]
#[case::probe_empty("shop/web", '4', "probe_empty_web")]
#[case::yaml_service("shop/web", '5', "yaml_web")]
fn detail_tabs(#[case] service: &str, #[case] tab: char, #[case] name: &str) {
    let mut state = demo_app(120, 40);
    open_service(&mut state, service);
    press(&mut state, KeyCode::Char(tab));
    assert_snapshot!(name, render(&state).backend());
}

/// Explain for a NodePort hop on a node under externalTrafficPolicy Cluster (forwarded to any
/// node) and Local (dropped on a node without a local pod).
#[rstest]
#[case::etp_cluster("default/mynodeportservice", "node-2", "explain_nodeport_etp_cluster")]
#[case::etp_local_drop("edge/gateway", "node-2", "explain_nodeport_etp_local_drop")]
#[case::etp_local_forward("edge/gateway", "node-1", "explain_nodeport_etp_local_forward")]
fn explain_node_port_hops(#[case] service: &str, #[case] node: &str, #[case] name: &str) {
    let mut state = demo_app(120, 40);
    open_service(&mut state, service);
    // Walk down the chain to the node's NodePort row.
    for _ in 0..20 {
        let on_row = state
            .selected_node()
            .and_then(|selected| selected.hop.as_ref())
            .is_some_and(|hop| hop.to_string().contains(&format!("/nodePort/{node}/")));
        if on_row {
            break;
        }
        press(&mut state, KeyCode::Char('j'));
    }
    let terminal = render(&state);
    let text = screen_text(&terminal);
    assert!(text.contains(&format!("({node})")), "{text}");
    assert_snapshot!(name, terminal.backend());
}

#[test]
fn explain_words_follow_the_policy() {
    let mut state = demo_app(200, 60);
    open_service(&mut state, "edge/gateway");
    for _ in 0..20 {
        let on_row = state
            .selected_node()
            .and_then(|selected| selected.hop.as_ref())
            .is_some_and(|hop| hop.to_string().contains("/nodePort/node-3/"));
        if on_row {
            break;
        }
        press(&mut state, KeyCode::Char('j'));
    }
    let theme = Theme::colored();
    let view = kubehop::ui::view::View::from_state(&state, &theme, std::time::Instant::now());
    let text: Vec<String> = view
        .explain
        .lines
        .iter()
        .map(|line| {
            line.spans
                .iter()
                .map(|span| span.content.as_ref())
                .collect()
        })
        .collect();
    let text = text.join(" ");
    assert!(
        text.contains("it is dropped (the client times out), because externalTrafficPolicy is Local and node-3 has no ready pod of this Service"),
        "{text}"
    );
}

#[test]
fn help_overlay() {
    let mut state = demo_app(120, 40);
    press(&mut state, KeyCode::Char('?'));
    assert_snapshot!("help_overlay", render(&state).backend());
}

#[test]
fn filter_active() {
    let mut state = demo_app(120, 40);
    typed(&mut state, "/app=web");
    assert_snapshot!("filter_typing", render(&state).backend());
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.list.visible.len(), 1);
    assert_snapshot!("filter_kept", render(&state).backend());
}

#[test]
fn filter_matching_nothing_says_so() {
    let mut state = demo_app(80, 24);
    typed(&mut state, "/no-such-service");
    press(&mut state, KeyCode::Enter);
    let text = screen_text(&render(&state));
    assert!(text.contains("No Service matches"), "{text}");
    assert_snapshot!("filter_matches_nothing", render(&state).backend());
}

#[test]
fn command_mode() {
    let mut state = demo_app(120, 40);
    typed(&mut state, ":ns shop");
    assert_snapshot!("command_typing", render(&state).backend());
    press(&mut state, KeyCode::Enter);
    assert_snapshot!("command_ns_shop", render(&state).backend());
}

#[test]
fn namespace_picker() {
    let mut state = demo_app(80, 24);
    press(&mut state, KeyCode::Char('n'));
    // Letters filter the picker; the arrows move in it.
    press(&mut state, KeyCode::Down);
    press(&mut state, KeyCode::Down);
    assert_snapshot!("namespace_picker", render(&state).backend());
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.namespace.as_deref(), Some("blog"));
}

#[rstest]
fn too_small_terminal(#[values((59, 24), (100, 15), (40, 10))] size: (u16, u16)) {
    let state = demo_app(size.0, size.1);
    let terminal = render(&state);
    let text = screen_text(&terminal);
    assert!(text.contains("Terminal too small"), "{text}");
    assert_snapshot!(
        format!("too_small_{}", size_name(size.0, size.1)),
        terminal.backend()
    );
}

#[test]
fn wide_screen_uses_three_columns() {
    let mut state = demo_app(200, 60);
    open_service(&mut state, "edge/frontend");
    assert_snapshot!("wide_frontend_200x60", render(&state).backend());
}

/// The cell at the first occurrence of `needle` on the row that contains `row_text`.
fn cell_style(
    terminal: &ratatui::Terminal<ratatui::backend::TestBackend>,
    row_text: &str,
    needle: &str,
) -> ratatui::style::Style {
    let buffer = terminal.backend().buffer();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_owned())
            .collect();
        if !line.contains(row_text) {
            continue;
        }
        let mut x = 0u16;
        let mut rest = line.as_str();
        while !rest.starts_with(needle) {
            let Some(c) = rest.chars().next() else {
                break;
            };
            rest = &rest[c.len_utf8()..];
            x += 1;
        }
        return buffer[(x, y)].style();
    }
    panic!("no row contains {row_text:?}");
}

#[test]
fn error_marks_are_red_and_ok_marks_green() {
    let mut state = demo_app(120, 40);
    // Move the cursor away from the rows under test so the selection style does not cover them.
    press(&mut state, KeyCode::Char('j'));
    let terminal = render(&state);
    assert_eq!(
        cell_style(&terminal, "billing/invoices", "✗").fg,
        Some(Color::Red)
    );
    assert_eq!(
        cell_style(&terminal, "shop/web", "✓").fg,
        Some(Color::Green)
    );
    assert_eq!(
        cell_style(&terminal, "edge/preview", "!").fg,
        Some(Color::Yellow)
    );
    // In the chain of the selected broken Service, the broken hop is red where it breaks.
    let mut state = demo_app(120, 40);
    open_service(&mut state, "billing/invoices");
    let terminal = render(&state);
    assert_eq!(
        cell_style(
            &terminal,
            "no endpoints: selector app=invoice-api",
            "no endpoints"
        )
        .fg,
        Some(Color::Red)
    );
}

#[test]
fn no_color_removes_every_colour_but_keeps_the_marks() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "billing/invoices");
    let terminal = render_with(&state, &Theme::plain());
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert!(
            matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset),
            "a coloured cell {cell:?}"
        );
    }
    let text = screen_text(&terminal);
    assert!(text.contains("✗ billing/invoices"));
    assert!(text.contains("✓ shop/web"));
}

#[test]
fn long_names_are_cut_with_an_ellipsis_inside_their_pane() {
    let mut snapshot = demo_snapshot();
    let mut service = (*snapshot.services[0]).clone();
    service.metadata.name =
        Some("a-really-long-service-name-that-goes-on-and-on-and-on".to_owned());
    snapshot.services.push(std::sync::Arc::new(service));
    let state = app_with(snapshot, 80, 24);
    let text = screen_text(&render(&state));
    assert!(
        text.lines()
            .any(|line| line.contains("billing/a-really-long") && line.contains('…')),
        "{text}"
    );
    // Every line still ends in the pane borders: nothing wrapped into the next pane.
    for line in text.lines().skip(1).take(12) {
        assert!(
            line.starts_with('│') || line.starts_with('┌') || line.starts_with('└'),
            "{line}"
        );
    }
}
