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
