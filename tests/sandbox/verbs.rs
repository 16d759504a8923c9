//! kubectl's everyday verbs against the sandbox: `logs [-f]` (each pod's access log),
//! `exec` (the few commands the sandbox answers truthfully), `auth can-i` (from the fault
//! settings), `top` (not served, as without metrics-server), and kube-rs's `log_stream`.

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

use futures::{AsyncBufReadExt as _, StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{Api, AttachParams, LogParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use tokio::net::UdpSocket;

use crate::kubectl::Harness;
use crate::support::fixtures::manifest::{deployment, three_nodes};
use crate::support::sandbox::{pods_of, start_cluster};
use crate::support::wait::within;

const APP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: example/web:1
        ports: [{containerPort: 8080}]
        env: [{name: MODE, value: demo}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"#;

/// Starts a cluster with the app rolled out; returns it with the one pod's name.
async fn app(test: &str) -> Option<(Harness, String)> {
    let h = Harness::start_cluster(test).await?;
    let manifest = h.write("app.yaml", APP);
    h.ok(&["apply", "-f", manifest.to_str().expect("utf-8")])
        .await;
    h.ok(&["rollout", "status", "deployment/web", "--timeout=20s"])
        .await;
    let pods = h.ok(&["get", "pods", "-l", "app=web", "-o", "name"]).await;
    let pod = pods
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("pod/"))
        .expect("a web pod")
        .to_string();
    h.sandbox.settled().await;
    Some((h, pod))
}

/// The Service's ClusterIP:80.
async fn service_address(h: &Harness) -> SocketAddr {
    let client = h.sandbox.client().await.expect("client");
    let service = Api::<Service>::namespaced(client, "default")
        .get("web")
        .await
        .expect("service");
    let ip = service.spec.and_then(|s| s.cluster_ip).expect("ClusterIP");
    SocketAddr::new(ip.parse().expect("ip"), 80)
}

/// One HTTP request through the Service; returns the response.
async fn request(to: SocketAddr, path: &str) -> String {
    within(&format!("GET {path} through the Service"), async {
        let mut stream = tokio::net::TcpStream::connect(to).await.expect("connect");
        let head = format!(
            "GET {path} HTTP/1.1\r\nHost: web\r\nUser-Agent: verbs-test\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("send");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("response");
        response
    })
    .await
}

#[tokio::test]
async fn logs_show_the_requests_a_pod_served_and_follow_new_ones() {
    let Some((h, pod)) = app("logs").await else {
        return;
    };
    let service = service_address(&h).await;
    let response = request(service, "/first").await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    let out = h.ok(&["logs", &pod]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].contains("] \"GET /first HTTP/1.1\" 200 ")
            && lines[0].ends_with(" \"-\" \"verbs-test\""),
        "{out}"
    );
    assert!(lines[0].starts_with("127."), "{out}");

    // -f prints what is there, then each new request.
    let mut follow = h
        .command(&["logs", "-f", &pod])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl logs -f");
    let mut followed = BufReader::new(follow.stdout.take().expect("stdout")).lines();
    let first = within("the existing line", followed.next_line())
        .await
        .expect("read")
        .expect("a line");
    assert!(first.contains("/first"), "{first}");
    request(service, "/second").await;
    let second = within("the new line", followed.next_line())
        .await
        .expect("read")
        .expect("a line");
    assert!(second.contains("\"GET /second HTTP/1.1\" 200"), "{second}");
    follow.kill().await.expect("stop kubectl logs -f");

    let out = h.ok(&["logs", &pod, "--tail=1", "--timestamps"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    // An RFC 3339 timestamp, then the line.
    let (stamp, line) = lines[0].split_once(' ').expect("timestamp");
    assert!(stamp.ends_with('Z') && stamp.contains('T'), "{stamp}");
    assert!(line.contains("/second"), "{line}");
    let full = h.ok(&["logs", &pod]).await;
    assert_eq!(full.lines().count(), 2, "{full}");
    let limited = h.ok(&["logs", &pod, "-c", "app", "--limit-bytes=4"]).await;
    assert_eq!(limited, full[..4]);

    let (ok, _, stderr) = h.run(&["logs", &pod, "-c", "nope"]).await;
    assert!(!ok);
    assert!(
        stderr.contains(&format!("container nope is not valid for pod {pod}")),
        "{stderr}"
    );
    let (ok, _, stderr) = h.run(&["logs", &pod, "--previous"]).await;
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "previous terminated container \"app\" in pod \"{pod}\" not found"
        )),
        "{stderr}"
    );
    let (ok, _, stderr) = h.run(&["logs", "nope-0"]).await;
    assert!(!ok);
    assert!(stderr.contains("pods \"nope-0\" not found"), "{stderr}");
}

#[tokio::test]
async fn kube_rs_reads_and_streams_logs_with_the_api_servers_errors() {
    let Some((h, pod)) = app("log-stream").await else {
        return;
    };
    let client = h.sandbox.client().await.expect("client");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    assert_eq!(
        pods.logs(&pod, &LogParams::default()).await.expect("logs"),
        ""
    );
    let follow = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let mut lines = pods
        .log_stream(&pod, &follow)
        .await
        .expect("stream")
        .lines();
    let service = service_address(&h).await;
    request(service, "/streamed").await;
    let line = within("the streamed line", lines.try_next())
        .await
        .expect("read")
        .expect("a line");
    assert!(line.contains("\"GET /streamed HTTP/1.1\" 200"), "{line}");

    // A plain TCP client is echoed and logged when it leaves.
    let target: SocketAddr = {
        let stored = pods.get(&pod).await.expect("pod");
        let ip = stored.status.and_then(|s| s.pod_ip).expect("pod IP");
        SocketAddr::new(ip.parse().expect("ip"), 8080)
    };
    within("an echoed connection", async {
        let mut stream = tokio::net::TcpStream::connect(target)
            .await
            .expect("connect");
        stream.write_all(b"hello\n").await.expect("send");
        let mut echoed = [0u8; 6];
        stream.read_exact(&mut echoed).await.expect("echo");
        stream.shutdown().await.expect("close");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.expect("closed");
    })
    .await;
    let line = within("the echo line", lines.try_next())
        .await
        .expect("read")
        .expect("a line");
    assert!(
        line.contains(&format!("\"TCP {target}\" echoed 6 bytes in ")),
        "{line}"
    );

    // So is a client that only connects (a TCP probe).
    within("a bare connection", async {
        let mut stream = tokio::net::TcpStream::connect(target)
            .await
            .expect("connect");
        stream.shutdown().await.expect("close");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.expect("closed");
    })
    .await;
    let line = within("the probe's line", lines.try_next())
        .await
        .expect("read")
        .expect("a line");
    assert!(
        line.contains(&format!("\"TCP {target}\" echoed 0 bytes in ")),
        "{line}"
    );

    // Deleting the pod ends the stream.
    pods.delete(&pod, &Default::default())
        .await
        .expect("delete");
    within("the stream to end with the pod", async {
        while lines.next().await.is_some() {}
    })
    .await;

    let problem = |result: kube::Result<String>| match result {
        Err(kube::Error::Api(status)) => (status.code, status.message),
        other => panic!("expected an API error, got {other:?}"),
    };
    let two = pods
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "two", "namespace": "default"},
                "spec": {"containers": [{"name": "a"}, {"name": "b"}]}
            }))
            .expect("pod"),
        )
        .await
        .expect("create");
    let name = two.metadata.name.expect("name");
    assert_eq!(
        problem(pods.logs(&name, &LogParams::default()).await),
        (
            400,
            "a container name must be specified for pod two, choose one of: [a b]".to_string()
        )
    );
    let tail = LogParams {
        container: Some("a".into()),
        tail_lines: Some(-1),
        ..LogParams::default()
    };
    assert_eq!(
        problem(pods.logs(&name, &tail).await),
        (
            422,
            "PodLogOptions \"two\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0".to_string()
        )
    );
}

#[tokio::test]
async fn exec_answers_what_the_sandbox_knows_and_refuses_the_rest() {
    let Some((h, pod)) = app("exec").await else {
        return;
    };
    assert_eq!(
        h.ok(&["exec", &pod, "--", "hostname"]).await,
        format!("{pod}\n")
    );
    assert_eq!(
        h.ok(&["exec", &pod, "--", "printenv", "MODE"]).await,
        "demo\n"
    );
    let env = h.ok(&["exec", &pod, "--", "env"]).await;
    let web_ip = service_address(&h).await.ip().to_string();
    assert!(
        env.lines()
            .any(|l| l == format!("WEB_SERVICE_HOST={web_ip}")),
        "{env}"
    );
    assert!(
        env.lines()
            .any(|l| l == format!("WEB_PORT_80_TCP=tcp://{web_ip}:80")),
        "{env}"
    );

    // With a cluster DNS Service, resolv.conf is the kubelet's ClusterFirst file.
    let client = h.sandbox.client().await.expect("client");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces
        .get_opt("kube-system")
        .await
        .expect("get")
        .is_none()
    {
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": "kube-system"}})).expect("ns"),
            )
            .await
            .expect("create kube-system");
    }
    let dns = Api::<Service>::namespaced(client, "kube-system")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "kube-dns", "namespace": "kube-system"},
                "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}
            }))
            .expect("service"),
        )
        .await
        .expect("create kube-dns");
    let dns_ip = dns.spec.and_then(|s| s.cluster_ip).expect("ClusterIP");
    assert_eq!(
        h.ok(&["exec", &pod, "--", "cat", "/etc/resolv.conf"]).await,
        format!(
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver {dns_ip}\noptions ndots:5\n"
        )
    );
    let hosts = h.ok(&["exec", &pod, "--", "cat", "/etc/hosts"]).await;
    assert!(
        hosts.starts_with("# Kubernetes-managed hosts file.\n"),
        "{hosts}"
    );
    assert!(hosts.trim_end().ends_with(&format!("\t{pod}")), "{hosts}");

    let output = within(
        "kubectl exec of a shell",
        h.command(&["exec", &pod, "--", "sh", "-c", "ls"]).output(),
    )
    .await
    .expect("kubectl runs");
    assert_eq!(output.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("runs no processes"), "{stderr}");
    assert!(
        stderr.contains("command terminated with exit code 127"),
        "{stderr}"
    );

    // kube-rs's exec: stdout, then a Success status.
    let pods: Api<Pod> = Api::namespaced(h.sandbox.client().await.expect("client"), "default");
    let mut attached = pods
        .exec(&pod, ["hostname"], &AttachParams::default().stderr(false))
        .await
        .expect("exec");
    let mut stdout = attached.stdout().expect("stdout");
    let status = attached.take_status().expect("status");
    let mut printed = String::new();
    within("kube-rs exec output", stdout.read_to_string(&mut printed))
        .await
        .expect("read");
    assert_eq!(printed, format!("{pod}\n"));
    let status = within("kube-rs exec status", status)
        .await
        .expect("a status");
    assert_eq!(status.status.as_deref(), Some("Success"));
}

#[tokio::test]
async fn auth_can_i_answers_from_the_fault_settings_and_top_has_no_metrics() {
    let Some(h) = Harness::start_cluster("can-i").await else {
        return;
    };
    assert_eq!(h.ok(&["auth", "can-i", "list", "pods"]).await.trim(), "yes");
    assert_eq!(
        h.ok(&["auth", "can-i", "create", "deployments", "-n", "shop"])
            .await
            .trim(),
        "yes"
    );
    h.sandbox.faults().forbid("services");
    let output = within(
        "kubectl auth can-i list services",
        h.command(&["auth", "can-i", "list", "services"]).output(),
    )
    .await
    .expect("kubectl runs");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("no"), "{stdout}");
    // Writes to services are still allowed.
    assert_eq!(
        h.ok(&["auth", "can-i", "create", "services"]).await.trim(),
        "yes"
    );
    let list = h.ok(&["auth", "can-i", "--list"]).await;
    let services_row = list
        .lines()
        .find(|l| l.starts_with("services "))
        .unwrap_or_else(|| panic!("a services row in {list}"));
    assert!(!services_row.contains("list"), "{services_row}");
    assert!(services_row.contains("create"), "{services_row}");

    let (ok, _, stderr) = h.run(&["top", "pod"]).await;
    assert!(!ok);
    assert!(stderr.contains("Metrics API not available"), "{stderr}");
}

/// A pod whose `web` container serves HTTP on 8080 and whose `dns` container answers UDP on
/// 5353: each container's log has its own lines, and a UDP client's datagrams are one flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_container_logs_its_own_ports_and_udp_logs_flows() {
    let mut objects = three_nodes();
    let mut app = deployment("default", "both", 1, 8080);
    app["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "web", "image": "example/web:1", "ports": [{"containerPort": 8080}]},
        {"name": "dns", "image": "example/dns:1",
         "ports": [{"containerPort": 5353, "protocol": "UDP"}]}
    ]);
    objects.push(app);
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;
    let pod = pods_of(sandbox.store(), "default", "both")
        .into_iter()
        .next()
        .expect("a pod");
    let name = pod.metadata.name.clone().expect("name");
    let ip: IpAddr = pod
        .status
        .and_then(|s| s.pod_ip)
        .and_then(|ip| ip.parse().ok())
        .expect("pod IP");
    let udp = SocketAddr::new(ip, 5353);
    if !sandbox.listening_udp().contains_key(&udp) {
        eprintln!("==== SKIP: {udp}/udp not bindable here ====");
        return sandbox.shutdown().await;
    }
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    for query in [b"one".as_slice(), b"two".as_slice()] {
        socket.send_to(query, udp).await.expect("send");
        let mut buffer = vec![0u8; 65536];
        within("a UDP answer", socket.recv_from(&mut buffer))
            .await
            .expect("answer");
    }
    let response = request(SocketAddr::new(ip, 8080), "/web").await;
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");

    let pods: Api<Pod> = Api::namespaced(client, "default");
    let of = |container: &str| LogParams {
        container: Some(container.to_string()),
        ..LogParams::default()
    };
    let dns = pods.logs(&name, &of("dns")).await.expect("dns log");
    let lines: Vec<&str> = dns.lines().collect();
    assert_eq!(lines.len(), 1, "one flow: {dns}");
    assert!(
        lines[0].ends_with(&format!("\"UDP {udp}\" flow started")),
        "{dns}"
    );
    let web = pods.logs(&name, &of("web")).await.expect("web log");
    assert_eq!(web.lines().count(), 1, "{web}");
    assert!(web.contains("\"GET /web HTTP/1.1\" 200 "), "{web}");
    sandbox.shutdown().await;
}
