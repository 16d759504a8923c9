//! The sandbox's Ingress controller with real sockets on loopback: HTTP on each Ingress's
//! status IP routed by Host and path to the right Service's pods, 404 for what no rule
//! matches, 503 for a Service without endpoints, HTTPS with a certificate from the sandbox CA
//! for the name asked for, and the probe's Ingress hops green on the built-in scenario.
//! Port 80 and 443 need privileges: an unprivileged run skips (and says so).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kubehop::engine::model::ServiceKey;
use kubehop::engine::plan::{HopKind, PlanContext, PortSelector, Via, probe_plan_with};
use kubehop::engine::{EngineConfig, build};
use kubehop::probe::{self, Agreement, ProbeOptions, ProbeOutcome, Transports};
use kubehop::sandbox::demo::demo_builder;
use kubehop::sandbox::{ControlPlaneConfig, Listening, SandboxHandle, is_sandbox_address};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::support::fixtures::manifest::{Edit, deployment, service, three_nodes};
use crate::support::sandbox::{pods_of, settle, start_cluster, test_client, wait_until};
use crate::support::wait::within;

/// Two Services behind one Ingress (`shop.test`: `/` → web, `/api` → api), one without
/// endpoints (`/empty` → empty), and an Ingress of another class.
fn shop() -> Vec<serde_json::Value> {
    let mut objects = three_nodes();
    objects.push(deployment("shop", "web", 2, 8080));
    objects.push(deployment("shop", "api", 1, 8080));
    objects.push(
        service("shop", "web", 80)
            .spec(json!({"ports": [{"name": "http", "port": 80, "targetPort": 8080}]})),
    );
    objects.push(
        service("shop", "api", 80)
            .spec(json!({"ports": [{"name": "http", "port": 80, "targetPort": 8080}]})),
    );
    objects.push(service("shop", "empty", 80).spec(json!({"selector": {"app": "nothing"}})));
    let path = |path: &str, kind: &str, service: &str| {
        json!({"path": path, "pathType": kind,
               "backend": {"service": {"name": service, "port": {"number": 80}}}})
    };
    objects.push(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": {"rules": [{"host": "shop.test", "http": {"paths": [
            path("/", "Prefix", "web"),
            path("/api", "Prefix", "api"),
            path("/empty", "Exact", "empty"),
        ]}}]}
    }));
    objects.push(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "other", "namespace": "shop"},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "other.test", "http": {"paths": [
            path("/", "Prefix", "web"),
        ]}}]}
    }));
    objects
}

/// The first status IP of Ingress `namespace/name`, once the sandbox gave it one.
async fn ingress_ip(sandbox: &SandboxHandle, namespace: &str, name: &str) -> IpAddr {
    let read = || {
        sandbox
            .store()
            .get::<Ingress>(namespace, name)
            .ok()
            .flatten()
            .and_then(|i| i.status?.load_balancer?.ingress?.first()?.ip.clone())
            .and_then(|ip| ip.parse().ok())
    };
    wait_until(sandbox, "the Ingress to get an address", || {
        read().is_some()
    })
    .await;
    settle(sandbox).await;
    read().expect("an address")
}

/// What an HTTP/1.1 answer says: the status code and the answering pod (if any).
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    pod: Option<String>,
    text: String,
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    host: &str,
    path: &str,
) -> Answer {
    // Keep-alive asked for: the controller still answers and closes (one request each).
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: test\r\n\r\n");
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
    Answer { status, pod, text }
}

async fn get(addr: SocketAddr, host: &str, path: &str) -> Answer {
    assert!(is_sandbox_address(addr.ip()));
    let stream = within("a connect", TcpStream::connect(addr))
        .await
        .expect("connect");
    exchange(stream, host, path).await
}

fn names(sandbox: &SandboxHandle, app: &str) -> BTreeSet<String> {
    pods_of(sandbox.store(), "shop", app)
        .iter()
        .filter_map(|pod| pod.metadata.name.clone())
        .collect()
}

/// Whether the controller listens on `addr`; `false` (and a note) in an unprivileged run.
fn listens(sandbox: &SandboxHandle, addr: SocketAddr) -> bool {
    if matches!(sandbox.listening().get(&addr), Some(Listening::Ingress)) {
        return true;
    }
    assert!(
        sandbox
            .notes()
            .contains(&format!("cannot listen on {addr}")),
        "{:?}",
        sandbox.notes().all()
    );
    eprintln!("==== SKIP: {addr} not bindable here ====");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_routed_by_host_and_path_to_the_backend_services_pods() {
    let (sandbox, _client) = start_cluster(shop(), Duration::from_secs(1)).await;
    let ip = ingress_ip(&sandbox, "shop", "shop").await;
    let http = SocketAddr::new(ip, 80);
    if !listens(&sandbox, http) {
        return sandbox.shutdown().await;
    }
    let web = names(&sandbox, "web");
    let api = names(&sandbox, "api");
    let mut reached = BTreeSet::new();
    for _ in 0..20 {
        let answer = get(http, "shop.test", "/").await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let pod = answer.pod.expect("a pod named itself");
        assert!(web.contains(&pod), "{pod} is not a web pod");
        reached.insert(pod);
    }
    assert_eq!(reached, web, "every web pod gets requests");
    for path in ["/api", "/api/v1/items?x=1"] {
        let answer = get(http, "shop.test:80", path).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert!(
            api.contains(answer.pod.as_deref().unwrap_or("")),
            "{}",
            answer.text
        );
        assert!(
            answer.text.contains(&format!("(GET {path})")),
            "{}",
            answer.text
        );
    }
    // /apix is not under /api: the web pods.
    let answer = get(http, "SHOP.test", "/apix").await;
    assert!(
        web.contains(answer.pod.as_deref().unwrap_or("")),
        "{}",
        answer.text
    );

    let unknown = get(http, "unknown.test", "/").await;
    assert_eq!(
        (unknown.status, unknown.pod),
        (404, None),
        "{}",
        unknown.text
    );
    let empty = get(http, "shop.test", "/empty").await;
    assert_eq!((empty.status, empty.pod), (503, None), "{}", empty.text);

    // The Ingress of another class has an address, but this controller does not serve it.
    let other = ingress_ip(&sandbox, "shop", "other").await;
    assert_ne!(other, ip);
    assert!(
        !sandbox
            .listening()
            .contains_key(&SocketAddr::new(other, 80))
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_presents_a_certificate_from_the_sandbox_ca_for_the_name_asked_for() {
    let (sandbox, _client) = start_cluster(shop(), Duration::from_secs(1)).await;
    let ip = ingress_ip(&sandbox, "shop", "shop").await;
    let https = SocketAddr::new(ip, 443);
    if !listens(&sandbox, https) {
        return sandbox.shutdown().await;
    }
    let mut roots = RootCertStore::empty();
    let ca = sandbox.ca_pem().expect("a TLS sandbox has a CA");
    roots
        .add(CertificateDer::from_pem_slice(ca.as_bytes()).expect("CA PEM"))
        .expect("CA");
    let config = ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));

    let stream = TcpStream::connect(https).await.expect("connect");
    let name = ServerName::try_from("shop.test").expect("name");
    let tls = within("the handshake", connector.connect(name, stream))
        .await
        .expect("the certificate verifies against the sandbox CA for shop.test");
    let answer = exchange(tls, "shop.test", "/api").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(names(&sandbox, "api").contains(answer.pod.as_deref().unwrap_or("")));

    // A name no rule has gets a certificate that does not verify for it.
    let stream = TcpStream::connect(https).await.expect("connect");
    let name = ServerName::try_from("unknown.test").expect("name");
    let refused = within("the handshake", connector.connect(name, stream)).await;
    assert!(refused.is_err(), "a certificate for unknown.test");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_scenarios_ingress_hops_probe_green() {
    let sandbox = demo_builder()
        .expect("the built-in scenario parses")
        .control_plane(ControlPlaneConfig::immediate(Duration::from_secs(1)))
        .start()
        .await
        .expect("starts");
    settle(&sandbox).await;
    let client = test_client(&sandbox).await;
    let ip = ingress_ip(&sandbox, "shop", "shop").await;
    if !listens(&sandbox, SocketAddr::new(ip, 80)) {
        return sandbox.shutdown().await;
    }
    let store = sandbox.store();
    let snapshot = store
        .cluster_snapshot(store.resource_version())
        .expect("snapshot");
    let plan = probe_plan_with(
        &build(&snapshot, &EngineConfig::default()),
        &ServiceKey {
            namespace: "shop".into(),
            name: "web".into(),
        },
        &PortSelector::All,
        Via::Ingress,
        &PlanContext::from_snapshot(&snapshot),
    )
    .expect("a plan");
    assert_eq!(plan.hops.len(), 2, "{plan:#?}");
    let transports = Arc::new(Transports::loopback(client));
    let report = within(
        "the probe",
        probe::run(&plan, 1, &transports, &ProbeOptions::default()),
    )
    .await;
    for result in &report.results {
        assert_eq!(result.kind, HopKind::Ingress);
        assert_eq!(result.agreement, Agreement::Expected, "{result:?}");
        assert!(
            matches!(&result.outcome, ProbeOutcome::Connected { answer: Some(answer), .. }
                if answer.status == Some(200)),
            "{result:?}"
        );
        let pod = result.answered_by.as_ref().expect("a pod named itself");
        assert!(pod.pod.starts_with("web-"), "{result:?}");
    }
    within("shutdown", sandbox.shutdown()).await;
}

#[tokio::test]
async fn the_sandbox_serves_ingress_classes_and_owns_the_default_one() {
    let (sandbox, client) = start_cluster(three_nodes(), Duration::ZERO).await;
    let classes: kube::Api<IngressClass> = kube::Api::all(client.clone());
    let ours = classes.get("sandbox").await.expect("the sandbox's class");
    let annotations = ours.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("ingressclass.kubernetes.io/is-default-class")
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(
        ours.spec.and_then(|s| s.controller).as_deref(),
        Some("sandbox.kubehop.dev/ingress-controller")
    );
    // Served like every kind: create, list, delete, and in discovery.
    let other: IngressClass = serde_json::from_value(json!({
        "metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}
    }))
    .expect("class");
    classes
        .create(&Default::default(), &other)
        .await
        .expect("create");
    let names: BTreeSet<String> = classes
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(names, BTreeSet::from(["nginx".into(), "sandbox".into()]));
    classes
        .delete("nginx", &Default::default())
        .await
        .expect("delete");
    let discovery = kube::discovery::Discovery::new(client)
        .run()
        .await
        .expect("discovery");
    assert!(
        discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .any(|(resource, _)| resource.kind == "IngressClass"
                && resource.group == "networking.k8s.io")
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingress_hop_to_a_service_without_endpoints_is_the_predicted_503() {
    let (sandbox, client) = start_cluster(shop(), Duration::from_secs(1)).await;
    let ip = ingress_ip(&sandbox, "shop", "shop").await;
    if !listens(&sandbox, SocketAddr::new(ip, 80)) {
        return sandbox.shutdown().await;
    }
    let store = sandbox.store();
    let snapshot = store
        .cluster_snapshot(store.resource_version())
        .expect("snapshot");
    let plan = probe_plan_with(
        &build(&snapshot, &EngineConfig::default()),
        &ServiceKey {
            namespace: "shop".into(),
            name: "empty".into(),
        },
        &PortSelector::All,
        Via::Ingress,
        &PlanContext::from_snapshot(&snapshot),
    )
    .expect("a plan");
    assert_eq!(plan.hops.len(), 1, "{plan:#?}");
    let transports = Arc::new(Transports::loopback(client));
    let report = within(
        "the probe",
        probe::run(&plan, 1, &transports, &ProbeOptions::default()),
    )
    .await;
    let result = &report.results[0];
    assert_eq!(result.agreement, Agreement::Expected, "{result:?}");
    assert!(
        matches!(&result.outcome, ProbeOutcome::Connected { answer: Some(answer), .. }
            if answer.status == Some(503)),
        "{result:?}"
    );
    sandbox.shutdown().await;
}
