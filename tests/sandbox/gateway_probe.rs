//! Probes of Gateway TLSRoute and TCPRoute hops through the sandbox's Gateway, for real on
//! loopback: a TLS handshake with the route's hostname as SNI, passed through to a pod that
//! terminates TLS itself (the certificate presented is the pod's, and says so); a TCP
//! connection through the listener to an echoing pod; and the same routes to pods that do not
//! listen where their Service sends, which fail with their codes. A name no route takes is
//! refused by the Gateway with an `unrecognized_name` alert: `probe-tls-sni-not-routed`.

use std::sync::Arc;
use std::time::Duration;

use kubehop::engine::build;
use kubehop::engine::config::EngineConfig;
use kubehop::engine::model::ServiceKey;
use kubehop::engine::plan::{
    HopKind, PlanContext, PortSelector, StreamProbe, Via, probe_plan_with,
};
use kubehop::probe::{
    self, Agreement, CheckSpec, DialTarget, ProbeOptions, ProbeOutcome, TlsFailure, Transports,
};
use kubehop::sandbox::SandboxHandle;
use kubehop::sandbox::gateway::{GATEWAY_CLASS, crds};
use serde_json::{Value, json};

use super::gateway::{gateway_socket, gw, object};
use crate::support::fixtures::manifest::{deployment, service, three_nodes};
use crate::support::sandbox::{settle, start_cluster, wait_until};
use crate::support::wait::within;

/// vault (terminates TLS), db (echoes) and broken (listens on 9999, not where its Service
/// sends) behind one Gateway: TLS passthrough on 8443, TCP on 5432 and 5433.
fn world() -> Vec<Value> {
    let mut objects = three_nodes();
    objects.extend(crds());
    objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}));
    for name in ["vault", "db", "broken"] {
        let mut app = deployment("shop", name, 1, 8080);
        let annotations = &mut app["spec"]["template"]["metadata"]["annotations"];
        match name {
            "vault" => *annotations = json!({"sandbox.kubehop.dev/app": "tls"}),
            "broken" => *annotations = json!({"sandbox.kubehop.dev/listen": "9999"}),
            _ => {}
        }
        objects.push(app);
        objects.push(service("shop", name, 80));
    }
    let backend = |name: &str| json!([{"backendRefs": [{"name": name, "port": 80}]}]);
    objects.extend([
        gw(
            "Gateway",
            "shop",
            "edge",
            json!({"gatewayClassName": GATEWAY_CLASS, "listeners": [
                {"name": "tls", "port": 8443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
                {"name": "tcp", "port": 5432, "protocol": "TCP"},
                {"name": "tcp-broken", "port": 5433, "protocol": "TCP"},
            ]}),
        ),
        gw(
            "TLSRoute",
            "shop",
            "vault",
            json!({
            "parentRefs": [{"name": "edge", "sectionName": "tls"}],
            "hostnames": ["vault.shop.test"], "rules": backend("vault")}),
        ),
        gw(
            "TLSRoute",
            "shop",
            "broken-tls",
            json!({
            "parentRefs": [{"name": "edge", "sectionName": "tls"}],
            "hostnames": ["broken.shop.test"], "rules": backend("broken")}),
        ),
        gw(
            "TCPRoute",
            "shop",
            "db",
            json!({
            "parentRefs": [{"name": "edge", "sectionName": "tcp"}], "rules": backend("db")}),
        ),
        gw(
            "TCPRoute",
            "shop",
            "broken-tcp",
            json!({
            "parentRefs": [{"name": "edge", "sectionName": "tcp-broken"}],
            "rules": backend("broken")}),
        ),
    ]);
    objects
}

/// Probes the Gateway hops of Service `shop/NAME` (`--via ingress`).
async fn probe_service(
    sandbox: &SandboxHandle,
    client: kube::Client,
    name: &str,
) -> probe::ProbeReport {
    let store = sandbox.store();
    let snapshot = store
        .cluster_snapshot(store.resource_version())
        .expect("snapshot");
    let plan = probe_plan_with(
        &build(&snapshot, &EngineConfig::default()),
        &ServiceKey {
            namespace: "shop".into(),
            name: name.into(),
        },
        &PortSelector::All,
        Via::Ingress,
        &PlanContext::from_snapshot(&snapshot),
    )
    .expect("a plan");
    assert!(
        !plan.hops.is_empty() && plan.hops.iter().all(|hop| hop.kind == HopKind::Gateway),
        "{plan:#?}"
    );
    let transports = Arc::new(Transports::loopback(client));
    within(
        "the probe",
        probe::run(&plan, 1, &transports, &ProbeOptions::default()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_tcp_route_hops_are_probed_through_the_gateway() {
    let (sandbox, client) = start_cluster(world(), Duration::ZERO).await;
    wait_until(&sandbox, "the routes' status", || {
        object(&sandbox, "TCPRoute", "shop", "broken-tcp")
            .is_some_and(|r| !r["status"]["parents"].is_null())
    })
    .await;
    let tls = gateway_socket(&sandbox, "shop", "edge", 8443).await;
    gateway_socket(&sandbox, "shop", "edge", 5432).await;
    gateway_socket(&sandbox, "shop", "edge", 5433).await;
    settle(&sandbox).await;

    // TLS passthrough: the handshake completes with the vault pod, whose certificate names it.
    let report = probe_service(&sandbox, client.clone(), "vault").await;
    let [hop] = report.results.as_slice() else {
        panic!("one hop: {report:#?}");
    };
    assert_eq!(hop.agreement, Agreement::Expected, "{hop:#?}");
    let answer = hop.outcome.answer().expect("an answer");
    assert!(
        answer
            .tls
            .as_deref()
            .is_some_and(|t| t.starts_with("TLS 1.")),
        "{hop:#?}"
    );
    let certificate = answer.certificate.as_deref().unwrap_or_default();
    assert!(
        certificate.starts_with("\"vault.shop.test\" (O=\"kubehop sandbox pod shop/vault-")
            && certificate.ends_with("issued by \"kubehop-sandbox-ca\""),
        "{certificate}"
    );
    let by = hop
        .answered_by
        .as_ref()
        .expect("the certificate names the pod");
    assert!(
        by.pod.starts_with("vault-") && by.from == "certificate",
        "{by:?}"
    );

    // TCP: the line sent comes back from the echoing db pod.
    let report = probe_service(&sandbox, client.clone(), "db").await;
    let [hop] = report.results.as_slice() else {
        panic!("one hop: {report:#?}");
    };
    assert_eq!(hop.agreement, Agreement::Expected, "{hop:#?}");
    assert_eq!(
        hop.outcome.answer().map(|a| a.first_bytes.as_str()),
        Some("kubehop-probe"),
        "{hop:#?}"
    );

    // The same routes to pods that do not listen: the Gateway resets what it cannot splice.
    let report = probe_service(&sandbox, client.clone(), "broken").await;
    let mut codes: Vec<String> = report
        .results
        .iter()
        .map(|result| {
            assert_eq!(result.agreement, Agreement::Unexpected, "{result:#?}");
            let finding = result.finding("hop", false).expect("a finding");
            finding.code.to_string()
        })
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        ["probe-tls-handshake-failed", "probe-unexpected-reset"],
        "{report:#?}"
    );

    // A name no route takes: the Gateway's unrecognized_name alert.
    let spec = CheckSpec {
        timeout: Duration::from_secs(2),
        http: None,
        answer_window: Duration::from_millis(100),
        stream: Some(StreamProbe::Tls {
            sni: "nobody.shop.test".into(),
        }),
    };
    let dialer = probe::DirectDialer::new(probe::NetworkScope::LoopbackOnly);
    let outcome =
        probe::check::check(&dialer, &DialTarget::Socket(tls), HopKind::Gateway, &spec).await;
    assert!(
        matches!(&outcome, ProbeOutcome::Connected { answer: Some(a), .. }
            if a.tls_failure == Some(TlsFailure::SniNotRouted)),
        "{outcome:?}"
    );
    within("shutdown", sandbox.shutdown()).await;
}
