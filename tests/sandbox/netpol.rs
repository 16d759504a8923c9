//! NetworkPolicy end to end on the built-in scenario's `vault` namespace (rules N1-N10): for
//! every hop of vault/ledger and vault/ledger-canary and every source (a pod of shop, a pod of
//! data, an outside client), the engine's verdict and a real connection agree — allowed
//! answers, denied is reset by the data plane. Then `kubectl label ns data ledger-access=true`
//! flips both the verdict the chain shows and the connection.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use kubehop::engine::netpol::{Client, PolicyHop, Seen, SourceChoice};
use kubehop::engine::objects::PodInfo;
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
fn pod_of<'m>(model: &'m ProxyModel, namespace: &str, (key, value): (&str, &str)) -> &'m PodInfo {
    model
        .policies()
        .pods()
        .iter()
        .find(|pod| {
            pod.namespace.as_deref() == Some(namespace)
                && pod
                    .labels
                    .as_ref()
                    .and_then(|labels| labels.get(key))
                    .is_some_and(|found| found == value)
        })
        .unwrap_or_else(|| panic!("a pod {namespace} {key}={value}"))
}

fn ip_of(pod: &PodInfo) -> IpAddr {
    pod.to_pod()
        .status
        .as_ref()
        .and_then(|status| status.pod_ip.as_deref())
        .and_then(|ip| ip.parse().ok())
        .expect("a pod IP")
}

/// What a connection should see for an engine verdict on a single-endpoint hop.
fn expected(allowed: Option<bool>, endpoint: &PodInfo) -> Outcome {
    match allowed {
        Some(false) => Outcome::Reset,
        _ => Outcome::Answered(endpoint.name.as_deref().unwrap_or_default().to_owned()),
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
async fn check_service(model: &ProxyModel, service: &str, sources: &[&PodInfo]) -> usize {
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
    let expected_pod = Outcome::Answered(ledger.name.as_deref().unwrap_or_default().to_owned());
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

/// An Ingress in front of vault/ledger, added by the test (the scenario has none there): the
/// sandbox's Ingress controller is a host process on the first node, so the ledger pod's
/// policies see that node's address (N9, N10).
const LEDGER_INGRESS: &str = r#"kubectl apply -f - <<'EOF'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ledger, namespace: vault}
spec:
  ingressClassName: sandbox
  rules:
  - host: ledger.vault.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: ledger, port: {name: http}}}}
EOF"#;

/// An outside client that no rule names (the office is 127.0.0.1).
const STRANGER: &str = "127.0.0.9";

/// One HTTP GET through the Ingress controller at `addr` for `host`, from `from`: the pod that
/// answered, or the controller's own status code (502 when the endpoint resets it).
async fn through_ingress(from: IpAddr, addr: SocketAddr, host: &str) -> Result<String, u16> {
    assert!(kubehop::sandbox::is_sandbox_address(addr.ip()) && from.is_loopback());
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::new(from, 0))
        .expect("bind the source");
    let mut stream = within("a connect", socket.connect(addr))
        .await
        .expect("the Ingress controller accepts");
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("a request");
    let mut answer = Vec::new();
    within("an answer", stream.read_to_end(&mut answer))
        .await
        .expect("an answer");
    let answer = String::from_utf8_lossy(&answer);
    if let Some(pod) = answer
        .lines()
        .find_map(|line| line.strip_prefix("X-Kubehop-Pod: "))
    {
        return Ok(pod.trim().to_owned());
    }
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok());
    Err(status.unwrap_or(0))
}

/// Who connects, for the table below.
#[derive(Debug, Clone, Copy)]
enum Source<'m> {
    Pod(&'m PodInfo),
    /// A host process of a node, from the node's address.
    Host(&'m str, IpAddr),
    /// An outside client.
    Outside(IpAddr),
}

impl Source<'_> {
    fn label(&self) -> String {
        match self {
            Self::Pod(pod) => format!(
                "pod {}/{}",
                pod.namespace.as_deref().unwrap_or_default(),
                pod.name.as_deref().unwrap_or_default()
            ),
            Self::Host(node, address) => format!("host {node} ({address})"),
            Self::Outside(address) => format!("outside {address}"),
        }
    }

    fn address(&self) -> IpAddr {
        match self {
            Self::Pod(pod) => ip_of(pod),
            Self::Host(_, address) | Self::Outside(address) => *address,
        }
    }
}

/// One row of the table: hop, source, the engine's verdict.
type Row = (String, String, Option<bool>);

/// What every row needs about vault/ledger.
struct Ledger<'m> {
    model: &'m ProxyModel,
    endpoint: &'m PodInfo,
    target: SocketAddr,
    cluster_ip: SocketAddr,
    first_node: String,
    ingress: SocketAddr,
}

impl<'m> Ledger<'m> {
    fn new(model: &'m ProxyModel, ingress: SocketAddr) -> Self {
        let chain = model.service("vault", "ledger").expect("ledger");
        Self {
            model,
            endpoint: pod_of(model, "vault", ("track", "stable")),
            target: chain.ports[0].endpoints[0].socket_addr().expect("endpoint"),
            cluster_ip: SocketAddr::new(chain.cluster_ips[0], 80),
            first_node: model.node_names().next().expect("a node").to_owned(),
            ingress,
        }
    }

    /// Straight to the pod and through the cluster IP (pods and hosts; an outside client
    /// reaches neither).
    async fn inside_rows(&self, source: &Source<'_>, client: &Client<'_>, table: &mut Vec<Row>) {
        let seen = match source {
            Source::Pod(pod) => Seen::Pod(pod),
            Source::Host(node, address) => Seen::Node {
                name: node,
                address: Some(*address),
            },
            Source::Outside(_) => return,
        };
        let port = i32::from(self.target.port());
        let direct = self
            .model
            .policies()
            .verdict(&seen, self.endpoint, port, Protocol::Tcp);
        let outcome = probe_from(source.address(), self.target).await;
        let what = format!("{} -> {}: {direct:?}", source.label(), self.target);
        assert_eq!(outcome, expected(direct.allowed, self.endpoint), "{what}");
        table.push((self.target.to_string(), source.label(), direct.allowed));
        let node = TrafficSource::Node {
            node: self.first_node.clone(),
        };
        let allowed = door_verdict(self.model, self.cluster_ip, node, client);
        let outcome = probe_from(source.address(), self.cluster_ip).await;
        let what = format!("{} -> {}", source.label(), self.cluster_ip);
        assert_eq!(outcome, expected(allowed, self.endpoint), "{what}");
        table.push((self.cluster_ip.to_string(), source.label(), allowed));
    }

    /// The nodePort on every node, then the Ingress (whose controller, a host process on the
    /// first node, dials the cluster IP whoever the client is).
    async fn door_rows(&self, source: &Source<'_>, client: &Client<'_>, table: &mut Vec<Row>) {
        let chain = self.model.service("vault", "ledger").expect("ledger");
        for row in chain.ports[0].node_ports.rows() {
            let addr = SocketAddr::new(row.address, u16::try_from(row.port).expect("port"));
            let arriving = TrafficSource::External {
                node: row.node.clone(),
            };
            let allowed = door_verdict(self.model, addr, arriving, client);
            let outcome = probe_from(source.address(), addr).await;
            let what = format!("{} -> {addr} ({})", source.label(), row.node);
            assert_eq!(outcome, expected(allowed, self.endpoint), "{what}");
            table.push((addr.to_string(), source.label(), allowed));
        }
        let node = TrafficSource::Node {
            node: self.first_node.clone(),
        };
        let controller = Client::Node(&self.first_node);
        let allowed = door_verdict(self.model, self.cluster_ip, node, &controller);
        let answer = through_ingress(source.address(), self.ingress, "ledger.vault.test").await;
        let wanted = match allowed {
            Some(false) => Err(502),
            _ => Ok(self.endpoint.name.as_deref().unwrap_or_default().to_owned()),
        };
        let what = format!("{} -> Ingress {}", source.label(), self.ingress);
        assert_eq!(answer, wanted, "{what}");
        table.push((format!("ingress {}", self.ingress), source.label(), allowed));
    }

    /// The engine's verdict and a real connection for every hop of vault/ledger (straight to
    /// the pod, the cluster IP, the nodePort on every node, the Ingress) from every source.
    async fn table(&self, sources: &[Source<'_>]) -> Vec<Row> {
        let mut table = Vec::new();
        for source in sources {
            let client = match source {
                Source::Pod(pod) => Client::Pod(pod),
                Source::Host(node, _) => Client::Node(node),
                Source::Outside(address) => Client::External(Some(*address)),
            };
            self.inside_rows(source, &client, &mut table).await;
            self.door_rows(source, &client, &mut table).await;
        }
        table
    }
}

/// How many rows whose hop starts with `hop` are denied.
fn denied(table: &[Row], hop: &str) -> usize {
    table
        .iter()
        .filter(|(row, _, allowed)| row.starts_with(hop) && *allowed == Some(false))
        .count()
}

/// The Ingress controller's address once the data plane listens there.
async fn ledger_ingress(harness: &Harness) -> SocketAddr {
    let (success, stdout, stderr) = harness.shell(LEDGER_INGRESS).await;
    assert!(success, "{stdout}\n{stderr}");
    let sandbox = &harness.sandbox;
    let mut address = None;
    crate::support::sandbox::wait_until(sandbox, "the Ingress's address", || {
        let store = sandbox.store();
        let snapshot = store
            .cluster_snapshot(store.resource_version())
            .expect("snapshot");
        address = snapshot
            .ingresses
            .iter()
            .find(|ingress| {
                ingress.metadata.namespace.as_deref() == Some("vault")
                    && ingress.metadata.name.as_deref() == Some("ledger")
            })
            .and_then(|ingress| {
                let status = ingress.status.as_ref()?.load_balancer.as_ref()?;
                status.ingress.as_ref()?.first()?.ip.clone()
            })
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        address.is_some()
    })
    .await;
    let addr = SocketAddr::new(address.expect("an address"), 80);
    within(
        "the data plane to listen on the Ingress",
        tokio::time::timeout(FIX_DEADLINE, crate::support::sandbox::settle(sandbox)),
    )
    .await
    .ok();
    assert!(
        sandbox.listening().contains_key(&addr),
        "the Ingress controller listens on {addr}"
    );
    addr
}

/// The fix for the masqueraded paths: allow-ledger admits the nodes' addresses too. Returns
/// the store's revision after the patch.
async fn admit_nodes(harness: &Harness, nodes: &[(String, IpAddr)]) -> u64 {
    let blocks: Vec<String> = nodes
        .iter()
        .map(|(_, address)| {
            format!(
                r#"{{"op":"add","path":"/spec/ingress/0/from/-","value":{{"ipBlock":{{"cidr":"{address}/32"}}}}}}"#
            )
        })
        .collect();
    let patch = format!(
        "kubectl patch networkpolicy allow-ledger -n vault --type json -p '[{}]'",
        blocks.join(",")
    );
    let (success, stdout, stderr) = harness.shell(&patch).await;
    assert!(success, "{stdout}\n{stderr}");
    harness.sandbox.store().resource_version()
}

/// Whether allow-ledger's first rule has `peers` peers.
fn allow_ledger_has(snapshot: &kubehop::engine::ClusterSnapshot, peers: usize) -> bool {
    snapshot.network_policies.iter().any(|policy| {
        policy.metadata.name.as_deref() == Some("allow-ledger")
            && policy
                .spec
                .as_ref()
                .and_then(|spec| spec.ingress.as_ref()?.first()?.from.as_ref())
                .is_some_and(|from| from.len() == peers)
    })
}

/// Every hop of vault/ledger (straight, cluster IP, the nodePort on each node, an Ingress the
/// test adds) from every kind of source (pods of shop, data and vault, each node's host, the
/// office and another outside client): the engine's verdict and a real connection agree.
/// Then a patched policy admits the node addresses: the first live snapshot that carries it
/// gives the new verdicts, and the data plane has applied the same revision by then or
/// within the deadline, so the connections flip with it.
#[tokio::test]
async fn every_hop_and_source_agree_and_a_patched_policy_flips_the_masqueraded_paths() {
    use kubehop::cluster::client::Scope;
    let Some(harness) = Harness::start_builtin("netpol_every_hop").await else {
        return;
    };
    let sandbox = &harness.sandbox;
    let ingress = ledger_ingress(&harness).await;
    let mut live = crate::support::live::live(sandbox, Scope::All).await;
    let model = model_now(sandbox);
    let chain = model.service("vault", "ledger").expect("ledger");
    let hosts: Vec<(String, IpAddr)> = chain.ports[0]
        .node_ports
        .rows()
        .map(|row| (row.node.clone(), row.address))
        .collect();
    let mut sources = vec![
        Source::Pod(pod_of(&model, "shop", ("app", "web"))),
        Source::Pod(pod_of(
            &model,
            "data",
            ("app.kubernetes.io/name", "mongodb"),
        )),
        Source::Pod(pod_of(&model, "vault", ("track", "canary"))),
    ];
    sources.extend(hosts.iter().map(|(node, ip)| Source::Host(node, *ip)));
    for outside in [OFFICE, STRANGER] {
        sources.push(Source::Outside(outside.parse().expect("address")));
    }
    let before = Ledger::new(&model, ingress).table(&sources).await;
    // Through the Ingress the controller's node is the source (N10): denied for every client
    // unless the ledger pod runs on that very node (N9).
    let own_node = chain.ports[0].endpoints[0].info.node.as_deref() == model.node_names().next();
    let ingress_denials = if own_node { 0 } else { sources.len() };
    assert_eq!(denied(&before, "ingress"), ingress_denials, "{before:#?}");
    // Through the nodePorts of the two other nodes every source is masqueraded and denied.
    let node_port_denials = denied(&before, "") - denied(&before, "ingress");
    assert!(node_port_denials >= 2 * sources.len(), "{before:#?}");

    let patched_at = admit_nodes(&harness, &hosts).await;
    let snapshot = crate::support::live::snapshot_where(
        &mut live,
        FIX_DEADLINE,
        "the patched policy in the live snapshot",
        |snapshot| allow_ledger_has(snapshot, 3 + hosts.len()),
    )
    .await;
    let live_model = engine::build(&snapshot, &EngineConfig::default());
    let mut applied = sandbox.data_plane_applied().expect("a data plane");
    within(
        "the data plane to apply the patch",
        tokio::time::timeout(FIX_DEADLINE, applied.wait_for(|rev| *rev >= patched_at)),
    )
    .await
    .expect("in time")
    .expect("the data plane runs");
    let after = Ledger::new(&live_model, ingress).table(&sources).await;
    assert_eq!(denied(&after, "ingress"), 0, "{after:#?}");
    // Only the pods of data (not labelled) and of vault itself stay denied, straight and
    // through the cluster IP (N4: the ipBlocks do not cover pod addresses).
    let still: Vec<&Row> = after.iter().filter(|row| row.2 == Some(false)).collect();
    assert_eq!(still.len(), 4, "{still:#?}");
    let pods_of_data_and_vault =
        |source: &str| source.starts_with("pod data/") || source.starts_with("pod vault/");
    assert!(
        still
            .iter()
            .all(|(_, source, _)| pods_of_data_and_vault(source)),
        "{still:#?}"
    );
}
