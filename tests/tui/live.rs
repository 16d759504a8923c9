//! The TUI on a live cluster (the sandbox with its control plane): un-readying a pod through
//! the Kubernetes API changes the Service's health mark on screen.
//!
//! The screen is the app's own pipeline — the live source's feed, `update`, the engine build
//! and `ui::render` into a TestBackend — exactly what the terminal loop runs, minus the
//! terminal. The wait for the changed frame has a deadline and is never a sleep.
//!
//! Latency bound (for the benchmarks, not asserted here): the changed mark should be on screen
//! within 200 ms of the API write; the test prints the time it took.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kubehop::app::{AppEvent, AppState, Size, SourceKind};
use kubehop::cluster::client::Scope;
use kubehop::cluster::feed::ConnectionStatus;
use kubehop::engine::EngineConfig;
use serde_json::json;

use crate::support::fixtures::manifest::{deployment, service, three_nodes};
use crate::support::live::live;
use crate::support::sandbox::start_cluster;
use crate::support::tui::{apply, render, screen_text};
use crate::support::wait::DEADLINE;

fn world() -> Vec<serde_json::Value> {
    let mut objects = three_nodes();
    objects.push(deployment("default", "web", 1, 8080));
    objects.push(service("default", "web", 80));
    objects
}

/// The Services-pane row of `name`, as drawn: `│✓ default/web ...`.
fn row<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|line| {
        line.strip_prefix('│').is_some_and(|rest| {
            let mut chars = rest.chars();
            let mark = chars.next();
            mark.is_some_and(|mark| mark != ' ' && mark != '│')
                && chars.as_str().starts_with(&format!(" {name} "))
        })
    })
}

fn mark(screen: &str, name: &str) -> Option<char> {
    let row = row(screen, name)?;
    row.trim_start_matches('│').chars().next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadying_a_pod_changes_the_health_mark() {
    let (sandbox, client) = start_cluster(world(), Duration::from_secs(1)).await;
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
    let screen = screen_text(&render(&state));
    assert_eq!(mark(&screen, "default/web"), Some('✓'), "{screen}");

    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list pods")
        .items
        .into_iter()
        .next()
        .expect("the Deployment's pod");
    let name = pod.metadata.name.expect("a name");

    let started = Instant::now();
    let switch = json!({"metadata": {"annotations": {"sandbox.kubehop.dev/ready": "false"}}});
    pods.patch(&name, &PatchParams::default(), &Patch::Merge(&switch))
        .await
        .expect("annotate the pod");
    let feed = &mut source.feed;
    let screen = tokio::time::timeout(DEADLINE, async {
        loop {
            feed.snapshots.changed().await.expect("the source runs");
            let snapshot: Arc<_> = feed.snapshots.borrow_and_update().clone();
            apply(&mut state, AppEvent::Snapshot(snapshot));
            let screen = screen_text(&render(&state));
            if mark(&screen, "default/web") == Some('✗') {
                return screen;
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the health mark did not change within {DEADLINE:?}:\n{}",
            screen_text(&render(&state))
        )
    });
    let elapsed = started.elapsed();
    eprintln!("annotate → changed health mark on screen: {elapsed:?}");
    assert!(
        row(&screen, "default/web").is_some_and(|row| row.contains("0/1")),
        "{screen}"
    );
    sandbox.shutdown().await;
}
