//! The nodes' data plane end to end (rules K1-K3): the built-in scenario's kube-proxy
//! DaemonSet answers `/healthz` through a port-forward; a node whose proxy turns unhealthy is
//! found by the engine (its NodePort rows marked, `node-proxy-unhealthy`) and by the probe
//! (its health check answers 503, its NodePort fails: `probe-node-proxy-down`); a cut between
//! two nodes is named by the probe of a NodePort Service (`probe-node-forwarding`). Every run
//! only reads: get/list/watch and pods/portforward.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kubehop::engine::model::ServiceKey;
use kubehop::engine::node_proxy::NodeIssue;
use kubehop::engine::plan::{HopKind, PlanContext, PortSelector, Via, probe_plan_with};
use kubehop::engine::verdict::ProbeFindingCode;
use kubehop::engine::{EngineConfig, ProxyModel, build};
use kubehop::probe::{self, Agreement, ProbeOptions, ProbeReport, Transports};
use kubehop::sandbox::demo::demo_builder;
use kubehop::sandbox::request_log::Verb;
use kubehop::sandbox::{ControlPlaneConfig, Listening, SandboxHandle};
use serde_json::json;

use crate::support::fixtures::manifest::{Edit, deployment, service, three_nodes};
use crate::support::sandbox::{settle, start_cluster, test_client, wait_until};
use crate::support::wait::within;

async fn start_builtin() -> SandboxHandle {
    let sandbox = demo_builder()
        .expect("the built-in scenario parses")
        .control_plane(ControlPlaneConfig::immediate(Duration::from_secs(1)))
        .start()
        .await
        .expect("starts");
    settle(&sandbox).await;
    sandbox
}

fn model_of(sandbox: &SandboxHandle) -> ProxyModel {
    let store = sandbox.store();
    let snapshot = store
        .cluster_snapshot(store.resource_version())
        .expect("the store reads");
    build(&snapshot, &EngineConfig::default())
}

async fn probe_service(
    sandbox: &SandboxHandle,
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> ProbeReport {
    let store = sandbox.store();
    let snapshot = store
        .cluster_snapshot(store.resource_version())
        .expect("the store reads");
    let model = build(&snapshot, &EngineConfig::default());
    let key = ServiceKey {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    let plan = probe_plan_with(
        &model,
        &key,
        &PortSelector::All,
        Via::All,
        &PlanContext::from_snapshot(&snapshot),
    )
    .expect("a plan");
    let transports = Arc::new(Transports::loopback(client.clone()));
    let options = ProbeOptions {
        timeout: Duration::from_millis(1500),
        ..ProbeOptions::default()
    };
    within("the probe", probe::run(&plan, 1, &transports, &options)).await
}

/// Every request was a read or a port-forward.
fn assert_read_only(sandbox: &SandboxHandle) {
    let entries = sandbox.request_log().entries();
    assert!(!entries.is_empty());
    for entry in &entries {
        let read = matches!(entry.verb, Verb::Get | Verb::List | Verb::Watch);
        let forward = entry.subresource.as_deref() == Some("portforward");
        assert!(read || forward, "a request that is not a read: {entry:?}");
    }
}

/// The node-2 address of `service`'s NodePort rows, with the row's node issue.
fn node_row(
    model: &ProxyModel,
    namespace: &str,
    name: &str,
    node: &str,
) -> (SocketAddr, Option<NodeIssue>) {
    let chain = model.service(namespace, name).expect("the Service");
    let row = chain.ports[0]
        .node_ports
        .rows()
        .find(|row| row.node == node)
        .expect("a row on the node");
    let port = u16::try_from(row.port).expect("a port");
    (SocketAddr::new(row.address, port), row.node_issue)
}

#[tokio::test]
async fn an_unhealthy_node_proxy_is_found_and_its_node_port_rows_marked() {
    let sandbox = start_builtin().await;
    let client = test_client(&sandbox).await;
    wait_until(&sandbox, "every kube-proxy ready", || {
        let model = model_of(&sandbox);
        ["node-1", "node-2", "node-3"].iter().all(|node| {
            node_row(&model, "default", "mynodeportservice", node)
                .1
                .is_none()
        })
    })
    .await;
    let healthy = probe_service(&sandbox, &client, "default", "mynodeportservice").await;
    assert!(
        healthy
            .notes
            .iter()
            .all(|note| !note.contains("kube-proxy")),
        "every proxy answers 200: {:?}",
        healthy.notes
    );
    for result in healthy
        .results
        .iter()
        .filter(|r| r.kind == HopKind::NodePort)
    {
        assert_eq!(result.agreement, Agreement::Expected, "{result:?}");
    }

    assert_eq!(
        sandbox
            .set_node_proxy_healthy("node-2", false)
            .expect("switched"),
        1
    );
    let (door, _) = node_row(
        &model_of(&sandbox),
        "default",
        "mynodeportservice",
        "node-2",
    );
    wait_until(
        &sandbox,
        "node-2's row marked and its NodePort closed",
        || {
            let issue = node_row(
                &model_of(&sandbox),
                "default",
                "mynodeportservice",
                "node-2",
            )
            .1;
            matches!(issue, Some(NodeIssue::ProxyNotReady { .. }))
                && !matches!(
                    sandbox.listening().get(&door),
                    Some(Listening::NodePort { .. })
                )
        },
    )
    .await;
    settle(&sandbox).await;
    let model = model_of(&sandbox);
    let chain = model
        .service("default", "mynodeportservice")
        .expect("Service");
    let finding = chain
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == "node-proxy-unhealthy")
        .expect("node-proxy-unhealthy");
    assert_eq!(finding.subject.to_string(), "node/node-2");
    assert!(
        finding.message.contains("kube-proxy pod kube-proxy-"),
        "{}",
        finding.message
    );
    for node in ["node-1", "node-3"] {
        assert_eq!(
            node_row(&model, "default", "mynodeportservice", node).1,
            None
        );
    }

    let report = probe_service(&sandbox, &client, "default", "mynodeportservice").await;
    assert!(
        report.notes.iter().any(
            |note| note.starts_with("node node-2: kube-proxy /healthz") && note.contains("503")
        ),
        "{:?}",
        report.notes
    );
    let on_node_2 = report
        .results
        .iter()
        .find(|r| r.kind == HopKind::NodePort && r.key.0.contains("/node-2/"))
        .expect("node-2's NodePort hop");
    let finding = on_node_2
        .finding("NodePort node-2", false)
        .expect("a finding");
    assert_eq!(finding.code, ProbeFindingCode::NodeProxyDown, "{finding:?}");
    assert!(
        finding
            .message
            .contains("node node-2's kube-proxy is unhealthy"),
        "{}",
        finding.message
    );
    for result in report
        .results
        .iter()
        .filter(|r| r.kind == HopKind::NodePort && !r.key.0.contains("/node-2/"))
    {
        assert_eq!(result.agreement, Agreement::Expected, "{result:?}");
    }

    sandbox
        .set_node_proxy_healthy("node-2", true)
        .expect("healed");
    wait_until(&sandbox, "node-2 healed", || {
        node_row(
            &model_of(&sandbox),
            "default",
            "mynodeportservice",
            "node-2",
        )
        .1
        .is_none()
    })
    .await;
    assert_read_only(&sandbox);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_cut_between_nodes_is_named_by_the_probe_of_a_node_port_service() {
    let mut objects = three_nodes();
    let mut pinned = deployment("default", "pinned", 2, 8080);
    pinned["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"kubernetes.io/hostname": "node-1"});
    objects.push(pinned);
    objects.push(service("default", "pinned", 8080).spec(json!({"type": "NodePort"})));
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;

    let before = probe_service(&sandbox, &client, "default", "pinned").await;
    for result in before
        .results
        .iter()
        .filter(|r| r.kind == HopKind::NodePort)
    {
        assert_eq!(result.agreement, Agreement::Expected, "{result:?}");
    }

    sandbox.cut_nodes("node-2", "node-1", true).expect("cut");
    settle(&sandbox).await;
    let report = probe_service(&sandbox, &client, "default", "pinned").await;
    let node_port = |node: &str| {
        report
            .results
            .iter()
            .find(|r| r.kind == HopKind::NodePort && r.key.0.contains(&format!("/{node}/")))
            .unwrap_or_else(|| panic!("{node}'s NodePort hop"))
    };
    let cut = node_port("node-2");
    assert_eq!(cut.agreement, Agreement::Unexpected, "{cut:?}");
    let finding = cut.finding("NodePort node-2", false).expect("a finding");
    assert_eq!(
        finding.code,
        ProbeFindingCode::NodeForwarding,
        "{finding:?}"
    );
    assert!(
        finding
            .message
            .contains("answers on node-1, which hosts the pods, but not through node-2"),
        "{}",
        finding.message
    );
    assert!(
        finding.message.contains("not the Service"),
        "{}",
        finding.message
    );
    for node in ["node-1", "node-3"] {
        let result = node_port(node);
        assert_eq!(result.agreement, Agreement::Expected, "{result:?}");
        assert!(result.node_cause.is_none());
    }

    sandbox
        .cut_nodes("node-2", "node-1", false)
        .expect("healed");
    settle(&sandbox).await;
    let healed = probe_service(&sandbox, &client, "default", "pinned").await;
    assert_eq!(node_port_agreement(&healed, "node-2"), Agreement::Expected);
    assert_read_only(&sandbox);
    sandbox.shutdown().await;
}

fn node_port_agreement(report: &ProbeReport, node: &str) -> Agreement {
    report
        .results
        .iter()
        .find(|r| r.kind == HopKind::NodePort && r.key.0.contains(&format!("/{node}/")))
        .map(|r| r.agreement)
        .expect("the node's NodePort hop")
}
