//! The built-in scenario's cluster DNS (kube-system/kube-dns): its pods answer every record
//! the engine expects, over TCP through a port-forward and over UDP through the ClusterIP; a
//! frozen pod answers an old cluster IP and the DNS probe names it; the probe only reads and
//! port-forwards. Loopback only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, PostParams};
use kubehop::engine::dnscheck::{self, ClusterDns, DnsCheck, DnsFindingCode};
use kubehop::engine::{self, EngineConfig, ProxyModel};
use kubehop::probe::Transports;
use kubehop::probe::dns::{DnsOptions, PortForwardDns, check};
use kubehop::sandbox::demo::demo_builder;
use kubehop::sandbox::request_log::Verb;
use kubehop::sandbox::{ControlPlaneConfig, SandboxHandle};
use tokio::net::UdpSocket;

use crate::support::sandbox::{settle, test_client, wait_until};
use crate::support::wait::within;

async fn start_builtin() -> SandboxHandle {
    let sandbox = demo_builder()
        .expect("the built-in scenario parses")
        .control_plane(ControlPlaneConfig::immediate(Duration::from_secs(1)))
        .start()
        .await
        .expect("starts");
    settle(&sandbox).await;
    sandbox
}

fn model(sandbox: &SandboxHandle) -> ProxyModel {
    let store = sandbox.store();
    let snapshot = store
        .cluster_snapshot(store.resource_version())
        .expect("the store reads");
    engine::build(&snapshot, &EngineConfig::default())
}

/// Waits for both DNS pods to be ready endpoints of kube-dns, and for the data plane.
async fn cluster_dns(sandbox: &SandboxHandle) -> ClusterDns {
    wait_until(sandbox, "two ready kube-dns endpoints", || {
        dnscheck::find_cluster_dns(&model(sandbox), None).is_some_and(|dns| dns.pods.len() == 2)
    })
    .await;
    settle(sandbox).await;
    dnscheck::find_cluster_dns(&model(sandbox), None).expect("found")
}

fn options() -> DnsOptions {
    DnsOptions {
        timeout: Duration::from_secs(2),
        recheck_cap: Duration::from_millis(200),
    }
}

async fn check_service(
    model: &ProxyModel,
    server: &ClusterDns,
    transport: &PortForwardDns,
    namespace: &str,
    name: &str,
) -> DnsCheck {
    let chain = model.service(namespace, name).expect("the Service");
    let lookups = dnscheck::lookups(chain, model);
    within(
        "a DNS check",
        check(server, &lookups, transport, &options()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_of_the_built_in_scenario_is_answered_and_matches() {
    let sandbox = start_builtin().await;
    let server = cluster_dns(&sandbox).await;
    assert_eq!(server.found_by, dnscheck::FoundBy::Label);
    let client = test_client(&sandbox).await;
    let transports = Transports::loopback(client);
    let transport = PortForwardDns(transports.port_forward.clone().expect("port-forward"));
    let model = model(&sandbox);
    sandbox.request_log().clear();
    let mut checked = 0;
    for chain in &model.services {
        if dnscheck::lookups(chain, &model).is_empty() {
            continue;
        }
        let check = check_service(&model, &server, &transport, &chain.namespace, &chain.name).await;
        assert!(
            check.findings.is_empty(),
            "{}/{}: {:#?}",
            chain.namespace,
            chain.name,
            check.findings
        );
        for result in &check.results {
            assert!(
                result.all_matched(),
                "{}/{}: {result:?}",
                chain.namespace,
                chain.name
            );
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} Services have records");
    // Read-only: the DNS probe asked through port-forwards and nothing else.
    let entries = sandbox.request_log().entries();
    assert!(entries.iter().any(|entry| entry.verb == Verb::PortForward));
    for entry in &entries {
        assert!(
            matches!(
                entry.verb,
                Verb::Get | Verb::List | Verb::Watch | Verb::PortForward
            ),
            "{entry:?}"
        );
    }
    assert!(sandbox.request_log().writes().is_empty());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_ip_answers_dns_over_udp() {
    let sandbox = start_builtin().await;
    let server = cluster_dns(&sandbox).await;
    let door = SocketAddr::new(server.cluster_ips[0], 53);
    if !sandbox.listening_udp().contains_key(&door) {
        // Unprivileged: port 53 cannot be opened here (tests/sandbox/unprivileged.rs).
        sandbox.shutdown().await;
        return;
    }
    let web = model(&sandbox)
        .service("shop", "web")
        .expect("web")
        .cluster_ips[0];
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    let name = Name::from_ascii("web.shop.svc.cluster.local.").expect("a name");
    query.add_query(Query::query(name, RecordType::A));
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("binds");
    socket
        .send_to(&query.to_vec().expect("encodes"), door)
        .await
        .expect("sends");
    let mut buffer = vec![0u8; 4096];
    let (n, _) = within("a DNS answer", socket.recv_from(&mut buffer))
        .await
        .expect("receives");
    let answer = Message::from_vec(&buffer[..n]).expect("DNS");
    assert_eq!(answer.metadata.id, query.metadata.id);
    let addresses: Vec<String> = answer
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(address) => Some(address.0.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(addresses, [web.to_string()]);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_dns_pod_answers_the_old_cluster_ip_and_is_named() {
    let sandbox = start_builtin().await;
    let server = cluster_dns(&sandbox).await;
    let frozen = server.pods[0].name.clone();
    sandbox.faults().freeze_dns("kube-system", &frozen);
    let client = test_client(&sandbox).await;
    let old_ip = model(&sandbox)
        .service("shop", "web")
        .expect("web")
        .cluster_ips[0];
    // The Service is made anew: it gets another cluster IP.
    let services: Api<Service> = Api::namespaced(client.clone(), "shop");
    let mut web = services.get("web").await.expect("reads");
    services
        .delete("web", &DeleteParams::default())
        .await
        .expect("deletes");
    web.metadata.resource_version = None;
    web.metadata.uid = None;
    web.metadata.creation_timestamp = None;
    web.metadata.managed_fields = None;
    if let Some(spec) = web.spec.as_mut() {
        spec.cluster_ip = None;
        spec.cluster_ips = None;
    }
    web.status = None;
    services
        .create(&PostParams::default(), &web)
        .await
        .expect("creates");
    wait_until(&sandbox, "web has a new cluster IP", || {
        model(&sandbox)
            .service("shop", "web")
            .is_some_and(|web| !web.cluster_ips.is_empty() && web.cluster_ips[0] != old_ip)
    })
    .await;
    settle(&sandbox).await;
    let model = model(&sandbox);
    let new_ip = model.service("shop", "web").expect("web").cluster_ips[0];
    let transports = Transports::loopback(client);
    let transport = PortForwardDns(Arc::clone(
        transports.port_forward.as_ref().expect("port-forward"),
    ));
    sandbox.request_log().clear();
    let check = check_service(&model, &server, &transport, "shop", "web").await;
    let codes: Vec<DnsFindingCode> = check.findings.iter().map(|finding| finding.code).collect();
    assert_eq!(
        codes,
        [DnsFindingCode::StaleAnswer],
        "{:#?}",
        check.findings
    );
    let message = &check.findings[0].message;
    assert!(
        message.contains(&format!(
            "{frozen}: answers {old_ip} where the current records are {new_ip}"
        )),
        "{message}"
    );
    assert!(message.contains(&server.pods[1].name), "{message}");
    assert_eq!(
        check.findings[0].subject,
        "DNS web.shop.svc.cluster.local A"
    );
    for entry in sandbox.request_log().entries() {
        assert!(
            matches!(
                entry.verb,
                Verb::Get | Verb::List | Verb::Watch | Verb::PortForward
            ),
            "{entry:?}"
        );
    }
    // Thawed, it answers the current records again.
    sandbox.faults().thaw_dns("kube-system", &frozen);
    let healed = check_service(&model, &server, &transport, "shop", "web").await;
    assert!(healed.findings.is_empty(), "{:#?}", healed.findings);
    sandbox.shutdown().await;
}

/// A name with more A records than fit in 512 bytes: over UDP (through the cluster DNS's
/// ClusterIP) the answer comes back cut short with the TC bit, as a resolver without EDNS gets
/// it before it asks again over TCP; over TCP (the DNS probe's way) the whole set comes back
/// and matches, with no `dns-truncated` finding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_set_too_big_for_udp_is_truncated_there_and_whole_over_tcp() {
    use crate::support::fixtures::manifest::{Edit, deployment, service};
    use k8s_openapi::api::apps::v1::Deployment;
    let sandbox = start_builtin().await;
    let server = cluster_dns(&sandbox).await;
    let client = test_client(&sandbox).await;
    let replicas = 40;
    let big: Deployment =
        serde_json::from_value(deployment("default", "big", replicas, 8080)).expect("a Deployment");
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &big)
        .await
        .expect("creates");
    let headless: Service = serde_json::from_value(
        service("default", "big", 8080).spec(serde_json::json!({"clusterIP": "None"})),
    )
    .expect("a Service");
    Api::<Service>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &headless)
        .await
        .expect("creates");
    wait_until(&sandbox, "40 ready endpoints of big", || {
        model(&sandbox)
            .service("default", "big")
            .is_some_and(|chain| {
                chain
                    .dns
                    .iter()
                    .filter(|record| record.name == "big.default.svc.cluster.local")
                    .count()
                    == 40
            })
    })
    .await;
    settle(&sandbox).await;

    let door = SocketAddr::new(server.cluster_ips[0], 53);
    if sandbox.listening_udp().contains_key(&door) {
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        let name = Name::from_ascii("big.default.svc.cluster.local.").expect("a name");
        query.add_query(Query::query(name, RecordType::A));
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("binds");
        socket
            .send_to(&query.to_vec().expect("encodes"), door)
            .await
            .expect("sends");
        let mut buffer = vec![0u8; 4096];
        let (n, _) = within("a DNS answer", socket.recv_from(&mut buffer))
            .await
            .expect("receives");
        assert!(n <= 512, "{n} bytes over UDP");
        let answer = Message::from_vec(&buffer[..n]).expect("DNS");
        assert!(answer.metadata.truncation, "the TC bit: {answer:?}");
        assert!(answer.answers.len() < 40, "{}", answer.answers.len());
    }

    let model = model(&sandbox);
    let transports = Transports::loopback(client);
    let transport = PortForwardDns(transports.port_forward.clone().expect("port-forward"));
    let check = check_service(&model, &server, &transport, "default", "big").await;
    assert!(check.findings.is_empty(), "{:#?}", check.findings);
    let whole = check
        .results
        .iter()
        .find(|result| result.lookup.asked == "big.default.svc.cluster.local")
        .expect("the full name asked");
    assert!(whole.all_matched(), "{whole:?}");
    assert_eq!(whole.lookup.expected.len(), 40);
    sandbox.shutdown().await;
}
