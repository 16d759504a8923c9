//! Frame snapshots of NodePort rows when a node's proxy is unhealthy (rules K1, K2): the demo
//! scenario with a kube-proxy DaemonSet pod per node, node-2's not ready.

use std::sync::Arc;

use crate::support::tui::*;
use insta::assert_snapshot;
use k8s_openapi::api::core::v1::Pod;
use rstest::rstest;
use serde_json::json;

fn kube_proxy(node: &str, n: u8, ready: bool) -> Arc<Pod> {
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
    Arc::new(pod)
}

#[rstest]
fn node_port_rows_of_an_unhealthy_proxy(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut snapshot = demo_snapshot();
    for (n, node) in ["node-1", "node-2", "node-3"].into_iter().enumerate() {
        let n = u8::try_from(n + 1).expect("small");
        snapshot.pods.push(kube_proxy(node, n, node != "node-2"));
    }
    let mut state = app_with(snapshot, size.0, size.1);
    open_service(&mut state, "default/mynodeportservice");
    let terminal = render(&state);
    assert_snapshot!(
        format!("node_port_rows_unhealthy_proxy_{}x{}", size.0, size.1),
        terminal.backend()
    );
}
