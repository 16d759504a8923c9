//! Gateway API in the sandbox, end to end on loopback: the Gateway API CRDs generated from
//! kubehop's types applied with kubectl, a Gateway and routes applied with kubectl, the
//! status the sandbox's controller writes (as a conformant implementation), and real requests
//! and connections through the Gateway's listeners reaching the pods the routes pick, with the
//! weights held over 200 requests.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use kubehop::sandbox::gateway::{CONTROLLER_NAME, GATEWAY_CLASS, GROUP, crds};
use kubehop::sandbox::{Listening, SandboxHandle, is_sandbox_address};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::kubectl::Harness;
use crate::support::bin::{KUBEHOP, scratch_dir};
use crate::support::fixtures::manifest::{deployment, service, three_nodes};
use crate::support::sandbox::{pods_of, settle, wait_until};
use crate::support::wait::within;

/// The stored object of a Gateway API kind, as JSON.
pub(super) fn object(
    sandbox: &SandboxHandle,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Option<Value> {
    let store = sandbox.store();
    let id = store
        .custom_resources()
        .into_iter()
        .find(|id| id.info().group == GROUP && id.info().kind == kind)?;
    store
        .get_object(id.info().storage, namespace, name)
        .map(|o| o.value())
}

/// (status, reason) of condition `kind` in a conditions array.
fn condition(conditions: &Value, kind: &str) -> (String, String) {
    let found = conditions
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .cloned()
        .unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    (text(&found["status"]), text(&found["reason"]))
}

/// The sandbox's `status.parents` entry of a route (the first), once written.
fn our_parent(route: &Value) -> Option<Value> {
    route["status"]["parents"]
        .as_array()?
        .iter()
        .find(|p| p["controllerName"] == CONTROLLER_NAME)
        .cloned()
}

/// Waits until the Gateway has an address and its listener on `port` is open; the socket.
pub(super) async fn gateway_socket(
    sandbox: &SandboxHandle,
    namespace: &str,
    name: &str,
    port: u16,
) -> SocketAddr {
    let address = || {
        let gateway = object(sandbox, "Gateway", namespace, name)?;
        let ip: IpAddr = gateway["status"]["addresses"][0]["value"]
            .as_str()?
            .parse()
            .ok()?;
        Some(SocketAddr::new(ip, port))
    };
    wait_until(sandbox, "the Gateway to get an address", || {
        address().is_some()
    })
    .await;
    settle(sandbox).await;
    let socket = address().expect("an address");
    assert!(is_sandbox_address(socket.ip()), "{socket}");
    assert!(
        matches!(
            sandbox.listening().get(&socket),
            Some(Listening::Gateway { .. })
        ),
        "{socket} not listening: {:?}",
        sandbox.notes().all()
    );
    socket
}

/// One HTTP/1.1 exchange: (status code, the pod that answered, the whole answer).
async fn get(
    socket: SocketAddr,
    host: &str,
    target: &str,
    headers: &str,
) -> (u16, Option<String>, String) {
    let mut stream = within("a connect", TcpStream::connect(socket))
        .await
        .expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    within("the answer", stream.read_to_end(&mut raw))
        .await
        .expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let pod = text
        .lines()
        .find_map(|line| line.strip_prefix("X-Kubehop-Pod: "))
        .map(|pod| pod.trim().to_owned());
    (status, pod, text)
}

/// The owning app of each pod of `namespace`, by pod name.
fn apps(sandbox: &SandboxHandle, namespace: &str, apps: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for app in apps {
        for pod in pods_of(sandbox.store(), namespace, app) {
            out.insert(
                pod.metadata.name.clone().unwrap_or_default(),
                app.to_string(),
            );
        }
    }
    out
}

/// `kubectl apply -f` of `objects` written to a file; panics with kubectl's words on failure.
async fn apply(h: &Harness, file: &str, objects: &[Value]) {
    let dir = scratch_dir(&format!("gateway-{file}-{}", h.sandbox.addr().port()));
    let path = dir.join(format!("{file}.json"));
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&path, serde_json::to_vec_pretty(&list).expect("json")).expect("write");
    let (ok, out, err) = h.run(&["apply", "-f", path.to_str().expect("utf-8")]).await;
    assert!(ok, "kubectl apply {file}: {out}{err}");
}

pub(super) fn gw(kind: &str, namespace: &str, name: &str, spec: Value) -> Value {
    let version = match kind {
        "TLSRoute" | "TCPRoute" => "v1alpha2",
        "ReferenceGrant" => "v1beta1",
        _ => "v1",
    };
    json!({"apiVersion": format!("{GROUP}/{version}"), "kind": kind,
           "metadata": {"name": name, "namespace": namespace}, "spec": spec})
}

/// A shop: web (3 pods), canary (1), api (1) and db (1, an echo for TLS and TCP) behind one
/// Gateway with HTTP on 8080, TLS passthrough on 8443 and TCP on 5432.
fn shop() -> Vec<Value> {
    let mut objects = three_nodes();
    objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}));
    for (name, replicas) in [("web", 3), ("canary", 1), ("api", 1), ("db", 1)] {
        objects.push(deployment("shop", name, replicas, 8080));
        objects.push(service("shop", name, 80));
    }
    objects
}

fn shop_gateway_api() -> Vec<Value> {
    let backend = |name: &str, weight: u32| json!({"name": name, "port": 80, "weight": weight});
    vec![
        gw(
            "Gateway",
            "shop",
            "edge",
            json!({"gatewayClassName": GATEWAY_CLASS, "listeners": [
                {"name": "http", "port": 8080, "protocol": "HTTP"},
                {"name": "tls", "port": 8443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
                {"name": "tcp", "port": 5432, "protocol": "TCP"},
            ]}),
        ),
        gw(
            "HTTPRoute",
            "shop",
            "web",
            json!({
            "parentRefs": [{"name": "edge", "sectionName": "http"}],
            "hostnames": ["shop.test"],
            "rules": [
                {"backendRefs": [backend("web", 3), backend("canary", 1)]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/api"},
                              "headers": [{"name": "X-Team", "value": "api"}]}],
                 "backendRefs": [backend("api", 1)]},
                {"matches": [{"path": {"type": "Exact", "value": "/gone"}}],
                 "backendRefs": [backend("missing", 1)]},
            ]}),
        ),
        gw(
            "TLSRoute",
            "shop",
            "db-tls",
            json!({
            "parentRefs": [{"name": "edge", "sectionName": "tls"}],
            "hostnames": ["db.shop.test"],
            "rules": [{"backendRefs": [{"name": "db", "port": 80}]}]}),
        ),
        gw(
            "TCPRoute",
            "shop",
            "db-tcp",
            json!({
            "parentRefs": [{"name": "edge", "sectionName": "tcp"}],
            "rules": [{"backendRefs": [{"name": "db", "port": 80}]}]}),
        ),
    ]
}

/// The weighted split: 200 requests at 3:1 between web and canary. The bound is four standard
/// deviations of the binomial count (n = 200, p = 3/4: sigma = 6.1, bound 25), which a fair
/// weighted draw exceeds with a probability below 1e-4.
async fn weights_hold(socket: SocketAddr, owners: &BTreeMap<String, String>) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..200 {
        let (status, pod, text) = get(socket, "shop.test", "/", "").await;
        assert_eq!(status, 200, "{text}");
        let pod = pod.expect("the pod names itself");
        *counts.entry(owners[&pod].clone()).or_default() += 1;
    }
    let web = counts.get("web").copied().unwrap_or(0) as f64;
    let sigma = (200.0_f64 * 0.75 * 0.25).sqrt();
    assert!(
        (web - 150.0).abs() <= 4.0 * sigma,
        "web got {web} of 200, expected 150 ± {:.0}: {counts:?}",
        4.0 * sigma
    );
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        ["canary", "web"],
        "{counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applied_crds_and_routes_route_requests_to_the_picked_pods() {
    let Some(h) = Harness::start_cluster_with("gateway_http", shop()).await else {
        return;
    };
    apply(&h, "crds", &crds()).await;
    wait_until(
        &h.sandbox,
        "the sandbox's GatewayClass to be accepted",
        || {
            object(&h.sandbox, "GatewayClass", "", GATEWAY_CLASS)
                .is_some_and(|c| condition(&c["status"]["conditions"], "Accepted").0 == "True")
        },
    )
    .await;
    apply(&h, "routes", &shop_gateway_api()).await;
    let socket = gateway_socket(&h.sandbox, "shop", "edge", 8080).await;
    let owners = apps(&h.sandbox, "shop", &["web", "canary", "api", "db"]);

    weights_hold(socket, &owners).await;
    let (status, pod, text) = get(socket, "shop.test", "/api/items", "X-Team: api\r\n").await;
    assert_eq!(
        (status, pod.map(|p| owners[&p].clone())),
        (200, Some("api".into())),
        "{text}"
    );
    // Without the header the /api rule does not match: the weighted default rule.
    let (_, pod, text) = get(socket, "shop.test:8080", "/api/items", "").await;
    assert_ne!(
        pod.map(|p| owners[&p].clone()),
        Some("api".into()),
        "{text}"
    );
    let (status, pod, text) = get(socket, "other.test", "/", "").await;
    assert_eq!((status, pod), (404, None), "{text}");
    // A rule whose only backend does not exist: 500, as the spec says.
    let (status, pod, text) = get(socket, "shop.test", "/gone", "").await;
    assert_eq!((status, pod), (500, None), "{text}");

    let web = object(&h.sandbox, "HTTPRoute", "shop", "web").expect("the route");
    let parent = our_parent(&web).expect("the sandbox wrote its parent status");
    assert_eq!(
        condition(&parent["conditions"], "Accepted"),
        ("True".into(), "Accepted".into())
    );
    assert_eq!(
        condition(&parent["conditions"], "ResolvedRefs"),
        ("False".into(), "BackendNotFound".into())
    );
    let gateway = object(&h.sandbox, "Gateway", "shop", "edge").expect("the gateway");
    assert_eq!(
        condition(&gateway["status"]["conditions"], "Programmed"),
        ("True".into(), "Programmed".into())
    );
    let attached: Vec<i64> = gateway["status"]["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| l["attachedRoutes"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(attached, [1, 1, 1]);
    drop(h);
}

/// The first TLS record a real client sends for `name`.
async fn client_hello(name: &str) -> Vec<u8> {
    use std::sync::Arc;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::rustls::pki_types::ServerName;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto::ring::default_provider};
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    let (client, mut server) = tokio::io::duplex(64 * 1024);
    let name = ServerName::try_from(name.to_owned()).expect("a name");
    let connector = TlsConnector::from(Arc::new(config));
    let handshake = tokio::spawn(async move { connector.connect(name, client).await });
    let mut raw = vec![0u8; 64 * 1024];
    let n = within("the hello", server.read(&mut raw))
        .await
        .expect("read");
    raw.truncate(n);
    handshake.abort();
    raw
}

/// Sends `bytes`, half-closes, and reads what comes back until the peer closes.
async fn exchange_raw(socket: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = within("a connect", TcpStream::connect(socket))
        .await
        .expect("connect");
    stream.write_all(bytes).await.expect("send");
    stream.shutdown().await.expect("half-close");
    let mut back = Vec::new();
    // A reset is an answer too: no bytes.
    let _ = within("the echo", stream.read_to_end(&mut back)).await;
    back
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_passthrough_goes_by_server_name_and_tcp_by_port() {
    let Some(h) = Harness::start_cluster_with("gateway_l4", shop()).await else {
        return;
    };
    // The CRDs as a user gets them: printed by `kubehop sandbox`, piped to kubectl.
    let line = format!("{KUBEHOP} sandbox --print-gateway-api-crds | kubectl apply -f -");
    let (ok, out, err) = h.shell(&line).await;
    assert!(ok, "{out}{err}");
    assert_eq!(out.matches("created").count(), crds().len(), "{out}");
    apply(&h, "routes", &shop_gateway_api()).await;
    let tls = gateway_socket(&h.sandbox, "shop", "edge", 8443).await;
    let tcp = gateway_socket(&h.sandbox, "shop", "edge", 5432).await;
    // The db pod echoes: the ClientHello comes back as it was sent, untouched by the Gateway.
    let hello = client_hello("db.shop.test").await;
    assert_eq!(exchange_raw(tls, &hello).await, hello);
    // No route for that name: the Gateway says so with a fatal unrecognized_name alert.
    let other = client_hello("other.shop.test").await;
    assert_eq!(
        exchange_raw(tls, &other).await,
        kubehop::sandbox::dataplane::gateway::UNRECOGNIZED_NAME,
        "no route for that name"
    );
    // Bytes that are not TLS find no route either: reset.
    assert!(exchange_raw(tls, b"ping\n").await.is_empty());
    assert_eq!(exchange_raw(tcp, b"ping\n").await, b"ping\n");
    for name in ["db-tls", "db-tcp"] {
        let kind = if name == "db-tls" {
            "TLSRoute"
        } else {
            "TCPRoute"
        };
        let route = object(&h.sandbox, kind, "shop", name).expect("the route");
        let parent = our_parent(&route).expect("parent status");
        assert_eq!(
            condition(&parent["conditions"], "Accepted").0,
            "True",
            "{route}"
        );
    }
    drop(h);
}

/// The built-in scenario's Gateway: its healthy route answers from the storefront pods, the
/// cross-namespace route without a ReferenceGrant is accepted with `ResolvedRefs: False,
/// RefNotPermitted` and answers 500, and the route naming a listener the Gateway does not have
/// is not accepted (`NoMatchingParent`) and not counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_gateway_shows_a_healthy_route_and_two_broken_ones() {
    let sandbox = kubehop::sandbox::demo::demo_builder()
        .expect("the built-in scenario parses")
        .control_plane(kubehop::sandbox::ControlPlaneConfig::immediate(
            Duration::from_secs(1),
        ))
        .start()
        .await
        .expect("starts");
    settle(&sandbox).await;
    assert!(
        sandbox.load_report().skipped.is_empty(),
        "{:?}",
        sandbox.load_report().skipped
    );
    let route = |name: &str| {
        let route = object(&sandbox, "HTTPRoute", "storefront", name).expect("the route");
        let parent = our_parent(&route).expect("the sandbox's parent status");
        (
            condition(&parent["conditions"], "Accepted"),
            condition(&parent["conditions"], "ResolvedRefs"),
        )
    };
    let ok = |reason: &str| ("True".to_owned(), reason.to_owned());
    let not = |reason: &str| ("False".to_owned(), reason.to_owned());
    wait_until(&sandbox, "the routes' status", || {
        object(&sandbox, "HTTPRoute", "storefront", "promo")
            .is_some_and(|r| our_parent(&r).is_some())
    })
    .await;
    assert_eq!(route("storefront"), (ok("Accepted"), ok("ResolvedRefs")));
    assert_eq!(route("stock"), (ok("Accepted"), not("RefNotPermitted")));
    assert_eq!(route("promo").0, not("NoMatchingParent"));
    let gateway = object(&sandbox, "Gateway", "infra", "public").expect("the gateway");
    assert_eq!(
        gateway["status"]["listeners"][0]["attachedRoutes"], 2,
        "{gateway}"
    );

    let socket = gateway_socket(&sandbox, "infra", "public", 80).await;
    let owners = apps(&sandbox, "storefront", &["storefront"]);
    let (status, pod, text) = get(socket, "storefront.test", "/", "").await;
    assert_eq!(status, 200, "{text}");
    assert!(owners.contains_key(&pod.unwrap_or_default()), "{text}");
    let (status, _, text) = get(socket, "storefront.test", "/stock/items", "").await;
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("RefNotPermitted"), "{text}");
    let (status, _, text) = get(socket, "promo.storefront.test", "/", "").await;
    assert_eq!(status, 404, "{text}");
    sandbox.shutdown().await;
}

/// The built-in Gateway read back the way a user shares a cluster (a `kubectl get -o yaml`
/// dump with the Gateway API kinds): `kubehop chain -o json` finds each broken route's code on
/// the Service it names, and nothing on the healthy one. (Live sources read the Gateway API
/// kinds separately; a dump exercises the objects and status the sandbox wrote.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_finds_the_built_in_broken_routes_in_a_dump_of_the_sandbox() {
    let Some(h) = Harness::start_builtin("gateway_chain").await else {
        return;
    };
    wait_until(&h.sandbox, "the routes' status", || {
        object(&h.sandbox, "HTTPRoute", "storefront", "promo")
            .is_some_and(|r| our_parent(&r).is_some())
    })
    .await;
    settle(&h.sandbox).await;
    let kinds = "nodes,namespaces,services,endpointslices,pods,ingresses,ingressclasses,\
                 gatewayclasses,gateways,httproutes,referencegrants";
    let (ok, dump, err) = h.run(&["get", kinds, "-A", "-o", "yaml"]).await;
    assert!(ok, "{err}");
    let dir = scratch_dir(&format!("gateway-dump-{}", h.sandbox.addr().port()));
    let path = dir.join("dump.yaml");
    std::fs::write(&path, dump).expect("write the dump");
    let output = tokio::process::Command::new(KUBEHOP)
        .args(["chain", "-A", "-o", "json", "-f"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("kubehop runs");
    let document: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&output.stderr));
    });
    let service = |namespace: &str, name: &str| {
        document["services"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["namespace"] == namespace && s["name"] == name)
            .map(|s| s["diagnostics"].to_string())
            .unwrap_or_default()
    };
    let storefront = service("storefront", "storefront");
    let stock = service("warehouse", "stock");
    assert!(
        storefront.contains("gateway-listener-not-found") && storefront.contains("promo"),
        "{storefront}"
    );
    assert!(
        !storefront.contains("httproute/storefront"),
        "the healthy route: {storefront}"
    );
    assert!(stock.contains("gateway-ref-not-permitted"), "{stock}");
    drop(h);
}
