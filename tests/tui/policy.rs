//! The Policy tab (6): the NetworkPolicies selecting the pods behind the selected hop, the
//! verdict for the chosen source (`:from`), and the `⊘` mark on hops the default source
//! cannot pass (rules N1-N10). Frame snapshots at 80×24 and 120×40.

use crate::support::fixtures::*;
use crate::support::tui::*;
use crossterm::event::KeyCode;
use insta::assert_snapshot;
use kubehop::app::DetailTab;
use kubehop::engine::netpol::SourceChoice;
use rstest::rstest;
use serde_json::json;

/// shop/web (NodePort 30080, eTP Cluster) on web-1 (node-a, declares `http`) and web-2
/// (node-b, an older version without the port name); frontend-1 and batch-1 on node-b. A
/// default-deny and an allow rule for app=frontend on the named port `http`.
fn policy_world() -> World {
    World::new()
        .nodes(three_nodes())
        .namespace("shop", &[("kubernetes.io/metadata.name", "shop")])
        .service(
            service("web")
                .type_("NodePort")
                .selector(&[("app", "web")])
                .port(Some("http"), 80, "8080")
                .node_port(30080),
        )
        .pod(
            pod("web-1", "127.2.0.1", "node-a")
                .labels(&[("app", "web")])
                .container_port("app", Some("http"), 8080, "TCP"),
        )
        .pod(
            pod("web-2", "127.2.0.4", "node-b")
                .labels(&[("app", "web")])
                .container_port("app", None, 8080, "TCP"),
        )
        .pod(pod("frontend-1", "127.2.0.2", "node-b").labels(&[("app", "frontend")]))
        .pod(pod("batch-1", "127.2.0.3", "node-b").labels(&[("app", "batch")]))
        .policy(json!({"metadata": {"name": "default-deny"}, "spec": {"podSelector": {}}}))
        .policy(json!({"metadata": {"name": "allow-frontend"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}],
                                  "ports": [{"port": "http"}]}]}}))
}

/// Opens shop/web and moves down the chain to the first row whose hop key contains `wanted`
/// (the NodePort group has no hop: `nodePorts` selects it by its id).
fn open_at(width: u16, height: u16, wanted: &str) -> kubehop::app::AppState {
    let mut state = app_with(policy_world().snapshot(), width, height);
    open_service(&mut state, "shop/web");
    for _ in 0..20 {
        let here = state.selected_node().is_some_and(|node| {
            node.id == wanted
                || node
                    .hop
                    .as_ref()
                    .is_some_and(|hop| hop.to_string().contains(wanted))
        });
        if here {
            break;
        }
        press(&mut state, KeyCode::Char('j'));
    }
    press(&mut state, KeyCode::Char('6'));
    assert_eq!(state.tab, DetailTab::Policy);
    state
}

/// The NodePort group from outside: SNAT to another node's address, denied by both policies.
#[rstest]
fn policy_tab_node_port_from_outside(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let state = open_at(size.0, size.1, "nodePorts");
    let terminal = render(&state);
    let text = screen_text(&terminal);
    assert!(text.contains("6 Policy"), "{text}");
    assert!(text.contains("⊘"), "the NodePort group is marked: {text}");
    assert_snapshot!(
        format!("policy_node_port_{}x{}", size.0, size.1),
        terminal.backend()
    );
}

/// `:from pod/shop/frontend-1` on the cluster IP: web-1 lets it in by its rule, web-2 does not
/// declare the port name the rule allows.
#[rstest]
fn policy_tab_from_a_named_pod(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = open_at(size.0, size.1, "clusterIP");
    typed(&mut state, ":from pod/shop/frontend-1");
    press(&mut state, KeyCode::Enter);
    assert_eq!(
        state.policy_source,
        Some(SourceChoice::Pod {
            namespace: "shop".to_owned(),
            name: "frontend-1".to_owned()
        })
    );
    let terminal = render(&state);
    let text = screen_text(&terminal);
    assert!(text.contains("allowed by shop/allow-frontend"), "{text}");
    assert_snapshot!(
        format!("policy_from_pod_{}x{}", size.0, size.1),
        terminal.backend()
    );
}

#[test]
fn from_picks_external_and_a_namespace_and_rejects_unknown_sources() {
    let mut state = open_at(120, 40, "clusterIP");
    typed(&mut state, ":from external");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.policy_source, Some(SourceChoice::External));
    let text = screen_text(&render(&state));
    assert!(
        text.contains("From external through 80/TCP/clusterIP"),
        "{text}"
    );

    typed(&mut state, ":from ns/shop");
    press(&mut state, KeyCode::Enter);
    assert_eq!(
        state.policy_source,
        Some(SourceChoice::Namespace("shop".to_owned()))
    );

    typed(&mut state, ":from pod/shop/nope");
    press(&mut state, KeyCode::Enter);
    let text = screen_text(&render(&state));
    assert!(text.contains("no pod shop/nope"), "{text}");
    assert_eq!(
        state.policy_source,
        Some(SourceChoice::Namespace("shop".to_owned())),
        "an unknown pod keeps the previous source"
    );

    typed(&mut state, ":from nonsense");
    press(&mut state, KeyCode::Enter);
    let text = screen_text(&render(&state));
    assert!(text.contains("unknown source"), "{text}");

    typed(&mut state, ":from");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.policy_source, None);
}

/// Without any NetworkPolicy the tab says so and no hop is marked.
#[test]
fn no_policy_no_mark() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "shop/web");
    press(&mut state, KeyCode::Char('6'));
    let text = screen_text(&render(&state));
    assert!(text.contains("No NetworkPolicy in this source"), "{text}");
    assert!(!text.contains('⊘'), "{text}");
}
