//! The probe against the sandbox, loopback only: real port-forwards through the API server to
//! real pod listeners, real connections to the userspace kube-proxy's front doors, each
//! compared with the engine's prediction.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kubehop::engine::plan::{Expectation, HopKind, ProbeTarget, Via};
use kubehop::probe::{
    self, Agreement, HopResult, ProbeOptions, ProbeOutcome, ProbeReport, Stage, Transport,
};
use kubehop::sandbox::{SandboxHandle, Verb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::fixtures::manifest::three_nodes;
use crate::support::probe::*;
use crate::support::sandbox::{settle, start_cluster, wait_until};
use crate::support::wait::within;

async fn run(sandbox: &SandboxHandle, client: &kube::Client, name: &str, via: Via) -> ProbeReport {
    let plan = plan(sandbox, name, via);
    within(
        "the probe",
        probe::run(&plan, 1, &transports(client), &ProbeOptions::default()),
    )
    .await
}

fn describe(report: &ProbeReport) -> String {
    report
        .results
        .iter()
        .map(|result| {
            format!(
                "{} {} [{}] {} -> {} ({})",
                result.kind.as_str(),
                result.target,
                result.transport.as_str(),
                result.outcome,
                result.agreement.as_str(),
                result.why
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn of_kind(report: &ProbeReport, kind: HopKind) -> Vec<&HopResult> {
    report
        .results
        .iter()
        .filter(|result| result.kind == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_service_is_green_on_every_hop_and_every_ready_pod_answers() {
    let mut objects = three_nodes();
    objects.extend(healthy());
    objects.extend(web_ingress());
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;
    let plan = plan(&sandbox, "web", Via::All);
    // The sandbox's Ingress controller listens on the Ingress's address, port 80 (not in an
    // unprivileged run).
    let ingress = plan
        .hops
        .iter()
        .find(|hop| hop.kind == HopKind::Ingress)
        .expect("an Ingress hop");
    let ProbeTarget::Address { ip: ingress_ip, .. } = &ingress.target else {
        panic!("an address expected: {plan:#?}");
    };
    let controller = sandbox
        .listening()
        .contains_key(&SocketAddr::new(*ingress_ip, 80))
        .then_some(());

    let report = within(
        "the probe",
        probe::run(&plan, 1, &transports(&client), &ProbeOptions::default()),
    )
    .await;
    let text = describe(&report);
    eprintln!("{text}");
    for result in &report.results {
        if result.kind == HopKind::Ingress && controller.is_none() {
            eprintln!("port 80 not bound (unprivileged run): the Ingress hop is not checked");
            continue;
        }
        assert_eq!(result.agreement, Agreement::Expected, "{text}");
        assert!(
            matches!(
                result.outcome,
                ProbeOutcome::Connected {
                    answer: Some(ref answer),
                    ..
                } if answer.status == Some(200)
            ),
            "{text}"
        );
        assert!(result.answered_by.is_some(), "{text}");
    }
    let kinds: BTreeSet<HopKind> = report.results.iter().map(|result| result.kind).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            HopKind::Ingress,
            HopKind::LoadBalancer,
            HopKind::NodePort,
            HopKind::ClusterIp,
            HopKind::Endpoint
        ])
    );
    assert_eq!(of_kind(&report, HopKind::NodePort).len(), 3, "{text}");
    // Endpoints go through port-forwards, front doors directly.
    for result in &report.results {
        let transport = if result.kind == HopKind::Endpoint {
            Transport::PortForward
        } else {
            Transport::Direct
        };
        assert_eq!(result.transport, transport, "{text}");
    }
    // The answering pods cover every ready endpoint.
    let ready: BTreeSet<String> = plan
        .hops
        .iter()
        .filter_map(|hop| match (&hop.target, &hop.expected) {
            (ProbeTarget::Pod { pod, .. }, Expectation::Connect { .. }) => Some(pod.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ready.len(), 3);
    let answered: BTreeSet<String> = report
        .results
        .iter()
        .filter_map(|result| result.answered_by.as_ref().map(|pod| pod.pod.clone()))
        .collect();
    assert!(answered.is_superset(&ready), "{answered:?} vs {ready:?}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_target_port_is_refused_by_the_pods_with_a_fix() {
    let mut objects = three_nodes();
    objects.extend(wrong_target_port());
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;

    // catalog: the app listens on the Service's own port, which no container declares.
    let report = run(&sandbox, &client, "catalog", Via::All).await;
    let text = describe(&report);
    eprintln!("{text}");
    let endpoints = of_kind(&report, HopKind::Endpoint);
    assert_eq!(endpoints.len(), 2, "{text}");
    for endpoint in endpoints {
        assert!(
            matches!(endpoint.outcome, ProbeOutcome::Refused { .. }),
            "{text}"
        );
        assert_eq!(endpoint.agreement, Agreement::Unexpected, "{text}");
        assert!(endpoint.why.starts_with("refused; predicted"), "{text}");
        let fix = endpoint.fix.as_ref().expect("a fix suggestion");
        assert_eq!(fix.port, 9090);
        assert!(
            fix.text.starts_with("targetPort 8080 refused on catalog-")
                && fix.text.contains(
                    "port 9090 accepts, though no container declares it — set targetPort: 9090"
                ),
            "{}",
            fix.text
        );
    }
    // Through the ClusterIP the userspace kube-proxy accepts, then the pod's refusal resets.
    let cluster_ip = of_kind(&report, HopKind::ClusterIp);
    assert!(
        matches!(
            cluster_ip[0].outcome,
            ProbeOutcome::Reset {
                after_connect: true,
                ..
            }
        ),
        "{text}"
    );
    assert_eq!(cluster_ip[0].agreement, Agreement::Unexpected, "{text}");

    // shelf: another declared containerPort accepts.
    let report = run(&sandbox, &client, "shelf", Via::Endpoints).await;
    let text = describe(&report);
    eprintln!("{text}");
    let fix = report.results[0].fix.as_ref().expect("a fix");
    assert!(
        fix.text.starts_with("targetPort 8080 refused on shelf-")
            && fix.text.ends_with(
                "containerPort 9091 accepts — set targetPort: 9091 (or its name: targetPort: alt)"
            ),
        "{text}"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_policy_drops_on_nodes_without_local_pods_as_predicted() {
    let mut objects = three_nodes();
    objects.extend(local_policy());
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;
    let report = run(&sandbox, &client, "gateway", Via::All).await;
    let text = describe(&report);
    eprintln!("{text}");
    let node_ports = of_kind(&report, HopKind::NodePort);
    assert_eq!(node_ports.len(), 3, "{text}");
    let plan = plan(&sandbox, "gateway", Via::NodePort);
    for result in node_ports {
        let node = plan
            .hop(&result.key)
            .and_then(|hop| hop.node.clone())
            .expect("a node");
        assert_eq!(result.agreement, Agreement::Expected, "{text}");
        if node == "node-1" {
            assert!(
                matches!(result.outcome, ProbeOutcome::Connected { .. }),
                "{text}"
            );
        } else {
            assert!(
                matches!(result.expected, Expectation::Drop { .. }),
                "{text}"
            );
            // A userspace proxy accepts, then holds the connection silent.
            assert!(
                matches!(
                    result.outcome,
                    ProbeOutcome::TimedOut {
                        stage: Stage::Answer,
                        ..
                    }
                ),
                "{text}"
            );
            assert!(result.why.contains("dropped"), "{text}");
        }
    }
    // The load balancer only sends to node-1 (health check): connected, answered by a pod.
    let lb = of_kind(&report, HopKind::LoadBalancer);
    assert_eq!(lb[0].agreement, Agreement::Expected, "{text}");
    assert!(lb[0].answered_by.is_some(), "{text}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoints_is_a_reject_on_every_front_door() {
    let mut objects = three_nodes();
    objects.extend(no_endpoints());
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;
    let report = run(&sandbox, &client, "invoices", Via::All).await;
    let text = describe(&report);
    eprintln!("{text}");
    assert_eq!(report.results.len(), 4, "ClusterIP and 3 NodePorts: {text}");
    for result in &report.results {
        assert!(
            matches!(result.expected, Expectation::Reject { .. }),
            "{text}"
        );
        assert!(
            matches!(result.outcome, ProbeOutcome::Refused { .. }),
            "{text}"
        );
        assert_eq!(result.agreement, Agreement::Expected, "{text}");
    }
    assert!(
        report
            .notes
            .iter()
            .any(|note| note.contains("no endpoints")),
        "{:?}",
        report.notes
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probing_only_reads_and_port_forwards() {
    let (sandbox, client) = start_cluster(world(), Duration::from_secs(1)).await;
    sandbox.request_log().clear();
    for name in ["web", "catalog", "shelf", "gateway", "invoices"] {
        run(&sandbox, &client, name, Via::Endpoints).await;
    }
    let entries = sandbox.request_log().entries();
    assert!(!entries.is_empty());
    for entry in &entries {
        assert!(
            matches!(
                entry.verb,
                Verb::Get | Verb::List | Verb::Watch | Verb::PortForward
            ),
            "{entry:?}"
        );
        if entry.verb == Verb::PortForward {
            assert_eq!(entry.subresource.as_deref(), Some("portforward"));
        }
    }
    assert!(sandbox.request_log().writes().is_empty());
    assert!(entries.iter().any(|entry| entry.verb == Verb::PortForward));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_port_forwards_are_forward_failures() {
    use kubehop::sandbox::PortForwardFault;
    let mut objects = three_nodes();
    objects.extend(healthy());
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;
    sandbox
        .faults()
        .fail_portforward(Some(PortForwardFault::ErrorChannel(
            "pod web-x is not running".to_owned(),
        )));
    let report = run(&sandbox, &client, "web", Via::Endpoints).await;
    let text = describe(&report);
    eprintln!("{text}");
    for result in &report.results {
        assert_eq!(
            result.outcome,
            ProbeOutcome::ForwardFailed("pod web-x is not running".to_owned()),
            "{text}"
        );
        assert_eq!(result.agreement, Agreement::Unexpected, "{text}");
    }
    sandbox
        .faults()
        .fail_portforward(Some(PortForwardFault::RejectUpgrade(
            "upgrade refused".to_owned(),
        )));
    let report = run(&sandbox, &client, "web", Via::Endpoints).await;
    let text = describe(&report);
    eprintln!("{text}");
    for result in &report.results {
        assert!(
            matches!(&result.outcome, ProbeOutcome::ForwardFailed(detail) if detail.contains("500") && detail.contains("upgrade refused")),
            "{text}"
        );
    }
    sandbox.shutdown().await;
}

/// Opens a gate the test controls before each dial, so the cluster can change while the
/// probe is in flight without sleeping.
struct Gated {
    inner: Arc<dyn probe::Dialer>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl probe::Dialer for Gated {
    fn transport(&self) -> Transport {
        self.inner.transport()
    }

    fn dial<'a>(
        &'a self,
        target: &'a probe::DialTarget,
        kind: HopKind,
        timeout: Duration,
    ) -> futures::future::BoxFuture<'a, Result<probe::dialer::Dialed, probe::dialer::DialError>>
    {
        Box::pin(async move {
            let _open = self.gate.acquire().await;
            self.inner.dial(target, kind, timeout).await
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_made_unready_during_the_probe_yields_stale_results_not_wrong_verdicts() {
    let mut objects = three_nodes();
    objects.extend(healthy());
    objects.extend(web_ingress());
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;
    let before = plan(&sandbox, "web", Via::All);
    let victim = before
        .hops
        .iter()
        .find_map(|hop| match &hop.target {
            ProbeTarget::Pod { pod, .. } => Some(pod.clone()),
            _ => None,
        })
        .expect("a pod");

    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let real = transports(&client);
    let gated = Arc::new(probe::Transports {
        direct: Arc::new(Gated {
            inner: real.direct.clone(),
            gate: gate.clone(),
        }),
        port_forward: real.port_forward.clone().map(|inner| {
            Arc::new(Gated {
                inner,
                gate: gate.clone(),
            }) as Arc<dyn probe::Dialer>
        }),
        scope: real.scope.clone(),
    });
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let handle = probe::spawn(
        probe::RunId(7),
        before.clone(),
        gated,
        ProbeOptions::default(),
        move |event| sender.send(event).is_ok(),
    );
    // The probe is running (every hop is waiting at the gate): make the victim unready.
    let first = within("the first hop to start", events.recv())
        .await
        .expect("an event");
    assert!(matches!(
        first,
        probe::ProbeEvent::Started {
            run: probe::RunId(7),
            ..
        }
    ));
    sandbox
        .store()
        .modify::<k8s_openapi::api::core::v1::Pod>(NAMESPACE, &victim, |pod| {
            pod.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert("sandbox.kubehop.dev/ready".to_owned(), "false".to_owned());
        })
        .expect("annotate");
    let victim_ip: IpAddr = before
        .hops
        .iter()
        .find_map(|hop| match &hop.target {
            ProbeTarget::Pod { pod, ip, .. } if *pod == victim => Some(*ip),
            _ => None,
        })
        .expect("ip");
    wait_until(&sandbox, "the endpoint to turn unready", || {
        let after = plan(&sandbox, "web", Via::Endpoints);
        after.hops.iter().any(|hop| {
            matches!(hop.target, ProbeTarget::Pod { ip, .. } if ip == victim_ip)
                && matches!(hop.expected, Expectation::Unrouted { .. })
        })
    })
    .await;
    settle(&sandbox).await;
    gate.add_permits(1_000);
    let mut results = Vec::new();
    loop {
        match within("probe events", events.recv()).await.expect("events") {
            probe::ProbeEvent::Finished { result, .. } => results.push(*result),
            probe::ProbeEvent::Done { .. } => break,
            probe::ProbeEvent::Started { .. } => {}
        }
    }
    drop(handle);
    assert_eq!(results.len(), before.hops.len());

    let after = plan(&sandbox, "web", Via::All);
    let stale = probe::stale_keys(&results, Some(&after));
    let victim_key = before
        .hops
        .iter()
        .find(|hop| matches!(&hop.target, ProbeTarget::Pod { pod, .. } if *pod == victim))
        .map(|hop| hop.key.clone())
        .expect("the victim's hop");
    assert!(stale.contains(&victim_key), "{stale:?}");
    // Every front door's endpoint set changed: stale too; the other pods' hops are current.
    for result in &results {
        let front_door = result.kind != HopKind::Endpoint;
        if front_door || result.key == victim_key {
            assert!(stale.contains(&result.key), "{result:?}");
        } else {
            assert!(!stale.contains(&result.key), "{result:?}");
        }
        // Whatever happened, nothing reads as a wrong verdict once stale hops are set aside.
        if !stale.contains(&result.key) {
            assert_eq!(result.agreement, Agreement::Expected, "{result:?}");
        }
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_handle_cancels_the_run() {
    let mut objects = three_nodes();
    objects.extend(healthy());
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;
    let plan = plan(&sandbox, "web", Via::All);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let real = transports(&client);
    let gated = Arc::new(probe::Transports {
        direct: Arc::new(Gated {
            inner: real.direct.clone(),
            gate: gate.clone(),
        }),
        port_forward: None,
        scope: real.scope.clone(),
    });
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let handle = probe::spawn(
        probe::RunId(1),
        plan,
        gated,
        ProbeOptions::default(),
        move |event| sender.send(event).is_ok(),
    );
    within("a hop to start", events.recv())
        .await
        .expect("started");
    drop(handle);
    // The task is gone: its sender drops, the channel closes without a Finished event.
    loop {
        match within("the channel to close", events.recv()).await {
            None => break,
            Some(probe::ProbeEvent::Started { .. }) => {}
            Some(other) => panic!("no result may arrive after cancelling: {other:?}"),
        }
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_connected_and_an_http_answer_is_read() {
    // Loopback listeners outside the sandbox: a plain check against them.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_address = silent.local_addr().expect("address");
    let holder = tokio::spawn(async move {
        let (stream, _) = silent.accept().await.expect("accept");
        let mut stream = stream;
        let mut buffer = [0u8; 64];
        let _ = stream.read(&mut buffer).await;
    });
    let dialer = probe::DirectDialer::new(probe::NetworkScope::LoopbackOnly);
    let spec = probe::CheckSpec {
        timeout: Duration::from_secs(2),
        http: None,
        answer_window: Duration::from_millis(50),
        stream: None,
    };
    let outcome = probe::check::check(
        &dialer,
        &probe::DialTarget::Socket(silent_address),
        HopKind::Endpoint,
        &spec,
    )
    .await;
    assert!(
        matches!(outcome, ProbeOutcome::Connected { answer: None, .. }),
        "{outcome:?}"
    );
    holder.abort();

    let server = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = server.local_addr().expect("address");
    tokio::spawn(async move {
        let (mut stream, _) = server.accept().await.expect("accept");
        let mut buffer = vec![0u8; 1024];
        let read = stream.read(&mut buffer).await.expect("request");
        let request = String::from_utf8_lossy(&buffer[..read]).to_string();
        assert!(
            request.starts_with("GET /healthz HTTP/1.1\r\nHost: api.example.test\r\n"),
            "{request}"
        );
        let _ = stream
            .write_all(b"HTTP/1.1 204 No Content\r\nServer: test\r\n\r\n")
            .await;
    });
    let spec = probe::CheckSpec {
        http: Some(probe::HttpSpec {
            host: Some("api.example.test".to_owned()),
            path: "/healthz".to_owned(),
            tls: false,
        }),
        ..spec
    };
    let outcome = probe::check::check(
        &dialer,
        &probe::DialTarget::Socket(address),
        HopKind::Endpoint,
        &spec,
    )
    .await;
    let answer = outcome.answer().expect("an answer");
    assert_eq!(answer.summary(), "HTTP 204 No Content");
    assert_eq!(answer.header("server"), Some("test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_port_gets_a_tls_handshake_then_http() {
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls::ServerConfig;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    // A self-signed certificate for a name the probe does not use: accepted as presented.
    let certified =
        rcgen::generate_simple_self_signed(vec!["pod.internal".to_owned()]).expect("a certificate");
    let config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(certified.cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        )),
    )
    .expect("a server config");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let server = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = server.local_addr().expect("address");
    tokio::spawn(async move {
        let (stream, _) = server.accept().await.expect("accept");
        let mut stream = acceptor.accept(stream).await.expect("handshake");
        let mut buffer = vec![0u8; 1024];
        let _ = stream.read(&mut buffer).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")
            .await;
        let _ = stream.shutdown().await;
    });
    let dialer = probe::DirectDialer::new(probe::NetworkScope::LoopbackOnly);
    let spec = probe::CheckSpec {
        timeout: Duration::from_secs(2),
        http: Some(probe::HttpSpec {
            host: None,
            path: "/".to_owned(),
            tls: true,
        }),
        answer_window: Duration::from_millis(50),
        stream: None,
    };
    let outcome = probe::check::check(
        &dialer,
        &probe::DialTarget::Socket(address),
        HopKind::Endpoint,
        &spec,
    )
    .await;
    let answer = outcome.answer().expect("an answer");
    assert_eq!(answer.summary(), "TLS 1.3, HTTP 200 OK", "{outcome:?}");
    assert_eq!(answer.first_bytes, "secure");

    // A plain server on an HTTPS port: the handshake fails, which is said, not hidden.
    let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let plain_address = plain.local_addr().expect("address");
    tokio::spawn(async move {
        let (mut stream, _) = plain.accept().await.expect("accept");
        let mut buffer = vec![0u8; 1024];
        let _ = stream.read(&mut buffer).await;
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    });
    let outcome = probe::check::check(
        &dialer,
        &probe::DialTarget::Socket(plain_address),
        HopKind::Endpoint,
        &spec,
    )
    .await;
    let answer = outcome.answer().expect("an answer");
    assert!(
        answer
            .tls
            .as_deref()
            .is_some_and(|tls| tls.starts_with("TLS handshake failed")),
        "{outcome:?}"
    );
}

/// The http and the https port of one eTP Local Service, on a node without a local endpoint:
/// both are dropped (the userspace proxy holds the connection silent), and both read as the
/// drop the engine predicted — the TLS handshake's silence is silence, not an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_https_ports_of_one_service_classify_alike() {
    let mut objects = three_nodes();
    let mut gateway = local_policy();
    gateway[1]["spec"]["ports"] = serde_json::json!([
        {"name": "http", "port": 8080, "targetPort": "http"},
        {"name": "https", "port": 8443, "targetPort": "http"}
    ]);
    objects.extend(gateway);
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;
    let report = run(&sandbox, &client, "gateway", Via::NodePort).await;
    let text = describe(&report);
    let plan = plan(&sandbox, "gateway", Via::NodePort);
    let node_ports = of_kind(&report, HopKind::NodePort);
    assert_eq!(node_ports.len(), 6, "two ports on three nodes: {text}");
    let mut https_drops = 0;
    for result in node_ports {
        let hop = plan.hop(&result.key).expect("planned");
        assert_eq!(result.agreement, Agreement::Expected, "{text}");
        if hop.node.as_deref() != Some("node-1") {
            assert!(
                matches!(
                    result.outcome,
                    ProbeOutcome::TimedOut {
                        stage: Stage::Answer,
                        ..
                    }
                ),
                "{text}"
            );
            if hop.http.as_ref().is_some_and(|http| http.tls) {
                https_drops += 1;
            }
        }
    }
    assert_eq!(https_drops, 2, "{text}");
    sandbox.shutdown().await;
}
