//! The DNS probe and the node checks through the command line, on the built-in scenario:
//! `kubehop probe` of a NodePort Service asks the cluster DNS (every lookup matched) and each
//! node's proxy, and the sandbox's request log holds only reads and port-forwards; a frozen
//! DNS pod becomes a `dns-stale-answer` finding in `kubehop probe` and in `chain --probe`; the
//! sandbox's `--fault-*` flags for DNS and nodes switch the faults the probe then names.
//! Loopback only.

use std::time::Duration;

use clap::Parser;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, PostParams};
use kubehop::cli::{Cli, Command, SandboxArgs};
use kubehop::cmd::sandbox_faults::DataPlaneFaults;
use kubehop::engine::dnscheck::{self, ClusterDns};
use kubehop::engine::{self, EngineConfig, ProxyModel};
use kubehop::sandbox::demo::demo_builder;
use kubehop::sandbox::request_log::Verb;
use kubehop::sandbox::{ControlPlaneConfig, SandboxHandle};
use serde_json::Value;

use crate::support::bin::{kubehop_isolated_output, stderr};
use crate::support::sandbox::{settle, test_client, wait_until};

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

fn model(sandbox: &SandboxHandle) -> ProxyModel {
    let store = sandbox.store();
    let snapshot = store
        .cluster_snapshot(store.resource_version())
        .expect("the store reads");
    engine::build(&snapshot, &EngineConfig::default())
}

/// Whether `node`'s NodePort row of mynodeportservice carries a node issue (its proxy).
fn node_marked(model: &ProxyModel, node: &str) -> bool {
    let chain = model
        .service("default", "mynodeportservice")
        .expect("the Service");
    chain.ports[0]
        .node_ports
        .rows()
        .find(|row| row.node == node)
        .is_some_and(|row| row.node_issue.is_some())
}

/// Both DNS pods ready behind kube-dns, and no NodePort row marked (every proxy ready).
async fn ready(sandbox: &SandboxHandle) -> ClusterDns {
    wait_until(sandbox, "two DNS pods and three healthy proxies", || {
        let model = model(sandbox);
        dnscheck::find_cluster_dns(&model, None).is_some_and(|dns| dns.pods.len() == 2)
            && ["node-1", "node-2", "node-3"]
                .iter()
                .all(|node| !node_marked(&model, node))
    })
    .await;
    settle(sandbox).await;
    dnscheck::find_cluster_dns(&model(sandbox), None).expect("found")
}

/// `kubehop ARGS --kubeconfig` the sandbox's; the output as JSON, and the exit status.
async fn run_json(sandbox: &SandboxHandle, args: &[&str]) -> (Value, Option<i32>) {
    let mut args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    args.extend([
        "-o".to_owned(),
        "json".to_owned(),
        "--kubeconfig".to_owned(),
        sandbox.kubeconfig_path().display().to_string(),
    ]);
    let output = kubehop_isolated_output(args).await;
    let document = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("JSON ({err}): {}", stderr(&output)));
    (document, output.status.code())
}

/// `kubehop ARGS --kubeconfig` the sandbox's, in text; standard output.
async fn run_text(sandbox: &SandboxHandle, args: &[&str]) -> String {
    let mut args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    args.extend([
        "--kubeconfig".to_owned(),
        sandbox.kubeconfig_path().display().to_string(),
    ]);
    let output = kubehop_isolated_output(args).await;
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn codes(findings: &Value) -> Vec<&str> {
    findings
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|finding| finding["code"].as_str())
        .collect()
}

/// Every request was a get, list or watch, or a port-forward to a pod.
fn assert_read_only(sandbox: &SandboxHandle) {
    let entries = sandbox.request_log().entries();
    assert!(!entries.is_empty());
    for entry in &entries {
        let read = matches!(entry.verb, Verb::Get | Verb::List | Verb::Watch);
        let forward = entry.verb == Verb::PortForward
            && entry.resource.as_deref() == Some("pods")
            && entry.subresource.as_deref() == Some("portforward");
        assert!(read || forward, "a request that is not a read: {entry:?}");
    }
    assert!(sandbox.request_log().writes().is_empty());
}

/// The pods port-forwarded to, by namespace.
fn forwarded(sandbox: &SandboxHandle, namespace: &str) -> Vec<String> {
    let mut pods: Vec<String> = sandbox
        .request_log()
        .entries()
        .into_iter()
        .filter(|entry| entry.verb == Verb::PortForward)
        .filter(|entry| entry.namespace.as_deref() == Some(namespace))
        .filter_map(|entry| entry.name)
        .collect();
    pods.sort();
    pods.dedup();
    pods
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubehop_probe_asks_the_cluster_dns_and_the_node_proxies_and_only_reads() {
    let sandbox = start_builtin().await;
    let server = ready(&sandbox).await;
    sandbox.request_log().clear();
    let (document, status) = run_json(&sandbox, &["probe", "default/mynodeportservice"]).await;
    assert_eq!(status, Some(0), "{document:#}");
    let dns = &document["dns"];
    assert_eq!(dns["server"]["name"], "kube-dns", "{dns:#}");
    assert_eq!(dns["server"]["foundBy"], "label", "{dns:#}");
    let lookups = dns["lookups"].as_array().expect("lookups");
    assert!(lookups.len() >= 4, "{dns:#}");
    assert_eq!(dns["matched"], lookups.len(), "{dns:#}");
    for lookup in lookups {
        assert_eq!(lookup["matched"], true, "{lookup:#}");
        assert_eq!(lookup["answers"].as_array().map(Vec::len), Some(2));
    }
    assert_eq!(dns["findings"], serde_json::json!([]), "{dns:#}");
    assert!(
        document["hops"]
            .as_array()
            .expect("hops")
            .iter()
            .any(|hop| hop["kind"] == "nodePort"),
        "{document:#}"
    );
    // Read-only: every DNS pod and every node's proxy asked through port-forwards, nothing else.
    assert_read_only(&sandbox);
    let system = forwarded(&sandbox, "kube-system");
    for pod in &server.pods {
        assert!(system.contains(&pod.name), "{system:?}");
    }
    assert!(
        system
            .iter()
            .filter(|pod| pod.starts_with("kube-proxy"))
            .count()
            == 3,
        "{system:?}"
    );
    sandbox.shutdown().await;
}

/// Makes `namespace/name` anew (it gets another cluster IP); returns once the model has it.
async fn recreate(sandbox: &SandboxHandle, namespace: &str, name: &str) {
    let client = test_client(sandbox).await;
    let old_ip = model(sandbox)
        .service(namespace, name)
        .expect("the Service")
        .cluster_ips[0];
    let services: Api<Service> = Api::namespaced(client, namespace);
    let mut service = services.get(name).await.expect("reads");
    services
        .delete(name, &DeleteParams::default())
        .await
        .expect("deletes");
    service.metadata.resource_version = None;
    service.metadata.uid = None;
    service.metadata.creation_timestamp = None;
    service.metadata.managed_fields = None;
    if let Some(spec) = service.spec.as_mut() {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    }
    service.status = None;
    services
        .create(&PostParams::default(), &service)
        .await
        .expect("creates");
    wait_until(sandbox, "a new cluster IP", || {
        model(sandbox)
            .service(namespace, name)
            .is_some_and(|chain| chain.cluster_ips.first().is_some_and(|ip| *ip != old_ip))
    })
    .await;
    settle(sandbox).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_dns_pod_is_a_finding_of_probe_and_of_chain_probe() {
    let sandbox = start_builtin().await;
    let server = ready(&sandbox).await;
    // The flag's way: `--fault-freeze-dns` alone freezes the first DNS pod.
    let faults = sandbox_args(&["--fault-freeze-dns"]);
    let lines = DataPlaneFaults::of(&faults)
        .expect("valid")
        .apply(&sandbox)
        .expect("applied");
    let frozen = &server.pods[0].name;
    assert_eq!(
        lines,
        [format!(
            "fault: DNS pod kube-system/{frozen} frozen (it keeps answering today's records)"
        )]
    );
    recreate(&sandbox, "shop", "web").await;

    sandbox.request_log().clear();
    let (document, status) = run_json(&sandbox, &["probe", "shop/web"]).await;
    assert_eq!(status, Some(1), "{document:#}");
    let findings = &document["dns"]["findings"];
    assert_eq!(codes(findings), ["dns-stale-answer"], "{findings:#}");
    assert_eq!(findings[0]["subject"], "DNS web.shop.svc.cluster.local A");
    let message = findings[0]["message"].as_str().expect("a message");
    assert!(message.contains(frozen.as_str()), "{message}");
    assert!(message.contains(&server.pods[1].name), "{message}");
    assert_read_only(&sandbox);

    // The same finding in `chain --probe`, making the Service broken.
    let (chain, status) = run_json(&sandbox, &["chain", "shop/web", "--probe"]).await;
    assert_eq!(status, Some(1), "{chain:#}");
    let web = &chain["services"][0];
    assert_eq!(web["health"], "broken", "{web:#}");
    assert!(
        codes(&web["probeFindings"]).contains(&"dns-stale-answer"),
        "{web:#}"
    );
    let same = web["probeFindings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|finding| finding["code"] == "dns-stale-answer")
        .expect("the DNS finding");
    assert_eq!(same, &findings[0], "one finding object in both");

    // In text: the probe's DNS part, and the chain's DNS records marked one by one.
    let probed = run_text(&sandbox, &["probe", "shop/web"]).await;
    let dns_part = probed
        .split_once("\nDNS  kube-system/kube-dns")
        .map(|(_, part)| part)
        .unwrap_or_else(|| panic!("a DNS part: {probed}"));
    assert!(dns_part.contains("✗ stale"), "{probed}");
    assert!(dns_part.contains("dns-stale-answer"), "{probed}");
    let chain = run_text(&sandbox, &["chain", "shop/web", "--probe"]).await;
    let record = chain
        .lines()
        .find(|line| line.contains("web.shop.svc.cluster.local") && line.contains(" A "))
        .unwrap_or_else(|| panic!("the A record: {chain}"));
    assert!(record.contains("✗ stale"), "{record}");
    let srv = chain
        .lines()
        .find(|line| line.contains("_http._tcp.web.shop.svc.cluster.local"))
        .unwrap_or_else(|| panic!("the SRV record: {chain}"));
    assert!(srv.contains("✓ 2/2 pods"), "{srv}");
    sandbox.shutdown().await;
}

/// `kubehop sandbox ARGS` as parsed.
fn sandbox_args(args: &[&str]) -> SandboxArgs {
    let cli = Cli::try_parse_from(["kubehop", "sandbox"].iter().chain(args)).expect("parses");
    match cli.command {
        Some(Command::Sandbox(args)) => args,
        other => panic!("not the sandbox command: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_fault_flags_are_named_by_the_probe() {
    let sandbox = start_builtin().await;
    ready(&sandbox).await;
    let args = sandbox_args(&[
        "--fault-node-proxy-down",
        "node-3",
        "--fault-cut-nodes",
        "node-1,node-2",
    ]);
    let lines = DataPlaneFaults::of(&args)
        .expect("valid")
        .apply(&sandbox)
        .expect("applied");
    assert_eq!(
        lines,
        [
            "fault: kube-proxy of node-3 unhealthy (its NodePorts stop answering)",
            "fault: forwarding between node-1 and node-2 cut",
        ]
    );
    wait_until(&sandbox, "node-3's NodePort row marked", || {
        node_marked(&model(&sandbox), "node-3")
    })
    .await;
    settle(&sandbox).await;
    let (document, status) = run_json(&sandbox, &["probe", "default/mynodeportservice"]).await;
    assert_eq!(status, Some(1), "{document:#}");
    let node_port = |node: &str| {
        document["hops"]
            .as_array()
            .expect("hops")
            .iter()
            .find(|hop| hop["kind"] == "nodePort" && hop["node"] == node)
            .unwrap_or_else(|| panic!("{node}'s NodePort hop: {document:#}"))
            .clone()
    };
    let down = node_port("node-3");
    assert_eq!(down["agreement"], "unexpected", "{down:#}");
    assert!(
        down["why"]
            .as_str()
            .is_some_and(|why| why.contains("kube-proxy")),
        "{down:#}"
    );

    // Bad values are refused before anything starts.
    for bad in [
        ["--fault-cut-nodes", "node-1"],
        ["--fault-cut-nodes", "node-1,node-1"],
    ] {
        assert!(DataPlaneFaults::of(&sandbox_args(&bad)).is_err(), "{bad:?}");
    }
    let unknown = sandbox_args(&["--fault-node-proxy-down", "node-9"]);
    let refused = DataPlaneFaults::of(&unknown)
        .expect("valid syntax")
        .apply(&sandbox)
        .expect_err("no such node");
    assert!(refused.to_string().contains("node-9"), "{refused}");
    sandbox.shutdown().await;
}
