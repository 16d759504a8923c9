//! `cluster::open_feed`: the one entry point every command uses, from plain synchronous code
//! (the source runs on its own thread and runtime).

use kubehop::cli::SourceArgs;
use kubehop::cluster::feed::ConnectionStatus;
use kubehop::cluster::{ClusterError, ResourceKind, open_feed};
use kubehop::sandbox::{Sandbox, SandboxHandle};

use crate::support::fixtures::manifest::small_world;
use crate::support::live::keys;

/// A sandbox on its own runtime (kept alive by the returned runtime).
fn sandbox_in_background() -> (tokio::runtime::Runtime, SandboxHandle) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let sandbox = runtime
        .block_on(Sandbox::builder().objects(small_world()).start())
        .expect("the sandbox starts");
    (runtime, sandbox)
}

fn args_for(sandbox: &SandboxHandle) -> SourceArgs {
    SourceArgs {
        kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
        ..SourceArgs::default()
    }
}

#[test]
fn a_kubeconfig_source_opens_with_its_first_snapshot() {
    let (_runtime, sandbox) = sandbox_in_background();
    let feed = open_feed(&args_for(&sandbox)).expect("opens");
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

#[test]
fn forbidden_kinds_become_notes() {
    let (_runtime, sandbox) = sandbox_in_background();
    sandbox.faults().forbid("nodes");
    let args = SourceArgs {
        all_namespaces: true,
        ..args_for(&sandbox)
    };
    let feed = open_feed(&args).expect("opens");
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

#[test]
fn the_demo_source_serves_the_built_in_scenario() {
    let args = SourceArgs {
        demo: true,
        ..SourceArgs::default()
    };
    let feed = open_feed(&args).expect("the demo opens");
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

#[test]
fn bad_flags_fail_before_connecting() {
    let args = SourceArgs {
        request_timeout: Some("5 parsecs".into()),
        kubeconfig: Some("/nonexistent/kubeconfig".into()),
        ..SourceArgs::default()
    };
    let error = open_feed(&args).expect_err("invalid timeout");
    assert!(
        matches!(error, ClusterError::RequestTimeout { .. }),
        "{error:?}"
    );
    let args = SourceArgs {
        demo: true,
        context: Some("x".into()),
        ..SourceArgs::default()
    };
    let error = open_feed(&args).expect_err("conflict");
    assert!(matches!(error, ClusterError::Source(_)), "{error:?}");
}
