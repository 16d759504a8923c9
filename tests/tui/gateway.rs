//! Gateway API route hops in the chain tree (fixture: web-ingress.yaml + gateway-api.yaml).

use insta::assert_snapshot;
use rstest::rstest;

use crate::support::tui::{app_with, open_service, render};

fn snapshot() -> kubehop::cluster::ClusterSnapshot {
    let root = env!("CARGO_MANIFEST_DIR");
    kubehop::cluster::dump::load_paths(&[
        format!("{root}/assets/scenarios/web-ingress.yaml").into(),
        format!("{root}/tests/support/fixtures/gateway-api.yaml").into(),
    ])
    .expect("the Gateway fixture loads")
    .snapshot
}

/// A Service chain with its Gateway route hops above the ClusterIP, healthy and broken.
#[rstest]
fn chain_with_gateway_hops(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = app_with(snapshot(), size.0, size.1);
    open_service(&mut state, "shop/web");
    assert_snapshot!(
        format!("gateway_chain_shop_web_{}x{}", size.0, size.1),
        render(&state).backend()
    );
}

/// Selecting a Gateway route hop keeps every pane working.
#[test]
fn a_gateway_hop_can_be_selected() {
    let mut state = app_with(snapshot(), 120, 40);
    open_service(&mut state, "shop/web");
    for _ in 0..4 {
        crate::support::tui::press(&mut state, crossterm::event::KeyCode::Down);
    }
    let text = crate::support::tui::screen_text(&render(&state));
    assert!(text.contains("Gateway infra/edge"), "{text}");
}

/// Moves the chain's cursor to the route hop of `route` (`Kind/namespace/name`).
fn select_route(state: &mut kubehop::app::state::AppState, route: &str) {
    let wanted = |state: &kubehop::app::state::AppState| {
        matches!(
            state.selected_node().and_then(|node| node.hop.as_ref()),
            Some(kubehop::engine::model::Hop::GatewayRoute { route: r, .. }) if r == route
        )
    };
    for key in [
        crossterm::event::KeyCode::Up,
        crossterm::event::KeyCode::Down,
    ] {
        for _ in 0..16 {
            if wanted(state) {
                return;
            }
            crate::support::tui::press(state, key);
        }
    }
    assert!(wanted(state), "no hop for {route}");
}

/// The whole Explain text of the selected hop, from the engine.
fn explained(state: &kubehop::app::state::AppState) -> String {
    let catalog = state.shown().expect("a model");
    let chain = catalog.model.service("shop", "web").expect("web");
    let hop = state.selected_node().and_then(|node| node.hop.clone());
    kubehop::engine::explain::explain_hop(&catalog.model, chain, hop.as_ref()).text()
}

/// Explain on a healthy route hop (listener, hostname intersection, rule precedence, weight)
/// and on a broken one (what is wrong, and the ReferenceGrant that fixes it, copy-ready):
/// the healthy one from its first line, the broken one scrolled to its last.
#[rstest]
fn explain_on_gateway_route_hops(
    #[values("HTTPRoute/shop/storefront", "HTTPRoute/payments/checkout")] route: &str,
    #[values((80, 24), (120, 40))] size: (u16, u16),
) {
    let mut state = app_with(snapshot(), size.0, size.1);
    open_service(&mut state, "shop/web");
    select_route(&mut state, route);
    let text = explained(&state);
    let name = route.rsplit('/').next().unwrap_or(route);
    if name == "storefront" {
        for words in [
            "Listener \"http\" of Gateway infra/edge (HTTP on port 80 at 127.20.0.5)",
            "www.shop.test: where the route's hostnames and the listener's intersect",
            "Rule 0 takes requests matching PathPrefix /cart",
            "an Exact path over a PathPrefix",
            "It sends all of the rule's traffic to port 80 of Service shop/web",
            "3 of 3 ready",
        ] {
            assert!(text.contains(words), "{words:?} in {text}");
        }
        assert!(!text.contains("Wrong:"), "{text}");
    } else {
        for words in [
            "Wrong: HTTPRoute payments/checkout rule 0 sends to Service shop/web in another namespace",
            r#"A ReferenceGrant in shop lets the route use the Service: echo '{"apiVersion":"gateway.networking.k8s.io/v1beta1","kind":"ReferenceGrant","metadata":{"name":"web-from-payments","namespace":"shop"},"spec":{"from":[{"group":"gateway.networking.k8s.io","kind":"HTTPRoute","namespace":"payments"}],"to":[{"group":"","kind":"Service","name":"web"}]}}' | kubectl apply -f -"#,
        ] {
            assert!(text.contains(words), "{words:?} in {text}");
        }
    }
    // Explain gets the focus (Tab cycles the panes); the broken hop's is scrolled to its end.
    crate::support::tui::press(&mut state, crossterm::event::KeyCode::Tab);
    if name == "checkout" {
        for _ in 0..40 {
            crate::support::tui::press(&mut state, crossterm::event::KeyCode::Down);
        }
    }
    assert_snapshot!(
        format!("gateway_explain_{name}_{}x{}", size.0, size.1),
        render(&state).backend()
    );
}

/// The DNS tab on a route hop: which names must resolve to the Gateway's address.
#[rstest]
fn dns_on_a_gateway_route_hop(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = app_with(snapshot(), size.0, size.1);
    open_service(&mut state, "shop/web");
    select_route(&mut state, "HTTPRoute/shop/storefront");
    crate::support::tui::press(&mut state, crossterm::event::KeyCode::Char('3'));
    let text = crate::support::tui::screen_text(&render(&state));
    assert!(
        text.contains("www.shop.test → 127.20.0.5"),
        "the name and the Gateway's address: {text}"
    );
    assert_snapshot!(
        format!("gateway_dns_storefront_{}x{}", size.0, size.1),
        render(&state).backend()
    );
}

/// Hostile Gateway API names, hostnames, matches and status messages: every pane, on every
/// hop of the chain and every tab that shows them, renders them escaped (nothing raw reaches
/// the terminal).
#[test]
fn hostile_gateway_names_never_reach_the_terminal_raw() {
    let root = env!("CARGO_MANIFEST_DIR");
    let snapshot = kubehop::cluster::dump::load_paths(&[
        format!("{root}/assets/scenarios/web-ingress.yaml").into(),
        format!("{root}/tests/support/fixtures/gateway-hostile.yaml").into(),
    ])
    .expect("the hostile fixture loads")
    .snapshot;
    for size in [(80, 24), (120, 40)] {
        let mut state = app_with(snapshot.clone(), size.0, size.1);
        open_service(&mut state, "shop/web");
        let mut routes = 0;
        let mut shown = String::new();
        for _ in 0..24 {
            if matches!(
                state.selected_node().and_then(|node| node.hop.as_ref()),
                Some(kubehop::engine::model::Hop::GatewayRoute { .. })
            ) {
                routes += 1;
            }
            for tab in ['2', '3', '5'] {
                crate::support::tui::press(&mut state, crossterm::event::KeyCode::Char(tab));
                let terminal = render(&state);
                let raw: Vec<String> = terminal
                    .backend()
                    .buffer()
                    .content()
                    .iter()
                    .map(|cell| cell.symbol().to_owned())
                    .filter(|symbol| symbol.chars().any(kubehop::printable::needs_escape))
                    .collect();
                assert!(
                    raw.is_empty(),
                    "raw {raw:?} on tab {tab}:\n{}",
                    crate::support::tui::screen_text(&terminal)
                );
                shown.push_str(&crate::support::tui::screen_text(&terminal));
            }
            crate::support::tui::press(&mut state, crossterm::event::KeyCode::Down);
        }
        assert!(routes >= 3, "the route hops were visited: {routes}");
        // The whole of Explain on the hostile route, scrolled page by page.
        select_route(&mut state, "HTTPRoute/shop/store\u{1b}]0;pwned\u{7}");
        crate::support::tui::press(&mut state, crossterm::event::KeyCode::Tab);
        for _ in 0..16 {
            shown.push_str(&crate::support::tui::screen_text(&render(&state)));
            crate::support::tui::press(&mut state, crossterm::event::KeyCode::Down);
        }
        // Shown escaped, not dropped: the Explain title and text, the DNS tab's names.
        for escaped in [
            r"Gateway infra/edge\u{1b}]0;pwned\u{7}",
            r#"Listener "http\u{1b}[2J""#,
            r"www\u{1b}]8;;http://evil.test\u{7}.shop.test",
            r"\u{202e}tset.pohs",
            r"shop/store\u{1b}]0;pwned\u{7}.",
        ] {
            assert!(shown.contains(escaped), "{escaped} in {shown}");
        }
    }
}

/// `:gw`: the Gateways view, Gateway → listeners → route rules → Services, with the routes'
/// findings beside them.
#[rstest]
fn gateways_view(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = app_with(snapshot(), size.0, size.1);
    crate::support::tui::typed(&mut state, ":gw");
    crate::support::tui::press(&mut state, crossterm::event::KeyCode::Enter);
    assert_snapshot!(
        format!("gateways_view_{}x{}", size.0, size.1),
        render(&state).backend()
    );
}

/// Moving onto a route shows its findings in full under it; Enter on a Service opens its
/// chain; Esc goes back to the panes.
#[test]
fn gateways_view_route_findings_and_enter_on_a_service() {
    use crate::support::tui::{press, screen_text, typed};
    use crossterm::event::KeyCode;
    let mut state = app_with(snapshot(), 120, 40);
    typed(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    let page = match state.drill.top().map(|top| &top.page) {
        Some(kubehop::app::drill::Page::Gateways(page)) => page.clone(),
        other => panic!("the Gateways view is open: {other:?}"),
    };
    // A route with a finding: selected, its message is shown in full.
    let route = page
        .rows
        .iter()
        .position(|row| !row.findings.is_empty())
        .expect("a route with a finding");
    for _ in 0..route {
        press(&mut state, KeyCode::Down);
    }
    let text = screen_text(&render(&state));
    let finding = &page.rows[route].findings[0];
    assert!(text.contains(&format!("{}:", finding.code)), "{text}");
    // Enter on the first Service row opens its chain.
    let service = page
        .rows
        .iter()
        .position(|row| row.service.is_some())
        .expect("a Service row");
    press(&mut state, KeyCode::Char('g'));
    for _ in 0..service {
        press(&mut state, KeyCode::Down);
    }
    let key = page.rows[service].service.clone().expect("a Service");
    press(&mut state, KeyCode::Enter);
    assert!(!state.drill.is_open(), "back to the panes");
    assert_eq!(state.list.selected.as_ref(), Some(&key));

    // Esc closes the view.
    typed(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    assert!(state.drill.is_open());
    press(&mut state, KeyCode::Esc);
    assert!(!state.drill.is_open());
}

/// `:gw` without any Gateway says so in one line.
#[test]
fn gateways_view_without_gateways_says_so() {
    use crate::support::tui::{demo_snapshot, press, typed};
    let mut state = app_with(demo_snapshot(), 120, 40);
    typed(&mut state, ":gw");
    press(&mut state, crossterm::event::KeyCode::Enter);
    assert!(!state.drill.is_open());
    let text = crate::support::tui::screen_text(&render(&state));
    assert!(text.contains("no Gateway in this source"), "{text}");
}

/// A live cluster without the Gateway API: one line in the header, no note, and `:gw` says
/// so in one line.
#[test]
fn without_the_gateway_api_one_header_line_and_no_note() {
    use crate::support::tui::{demo_snapshot, press, screen_text, typed};
    let mut snapshot = demo_snapshot();
    snapshot.missing.push(kubehop::cluster::MissingKind {
        kind: kubehop::cluster::ResourceKind::Gateway,
        reason: kubehop::cluster::live::gateway::NOT_INSTALLED.to_owned(),
    });
    let mut state = app_with(snapshot, 200, 50);
    let text = screen_text(&render(&state));
    assert_eq!(
        text.matches("Gateway API not installed").count(),
        1,
        "{text}"
    );
    assert!(!text.contains("kind missing"), "{text}");
    // The Diagnostics tab has no note about it.
    press(&mut state, crossterm::event::KeyCode::Enter);
    press(&mut state, crossterm::event::KeyCode::Char('2'));
    let text = screen_text(&render(&state));
    assert!(!text.contains("Note: gateways"), "{text}");
    typed(&mut state, ":gw");
    press(&mut state, crossterm::event::KeyCode::Enter);
    assert!(!state.drill.is_open());
    let text = screen_text(&render(&state));
    assert!(
        text.contains("Gateway API not installed: the cluster serves no"),
        "{text}"
    );
}
