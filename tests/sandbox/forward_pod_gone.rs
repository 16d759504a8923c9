//! The pod behind a forward is deleted: `kubehop forward echo` and `kubectl port-forward
//! svc/echo` side by side on the same Service of two pods, each with a keep-alive connection
//! open to the same pod when it goes. kubehop closes the open connection and keeps serving new
//! ones from the other pod without a single failure; kubectl, which picked that one pod when it
//! started, closes the open connection too, fails the next new connection and exits with
//! "lost connection to pod" (kubectl 1.37; what it did is printed as well). Loopback only.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::kubectl::Harness;
use crate::support::bin::KUBEHOP;
use crate::support::fixtures::manifest::{deployment, service, three_nodes};
use crate::support::forward::{Answer, get};
use crate::support::wait::within;

/// The app's port.
const APP_PORT: u16 = 9376;
/// New connections through kubehop after the deletion, each of which must be served.
const AFTER: usize = 30;

/// Service `echo` (port 80 → `http`) and its two pods.
fn world() -> Vec<Value> {
    let mut objects = three_nodes();
    objects.push(deployment("default", "echo", 2, APP_PORT));
    objects.push(service("default", "echo", 80));
    objects
}

/// A forward process: the address of its "Forwarding from" line and its standard error.
struct Forward {
    child: Child,
    local: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// Reads standard error until the process closes it.
    stderr_reader: tokio::task::JoinHandle<()>,
}

impl Forward {
    async fn start(mut command: Command) -> Forward {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the forward starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut errors = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let collected = stderr.clone();
        let stderr_reader = tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                let mut text = collected.lock().expect("stderr text");
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let local = within("the Forwarding line", async {
            loop {
                let line = lines.next_line().await.expect("read").expect("it runs");
                if let Some((from, _)) = line
                    .strip_prefix("Forwarding from ")
                    .and_then(|rest| rest.split_once(" -> "))
                {
                    break from.parse::<SocketAddr>().expect("an address");
                }
            }
        })
        .await;
        assert!(local.ip().is_loopback(), "loopback only: {local}");
        // kubectl says "Handling connection for PORT" for each connection.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Forward {
            child,
            local,
            stderr,
            stderr_reader,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr text").clone()
    }
}

/// One HTTP request on `stream` (kept open); the pod that answered.
async fn ask(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /open HTTP/1.1\r\nHost: echo\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let count = stream.read(&mut chunk).await.expect("read");
        assert!(count > 0, "closed: {:?}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&chunk[..count]);
        let text = String::from_utf8_lossy(&answer);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_owned())
            })
        };
        let length: usize = header("Content-Length")
            .and_then(|n| n.parse().ok())
            .expect("a length");
        if body.len() >= length {
            return header("X-Kubehop-Pod").expect("the pod header");
        }
    }
}

/// A keep-alive connection through `local` answered by `pod` (connections are opened until
/// one is).
async fn open_to(local: SocketAddr, pod: &str) -> TcpStream {
    within(&format!("a connection to {pod}"), async {
        loop {
            let mut stream = TcpStream::connect(local).await.expect("connect");
            if ask(&mut stream).await == pod {
                return stream;
            }
        }
    })
    .await
}

/// How an open connection ended after its pod went: `Ok(bytes read)` at a clean end, else
/// the error.
async fn end_of(stream: &mut TcpStream) -> Result<usize, std::io::Error> {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.map(|_| rest.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubehop_keeps_serving_new_connections_when_the_pod_goes_and_kubectl_does_not() {
    let Some(h) = Harness::start_cluster_with("pf-pod-gone", world()).await else {
        return;
    };
    let kubeconfig = h.sandbox.kubeconfig_path().display().to_string();
    let kubectl = Forward::start({
        let mut command = h.command(&["port-forward", "svc/echo", ":80", "--address"]);
        command.arg("127.0.0.1");
        command
    })
    .await;
    let mut kubehop_command = Command::new(KUBEHOP);
    kubehop_command
        .args(["forward", "echo", "0:80", "-n", "default", "--kubeconfig"])
        .arg(&kubeconfig)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST");
    let mut kubehop = Forward::start(kubehop_command).await;

    // Both hold a connection to the pod kubectl picked.
    let mut through_kubectl = TcpStream::connect(kubectl.local).await.expect("connect");
    let gone = ask(&mut through_kubectl).await;
    let mut through_kubehop = open_to(kubehop.local, &gone).await;
    h.ok(&["delete", "pod", &gone, "--wait=false"]).await;

    // kubehop: the open connection ends cleanly, and every new connection is served by
    // another pod, from the moment of the deletion on.
    let ended = within(
        "kubehop's open connection to end",
        end_of(&mut through_kubehop),
    )
    .await;
    assert!(
        matches!(ended, Ok(0)),
        "kubehop closes the connection to a deleted pod with a FIN: {ended:?}"
    );
    for _ in 0..AFTER {
        match get(kubehop.local).await {
            Answer::Pod(pod) => assert_ne!(pod, gone, "a new connection reached the deleted pod"),
            other => panic!(
                "kubehop forward failed a new connection after the pod went: {other:?}\n{}",
                kubehop.stderr()
            ),
        }
    }
    assert!(
        kubehop.child.try_wait().expect("status").is_none(),
        "kubehop forward still runs"
    );

    // kubectl: what became of the open connection, of new connections, and of the process.
    let open = within(
        "kubectl's open connection to end",
        end_of(&mut through_kubectl),
    )
    .await;
    let after = get(kubectl.local).await;
    let (status, stderr) = kubectl_exit(kubectl).await;
    eprintln!(
        "kubectl port-forward after pod {gone} was deleted: open connection {open:?}; a new connection: {after:?}; process: {status}; standard error:\n{stderr}"
    );
    assert!(
        !matches!(after, Answer::Pod(_)),
        "kubectl forwarded a new connection after its pod went: {after:?}"
    );
    // kubectl 1.37 gives up at the first error on a port's error stream (here: the deleted
    // pod's address refuses the new connection).
    assert!(
        status.starts_with("exited (exit status: 1)"),
        "kubectl port-forward: {status}\n{stderr}"
    );
    assert!(
        stderr.contains("lost connection to pod"),
        "kubectl port-forward: {stderr}"
    );
    kubehop.child.kill().await.expect("stop kubehop");
}

/// How long kubectl is given to exit once its pod went, before it is recorded as still running.
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// kubectl's exit status (or that it still runs) and its standard error.
async fn kubectl_exit(mut kubectl: Forward) -> (String, String) {
    let status = match tokio::time::timeout(EXIT_WAIT, kubectl.child.wait()).await {
        Ok(status) => format!("exited ({})", status.expect("status")),
        Err(_) => format!("still running after {EXIT_WAIT:?}"),
    };
    if kubectl.child.try_wait().expect("status").is_some() {
        within(
            "kubectl's standard error to end",
            &mut kubectl.stderr_reader,
        )
        .await
        .expect("the reader");
    }
    (status, kubectl.stderr())
}
