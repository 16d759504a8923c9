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

/// Selecting a Gateway route hop keeps every pane working (Explain has no words for it yet).
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
