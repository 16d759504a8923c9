//! The logs page against the sandbox's real `pods/log`: `l` on a not-ready pod opens its log,
//! the app's own inspection task streams it (the kubelet's failing readiness probes are in
//! it), and a request made now appears while the page follows; all of it read-only.

use std::time::Duration;

use crossterm::event::KeyCode;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kubehop::app::drill::{InspectRequest, Inspected};
use kubehop::app::{AppEvent, AppState, Command, Size, SourceKind};
use kubehop::cluster::client::Scope;
use kubehop::cluster::feed::ConnectionStatus;
use kubehop::cluster::inspect::Inspector;
use kubehop::engine::EngineConfig;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::fixtures::manifest::{deployment, service, three_nodes};
use crate::support::live::{assert_read_only, live, target};
use crate::support::sandbox::start_cluster;
use crate::support::tui::{apply, press, render, screen_text, typed};
use crate::support::wait::within;

/// A Deployment whose one pod is switched unready, probed every second.
fn world() -> Vec<serde_json::Value> {
    let mut objects = three_nodes();
    let mut web = deployment("default", "web", 1, 8080);
    web["spec"]["template"]["metadata"]["annotations"] =
        json!({"sandbox.kubehop.dev/ready": "false"});
    web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] =
        json!({"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1});
    objects.push(web);
    objects.push(service("default", "web", 80));
    objects
}

/// Feeds the page the task's answers until its screen satisfies `check`.
async fn until_shown(
    state: &mut AppState,
    answers: &mut tokio::sync::mpsc::UnboundedReceiver<Inspected>,
    id: u64,
    check: impl Fn(&str) -> bool,
) -> String {
    loop {
        let screen = screen_text(&render(state));
        if check(&screen) {
            return screen;
        }
        let answer = answers.recv().await.expect("the log stream goes on");
        apply(state, AppEvent::Inspected { id, answer });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_page_follows_a_pods_real_log() {
    let (sandbox, client) = start_cluster(world(), Duration::ZERO).await;
    let mut source = live(&sandbox, Scope::All).await;
    let mut state = AppState::new(
        source.feed.label.clone(),
        SourceKind::Live,
        EngineConfig::default(),
        Size {
            width: 120,
            height: 40,
        },
    );
    apply(&mut state, AppEvent::Status(ConnectionStatus::Connected));
    let first = source.feed.snapshots.borrow_and_update().clone();
    apply(&mut state, AppEvent::Snapshot(first));

    typed(&mut state, ":pods");
    press(&mut state, KeyCode::Enter);
    let commands = press(&mut state, KeyCode::Char('l'));
    let (id, request) = commands
        .into_iter()
        .find_map(|command| match command {
            Command::Inspect {
                id,
                request: request @ InspectRequest::Logs(_),
            } => Some((id, request)),
            _ => None,
        })
        .expect("l on the pod asks for its log");

    let config = target(&sandbox, Scope::All).await.config;
    let clients = kubehop::cluster::connector::following_clients(config, None).expect("a client");
    let (sender, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(kubehop::app::inspect::run(
        Inspector::new(clients),
        request,
        move |answer| sender.send(answer).is_ok(),
    ));
    let screen = within(
        "the kubelet's probes in the log",
        until_shown(&mut state, &mut answers, id, |screen| {
            screen.contains("\"GET /healthz HTTP/1.1\" 503") && screen.contains("kube-probe/")
        }),
    )
    .await;
    assert!(screen.contains("Logs Pod default/web-"), "{screen}");
    assert!(screen.contains("following"), "{screen}");

    // A request of our own, straight to the pod: the followed page shows it.
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("the pods")
        .items
        .remove(0);
    let ip = pod.status.and_then(|status| status.pod_ip).expect("an IP");
    let mut stream = tokio::net::TcpStream::connect((ip.as_str(), 8080))
        .await
        .expect("the pod's app answers");
    stream
        .write_all(b"GET /from-the-logs-test HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
        .await
        .expect("the request is sent");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .expect("the answer");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    within(
        "our request in the followed log",
        until_shown(&mut state, &mut answers, id, |screen| {
            screen.contains("\"GET /from-the-logs-test HTTP/1.1\" 200")
        }),
    )
    .await;

    task.abort();
    assert_read_only(&sandbox);
}
