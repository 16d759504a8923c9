//! A sandbox that cannot listen below port 1024 (a normal user's; simulated with
//! `unprivileged`, so the tests need not drop root): the missing listeners are published on
//! every Node, a dump of the nodes says the same, probes of them are "not reachable here"
//! with the reason — never an unexpected refusal — and `kubehop sandbox` prints its notes at
//! startup but not later, unless `--verbose`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Service};
use kube::api::{Api, ListParams, PostParams};
use kubehop::engine::unbound::{UNBOUND_ANNOTATION, Unbound, UnboundReason};
use kubehop::sandbox::{ControlPlaneConfig, Sandbox};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::bin::{KUBEHOP, kubehop_isolated_output};
use crate::support::fixtures::manifest::{Edit, deployment, service, three_nodes};
use crate::support::sandbox::{settle, start_with, wait_until};
use crate::support::wait::{poll_until, within};

/// `web`: three pods on 8080 behind a LoadBalancer on port 80 (ClusterIP:80 and LB-IP:80
/// below 1024; its NodePorts and the pods above).
fn world() -> Vec<Value> {
    let mut objects = three_nodes();
    objects.push(deployment("default", "web", 3, 8080));
    objects.push(service("default", "web", 80).spec(json!({"type": "LoadBalancer"})));
    objects
}

/// The Service's ClusterIP:80 and load-balancer IP:80.
async fn privileged_doors(client: &kube::Client) -> BTreeSet<SocketAddr> {
    let web = Api::<Service>::namespaced(client.clone(), "default")
        .get("web")
        .await
        .expect("web");
    let cluster_ip = web
        .spec
        .and_then(|spec| spec.cluster_ip)
        .expect("a ClusterIP");
    let lb_ip = web
        .status
        .and_then(|status| status.load_balancer?.ingress?.first()?.ip.clone())
        .expect("a load-balancer IP");
    [cluster_ip, lb_ip]
        .into_iter()
        .map(|ip| SocketAddr::new(ip.parse().expect("an IP"), 80))
        .collect()
}

/// `kubehop probe web`: exit 0, nothing unexpected, the ClusterIP and load-balancer hops not
/// reachable with the reason, every other hop connected.
async fn assert_probe_not_reachable(kubeconfig: &str) {
    let args = ["probe", "web", "-o", "json", "--kubeconfig", kubeconfig];
    let output = kubehop_isolated_output(args.map(str::to_owned).to_vec()).await;
    let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(output.status.code(), Some(0), "{document:#}");
    assert_eq!(document["summary"]["unexpected"], 0, "{document:#}");
    let mut unreachable = BTreeSet::new();
    for hop in document["hops"].as_array().expect("hops") {
        if hop["outcome"]["result"] == "not-reachable" {
            assert_eq!(
                hop["outcome"]["detail"],
                "the sandbox needs root for ports below 1024 (or net.ipv4.ip_unprivileged_port_start)",
                "{hop:#}"
            );
            assert_ne!(hop["agreement"], "unexpected", "{hop:#}");
            unreachable.insert(hop["kind"].as_str().expect("kind").to_owned());
        } else {
            assert_eq!(hop["outcome"]["result"], "connected", "{hop:#}");
        }
    }
    assert_eq!(
        unreachable,
        BTreeSet::from(["clusterIP".to_owned(), "loadBalancer".to_owned()])
    );
}

/// `kubehop chain web --probe`: the listeners the sandbox could not open make no probe finding.
async fn assert_chain_probe_finds_nothing(kubeconfig: &str) {
    let args = [
        "chain",
        "web",
        "--probe",
        "-o",
        "json",
        "--kubeconfig",
        kubeconfig,
    ];
    let output = kubehop_isolated_output(args.map(str::to_owned).to_vec()).await;
    let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let web = &document["services"][0];
    assert_eq!(web["name"], "web", "{document:#}");
    assert_eq!(web["probeFindings"], serde_json::json!([]), "{web:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unopened_listeners_are_on_the_nodes_in_dumps_and_probe_as_not_reachable() {
    let (sandbox, client) = start_with(
        Sandbox::builder()
            .objects(world())
            .control_plane(ControlPlaneConfig::immediate(Duration::ZERO))
            .data_plane(true)
            .unprivileged(true),
    )
    .await;
    settle(&sandbox).await;
    let doors = privileged_doors(&client).await;
    let store = sandbox.store().clone();
    wait_until(&sandbox, "the nodes to carry the unbound listeners", || {
        let snapshot = store
            .cluster_snapshot(store.resource_version())
            .expect("the store reads");
        Unbound::from_snapshot(&snapshot).len() == doors.len()
    })
    .await;

    // Every node says the same, as the API serves it.
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items;
    assert_eq!(nodes.len(), 3);
    let expected = doors
        .iter()
        .map(|door| format!("{door}=privileged"))
        .collect::<Vec<_>>()
        .join(",");
    for node in &nodes {
        let annotations = node.metadata.annotations.as_ref().expect("annotations");
        assert_eq!(annotations.get(UNBOUND_ANNOTATION), Some(&expected));
    }
    // A dump of the nodes (kubectl get nodes -o json) carries it too.
    let dump = json!({"apiVersion": "v1", "kind": "List", "items": nodes});
    let load = kubehop::engine::dump::load_str("nodes.json", &dump.to_string()).expect("a dump");
    let from_dump = Unbound::from_snapshot(&load.snapshot);
    for door in &doors {
        assert_eq!(from_dump.reason(*door), Some(UnboundReason::Privileged));
    }
    assert!(
        sandbox.notes().contains("need root"),
        "{:?}",
        sandbox.notes().all()
    );

    // The probe: those two hops are not reachable here, with the reason; nothing unexpected.
    let kubeconfig = sandbox.kubeconfig_path().display().to_string();
    assert_probe_not_reachable(&kubeconfig).await;
    assert_chain_probe_finds_nothing(&kubeconfig).await;

    // Bound after all (the Service moves to 8081): the annotation goes away.
    Api::<Service>::namespaced(client.clone(), "default")
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"spec": {"ports": [{"name": "http", "port": 8081, "targetPort": "http"}]}}),
            ),
        )
        .await
        .expect("patch");
    wait_until(&sandbox, "the annotation to go", || {
        let snapshot = store
            .cluster_snapshot(store.resource_version())
            .expect("the store reads");
        snapshot.nodes.iter().all(|node| {
            node.metadata
                .annotations
                .as_ref()
                .is_none_or(|a| !a.contains_key(UNBOUND_ANNOTATION))
        })
    })
    .await;
    sandbox.shutdown().await;
}

/// `kubehop sandbox ARGS` with both streams read line by line; killed when dropped.
struct Foreground {
    child: Child,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: mpsc::UnboundedReceiver<String>,
}

impl Drop for Foreground {
    fn drop(&mut self) {
        // The process this test started, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

impl Foreground {
    fn start(args: &[&str]) -> Foreground {
        let mut child = std::process::Command::new(KUBEHOP)
            .arg("sandbox")
            .args(args)
            .env_remove("KUBEHOP_LOG_FILE")
            .env_remove("KUBEHOP_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubehop runs");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        Foreground {
            child,
            stdout,
            stderr,
        }
    }

    /// The banner up to its last line; the kubeconfig it names.
    async fn banner(&mut self) -> String {
        within("the banner", async {
            let mut kubeconfig = String::new();
            loop {
                let line = self.stdout.recv().await.expect("the sandbox runs");
                if let Some(path) = line.strip_prefix("kubeconfig: ") {
                    kubeconfig = path.to_owned();
                }
                if line.starts_with("Ctrl-C stops") {
                    return kubeconfig;
                }
            }
        })
        .await
    }

    /// Standard error so far.
    fn stderr_now(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.stderr.try_recv() {
            out.push(line);
        }
        out
    }
}

/// A client for the kubeconfig the sandbox printed.
async fn client(kubeconfig: &str) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// A Deployment whose pod listens on port 81 (a note once its pod runs).
async fn create_port_81_app(client: &kube::Client) {
    let app: Deployment =
        serde_json::from_value(deployment("default", "low", 1, 81)).expect("a Deployment");
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &app)
        .await
        .expect("create");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_notes_are_printed_and_later_ones_only_when_asked() {
    let scratch = std::env::temp_dir().join(format!("kubehop-unprivileged-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch");
    let log = scratch.join("sandbox.log");
    let log_text = log.display().to_string();

    // Quiet: the built-in scenario's port-80 notes at startup, then nothing on the terminal;
    // the later note is in the log file.
    let mut quiet = Foreground::start(&["--unprivileged", "--log-file", &log_text]);
    let kubeconfig = quiet.banner().await;
    let startup = within("the startup note about port 80", async {
        loop {
            let line = quiet.stderr.recv().await.expect("the sandbox runs");
            if line.contains("need root") {
                return line;
            }
        }
    })
    .await;
    assert!(startup.starts_with("note: "), "{startup}");
    create_port_81_app(&client(&kubeconfig).await).await;
    poll_until(
        "the later note in the log file",
        Duration::from_secs(20),
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(":81: Permission denied") {
                Ok(())
            } else {
                Err(format!("the log so far: {text}"))
            }
        },
    );
    let printed = quiet.stderr_now();
    assert!(
        printed.iter().all(|line| !line.contains(":81:")),
        "a later note reached the terminal: {printed:?}"
    );
    drop(quiet);

    // --verbose: the later note is printed.
    let mut verbose = Foreground::start(&["--unprivileged", "--verbose"]);
    let kubeconfig = verbose.banner().await;
    create_port_81_app(&client(&kubeconfig).await).await;
    within("the later note on the terminal", async {
        loop {
            let line = verbose.stderr.recv().await.expect("the sandbox runs");
            if line.starts_with("note: ") && line.contains(":81: Permission denied") {
                return;
            }
        }
    })
    .await;
    drop(verbose);
    let _ = std::fs::remove_dir_all(&scratch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_forward_to_an_unopened_pod_port_says_why() {
    let mut objects = three_nodes();
    objects.push(deployment("default", "low", 1, 80));
    let (sandbox, client) = start_with(
        Sandbox::builder()
            .objects(objects)
            .control_plane(ControlPlaneConfig::immediate(Duration::ZERO))
            .data_plane(true)
            .unprivileged(true),
    )
    .await;
    settle(&sandbox).await;
    let store = sandbox.store().clone();
    wait_until(&sandbox, "the pod's port 80 to be published", || {
        let snapshot = store
            .cluster_snapshot(store.resource_version())
            .expect("the store reads");
        Unbound::from_snapshot(&snapshot).len() == 1
    })
    .await;
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client, "default");
    let pod = pods
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items
        .remove(0);
    let name = pod.metadata.name.expect("a name");
    let mut forwarder = pods.portforward(&name, &[80]).await.expect("upgrade");
    let error = within(
        "the error channel",
        forwarder.take_error(80).expect("error future"),
    )
    .await
    .expect("an error message");
    assert!(
        error.contains("Connection refused")
            && error.ends_with(&format!("({})", UnboundReason::Privileged.explain())),
        "{error}"
    );
    sandbox.shutdown().await;
}
