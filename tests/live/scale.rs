//! Scale benchmark (not a test; ignored by default): the synthetic cluster (10,000
//! Services, 50,000 pods, 500 nodes; `cluster::synthetic::objects` written as one scenario
//! file) served by `kubehop sandbox --api-only --scenario FILE` in its own process, then
//!
//! - kubehop's live source in-process: time to the first complete snapshot;
//! - `kubehop chain -A -o json` (the binary): wall time and peak RSS;
//! - `kubectl get svc,endpointslices,pods,nodes -A -o json` against the same server: the same.
//!
//! Run: `cargo test --release --test live scale:: -- --ignored --nocapture` (kubectl from PATH or
//! `KUBEHOP_KUBECTL`; peak RSS needs GNU time at /usr/bin/time). The assertions check that
//! each side saw the whole cluster, never the timings; the figures go into README.md.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kubehop::cluster::client::{ClusterTarget, Scope};
use kubehop::cluster::live::{LiveOptions, LiveSource};
use kubehop::cluster::synthetic::{self, SyntheticSpec};

use crate::support::bin::find_kubectl;
use crate::support::sandbox::{read_banner, spawn_sandbox_binary};

/// Wall time and peak RSS of a child process, and what it printed.
struct Run {
    wall: Duration,
    peak_rss_mib: Option<f64>,
    stdout: Vec<u8>,
    status: std::process::ExitStatus,
    stderr: String,
}

/// Runs `program args` with KUBECONFIG set, under GNU time when available.
async fn run(program: &Path, args: &[&str], kubeconfig: &Path) -> Run {
    let gnu_time = Path::new("/usr/bin/time");
    let rss_file = std::env::temp_dir().join(format!("kubehop-scale-rss-{}", std::process::id()));
    let mut command = if gnu_time.exists() {
        let mut command = tokio::process::Command::new(gnu_time);
        command
            .arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss_file)
            .arg(program);
        command
    } else {
        tokio::process::Command::new(program)
    };
    command
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let output = command.output().await.expect("the program runs");
    let wall = started.elapsed();
    let peak_rss_mib = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|text| text.trim().lines().last()?.trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0);
    let _ = std::fs::remove_file(&rss_file);
    Run {
        wall,
        peak_rss_mib,
        stdout: output.stdout,
        status: output.status,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn rss(run: &Run) -> String {
    run.peak_rss_mib
        .map_or_else(|| "n/a".to_owned(), |mib| format!("{mib:.0} MiB"))
}

/// This process's resident memory.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// `kubehop sandbox --api-only --scenario FILE`, after its banner.
async fn start_sandbox(scenario: &Path, kubeconfig: &Path) -> tokio::process::Child {
    let scenario = scenario.to_str().expect("a UTF-8 path");
    let (child, mut lines) =
        spawn_sandbox_binary(kubeconfig, &["--api-only", "--scenario", scenario]);
    read_banner(&mut lines).await;
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --release --test live scale:: -- --ignored --nocapture"]
async fn synthetic_cluster_first_snapshot_kubehop_vs_kubectl() {
    let spec = SyntheticSpec::default();
    let scratch = std::env::temp_dir().join(format!("kubehop-live-scale-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let scenario = scratch.join("synthetic.json");
    let objects = synthetic::objects(&spec);
    let total = objects.len();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&scenario, serde_json::to_vec(&list).expect("JSON")).expect("write");
    drop(list);
    let kubeconfig = scratch.join("kubeconfig");
    let mut server = start_sandbox(&scenario, &kubeconfig).await;
    eprintln!(
        "\n==== synthetic cluster: {} Services, {} pods, {} nodes ({total} objects), served by kubehop sandbox --api-only ====",
        spec.services, spec.pods, spec.nodes
    );

    // In-process: start to first complete snapshot.
    let rss_before = rss_mib();
    let started = Instant::now();
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).expect("the sandbox's kubeconfig"),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("a configuration");
    let target = ClusterTarget::new(config, "kubehop-sandbox", Scope::All);
    let mut source = LiveSource::start(&target, LiveOptions::default()).expect("starts");
    let snapshot = source.first_snapshot().await.expect("a first snapshot");
    let in_process = started.elapsed();
    assert_eq!(snapshot.services.len(), spec.services);
    assert_eq!(snapshot.pods.len(), spec.pods);
    assert_eq!(snapshot.nodes.len(), spec.nodes);
    let kubectl_items = snapshot.services.len()
        + snapshot.endpoint_slices.len()
        + snapshot.pods.len()
        + snapshot.nodes.len();
    let rss_after = rss_mib();
    drop(snapshot);
    drop(source);
    eprintln!(
        "kubehop live source (in-process), start to first snapshot: {in_process:?}; RSS {rss_before:.0} -> {rss_after:.0} MiB"
    );

    // The binary: start to printed chains.
    let kubehop = Path::new(env!("CARGO_BIN_EXE_kubehop"));
    let chain = run(kubehop, &["chain", "-A", "-o", "json"], &kubeconfig).await;
    let chain_ok = chain.status.code().is_some_and(|code| code <= 1);
    if chain_ok {
        let document: serde_json::Value =
            serde_json::from_slice(&chain.stdout).expect("chain prints JSON");
        let services = document["services"].as_array().map_or(0, Vec::len);
        assert_eq!(services, spec.services);
        eprintln!(
            "kubehop chain -A -o json: {:?}, peak RSS {} ({} Services printed)",
            chain.wall,
            rss(&chain),
            services
        );
    } else {
        eprintln!(
            "kubehop chain -A -o json: not available ({})",
            chain.stderr.trim()
        );
    }

    match find_kubectl() {
        Some(kubectl) => {
            let cache =
                std::env::temp_dir().join(format!("kubehop-scale-kubectl-{}", std::process::id()));
            let cache_arg = cache.display().to_string();
            let get = run(
                &kubectl,
                &[
                    "get",
                    "svc,endpointslices,pods,nodes",
                    "-A",
                    "-o",
                    "json",
                    "--cache-dir",
                    &cache_arg,
                ],
                &kubeconfig,
            )
            .await;
            let _ = std::fs::remove_dir_all(&cache);
            assert!(get.status.success(), "{}", get.stderr);
            let document: serde_json::Value =
                serde_json::from_slice(&get.stdout).expect("kubectl prints JSON");
            let items = document["items"].as_array().map_or(0, Vec::len);
            assert_eq!(items, kubectl_items);
            eprintln!(
                "kubectl get svc,endpointslices,pods,nodes -A -o json: {:?}, peak RSS {} ({items} items)",
                get.wall,
                rss(&get)
            );
            if chain_ok {
                eprintln!(
                    "ratio kubehop/kubectl: time {:.2}x",
                    chain.wall.as_secs_f64() / get.wall.as_secs_f64()
                );
            }
        }
        None => eprintln!("kubectl: SKIP (not found)"),
    }
    server.kill().await.expect("the sandbox stops");
    let _ = std::fs::remove_dir_all(&scratch);
}
