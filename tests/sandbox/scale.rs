//! Measurements at the synthetic size (10,000 Services, 50,000 pods, 500 nodes, one
//! EndpointSlice per Service): the API server on a loaded store, and the `kubehop sandbox`
//! binary (built-in scenario startup and RSS; `--api-only` with the synthetic cluster from
//! `cluster::synthetic::objects` as a scenario file). Ignored by default; run with
//! `cargo test --release --locked --test sandbox scale:: -- --ignored --nocapture` and read the
//! figures (README, "Sandbox"). The assertions check the counts, never the timings.

use std::time::Instant;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};
use kubehop::sandbox::{ResourceId, Sandbox, Store};
use serde_json::{Value, json};

use crate::support::bin::find_kubectl;
use crate::support::fixtures::manifest::{Edit, node, pod};
use crate::support::sandbox::{read_banner, spawn_sandbox_binary, table_request};

const NODES: usize = 500;
const SERVICES: usize = 10_000;
const PODS_PER_SERVICE: usize = 5;

fn rss_mib() -> f64 {
    rss_in("/proc/self/status")
}

/// The VmRSS (MiB) a /proc status file reports; 0 where it cannot be read.
fn rss_in(status_file: &str) -> f64 {
    let status = std::fs::read_to_string(status_file).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn ip(i: usize) -> String {
    format!("127.{}.{}.{}", 1 + i / 65_536, (i / 256) % 256, i % 256)
}

fn nodes() -> Vec<Value> {
    (0..NODES)
        .map(|n| node(&format!("node-{n:03}"), &format!("zone-{}", n % 3)).registered(&ip(n)))
        .collect()
}

/// Services `range`, each with its pods and EndpointSlice.
fn services(range: std::ops::Range<usize>) -> Vec<Value> {
    let mut objects = Vec::new();
    for s in range {
        let app = format!("app-{s:05}");
        let mut endpoints = Vec::new();
        for p in 0..PODS_PER_SERVICE {
            let index = s * PODS_PER_SERVICE + p;
            let name = format!("{app}-{p}");
            let node_name = format!("node-{:03}", index % NODES);
            let address = ip(100_000 + index);
            objects.push(pod(&name, &address, &node_name).labels(json!({"app": app})));
            endpoints.push(json!({"addresses": [address], "conditions": {"ready": true, "serving": true, "terminating": false},
                                  "nodeName": node_name, "targetRef": {"kind": "Pod", "name": name, "namespace": "default"}}));
        }
        objects.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": app, "namespace": "default"},
            "spec": {"selector": {"app": app}, "clusterIP": ip(400_000 + s), "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}));
        objects.push(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{app}-abcde"), "namespace": "default", "labels": {"kubernetes.io/service-name": app}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}], "endpoints": endpoints}));
    }
    objects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --release --ignored --nocapture"]
async fn synthetic_cluster_figures() {
    // Startup of an empty API server (certificate generation included).
    let started = Instant::now();
    let empty = Sandbox::builder().start().await.expect("start");
    let empty_startup = started.elapsed();
    let empty_client = empty.client().await.expect("client");
    let _ = Api::<Pod>::all(empty_client)
        .list(&ListParams::default())
        .await
        .expect("first list");
    let first_answer = started.elapsed();
    let rss_empty = rss_mib();
    drop(empty);

    // Objects are built and loaded in batches, so the RSS growth is the store's.
    let rss_before = rss_mib();
    let started = Instant::now();
    let store = Store::default();
    let mut report = store.load_objects(nodes());
    for batch in (0..SERVICES).step_by(100) {
        let more = store.load_objects(services(batch..batch + 100));
        report.loaded += more.loaded;
        report.skipped.extend(more.skipped);
    }
    let load = started.elapsed();
    assert!(
        report.skipped.is_empty(),
        "{:?}",
        &report.skipped[..report.skipped.len().min(5)]
    );
    assert_eq!(report.loaded, NODES + SERVICES * (2 + PODS_PER_SERVICE));
    let rss_loaded = rss_mib();
    assert_eq!(
        store.list_objects(ResourceId::Pods, None).0.len(),
        SERVICES * PODS_PER_SERVICE
    );
    assert_eq!(
        store.list_objects(ResourceId::Endpoints, None).0.len(),
        SERVICES
    );

    let started = Instant::now();
    let sandbox = Sandbox::builder()
        .store(store)
        .start()
        .await
        .expect("start");
    let startup = started.elapsed();
    let client = sandbox.client().await.expect("client");

    let pods: Api<Pod> = Api::all(client.clone());
    let started = Instant::now();
    let page = pods
        .list(&ListParams::default().limit(500))
        .await
        .expect("page");
    let first_page = started.elapsed();
    assert_eq!(page.items.len(), 500);

    let started = Instant::now();
    let total = count_paged(&pods).await;
    let all_pods_paged = started.elapsed();
    assert_eq!(total, SERVICES * PODS_PER_SERVICE);

    let started = Instant::now();
    let all = pods
        .list(&ListParams::default())
        .await
        .expect("unpaged list");
    let all_pods_unpaged = started.elapsed();
    assert_eq!(all.items.len(), SERVICES * PODS_PER_SERVICE);
    drop(all);

    let services: Api<Service> = Api::all(client.clone());
    let started = Instant::now();
    let listed = services
        .list(&ListParams::default())
        .await
        .expect("services");
    let all_services = started.elapsed();
    assert_eq!(listed.items.len(), SERVICES);

    let started = Instant::now();
    let selected = pods
        .list(
            &ListParams::default()
                .labels("app=app-04242")
                .fields("spec.nodeName=node-210"),
        )
        .await
        .expect("selected");
    let selector_scan = started.elapsed();
    assert_eq!(selected.items.len(), 1);

    let request = table_request("/api/v1/pods?limit=500");
    let started = Instant::now();
    let table: Value = client.request(request).await.expect("table");
    let table_page = started.elapsed();
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(500));

    let kubectl_figure = match find_kubectl() {
        Some(kubectl) => {
            let cache =
                std::env::temp_dir().join(format!("kubehop-scale-cache-{}", std::process::id()));
            let (elapsed, output) =
                kubectl_get_all(&kubectl, "pods", &cache, sandbox.kubeconfig_path()).await;
            let _ = std::fs::remove_dir_all(&cache);
            assert!(output.status.success());
            let rows = String::from_utf8_lossy(&output.stdout).lines().count();
            assert_eq!(rows, SERVICES * PODS_PER_SERVICE);
            format!("{elapsed:?} for {rows} rows")
        }
        None => "SKIP (no kubectl)".to_string(),
    };

    eprintln!("\n==== sandbox API server figures ====");
    eprintln!(
        "empty API server: start {empty_startup:?}, first list answered after {first_answer:?}, RSS {rss_empty:.1} MiB"
    );
    eprintln!(
        "synthetic store: {NODES} nodes, {SERVICES} Services, {} pods, {SERVICES} EndpointSlices (+{SERVICES} derived Endpoints)",
        SERVICES * PODS_PER_SERVICE
    );
    eprintln!("build + load_objects: {load:?}; RSS {rss_before:.1} -> {rss_loaded:.1} MiB");
    eprintln!("API server start on the loaded store: {startup:?}");
    eprintln!("kube-rs list pods, first page of 500: {first_page:?}");
    eprintln!("kube-rs list all pods, pages of 500: {all_pods_paged:?}");
    eprintln!("kube-rs list all pods, one request: {all_pods_unpaged:?}");
    eprintln!("kube-rs list all Services, one request: {all_services:?}");
    eprintln!("label + field selector over 50,000 pods: {selector_scan:?}");
    eprintln!("Table page of 500 pods (kubectl get pods -A): {table_page:?}");
    eprintln!("kubectl get pods -A (chunks of 500, Tables): {kubectl_figure}");
    eprintln!("RSS at the end: {:.1} MiB", rss_mib());
}

/// `kubehop sandbox` (the built binary): time until the banner and RSS for one run.
struct BinaryRun {
    child: tokio::process::Child,
    banner_after: std::time::Duration,
    kubeconfig: std::path::PathBuf,
}

async fn run_binary(args: &[&str], kubeconfig: &std::path::Path) -> BinaryRun {
    let started = Instant::now();
    let (child, mut lines) = spawn_sandbox_binary(kubeconfig, args);
    read_banner(&mut lines).await;
    BinaryRun {
        child,
        banner_after: started.elapsed(),
        kubeconfig: kubeconfig.to_path_buf(),
    }
}

fn rss_of(pid: u32) -> f64 {
    rss_in(&format!("/proc/{pid}/status"))
}

async fn client_for(kubeconfig: &std::path::Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --release --ignored --nocapture"]
async fn kubehop_sandbox_figures() {
    let scratch = std::env::temp_dir().join(format!("kubehop-figures-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch");

    // The built-in scenario, data plane on.
    let mut builtin = run_binary(&[], &scratch.join("builtin.kubeconfig")).await;
    let pid = builtin.child.id().expect("pid");
    let client = client_for(&builtin.kubeconfig).await;
    let pods = Api::<Pod>::all(client)
        .list(&ListParams::default())
        .await
        .expect("pods");
    assert_eq!(pods.items.len(), 28);
    let builtin_rss = rss_of(pid);
    builtin.child.kill().await.expect("stop");

    // The synthetic cluster as one scenario file, --api-only.
    let spec = kubehop::cluster::synthetic::SyntheticSpec::default();
    let objects = kubehop::cluster::synthetic::objects(&spec);
    let file = scratch.join("synthetic.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&file, serde_json::to_vec(&list).expect("json")).expect("write");
    let size_mib = std::fs::metadata(&file).map_or(0.0, |m| m.len() as f64 / 1048576.0);
    let file_arg = file.to_string_lossy().into_owned();
    let mut synthetic = run_binary(
        &["--api-only", "--scenario", &file_arg],
        &scratch.join("synthetic.kubeconfig"),
    )
    .await;
    let pid = synthetic.child.id().expect("pid");
    let client = client_for(&synthetic.kubeconfig).await;
    let pods: Api<Pod> = Api::all(client.clone());
    let started = Instant::now();
    let total = count_paged(&pods).await;
    let pods_paged = started.elapsed();
    assert_eq!(total, spec.pods);
    let started = Instant::now();
    let services = Api::<Service>::all(client)
        .list(&ListParams::default())
        .await
        .expect("services");
    let services_listed = started.elapsed();
    assert_eq!(services.items.len(), spec.services);
    let kubectl_figure = match find_kubectl() {
        Some(kubectl) => {
            let (elapsed, output) = kubectl_get_all(
                &kubectl,
                "pods",
                &scratch.join("cache"),
                &synthetic.kubeconfig,
            )
            .await;
            assert!(output.status.success());
            let rows = String::from_utf8_lossy(&output.stdout).lines().count();
            assert_eq!(rows, spec.pods);
            let (services_elapsed, output) = kubectl_get_all(
                &find_kubectl().expect("kubectl"),
                "svc",
                &scratch.join("cache"),
                &synthetic.kubeconfig,
            )
            .await;
            assert!(output.status.success());
            format!("get pods -A {elapsed:?} ({rows} rows), get svc -A {services_elapsed:?}")
        }
        None => "SKIP (no kubectl)".to_string(),
    };
    let synthetic_rss = rss_of(pid);
    synthetic.child.kill().await.expect("stop");
    let _ = std::fs::remove_dir_all(&scratch);

    eprintln!("\n==== kubehop sandbox figures ====");
    eprintln!(
        "built-in scenario: banner after {:?}, RSS {builtin_rss:.1} MiB",
        builtin.banner_after
    );
    eprintln!(
        "--api-only synthetic ({} Services, {} pods, {} nodes; {size_mib:.0} MiB of JSON): banner after {:?}, RSS {synthetic_rss:.0} MiB",
        spec.services, spec.pods, spec.nodes, synthetic.banner_after
    );
    eprintln!("kube-rs list all pods (pages of 500): {pods_paged:?}");
    eprintln!("kube-rs list all Services (one request): {services_listed:?}");
    eprintln!("kubectl: {kubectl_figure}");
}

/// Lists every pod in pages of 500 (following continue tokens) and counts them.
async fn count_paged(pods: &Api<Pod>) -> usize {
    let mut total = 0;
    let mut params = ListParams::default().limit(500);
    loop {
        let page = pods.list(&params).await.expect("page");
        total += page.items.len();
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    total
}

/// `kubectl get KIND -A --no-headers` against `kubeconfig` (its cache in `cache`): how long it
/// took, and its output.
async fn kubectl_get_all(
    kubectl: &std::path::Path,
    kind: &str,
    cache: &std::path::Path,
    kubeconfig: &std::path::Path,
) -> (std::time::Duration, std::process::Output) {
    let started = Instant::now();
    let output = tokio::process::Command::new(kubectl)
        .args(["get", kind, "-A", "--no-headers", "--cache-dir"])
        .arg(cache)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .await
        .expect("kubectl runs");
    (started.elapsed(), output)
}
