//! Frame snapshots of NodePort rows when a node's proxy is unhealthy (rules K1, K2): the demo
//! scenario with a kube-proxy DaemonSet pod per node, node-2's not ready.

use std::sync::Arc;

use crate::support::tui::*;
use crossterm::event::KeyCode;
use insta::assert_snapshot;
use k8s_openapi::api::core::v1::Pod;
use kubehop::engine::objects::PodInfo;
use rstest::rstest;
use serde_json::json;

fn kube_proxy(node: &str, n: u8, ready: bool) -> Arc<PodInfo> {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": format!("kube-proxy-{n}x7kq"), "namespace": "kube-system",
                     "labels": {"k8s-app": "kube-proxy"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-proxy", "uid": "ds", "controller": true}]},
        "spec": {"nodeName": node, "hostNetwork": true, "containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.37.0"}]},
        "status": {"phase": "Running", "podIP": format!("127.0.1.{n}"),
                   "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                   "containerStatuses": [{"name": "kube-proxy", "ready": ready, "restartCount": if ready { 0 } else { 4 }, "image": "", "imageID": "",
                                          "state": if ready { json!({"running": {}}) } else { json!({"waiting": {"reason": "CrashLoopBackOff"}}) }}]}
    }))
    .expect("a pod");
    Arc::new(pod.into())
}

#[rstest]
fn node_port_rows_of_an_unhealthy_proxy(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut snapshot = demo_snapshot();
    for (n, node) in ["node-1", "node-2", "node-3"].into_iter().enumerate() {
        let n = u8::try_from(n + 1).expect("small");
        std::sync::Arc::make_mut(&mut snapshot.pods).push(kube_proxy(node, n, node != "node-2"));
    }
    let mut state = app_with(snapshot, size.0, size.1);
    open_service(&mut state, "default/mynodeportservice");
    let terminal = render(&state);
    assert_snapshot!(
        format!("node_port_rows_unhealthy_proxy_{}x{}", size.0, size.1),
        terminal.backend()
    );
}

/// Rule K3 in the Explain pane: an endpoint's address is in its node's pod range, so the
/// packet crosses to that node; the NodePort rows keep each node's range at both sizes.
#[rstest]
fn explain_names_the_node_whose_pod_range_holds_an_endpoint(
    #[values((80, 24), (120, 40))] size: (u16, u16),
) {
    let mut state = app_with(demo_snapshot(), size.0, size.1);
    open_service(&mut state, "default/mynodeportservice");
    let rows = screen_text(&render(&state));
    for (node, range) in [("node-1", "127.1.1.0/24"), ("node-3", "127.1.3.0/24")] {
        assert!(
            rows.lines()
                .any(|line| line.contains(&format!("{node} 127.0.1.")) && line.contains(range)),
            "{node}'s row shows {range}: {rows}"
        );
    }
    let mut text = String::new();
    for _ in 0..12 {
        press(&mut state, KeyCode::Char('j'));
        text = screen_text(&render(&state));
        if text.contains("Explain endpoint") {
            break;
        }
    }
    assert!(text.contains("Explain endpoint"), "{text}");
    let terminal = render(&state);
    let flat: String = screen_text(&terminal)
        .lines()
        .map(|line| line.trim_matches(|c: char| c == '│' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains("pod range"), "{flat}");
    assert_snapshot!(
        format!("explain_endpoint_pod_range_{}x{}", size.0, size.1),
        terminal.backend()
    );
}

/// eTP Local (rules C9, K2): the only node with local endpoints has an unhealthy proxy, so its
/// NodePort row (the one that answers) is marked, its Explain says the answer is in doubt and
/// the Diagnostics tab has node-proxy-unhealthy.
#[rstest]
fn an_etp_local_answer_on_a_node_with_an_unhealthy_proxy_is_marked(
    #[values((80, 24), (120, 40))] size: (u16, u16),
) {
    let mut snapshot = demo_snapshot();
    for (n, node) in ["node-1", "node-2", "node-3"].into_iter().enumerate() {
        let n = u8::try_from(n + 1).expect("small");
        std::sync::Arc::make_mut(&mut snapshot.pods).push(kube_proxy(node, n, node != "node-1"));
    }
    let mut state = app_with(snapshot, size.0, size.1);
    open_service(&mut state, "edge/gateway");
    for _ in 0..20 {
        let on_row = state
            .selected_node()
            .and_then(|selected| selected.hop.as_ref())
            .is_some_and(|hop| hop.to_string().contains("/nodePort/node-1/"));
        if on_row {
            break;
        }
        press(&mut state, KeyCode::Char('j'));
    }
    press(&mut state, KeyCode::Char('2'));
    let terminal = render(&state);
    let text = screen_text(&terminal);
    // Whole at 120 columns, in its fewest words at 80.
    let words = if size.0 >= 120 {
        "kube-proxy not ready"
    } else {
        "proxy down"
    };
    assert!(
        text.contains(&format!("! node-1 127.0.1.1:31080 · {words}")),
        "{text}"
    );
    assert!(text.contains("node-proxy-unhealthy"), "{text}");
    let flat: String = text
        .lines()
        .map(|line| line.trim_matches(|c: char| c == '│' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ");
    // The Explain pane of 80x24 is cut before it (it scrolls); 120x40 shows it whole.
    if size.0 >= 120 {
        assert!(flat.contains("That is if node-1 forwards at all"), "{flat}");
    }
    assert_snapshot!(
        format!("etp_local_unhealthy_proxy_{}x{}", size.0, size.1),
        terminal.backend()
    );
}
