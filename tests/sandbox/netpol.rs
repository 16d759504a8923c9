//! NetworkPolicy end to end on the built-in scenario's `vault` namespace (rules N1-N10): for
//! every hop of vault/ledger and vault/ledger-canary and every source (a pod of shop, a pod of
//! data, an outside client), the engine's verdict and a real connection agree — allowed
//! answers, denied is reset by the data plane. Then `kubectl label ns data ledger-access=true`
//! flips both the verdict the chain shows and the connection.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kubehop::engine::netpol::{Client, PolicyHop, Seen, SourceChoice};
use kubehop::engine::{self, EngineConfig, ProxyModel, RouteQuery, TrafficSource, model::Protocol};
use kubehop::sandbox::SandboxHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::kubectl::Harness;
use crate::support::sandbox::{Outcome, PATIENCE};
use crate::support::wait::within;

/// The outside client the scenario's policy names (the office).
const OFFICE: &str = "127.0.0.1";
/// How long a fix may take to reach the chain and the data plane.
const FIX_DEADLINE: Duration = Duration::from_secs(10);

/// One HTTP GET to `addr` from a socket bound to `from` (a pod's or the office's address).
async fn probe_from(from: IpAddr, addr: SocketAddr) -> Outcome {
    assert!(
        kubehop::sandbox::is_sandbox_address(addr.ip()) && from.is_loopback(),
        "tests connect only inside 127.0.0.0/8"
    );
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::new(from, 0))
        .expect("bind the source");
    let mut stream = match within("a connect", socket.connect(addr)).await {
        Ok(stream) => stream,
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => return Outcome::Refused,
        Err(err) => panic!("connect {from} -> {addr}: {err}"),
    };
    let request = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return Outcome::Reset;
    }
    let mut answer = Vec::new();
    match tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await {
        Err(_) => Outcome::Silent,
        Ok(Err(_)) => Outcome::Reset,
        Ok(Ok(_)) => String::from_utf8_lossy(&answer)
            .lines()
            .find_map(|line| line.strip_prefix("X-Kubehop-Pod: "))
            .map_or(Outcome::Reset, |pod| {
                Outcome::Answered(pod.trim().to_owned())
            }),
    }
}

/// The model the data plane and the chain are built from, now.
fn model_now(sandbox: &SandboxHandle) -> ProxyModel {
    let store = sandbox.store();
    let snapshot = store
        .cluster_snapshot(store.resource_version())
        .expect("snapshot");
    engine::build(&snapshot, &EngineConfig::default())
}

/// The pod of `namespace` whose label `key` is `value`.
fn pod_of<'m>(model: &'m ProxyModel, namespace: &str, (key, value): (&str, &str)) -> &'m Pod {
    model
        .policies()
        .pods()
        .iter()
        .find(|pod| {
            pod.metadata.namespace.as_deref() == Some(namespace)
                && pod
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get(key))
                    .is_some_and(|found| found == value)
        })
        .unwrap_or_else(|| panic!("a pod {namespace} {key}={value}"))
}

fn ip_of(pod: &Pod) -> IpAddr {
    pod.status
        .as_ref()
        .and_then(|status| status.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok())
        .expect("a pod IP")
}

/// What a connection should see for an engine verdict on a single-endpoint hop.
fn expected(allowed: Option<bool>, endpoint: &Pod) -> Outcome {
    match allowed {
        Some(false) => Outcome::Reset,
        _ => Outcome::Answered(endpoint.metadata.name.clone().unwrap_or_default()),
    }
}

/// The engine's verdict through a front door (the same route and policy calls the data plane
/// makes).
fn door_verdict(
    model: &ProxyModel,
    addr: SocketAddr,
    source: TrafficSource,
    client: &Client<'_>,
) -> Option<bool> {
    let decision = model.route(&RouteQuery {
        destination: addr.ip(),
        port: addr.port(),
        protocol: Protocol::Tcp,
        source,
        source_ip: None,
    });
    let verdicts = model.policy_verdicts(&decision, client);
    assert_eq!(
        verdicts.len(),
        1,
        "one endpoint behind {addr}: {verdicts:?}"
    );
    verdicts[0].verdict.allowed
}

/// Every hop of one single-endpoint Service from the pod sources and the office; returns how
/// many (hop, source) pairs were denied.
async fn check_service(model: &ProxyModel, service: &str, sources: &[&Pod]) -> usize {
    let chain = model.service("vault", service).expect("the Service");
    let track = if service == "ledger" {
        "stable"
    } else {
        "canary"
    };
    let endpoint = pod_of(model, "vault", ("track", track));
    let target = chain.ports[0].endpoints[0].socket_addr().expect("endpoint");
    let cluster_ip = SocketAddr::new(chain.cluster_ips[0], 80);
    let first_node = model.node_names().next().expect("a node").to_owned();
    let mut denied = 0;
    for source in sources {
        let from = ip_of(source);
        // Straight to the pod (N8), then through the cluster IP (the pod's own address, N10).
        let direct = model.policies().verdict(
            &Seen::Pod(source),
            endpoint,
            i32::from(target.port()),
            Protocol::Tcp,
        );
        let outcome = probe_from(from, target).await;
        assert_eq!(
            outcome,
            expected(direct.allowed, endpoint),
            "{from} -> {target}: {direct:?}"
        );
        let source_node = TrafficSource::Node {
            node: first_node.clone(),
        };
        let allowed = door_verdict(model, cluster_ip, source_node, &Client::Pod(source));
        let outcome = probe_from(from, cluster_ip).await;
        assert_eq!(
            outcome,
            expected(allowed, endpoint),
            "{from} -> {cluster_ip}"
        );
        denied += usize::from(direct.allowed == Some(false)) + usize::from(allowed == Some(false));
    }
    // The office through every node's nodePort (N10: masqueraded under eTP Cluster).
    let office: IpAddr = OFFICE.parse().expect("address");
    for port in &chain.ports {
        for row in port.node_ports.rows() {
            let addr = SocketAddr::new(row.address, u16::try_from(row.port).expect("port"));
            let source = TrafficSource::External {
                node: row.node.clone(),
            };
            let allowed = door_verdict(model, addr, source, &Client::External(Some(office)));
            let outcome = probe_from(office, addr).await;
            assert_eq!(
                outcome,
                expected(allowed, endpoint),
                "office -> {addr} ({})",
                row.node
            );
            denied += usize::from(allowed == Some(false));
        }
    }
    denied
}

#[tokio::test]
async fn verdicts_and_connections_agree_and_a_namespace_label_flips_both() {
    let Some(harness) = Harness::start_builtin("netpol").await else {
        return;
    };
    let sandbox = &harness.sandbox;
    let model = model_now(sandbox);
    let web = pod_of(&model, "shop", ("app", "web")).clone();
    let mongodb = pod_of(&model, "data", ("app.kubernetes.io/name", "mongodb")).clone();
    let ledger = pod_of(&model, "vault", ("track", "stable")).clone();
    let denied = check_service(&model, "ledger", &[&web, &mongodb]).await;
    // data's pod (direct and via the cluster IP) and the office through the other nodes.
    assert!(denied >= 4, "{denied} denials on vault/ledger");
    let canary_denied = check_service(&model, "ledger-canary", &[&web]).await;
    assert_eq!(canary_denied, 2, "the canary does not name its port (N7)");

    // The chain's view before the fix: data's pods are denied at the cluster IP.
    let data = SourceChoice::Namespace("data".to_owned());
    let chain = model.service("vault", "ledger").expect("ledger");
    let before = model.hop_policies(chain, PolicyHop::ClusterIp(0), Some(&data));
    assert_eq!(before.verdicts[0].endpoints[0].verdict.allowed, Some(false));

    let (success, stdout, stderr) = harness
        .shell("kubectl label ns data ledger-access=true")
        .await;
    assert!(success, "{stdout}\n{stderr}");
    // Within one build the chain says allowed, and the data plane lets data's pod in.
    let cluster_ip = SocketAddr::new(chain.cluster_ips[0], 80);
    let expected_pod = Outcome::Answered(ledger.metadata.name.clone().unwrap_or_default());
    within(
        "the label to reach the chain and the data plane",
        tokio::time::timeout(FIX_DEADLINE, async {
            loop {
                let model = model_now(sandbox);
                let chain = model.service("vault", "ledger").expect("ledger");
                let after = model.hop_policies(chain, PolicyHop::ClusterIp(0), Some(&data));
                let flipped = after.verdicts[0].endpoints[0].verdict.allowed == Some(true);
                if flipped && probe_from(ip_of(&mongodb), cluster_ip).await == expected_pod {
                    return;
                }
                // The next store change, or a short while for the data plane to catch up.
                let mut changes = sandbox.store().changes();
                tokio::time::timeout(Duration::from_millis(200), changes.changed())
                    .await
                    .ok();
            }
        }),
    )
    .await
    .expect("the fix flips the verdict and the connection");
    let model = model_now(sandbox);
    let denied_after = check_service(&model, "ledger", &[&web, &mongodb]).await;
    assert_eq!(denied_after + 2, denied, "data's pod passes both ways now");
}
