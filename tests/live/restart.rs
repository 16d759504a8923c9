//! A cluster re-created on the same address with a new CA and token (a restarted sandbox, a
//! re-created kind/k3d/minikube cluster): the kubeconfig is rewritten atomically, and the
//! long-running sources (`chain --watch` through the binary, the live source through the
//! library) reconnect with it and show the new cluster only. Loopback only; every wait is a
//! deadline on a condition.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubehop::cluster::feed::ConnectionStatus;
use kubehop::cluster::{Source, SourceSettings, Sources};
use kubehop::sandbox::{Sandbox, SandboxHandle};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::support::bin::{KUBEHOP, scratch_dir};
use crate::support::fixtures::manifest::{Edit, node, pod, service, slice, small_world};
use crate::support::live::{DEADLINE, listed_inventory, snapshot_inventory};
use crate::support::sandbox::test_client;
use crate::support::wait::within_for;

/// How soon after the kubeconfig changes both sources must show the new cluster.
const CONVERGE: Duration = Duration::from_secs(5);

/// The cluster after the restart: the same Service, one new pod behind it, nothing else of
/// the old cluster.
fn new_world() -> Vec<Value> {
    vec![
        node("node-a", "zone-1").registered("127.0.10.1"),
        pod("web-9", "127.1.0.9", "node-a").labels(json!({"app": "web"})),
        service("default", "web", 80).cluster_ip("127.96.0.10"),
        slice("web", "web-zzzzz", "127.1.0.9", "node-a"),
    ]
}

/// Where a test's sandbox listens (any free port), on a loopback address of its own: once the
/// old server is gone, its port is free again, and on 127.0.0.1 the system may hand it to a
/// client socket of another test before the new server binds it (`AddrInUse`).
fn own_address(last: u8) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 199, last], 0))
}

/// A sandbox on `addr` (port 0: any free port) writing its kubeconfig to `kubeconfig`.
async fn sandbox_at(
    addr: std::net::SocketAddr,
    kubeconfig: &Path,
    objects: Vec<Value>,
) -> SandboxHandle {
    Sandbox::builder()
        .listen(addr)
        .kubeconfig_path(kubeconfig)
        .objects(objects)
        .start()
        .await
        .expect("the sandbox starts")
}

/// Everything a child process printed on one stream so far, updated as it prints.
struct Captured {
    text: Arc<Mutex<Vec<u8>>>,
    changes: watch::Receiver<usize>,
}

impl Captured {
    fn new(mut stream: impl tokio::io::AsyncRead + Unpin + Send + 'static) -> Self {
        let text = Arc::new(Mutex::new(Vec::new()));
        let (tx, changes) = watch::channel(0);
        let sink = text.clone();
        tokio::spawn(async move {
            let mut chunk = [0u8; 8192];
            while let Ok(read @ 1..) = stream.read(&mut chunk).await {
                sink.lock().expect("lock").extend_from_slice(&chunk[..read]);
                tx.send_modify(|count| *count += read);
            }
        });
        Captured { text, changes }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().expect("lock")).into_owned()
    }

    /// Waits until the text satisfies `condition`.
    async fn until(
        &mut self,
        limit: Duration,
        what: &str,
        mut condition: impl FnMut(&str) -> bool,
    ) {
        let text = self.text.clone();
        let check =
            move |_: &usize| condition(&String::from_utf8_lossy(&text.lock().expect("lock")));
        let outcome = match tokio::time::timeout(limit, self.changes.wait_for(check)).await {
            Ok(Ok(_)) => return,
            Ok(Err(_)) => "the output ended",
            Err(_) => "timed out",
        };
        panic!(
            "{outcome} after {limit:?} waiting for {what}: {}",
            self.text()
        );
    }
}

/// The JSON documents printed so far.
fn documents(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter()
        .map_while(Result::ok)
        .collect()
}

/// Whether the last document printed shows the new cluster only.
fn shows_new_cluster(text: &str) -> bool {
    documents(text).last().is_some_and(|last| {
        let last = last.to_string();
        last.contains("127.1.0.9") && !last.contains("127.1.0.2")
    })
}

fn chain_watch(kubeconfig: &Path, home: &Path) -> tokio::process::Child {
    tokio::process::Command::new(KUBEHOP)
        .args(["chain", "-A", "--watch", "-o", "json", "--kubeconfig"])
        .arg(kubeconfig)
        .env_remove("KUBECONFIG")
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubehop starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_restarted_with_new_credentials_is_followed_within_5s() {
    let dir = scratch_dir("live-restart");
    let kubeconfig: PathBuf = dir.join("kubeconfig");
    let old = sandbox_at(own_address(1), &kubeconfig, small_world()).await;
    let addr = old.addr();
    let (old_ca, old_token) = (old.ca_pem().map(str::to_owned), old.token().to_owned());

    // The live source, through the library.
    let settings = SourceSettings {
        source: Source::Live {
            kubeconfig: Some(kubeconfig.clone()),
            context: None,
        },
        all_namespaces: true,
        ..SourceSettings::default()
    };
    let mut feed = within_for(
        DEADLINE,
        "the live source",
        Sources::default().open(&settings),
    )
    .await
    .expect("the live source opens");
    assert!(
        snapshot_inventory(&feed.snapshots.borrow())
            .iter()
            .any(|(_, name, _)| name == "default/web-1")
    );
    // The clients probes and forwards dial through, made before the restart.
    let mut clients = kubehop::cluster::connector::following_clients(
        feed.api.clone().expect("a live source"),
        feed.api_changes.clone(),
    )
    .expect("a client");

    // `chain --watch`, through the binary.
    let mut child = chain_watch(&kubeconfig, &dir);
    let mut stdout = Captured::new(child.stdout.take().expect("stdout"));
    let mut stderr = Captured::new(child.stderr.take().expect("stderr"));
    stdout
        .until(DEADLINE, "the first chain", |text| {
            documents(text)
                .first()
                .is_some_and(|first| first.to_string().contains("127.1.0.2"))
        })
        .await;

    // The restart: the old server goes away, a new one with a new CA and token comes up on
    // the same address and rewrites the kubeconfig atomically.
    old.shutdown().await;
    let status = &mut feed.status;
    within_for(
        DEADLINE,
        "the live source to notice",
        status.wait_for(ConnectionStatus::is_stale),
    )
    .await
    .expect("the source runs");
    stderr
        .until(DEADLINE, "chain --watch to report reconnecting", |text| {
            text.contains("kubehop: reconnecting since ")
        })
        .await;
    let changed = Instant::now();
    let new = sandbox_at(addr, &kubeconfig, new_world()).await;
    assert_ne!(new.ca_pem().map(str::to_owned), old_ca, "a new CA");
    assert_ne!(new.token(), old_token, "a new token");

    // Both converge to the new cluster within 5 s of the kubeconfig changing.
    let client = test_client(&new).await;
    let expected = listed_inventory(&client).await;
    let remaining = CONVERGE.saturating_sub(changed.elapsed());
    let snapshots = &mut feed.snapshots;
    let converged = within_for(
        remaining,
        "the live source to show the new cluster",
        async {
            snapshots
                .wait_for(|snapshot| snapshot_inventory(snapshot) == expected)
                .await
                .expect("the source runs")
                .clone()
        },
    )
    .await;
    assert_eq!(
        snapshot_inventory(&converged),
        expected,
        "no phantom objects"
    );
    let remaining = CONVERGE.saturating_sub(changed.elapsed());
    stdout
        .until(
            remaining,
            "chain --watch to print the new cluster",
            shows_new_cluster,
        )
        .await;
    eprintln!("both converged {:?} after the restart", changed.elapsed());
    // Port-forwards (probes, forward) learn how to reach the new server.
    let api = feed
        .api_changes
        .as_ref()
        .expect("a followed source")
        .borrow()
        .clone();
    let new_ca = new.config().await.expect("the new config").root_cert;
    assert!(new_ca.is_some(), "an HTTPS sandbox");
    assert_eq!(api.root_cert, new_ca, "the new CA");
    // ...and the clients made before the restart now reach it.
    within_for(
        DEADLINE,
        "the followed client to list the new cluster",
        async {
            loop {
                let client = clients.borrow_and_update().clone();
                let pods = kube::Api::<k8s_openapi::api::core::v1::Pod>::all(client)
                    .list(&Default::default())
                    .await;
                if pods.is_ok_and(|pods| {
                    pods.items
                        .iter()
                        .any(|pod| pod.metadata.name.as_deref() == Some("web-9"))
                }) {
                    return;
                }
                clients.changed().await.expect("the clients follow");
            }
        },
    )
    .await;
    within_for(
        DEADLINE,
        "connected",
        feed.status.wait_for(|s| *s == ConnectionStatus::Connected),
    )
    .await
    .expect("the source runs");
    stderr
        .until(DEADLINE, "chain --watch to report connected", |text| {
            text.contains("kubehop: connected")
        })
        .await;

    let messages = stderr.text();
    eprintln!("{messages}");
    let reconnecting = messages
        .find("kubehop: reconnecting since")
        .expect("reconnecting");
    let connected = messages.rfind("kubehop: connected").expect("connected");
    assert!(reconnecting < connected, "{messages}");
    assert!(
        !messages.contains(new.token()) && !messages.contains(&old_token),
        "{messages}"
    );
    child.kill().await.expect("stop kubehop");
    drop(new);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A kubeconfig naming its CA by file (as minikube's does) with a fixed token.
fn kubeconfig_with_ca_file(url: &str, ca_file: &Path, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: \"{url}\"
    certificate-authority: \"{ca}\"
users:
- name: me
  user:
    token: \"{token}\"
contexts:
- name: local
  context: {{cluster: local, user: me}}
current-context: local
",
        ca = ca_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_ca_file_is_read_again_when_the_server_certificate_fails() {
    let dir = scratch_dir("live-restart-ca-file");
    let pki = dir.join("pki");
    std::fs::create_dir_all(&pki).expect("pki folder");
    let ca_file = pki.join("ca.crt");
    // The sandboxes write their own kubeconfig elsewhere; kubehop reads this one, which never
    // changes: only the CA file it names does.
    let own = dir.join("sandbox-kubeconfig");
    let token = "a-token-that-stays";
    let start = |addr, objects| {
        Sandbox::builder()
            .listen(addr)
            .kubeconfig_path(&own)
            .token(token)
            .objects(objects)
            .start()
    };
    let old = start(own_address(2), small_world())
        .await
        .expect("the sandbox starts");
    std::fs::write(&ca_file, old.ca_pem().expect("https")).expect("write the CA");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        kubeconfig_with_ca_file(old.url(), &ca_file, token),
    )
    .expect("write the kubeconfig");
    let settings = SourceSettings {
        source: Source::Live {
            kubeconfig: Some(kubeconfig.clone()),
            context: None,
        },
        all_namespaces: true,
        ..SourceSettings::default()
    };
    let mut feed = within_for(
        DEADLINE,
        "the live source",
        Sources::default().open(&settings),
    )
    .await
    .expect("the live source opens");

    let addr = old.addr();
    old.shutdown().await;
    let new = start(addr, new_world())
        .await
        .expect("the sandbox starts again");
    // Until the CA file is replaced the new server's certificate does not verify.
    let status = &mut feed.status;
    within_for(
        DEADLINE,
        "the TLS failure",
        status.wait_for(|status| {
            matches!(status, ConnectionStatus::Reconnecting { error, .. } if error.contains("TLS"))
        }),
    )
    .await
    .expect("the source runs");
    std::fs::write(&ca_file, new.ca_pem().expect("https")).expect("write the new CA");

    let client = test_client(&new).await;
    let expected = listed_inventory(&client).await;
    let snapshots = &mut feed.snapshots;
    within_for(
        DEADLINE,
        "the live source to show the new cluster",
        snapshots.wait_for(|snapshot| snapshot_inventory(snapshot) == expected),
    )
    .await
    .expect("the source runs");
    let status = &mut feed.status;
    within_for(
        DEADLINE,
        "connected",
        status.wait_for(|status| *status == ConnectionStatus::Connected),
    )
    .await
    .expect("the source runs");
    drop(new);
    let _ = std::fs::remove_dir_all(&dir);
}
