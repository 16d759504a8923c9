//! The sandbox's data plane with real sockets on loopback: pods answer on their IPs, and
//! kube-proxy's front doors (ClusterIP, node address:nodePort, LoadBalancer IP) route like the
//! engine says: forward to a ready pod, drop (silence), or reject (refused).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kubehop::sandbox::{ControlPlaneConfig, Listening, Sandbox, is_sandbox_address};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::fixtures::manifest::{Edit, deployment, service, three_nodes};
use crate::support::sandbox::{
    Outcome, SILENCE, pods_of, probe, probe_within, settle, start_cluster, start_with, wait_until,
};
use crate::support::wait::within;

const PORT: u16 = 8080;

struct Doors {
    cluster_ip: SocketAddr,
    node_ports: Vec<(String, SocketAddr)>,
    load_balancer: Option<SocketAddr>,
}

async fn doors(client: &kube::Client, namespace: &str, name: &str) -> Doors {
    let service: Service = Api::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .expect("service");
    let spec = service.spec.clone().expect("spec");
    let ip: IpAddr = spec
        .cluster_ip
        .as_deref()
        .expect("ClusterIP")
        .parse()
        .expect("ip");
    let node_port = spec.ports.as_ref().and_then(|p| p[0].node_port);
    let mut node_ports = Vec::new();
    if let Some(node_port) = node_port {
        for node in Api::<Node>::all(client.clone())
            .list(&Default::default())
            .await
            .expect("nodes")
            .items
        {
            let address = node.status.and_then(|s| s.addresses).expect("registered")[0]
                .address
                .parse()
                .expect("address");
            node_ports.push((
                node.metadata.name.expect("name"),
                SocketAddr::new(address, u16::try_from(node_port).expect("port")),
            ));
        }
    }
    let load_balancer = service
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .and_then(|i| i.first().and_then(|e| e.ip.clone()))
        .map(|ip| SocketAddr::new(ip.parse().expect("ip"), PORT));
    Doors {
        cluster_ip: SocketAddr::new(ip, PORT),
        node_ports,
        load_balancer,
    }
}

fn pod_addr(pod: &Pod, port: u16) -> SocketAddr {
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .expect("IP");
    SocketAddr::new(ip.parse().expect("ip"), port)
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().expect("name")
}

/// The pods that answered `count` connections to `addr` (every connection must be answered).
async fn answering(addr: SocketAddr, count: usize) -> BTreeSet<String> {
    let mut pods = BTreeSet::new();
    for _ in 0..count {
        match probe(addr).await {
            Outcome::Answered(pod) => {
                pods.insert(pod);
            }
            other => panic!("{addr}: {other:?}"),
        }
    }
    pods
}

#[tokio::test]
async fn every_front_door_reaches_a_pod_of_the_service_spread_over_all_ready_pods() {
    let mut objects = three_nodes();
    objects.push(deployment("shop", "web", 3, 9376));
    objects.push(service("shop", "web", PORT).spec(json!({"type": "LoadBalancer"})));
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let expected: BTreeSet<String> = pods_of(sandbox.store(), "shop", "web")
        .iter()
        .map(name)
        .collect();
    assert_eq!(expected.len(), 3);
    let doors = doors(&client, "shop", "web").await;

    assert_eq!(answering(doors.cluster_ip, 30).await, expected, "ClusterIP");
    assert_eq!(doors.node_ports.len(), 3);
    for (node, addr) in &doors.node_ports {
        assert_eq!(answering(*addr, 30).await, expected, "nodePort on {node}");
    }
    let lb = doors.load_balancer.expect("LoadBalancer IP");
    assert_eq!(answering(lb, 30).await, expected, "LoadBalancer IP");

    let listening = sandbox.listening();
    assert!(matches!(
        listening.get(&doors.cluster_ip),
        Some(Listening::ClusterIp { .. })
    ));
    assert!(matches!(
        listening.get(&lb),
        Some(Listening::LoadBalancer { .. })
    ));
    assert!(listening.keys().all(|addr| is_sandbox_address(addr.ip())));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn external_traffic_policy_local_drops_on_nodes_without_local_endpoints() {
    let mut objects = three_nodes();
    let mut gw = deployment("edge", "gw", 2, 9376);
    gw["spec"]["template"]["spec"]["nodeSelector"] = json!({"kubernetes.io/hostname": "node-1"});
    objects.push(gw);
    objects.push(
        service("edge", "gw", PORT)
            .spec(json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local"})),
    );
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let pods = pods_of(sandbox.store(), "edge", "gw");
    assert!(
        pods.iter()
            .all(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("node-1"))
    );
    let doors = doors(&client, "edge", "gw").await;
    for (node, addr) in &doors.node_ports {
        if node == "node-1" {
            let outcome = probe(*addr).await;
            assert!(
                matches!(outcome, Outcome::Answered(_)),
                "{node}: {outcome:?}"
            );
        } else {
            // Connected, then silence until the client gives up: the DROP.
            assert_eq!(
                probe_within(*addr, SILENCE).await,
                Outcome::Silent,
                "{node}"
            );
        }
    }
    // The load balancer only sends to nodes whose health check passes.
    let lb = doors.load_balancer.expect("LoadBalancer IP");
    let answered = answering(lb, 10).await;
    assert_eq!(answered.len(), 2);
    // ClusterIP traffic is not subject to externalTrafficPolicy.
    assert!(matches!(
        probe(doors.cluster_ip).await,
        Outcome::Answered(_)
    ));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_service_without_endpoints_refuses_on_every_door() {
    let mut objects = three_nodes();
    objects.push(deployment("billing", "invoices", 1, 9376));
    objects.push(
        service("billing", "invoices", PORT)
            .spec(json!({"type": "NodePort", "selector": {"app": "invoice-api"}})),
    );
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let doors = doors(&client, "billing", "invoices").await;
    assert_eq!(probe(doors.cluster_ip).await, Outcome::Refused);
    for (_, addr) in &doors.node_ports {
        assert_eq!(probe(*addr).await, Outcome::Refused);
    }
    assert!(!sandbox.listening().contains_key(&doors.cluster_ip));

    // Fix the selector: the doors open.
    Api::<Service>::namespaced(client, "billing")
        .patch(
            "invoices",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"selector": {"app": "invoices"}}})),
        )
        .await
        .expect("fix the selector");
    settle(&sandbox).await;
    assert!(matches!(
        probe(doors.cluster_ip).await,
        Outcome::Answered(_)
    ));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_app_listening_on_another_port_than_the_target_port_resets_connections() {
    let mut objects = three_nodes();
    let mut catalog = deployment("catalog", "catalog", 1, 9376);
    catalog["spec"]["template"]["metadata"]["annotations"] =
        json!({"sandbox.kubehop.dev/listen": "9000"});
    objects.push(catalog);
    objects.push(
        service("catalog", "catalog", PORT)
            .spec(json!({"ports": [{"name": "http", "port": PORT, "targetPort": 9376}]})),
    );
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let pod = pods_of(sandbox.store(), "catalog", "catalog").remove(0);
    // The endpoint looks healthy...
    let slices = sandbox
        .store()
        .list::<k8s_openapi::api::discovery::v1::EndpointSlice>(Some("catalog"))
        .expect("slices");
    let endpoint = &slices[0].endpoints.as_ref().expect("endpoints")[0];
    assert_eq!(
        endpoint.conditions.as_ref().and_then(|c| c.ready),
        Some(true)
    );
    // ...but the pod refuses the targetPort and answers on the port it really listens on.
    assert_eq!(probe(pod_addr(&pod, 9376)).await, Outcome::Refused);
    assert_eq!(
        probe(pod_addr(&pod, 9000)).await,
        Outcome::Answered(name(&pod))
    );
    let doors = doors(&client, "catalog", "catalog").await;
    assert_eq!(probe(doors.cluster_ip).await, Outcome::Reset);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_unready_pod_answers_directly_but_gets_no_service_traffic() {
    let mut objects = three_nodes();
    objects.push(deployment("shop", "web", 2, 9376));
    objects.push(service("shop", "web", PORT));
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let pods = pods_of(sandbox.store(), "shop", "web");
    let (unready, ready) = (&pods[0], &pods[1]);
    Api::<Pod>::namespaced(client.clone(), "shop")
        .patch(
            &name(unready),
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"sandbox.kubehop.dev/ready": "false"}}}),
            ),
        )
        .await
        .expect("annotate");
    let store = sandbox.store().clone();
    let unready_name = name(unready);
    wait_until(&sandbox, "the pod to be unready", || {
        store
            .get::<Pod>("shop", &unready_name)
            .ok()
            .flatten()
            .and_then(|p| p.status)
            .and_then(|s| s.conditions)
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "False"))
    })
    .await;
    settle(&sandbox).await;
    let doors = doors(&client, "shop", "web").await;
    assert_eq!(
        answering(doors.cluster_ip, 20).await,
        BTreeSet::from([name(ready)])
    );
    assert_eq!(
        probe(pod_addr(unready, 9376)).await,
        Outcome::Answered(name(unready))
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_deleted_pod_answers_while_terminating_and_closes_when_gone() {
    let mut objects = three_nodes();
    objects.push(json!({
        "apiVersion": "v1", "kind": "Pod",
        // A finalizer holds it in Terminating until the test lets go.
        "metadata": {"name": "solo", "namespace": "default", "labels": {"app": "solo"},
                     "finalizers": ["example.com/hold"]},
        "spec": {"containers": [{"name": "app", "image": "app:1", "ports": [{"containerPort": 9376}]}]}
    }));
    let (sandbox, client) = start_cluster(objects, Duration::from_secs(1)).await;
    let pod = pods_of(sandbox.store(), "default", "solo").remove(0);
    let addr = pod_addr(&pod, 9376);
    assert_eq!(probe(addr).await, Outcome::Answered("solo".into()));
    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.delete("solo", &DeleteParams::default())
        .await
        .expect("delete");
    settle(&sandbox).await;
    assert!(
        sandbox
            .store()
            .get::<Pod>("default", "solo")
            .expect("decodes")
            .is_some(),
        "terminating"
    );
    assert_eq!(
        probe(addr).await,
        Outcome::Answered("solo".into()),
        "still running"
    );
    pods.patch(
        "solo",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("release the finalizer");
    let store = sandbox.store().clone();
    wait_until(&sandbox, "the pod to be gone", || {
        store.get::<Pod>("default", "solo").ok().flatten().is_none()
    })
    .await;
    settle(&sandbox).await;
    assert_eq!(probe(addr).await, Outcome::Refused);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn pods_echo_bytes_that_are_not_http_and_portforward_reaches_them() {
    let mut objects = three_nodes();
    objects.push(deployment("shop", "web", 1, 9376));
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    let pod = pods_of(sandbox.store(), "shop", "web").remove(0);
    let mut stream = tokio::net::TcpStream::connect(pod_addr(&pod, 9376))
        .await
        .expect("connect");
    within("an echo", async {
        stream.write_all(b"\x00ping\n").await.expect("write");
        let mut buffer = [0u8; 6];
        stream.read_exact(&mut buffer).await.expect("read");
        assert_eq!(&buffer, b"\x00ping\n");
    })
    .await;

    let pods: Api<Pod> = Api::namespaced(client, "shop");
    let mut forwarder = pods
        .portforward(&name(&pod), &[9376])
        .await
        .expect("upgrade");
    let mut stream = forwarder.take_stream(9376).expect("stream");
    let answer = within("an HTTP answer through the port-forward", async {
        stream
            .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        // The pod closes after its answer (`Connection: close`), and like a kubelet the
        // sandbox ends the stream then: the answer is everything up to the end.
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read");
        String::from_utf8(answer).expect("UTF-8")
    })
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(
        answer.contains(&format!("X-Kubehop-Pod: {}\r\n", name(&pod))),
        "{answer}"
    );
    assert!(answer.contains("X-Kubehop-Node: node-"), "{answer}");
    assert!(answer.contains("(GET /hello)"), "{answer}");
    drop(stream);
    // kube-rs answers the server's Close with a Close of its own, which tungstenite refuses
    // (SendAfterClosing): the forward's end after a pod's close is that error or none.
    let ended = within("the forwarder to finish", forwarder.join()).await;
    assert!(
        ended.as_ref().map_or_else(
            |error| format!("{error:?}").contains("SendAfterClosing"),
            |()| true
        ),
        "{ended:?}"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn addresses_outside_loopback_get_no_listener_and_no_connection() {
    // A replayed dump from a real cluster: node and pod addresses in 10.0.0.0/8.
    let objects = vec![
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": "real-node", "labels": {"topology.kubernetes.io/zone": "z"}},
               "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                          "conditions": [{"type": "Ready", "status": "True"}]}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "real-pod", "namespace": "default", "labels": {"app": "real"}},
               "spec": {"nodeName": "real-node", "containers": [{"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 9376}]}]},
               "status": {"phase": "Running", "podIP": "10.1.0.5",
                          "conditions": [{"type": "Ready", "status": "True"}]}}),
        // Gets a ClusterIP from the sandbox (loopback), its endpoint is the 10.x pod.
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "real", "namespace": "default"},
               "spec": {"type": "NodePort", "selector": {"app": "real"}, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]}}),
        // Keeps the ClusterIP it was dumped with.
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "dumped", "namespace": "default"},
               "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "real"}, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]}}),
    ];
    let (sandbox, client) = start_with(
        Sandbox::builder()
            .objects(objects)
            .control_plane(ControlPlaneConfig::immediate(Duration::ZERO))
            .data_plane(true),
    )
    .await;
    settle(&sandbox).await;
    let listening = sandbox.listening();
    assert!(
        listening.keys().all(|addr| is_sandbox_address(addr.ip())),
        "{listening:?}"
    );
    let notes = sandbox.notes();
    assert!(
        notes.contains("pod default/real-pod: no listener on 10.1.0.5"),
        "{:?}",
        notes.all()
    );
    assert!(
        notes.contains("no listener on 10.0.0.1:"),
        "{:?}",
        notes.all()
    );
    assert!(
        notes.contains("no listener on 10.96.0.10:8080"),
        "{:?}",
        notes.all()
    );

    let doors = doors(&client, "default", "real").await;
    assert!(is_sandbox_address(doors.cluster_ip.ip()));
    assert_eq!(probe(doors.cluster_ip).await, Outcome::Reset);
    assert!(
        notes.contains("not connecting to endpoint 10.1.0.5:9376"),
        "{:?}",
        notes.all()
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn two_sandboxes_in_one_process_use_different_addresses() {
    let objects = || {
        let mut objects = three_nodes();
        objects.push(deployment("shop", "web", 1, 9376));
        objects.push(service("shop", "web", PORT).spec(json!({"type": "NodePort", "ports": [{"name": "http", "port": PORT, "targetPort": "http", "nodePort": 31852}]})));
        objects
    };
    let (first, first_client) = start_cluster(objects(), Duration::ZERO).await;
    let (second, second_client) = start_cluster(objects(), Duration::ZERO).await;
    assert_ne!(first.address_block(), second.address_block());
    let a: BTreeSet<SocketAddr> = first.listening().keys().copied().collect();
    let b: BTreeSet<SocketAddr> = second.listening().keys().copied().collect();
    assert!(!a.is_empty() && a.is_disjoint(&b));
    for (client, sandbox) in [(&first_client, &first), (&second_client, &second)] {
        let doors = doors(client, "shop", "web").await;
        let pod = name(&pods_of(sandbox.store(), "shop", "web")[0]);
        assert_eq!(probe(doors.node_ports[0].1).await, Outcome::Answered(pod));
    }
    first.shutdown().await;
    second.shutdown().await;
}
