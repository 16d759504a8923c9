//! `kubehop forward` through the real binary, against a sandbox reached with `--kubeconfig`:
//! kubectl's "Forwarding from" line, connections spread over the pods, refusals with a log line
//! while no pod is usable, recovery without a restart, a clean exit on SIGINT; and the inputs
//! it refuses (exit 2). Loopback only: the sandbox's addresses are all in 127.0.0.0/8.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::forward::*;
use crate::support::sandbox::{scale_to, start_cluster};
use crate::support::wait::within;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use serde_json::json;
use tokio::sync::mpsc;

use crate::support::bin::{kubehop_isolated, kubehop_isolated_output as run};

/// The running binary; killed if the test ends early.
struct Running {
    /// `None` once the test waits for it itself.
    child: Option<Child>,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: mpsc::UnboundedReceiver<String>,
    /// Every stderr line read so far.
    log: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Kill by the handle of the process this test started.
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
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

fn spawn(args: Vec<String>) -> Running {
    let mut child = kubehop_isolated(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubehop starts");
    let stdout = lines(child.stdout.take().expect("stdout"));
    let stderr = lines(child.stderr.take().expect("stderr"));
    Running {
        child: Some(child),
        stdout,
        stderr,
        log: Vec::new(),
    }
}

impl Running {
    /// Waits for a stderr line containing `text` (lines read earlier count).
    async fn logged(&mut self, text: &str) -> String {
        if let Some(line) = self.log.iter().find(|line| line.contains(text)) {
            return line.clone();
        }
        within(&format!("a log line with {text:?}"), async {
            loop {
                let line = self.stderr.recv().await.expect("kubehop is running");
                self.log.push(line.clone());
                if line.contains(text) {
                    return line;
                }
            }
        })
        .await
    }

    /// Forgets the stderr lines read so far (the next [`Running::logged`] waits for new ones).
    fn forget(&mut self) {
        while let Ok(line) = self.stderr.try_recv() {
            self.log.push(line);
        }
        self.log.clear();
    }
}

async fn scale(client: &kube::Client, replicas: i32) {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    scale_to(&deployments, "web", replicas)
        .await
        .expect("scale");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_forwards_spreads_refuses_recovers_and_exits_cleanly() {
    let (sandbox, client) = start_cluster(web(3, json!({})), Duration::from_millis(200)).await;
    let kubeconfig = sandbox.kubeconfig_path().display().to_string();
    let pods = ready_pods(sandbox.store(), "web");
    let port = format!("0:{PORT}");
    let mut running = spawn(forward_web_args(&port, &kubeconfig));

    let first = within("the Forwarding line", running.stdout.recv())
        .await
        .expect("a line on stdout");
    let (from, to) = first
        .strip_prefix("Forwarding from ")
        .and_then(|rest| rest.split_once(" -> "))
        .unwrap_or_else(|| panic!("kubectl's line: {first:?}"));
    assert_eq!(to, format!("svc/web:{PORT}"));
    let local: SocketAddr = from.parse().expect("a socket address");
    assert!(
        local.ip().is_loopback() && local.port() != 0,
        "loopback by default: {local}"
    );
    running
        .logged("3 usable endpoints: accepting connections")
        .await;
    assert!(
        !running.log.iter().any(|line| line.contains("warning")),
        "no warning on loopback: {:?}",
        running.log
    );

    let mut answered = BTreeSet::new();
    for _ in 0..60 {
        match within("an answer through the binary", get(local)).await {
            Answer::Pod(pod) => {
                answered.insert(pod);
            }
            other => panic!("a connection failed: {other:?}"),
        }
    }
    assert_eq!(answered, pods, "every pod answered");

    // No pod: refused at once, with a line saying why.
    running.forget();
    scale(&client, 0).await;
    running.logged("no usable endpoint").await;
    match within("a refusal", get(local)).await {
        Answer::Reset(_) | Answer::Refused => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    let refused = running.logged("refused 127.0.0.1:").await;
    assert!(refused.starts_with("kubehop: svc/web:"), "{refused}");

    // Pods back: the same process answers again.
    running.forget();
    scale(&client, 2).await;
    running.logged("accepting connections").await;
    let back = ready_pods(sandbox.store(), "web");
    match within("an answer after the pods came back", get(local)).await {
        Answer::Pod(pod) => assert!(back.contains(&pod), "{pod} is one of {back:?}"),
        other => panic!("expected an answer, got {other:?}"),
    }

    // SIGINT (Ctrl-C) stops it with status 0.
    let mut child = running.child.take().expect("the process");
    let signalled = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let status = within(
        "kubehop to exit",
        tokio::task::spawn_blocking(move || child.wait()),
    )
    .await
    .expect("the wait thread")
    .expect("an exit status");
    assert_eq!(status.code(), Some(0));
    drop(running);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_it_cannot_forward_exit_2_with_one_line() {
    let dump = format!(
        "{}/assets/scenarios/demo-all.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    for (args, expected) in [
        (
            vec!["forward", "web", "80", "--from-file", dump.as_str()],
            "forwarding needs a live cluster",
        ),
        (
            vec!["forward", "web", "99999:80", "--from-file", dump.as_str()],
            "LOCAL_PORT must be a number",
        ),
        (
            vec!["forward", "Web!", "80", "--from-file", dump.as_str()],
            "is not SERVICE",
        ),
        (
            vec!["forward", "shop/web", "80", "-n", "other", "--demo"],
            "names namespace \"shop\" but -n says \"other\"",
        ),
    ] {
        let output = run(args.iter().map(|arg| (*arg).to_owned()).collect()).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("kubehop: "), "{stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_port_is_reported_with_the_ports_there_are() {
    let (sandbox, _client) = start_cluster(web(1, json!({})), Duration::ZERO).await;
    let kubeconfig = sandbox.kubeconfig_path().display().to_string();
    let output = run(vec![
        "forward".into(),
        "shop/web".into(),
        "9999".into(),
        "--kubeconfig".into(),
        kubeconfig,
    ])
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has no port 9999") && stderr.contains("8080"),
        "{stderr}"
    );
    sandbox.shutdown().await;
}
