//! What one pod costs in memory, compact against typed: bytes still allocated per pod after
//! converting many pods of one Deployment (a counting allocator, this binary only). The
//! figures in docs/performance.md come from this test (`-- --nocapture` prints them).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use k8s_openapi::api::core::v1::Pod;
use kubehop_engine::objects::{Interner, PodInfo};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting the bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const PODS: usize = 2_000;

/// Pod `i` of a typical Deployment, as an API server returns it (managedFields aside).
fn deployment_pod(i: usize) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("web-7d4b9c8f6d-{i:05}"), "generateName": "web-7d4b9c8f6d-", "namespace": "shop",
            "uid": format!("5b0c1e6e-8f7e-4c2e-9a1b-{i:012}"), "resourceVersion": format!("{}", 100_000 + i),
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "labels": {"app": "web", "pod-template-hash": "7d4b9c8f6d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f6d", "uid": "1", "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "containers": [{"name": "web", "image": "registry.example/shop/web:1.2.3", "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "production"}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
            "nodeName": format!("node-{}", i % 50), "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "terminationGracePeriodSeconds": 30
        },
        "status": {
            "phase": "Running", "podIP": format!("10.1.{}.{}", i / 250, i % 250), "podIPs": [{"ip": format!("10.1.{}.{}", i / 250, i % 250)}],
            "hostIP": "10.0.0.1", "qosClass": "Burstable", "startTime": "2025-01-01T00:00:00Z",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2025-01-01T00:00:05Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2025-01-01T00:00:05Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z"}],
            "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0, "started": true,
                "image": "registry.example/shop/web:1.2.3", "imageID": "registry.example/shop/web@sha256:0123456789abcdef",
                "containerID": "containerd://0123456789abcdef", "state": {"running": {"startedAt": "2025-01-01T00:00:02Z"}}}]
        }
    }))
    .expect("a valid pod")
}

/// What the live cache kept before pods were compact: the typed pod without env, probes,
/// resources and the like (the live source's former trim).
fn trimmed(mut pod: Pod) -> Pod {
    use k8s_openapi::api::core::v1::{Container, ContainerStatus};
    if let Some(spec) = pod.spec.as_mut() {
        for container in &mut spec.containers {
            *container = Container {
                name: std::mem::take(&mut container.name),
                image: container.image.take(),
                ports: container.ports.take(),
                ..Container::default()
            };
        }
        spec.restart_policy = None;
        spec.dns_policy = None;
        spec.service_account_name = None;
        spec.termination_grace_period_seconds = None;
    }
    if let Some(status) = pod.status.as_mut() {
        status.qos_class = None;
        for container in status.container_statuses.iter_mut().flatten() {
            *container = ContainerStatus {
                name: std::mem::take(&mut container.name),
                ready: container.ready,
                restart_count: container.restart_count,
                started: container.started,
                state: container.state.take(),
                ..ContainerStatus::default()
            };
        }
    }
    pod
}

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Bytes per pod while `make` holds `PODS` of them.
fn per_pod<T>(make: impl FnOnce() -> Vec<T>) -> (isize, Vec<T>) {
    let before = live_bytes();
    let held = make();
    ((live_bytes() - before) / PODS as isize, held)
}

#[test]
fn a_compact_pod_costs_a_tenth_of_a_trimmed_typed_one() {
    let typed: Vec<Pod> = (0..PODS).map(deployment_pod).collect();
    let (typed_bytes, typed_held) =
        per_pod(|| (0..PODS).map(deployment_pod).map(Arc::new).collect());
    let (trimmed_bytes, trimmed_held) = per_pod(|| {
        (0..PODS)
            .map(|i| Arc::new(trimmed(deployment_pod(i))))
            .collect::<Vec<_>>()
    });
    let mut interner = Interner::new();
    let (compact_bytes, compact_held) = per_pod(|| {
        typed
            .iter()
            .map(|pod| Arc::new(PodInfo::from_pod(pod, &mut interner)))
            .collect()
    });
    println!(
        "per pod: typed {typed_bytes} bytes, trimmed typed {trimmed_bytes}, compact {compact_bytes} (size_of::<PodInfo>() = {})",
        std::mem::size_of::<PodInfo>()
    );
    assert_eq!(compact_held.len(), typed_held.len());
    assert_eq!(trimmed_held.len(), typed_held.len());
    // The bound: the struct, its Arc, its name, uid and resourceVersion, and the snapshot's
    // pointer to it; the workload's labels, owners and containers are shared.
    assert!(compact_bytes <= 400, "{compact_bytes} bytes per pod");
    assert!(
        compact_bytes * 10 <= typed_bytes,
        "{compact_bytes} against {typed_bytes}"
    );
}
