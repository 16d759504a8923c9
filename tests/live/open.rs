//! `Sources::open`: the one entry point every command uses, on the caller's runtime.

use kubehop::cluster::feed::ConnectionStatus;
use kubehop::cluster::{ClusterError, ResourceKind, Source, SourceSettings, open_feed};
use kubehop::sandbox::{Sandbox, SandboxHandle};

use crate::support::fixtures::manifest::small_world;
use crate::support::live::keys;

async fn sandbox() -> SandboxHandle {
    Sandbox::builder()
        .objects(small_world())
        .start()
        .await
        .expect("the sandbox starts")
}

fn settings_for(sandbox: &SandboxHandle) -> SourceSettings {
    SourceSettings {
        source: Source::Live {
            kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
            context: None,
        },
        ..SourceSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubeconfig_source_opens_with_its_first_snapshot() {
    let sandbox = sandbox().await;
    let feed = open_feed(&settings_for(&sandbox)).await.expect("opens");
    assert_eq!(feed.label.context, "kubehop-sandbox");
    assert_eq!(feed.label.namespace.as_deref(), Some("default"));
    assert_eq!(*feed.status.borrow(), ConnectionStatus::Connected);
    let snapshot = feed.snapshots.borrow().clone();
    assert_eq!(snapshot.generation, 1);
    assert_eq!(keys(&snapshot.services), ["default/web"]);
    assert!(feed.notes.is_empty(), "{:?}", feed.notes);
    assert!(
        !feed.snapshots.has_changed().expect("running"),
        "consumers start from the first snapshot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_kinds_become_notes() {
    let sandbox = sandbox().await;
    sandbox.faults().forbid("nodes");
    let settings = SourceSettings {
        all_namespaces: true,
        ..settings_for(&sandbox)
    };
    let feed = open_feed(&settings).await.expect("opens");
    assert_eq!(feed.label.namespace, None);
    assert!(!feed.snapshots.borrow().has(ResourceKind::Node));
    assert_eq!(feed.notes.len(), 1, "{:?}", feed.notes);
    assert!(
        feed.notes[0].starts_with("nodes left out: forbidden: cannot list nodes at cluster scope"),
        "{}",
        feed.notes[0]
    );
    assert!(
        feed.notes[0].contains("no node addresses"),
        "{}",
        feed.notes[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_source_serves_the_built_in_scenario() {
    let settings = SourceSettings {
        source: Source::Demo,
        ..SourceSettings::default()
    };
    let feed = kubehop::cmd::demo::sources()
        .open(&settings)
        .await
        .expect("the demo opens");
    assert_eq!(feed.label.context, "demo");
    assert_eq!(feed.label.namespace, None, "every namespace by default");
    let snapshot = feed.snapshots.borrow().clone();
    let services = keys(&snapshot.services);
    for expected in [
        "shop/web",
        "billing/invoices",
        "edge/gateway",
        "legacy/payments",
    ] {
        assert!(services.contains(&expected.to_owned()), "{services:?}");
    }
    assert_eq!(snapshot.nodes.len(), 3);
}

#[tokio::test]
async fn without_the_binary_s_demo_wiring_demo_is_an_error() {
    let settings = SourceSettings {
        source: Source::Demo,
        ..SourceSettings::default()
    };
    let error = open_feed(&settings).await.expect_err("no demo here");
    assert!(matches!(error, ClusterError::NoDemo), "{error:?}");
}
