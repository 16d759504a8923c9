//! UDP in the sandbox's data plane, and refusals: pods answer datagrams on their UDP ports, a
//! UDP Service's ClusterIP forwards to them and keeps a client on its pod, a Service without
//! endpoints has no socket at all (TCP: connection refused). Loopback only.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kubehop::sandbox::{Listening, SandboxHandle, is_sandbox_address};
use serde_json::json;
use tokio::net::{TcpStream, UdpSocket};

use crate::support::fixtures::manifest::{Edit, deployment, service, three_nodes};
use crate::support::sandbox::{pods_of, start_cluster};
use crate::support::wait::within;

const DNS: u16 = 5353;

/// `dns`: 2 pods answering UDP and TCP on 5353 behind port 53 of both protocols; `void`: a UDP
/// and TCP Service selecting no pod.
fn dns() -> Vec<serde_json::Value> {
    let mut objects = three_nodes();
    let mut pods = deployment("dns", "dns", 2, DNS);
    pods["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([
        {"name": "dns", "containerPort": DNS, "protocol": "UDP"},
        {"name": "dns-tcp", "containerPort": DNS, "protocol": "TCP"}
    ]);
    objects.push(pods);
    objects.push(service("dns", "dns", 53).spec(json!({"ports": [
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": DNS},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": DNS}
    ]})));
    objects.push(service("dns", "void", 53).spec(json!({"ports": [
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": DNS},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": DNS}
    ]})));
    objects
}

fn cluster_ip(sandbox: &SandboxHandle, name: &str) -> IpAddr {
    sandbox
        .store()
        .get::<Service>("dns", name)
        .expect("reads")
        .and_then(|s| s.spec?.cluster_ip)
        .and_then(|ip| ip.parse().ok())
        .expect("a ClusterIP")
}

/// Sends `payload` to `addr` from a fresh socket, or from `socket`; the answer's text.
async fn ask(socket: &UdpSocket, addr: SocketAddr, payload: &[u8]) -> String {
    assert!(is_sandbox_address(addr.ip()));
    socket.send_to(payload, addr).await.expect("send");
    let mut buffer = vec![0u8; 65536];
    let (n, from) = within("an answer", socket.recv_from(&mut buffer))
        .await
        .expect("receive");
    assert_eq!(from, addr, "the answer comes from the address asked");
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

fn pod_named(text: &str) -> String {
    text.split_whitespace()
        .nth(3)
        .and_then(|pod| pod.split('/').nth(1))
        .expect("the answer names a pod")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udp_service_answers_datagrams_from_its_pods() {
    let (sandbox, _client) = start_cluster(dns(), Duration::from_secs(1)).await;
    let pods: BTreeSet<String> = pods_of(sandbox.store(), "dns", "dns")
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let door = SocketAddr::new(cluster_ip(&sandbox, "dns"), 53);
    let udp = sandbox.listening_udp();
    if !udp.contains_key(&door) {
        assert!(
            sandbox
                .notes()
                .contains(&format!("cannot listen on {door}/udp"))
        );
        eprintln!("==== SKIP: {door}/udp not bindable here ====");
        return sandbox.shutdown().await;
    }
    assert!(matches!(udp.get(&door), Some(Listening::ClusterIp { .. })));
    // Each pod answers on its own address too.
    let pod_sockets: Vec<SocketAddr> = udp
        .iter()
        .filter(|(_, l)| matches!(l, Listening::Pod { .. }))
        .map(|(addr, _)| *addr)
        .collect();
    assert_eq!(pod_sockets.len(), 2, "{udp:?}");

    let mut answering = BTreeSet::new();
    for round in 0..12 {
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let payload = format!("query {round}");
        let first = ask(&client, door, payload.as_bytes()).await;
        assert!(first.ends_with(&payload), "an echo: {first:?}");
        assert!(first.contains("/udp"), "{first:?}");
        let pod = pod_named(&first);
        assert!(pods.contains(&pod), "{pod} is not a dns pod");
        // The flow keeps its endpoint.
        let again = ask(&client, door, b"again").await;
        assert_eq!(pod_named(&again), pod);
        answering.insert(pod);
    }
    assert_eq!(answering, pods, "every pod gets flows");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_endpoints_has_no_socket_and_refuses_connections() {
    let (sandbox, _client) = start_cluster(dns(), Duration::from_secs(1)).await;
    let void = SocketAddr::new(cluster_ip(&sandbox, "void"), 53);
    assert!(!sandbox.listening_udp().contains_key(&void));
    assert!(!sandbox.listening().contains_key(&void));
    let refused = within("a connect", TcpStream::connect(void)).await;
    assert_eq!(
        refused.expect_err("nothing listens").kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    // A datagram gets the kernel's port unreachable: a connected socket sees the refusal.
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    client.connect(void).await.expect("connect");
    client.send(b"anyone?").await.expect("send");
    let mut buffer = [0u8; 64];
    let answer = within("the refusal", client.recv(&mut buffer)).await;
    assert_eq!(
        answer.expect_err("no answer").kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_declaring_no_ports_answers_on_its_udp_services_target_port() {
    let mut objects = three_nodes();
    let mut pods = deployment("dns", "quiet", 1, DNS);
    pods["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .expect("container")
        .remove("ports");
    objects.push(pods);
    objects.push(service("dns", "quiet", 53).spec(json!({"ports": [
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": DNS}
    ]})));
    let (sandbox, _client) = start_cluster(objects, Duration::from_secs(1)).await;
    let door = SocketAddr::new(cluster_ip(&sandbox, "quiet"), 53);
    if !sandbox.listening_udp().contains_key(&door) {
        assert!(
            sandbox
                .notes()
                .contains(&format!("cannot listen on {door}/udp"))
        );
        eprintln!("==== SKIP: {door}/udp not bindable here ====");
        return sandbox.shutdown().await;
    }
    let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let answer = ask(&client, door, b"hello").await;
    assert!(pod_named(&answer).starts_with("quiet-"), "{answer:?}");
    assert!(answer.ends_with("hello"), "{answer:?}");
    sandbox.shutdown().await;
}
