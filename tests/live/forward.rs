//! `kubehop forward` against the sandbox, loopback only: real listeners, real port-forwards
//! through the sandbox's API server, pods that name themselves in their answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::forward::*;
use crate::support::sandbox::{scale_to, start_cluster, wait_until};
use crate::support::wait::within;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use kubehop::forward::backends::Change;
use kubehop::forward::{ForwardOptions, Notice};
use kubehop::sandbox::PortForwardFault;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_connections_spread_over_every_pod() {
    let (sandbox, client) = start_cluster(web(3, json!({})), Duration::ZERO).await;
    let pods = ready_pods(sandbox.store(), "web");
    assert_eq!(pods.len(), 3);
    let forward = start_forward(
        "web",
        &format!("0:{PORT}"),
        store_feed(&sandbox),
        &client,
        ForwardOptions::default(),
    );
    let local = forward.local();
    assert!(local.ip().is_loopback() && local.port() != 0, "{local}");

    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..300 {
        match within("an answer through the forward", get(local)).await {
            Answer::Pod(pod) => *answered.entry(pod).or_default() += 1,
            other => panic!("a connection failed: {other:?}"),
        }
    }
    assert_eq!(
        answered.keys().cloned().collect::<BTreeSet<_>>(),
        pods,
        "every pod answered: {answered:?}"
    );
    for (pod, count) in &answered {
        assert!(
            *count >= 60,
            "{pod} got {count} of 300 connections (at least 20% each): {answered:?}"
        );
    }

    let (notices, stats) = forward.stop().await;
    assert!(
        notices.iter().all(|notice| !notice.is_error()),
        "no errors: {notices:?}"
    );
    let stats = stats.expect("stats were reported");
    let port = &stats.ports[0];
    assert_eq!(
        (port.total, port.open, port.failed, port.refused),
        (300, 0, 0, 0)
    );
    let per_pod: BTreeMap<String, usize> = port
        .pods
        .iter()
        .map(|(pod, stats)| (pod.clone(), usize::try_from(stats.total).expect("small")))
        .collect();
    assert_eq!(per_pod, answered, "the stats count what the pods answered");
    assert!(port.bytes_sent > 0 && port.bytes_received > port.bytes_sent);
    sandbox.shutdown().await;
}

/// Pods restart one after the other three times (a template change, a scale down and up, a
/// rollout restart) while a client opens a connection every 20 ms: none of them fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_replacements_lose_no_connection() {
    let (sandbox, client) = start_cluster(web(3, json!({})), Duration::from_millis(500)).await;
    let store = sandbox.store().clone();
    let first_pods = ready_pods(&store, "web");
    let mut forward = start_forward(
        "web",
        &format!("0:{PORT}"),
        store_feed(&sandbox),
        &client,
        ForwardOptions::default(),
    );
    let local = forward.local();

    // The load: one connection every PACE until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut answers: Vec<Answer> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                answers.push(within("an answer during the rollout", get(local)).await);
                tokio::time::sleep(PACE).await;
            }
            answers
        }
    });

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let rolled = |before: BTreeSet<String>| {
        let store = store.clone();
        move || {
            let pods = pods_of(&store, "web");
            let ready = ready_pods(&store, "web");
            ready.len() == 3 && pods.len() == 3 && ready.is_disjoint(&before)
        }
    };
    // 1. A template change: a new ReplicaSet replaces every pod.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "example/app:2", "ports": [{"name": "http", "containerPort": PORT}]}
            ]}}}})),
        )
        .await
        .expect("new image");
    wait_until(
        &sandbox,
        "the new image to roll out",
        rolled(first_pods.clone()),
    )
    .await;
    let second_pods = ready_pods(&store, "web");

    // 2. Scale down to one pod and back up to three.
    scale_to(&deployments, "web", 1).await.expect("scale down");
    wait_until(&sandbox, "one pod left", || {
        pods_of(&store, "web").len() == 1 && ready_pods(&store, "web").len() == 1
    })
    .await;
    scale_to(&deployments, "web", 3).await.expect("scale up");
    wait_until(&sandbox, "three pods again", || {
        ready_pods(&store, "web").len() == 3
    })
    .await;
    let third_pods = ready_pods(&store, "web");

    // 3. A rollout restart.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": "2026-11-26T12:00:00Z"}}}}})),
        )
        .await
        .expect("rollout restart");
    wait_until(&sandbox, "the restart to roll out", rolled(third_pods)).await;
    let last_pods = ready_pods(&store, "web");
    // A few more connections on the last generation of pods.
    forward
        .stats_where("ten connections on the last pods", |stats| {
            let port = &stats.ports[0];
            last_pods
                .iter()
                .map(|pod| port.pods.get(pod).map_or(0, |pod| pod.total))
                .sum::<u64>()
                >= 10
        })
        .await;
    stop.store(true, Ordering::Relaxed);
    let answers = within("the load to stop", load)
        .await
        .expect("the load ran");

    let failed: Vec<&Answer> = answers
        .iter()
        .filter(|answer| !matches!(answer, Answer::Pod(_)))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} connections failed: {failed:?}",
        failed.len(),
        answers.len()
    );
    let answered_by: BTreeSet<String> = answers
        .iter()
        .filter_map(|answer| match answer {
            Answer::Pod(pod) => Some(pod.clone()),
            _ => None,
        })
        .collect();
    for (generation, pods) in [
        ("first", &first_pods),
        ("second", &second_pods),
        ("last", &last_pods),
    ] {
        assert!(
            !answered_by.is_disjoint(pods),
            "the {generation} pods {pods:?} answered some connections: {answered_by:?}"
        );
    }
    let (notices, _) = forward.stop().await;
    assert!(
        notices.iter().any(|notice| matches!(
            notice,
            Notice::Endpoints {
                change: Change::Removed { .. },
                ..
            }
        )),
        "pods leaving the set are logged"
    );
    sandbox.shutdown().await;
}

/// Scaling to zero deletes every pod: open connections end, new ones are reset at once; pods
/// back, the same forward works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pods_means_refused_at_once_and_pods_back_means_working_again() {
    let (sandbox, client) = start_cluster(web(2, json!({})), Duration::from_millis(300)).await;
    let store = sandbox.store().clone();
    let mut forward = start_forward(
        "web",
        &format!("0:{PORT}"),
        store_feed(&sandbox),
        &client,
        ForwardOptions::default(),
    );
    let local = forward.local();
    assert!(matches!(get(local).await, Answer::Pod(_)));

    // An idle connection to a pod, established by a first echo.
    let mut idle = TcpStream::connect(local).await.expect("connect");
    idle.write_all(b"\x00ping").await.expect("write");
    let mut echo = [0u8; 5];
    within("the echo", idle.read_exact(&mut echo))
        .await
        .expect("echo");
    assert_eq!(&echo, b"\x00ping");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    forward.mark();
    scale_to(&deployments, "web", 0)
        .await
        .expect("scale to zero");
    forward
        .notice("the set to empty", |notice| {
            matches!(
                notice,
                Notice::Endpoints {
                    change: Change::Emptied { .. },
                    ..
                }
            )
        })
        .await;
    // The idle connection was closed cleanly when its pod went away: by the pod (its close
    // travels through the port-forward, as from a kubelet) or by the forward when the pod left
    // the set (then with a log line), whichever came first. Either way nothing stays open.
    let mut rest = Vec::new();
    let read = within("the idle connection to end", idle.read_to_end(&mut rest)).await;
    assert!(read.is_ok() && rest.is_empty(), "{read:?} {rest:?}");
    forward
        .stats_where("no connection left open", |stats| stats.ports[0].open == 0)
        .await;

    // New connections are accepted and reset at once, with a log line.
    for _ in 0..3 {
        match within("a refusal", get(local)).await {
            Answer::Reset(_) => {}
            other => panic!("expected a reset, got {other:?}"),
        }
    }
    let refused = forward
        .notice("a refusal notice", |notice| {
            matches!(notice, Notice::Refused { .. })
        })
        .await;
    assert!(
        refused.to_string().contains("no usable endpoint"),
        "{refused}"
    );

    // Pods back: the same forward answers again.
    forward.mark();
    scale_to(&deployments, "web", 2).await.expect("scale up");
    forward
        .notice("pods to be back", |notice| {
            matches!(
                notice,
                Notice::Endpoints {
                    change: Change::Refilled { .. },
                    ..
                }
            )
        })
        .await;
    // The forward may learn of the endpoints before the data plane opened the pods' listeners.
    within("the sandbox to settle", sandbox.settled()).await;
    let back = ready_pods(&store, "web");
    match within("an answer after the pods came back", get(local)).await {
        Answer::Pod(pod) => assert!(back.contains(&pod), "{pod} is one of {back:?}"),
        other => panic!("expected an answer, got {other:?}"),
    }
    let stats = forward
        .stats_where("the refusals counted", |stats| stats.ports[0].refused >= 3)
        .await;
    assert!(stats.ports[0].last_error.is_some());
    forward.stop().await;
    sandbox.shutdown().await;
}

/// One pod of the Service is ready but its app listens on another port: the kubelet reports
/// "connection refused" on the port-forward's error channel, and the connection goes to
/// another pod with what the client already sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_refuses_is_retried_on_another() {
    let mut objects = web(2, json!({}));
    objects.push(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-broken", "namespace": NAMESPACE, "labels": {"app": "web"},
                     "annotations": {"sandbox.kubehop.dev/listen": "9999"}},
        "spec": {"containers": [{"name": "app", "image": "example/app:1",
                                 "ports": [{"name": "http", "containerPort": PORT}]}]}
    }));
    let (sandbox, client) = start_cluster(objects, Duration::ZERO).await;
    assert!(ready_pods(sandbox.store(), "web").contains("web-broken"));
    let mut forward = start_forward(
        "web",
        &format!("0:{PORT}"),
        store_feed(&sandbox),
        &client,
        ForwardOptions::default(),
    );
    let local = forward.local();
    let mut answered = BTreeSet::new();
    for _ in 0..30 {
        match within("an answer", get(local)).await {
            Answer::Pod(pod) => {
                answered.insert(pod);
            }
            other => panic!("a connection failed: {other:?}"),
        }
    }
    assert!(!answered.contains("web-broken"));
    assert_eq!(answered.len(), 2, "{answered:?}");
    let retry = forward
        .notice("a retry", |notice| matches!(notice, Notice::Retry { .. }))
        .await;
    let line = retry.to_string();
    assert!(
        line.contains("pod web-broken failed")
            && line.to_lowercase().contains("connection refused"),
        "{line}"
    );
    let stats = forward
        .stats_where("the retries counted, every connection ended", |stats| {
            let port = &stats.ports[0];
            port.retries > 0 && port.total == 30 && port.open == 0
        })
        .await;
    let port = &stats.ports[0];
    assert_eq!(port.failed, 0, "{port:#?}");
    assert_eq!(
        port.pods.get("web-broken").map(|pod| pod.total),
        Some(0),
        "no connection counts for the refusing pod"
    );
    forward.stop().await;
    sandbox.shutdown().await;
}

/// Port-forwards that fail everywhere: the connection is reset after the bounded attempts and
/// the failure is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_port_forwards_give_up_after_bounded_attempts() {
    let (sandbox, client) = start_cluster(web(3, json!({})), Duration::ZERO).await;
    let mut forward = start_forward(
        "web",
        &format!("0:{PORT}"),
        store_feed(&sandbox),
        &client,
        ForwardOptions {
            attempts: 2,
            ..ForwardOptions::default()
        },
    );
    let local = forward.local();
    for fault in [
        PortForwardFault::RejectUpgrade("the kubelet is down".into()),
        PortForwardFault::ErrorChannel("error forwarding port 8080: lost".into()),
    ] {
        sandbox.faults().fail_portforward(Some(fault));
        match within("a failure", get(local)).await {
            Answer::Reset(_) => {}
            other => panic!("expected a reset, got {other:?}"),
        }
    }
    let failed = forward
        .notice("a failure notice", |notice| {
            matches!(notice, Notice::Failed { .. })
        })
        .await;
    assert!(
        failed.to_string().contains("gave up after 2 attempts"),
        "{failed}"
    );
    let stats = forward
        .stats_where("both failures counted", |stats| stats.ports[0].failed == 2)
        .await;
    assert_eq!(stats.ports[0].retries, 2, "one retry per connection");
    sandbox.faults().fail_portforward(None);
    assert!(matches!(get(local).await, Answer::Pod(_)), "healed");
    forward.stop().await;
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ip_affinity_keeps_a_client_on_one_pod() {
    let affinity = json!({"sessionAffinity": "ClientIP",
                          "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}}});
    let (sandbox, client) = start_cluster(web(3, affinity), Duration::ZERO).await;
    let forward = start_forward(
        "web",
        &format!("0:{PORT}"),
        store_feed(&sandbox),
        &client,
        ForwardOptions::default(),
    );
    let local = forward.local();
    let mut answered = BTreeSet::new();
    for _ in 0..20 {
        match within("an answer", get(local)).await {
            Answer::Pod(pod) => {
                answered.insert(pod);
            }
            other => panic!("a connection failed: {other:?}"),
        }
    }
    assert_eq!(answered.len(), 1, "one client, one pod: {answered:?}");
    forward.stop().await;
    sandbox.shutdown().await;
}

/// More than the replay window both ways, and a client that half-closes: the echo comes back
/// whole, then the connection ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_bytes_and_half_close_come_back_whole() {
    let (sandbox, client) = start_cluster(web(1, json!({})), Duration::ZERO).await;
    let forward = start_forward(
        "web",
        &format!("0:{PORT}"),
        store_feed(&sandbox),
        &client,
        ForwardOptions::default(),
    );
    let stream = TcpStream::connect(forward.local()).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    // Not HTTP: the pods echo it.
    let sent: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8 ^ 0x80).collect();
    let writing = tokio::spawn({
        let sent = sent.clone();
        async move {
            writer.write_all(&sent).await.expect("write");
            writer.shutdown().await.expect("half-close");
            writer
        }
    });
    let mut received = Vec::new();
    within("the echo and the end", reader.read_to_end(&mut received))
        .await
        .expect("read");
    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "the echo is byte for byte");
    drop(writing.await.expect("writer"));
    let (_, stats) = forward.stop().await;
    let port = &stats.expect("stats").ports[0];
    assert_eq!(port.bytes_sent, sent.len() as u64);
    assert_eq!(port.bytes_received, sent.len() as u64);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_forward_closes_the_port_and_its_connections() {
    let (sandbox, client) = start_cluster(web(1, json!({})), Duration::ZERO).await;
    let forward = start_forward(
        "web",
        &format!("0:{PORT}"),
        store_feed(&sandbox),
        &client,
        ForwardOptions::default(),
    );
    let local = forward.local();
    let mut open = TcpStream::connect(local).await.expect("connect");
    open.write_all(b"\x00hi").await.expect("write");
    let mut echo = [0u8; 3];
    within("the echo", open.read_exact(&mut echo))
        .await
        .expect("echo");
    let (notices, _) = forward.stop().await;
    let mut rest = Vec::new();
    let read = within("the connection to end", open.read_to_end(&mut rest)).await;
    assert!(read.is_ok() && rest.is_empty(), "{read:?}");
    assert_eq!(
        get(local).await,
        Answer::Refused,
        "nothing listens any more"
    );
    assert!(matches!(notices.first(), Some(Notice::Listening { .. })));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_services_and_ports_are_errors_at_start() {
    let (sandbox, client) = start_cluster(web(1, json!({})), Duration::ZERO).await;
    let start = |name: &str, mapping: &str| {
        kubehop::forward::start(
            &kubehop::forward::ForwardRequest {
                service: key(name),
                ports: vec![kubehop::forward::PortMapping::parse(mapping).expect("valid")],
            },
            store_feed(&sandbox),
            dialer(&client),
            ForwardOptions::default(),
            |_| {},
        )
        .map(|_| ())
        .map_err(|error| error.to_string())
    };
    assert_eq!(
        start("api", "0:80"),
        Err("Service shop/api not found (Services there: web)".to_owned())
    );
    assert_eq!(
        start("web", "0:80"),
        Err("Service shop/web has no port 80 (its ports: 8080 (http))".to_owned())
    );
    assert_eq!(start("web", "0:http"), Ok(()));
    sandbox.shutdown().await;
}
