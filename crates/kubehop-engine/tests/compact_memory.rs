//! What one pod and one EndpointSlice endpoint cost in memory, compact against typed: bytes
//! still allocated per object after converting many pods of one Deployment and the slices of
//! its Service (a counting allocator, this binary only). The figures in docs/performance.md
//! come from this test (`-- --nocapture` prints them).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kubehop_engine::objects::{Interner, PodInfo, SliceInfo};

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

/// The count is global: the tests of this binary take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

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
    let _turn = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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

/// The endpoints per slice, as the EndpointSlice controller splits them.
const PER_SLICE: usize = 100;

/// Slice `s` of the Deployment's Service as the API server returns it (managedFields aside):
/// endpoints `s * 100 ..` of [`deployment_pod`].
fn service_slice(s: usize) -> EndpointSlice {
    let endpoints: Vec<serde_json::Value> = (s * PER_SLICE..(s + 1) * PER_SLICE)
        .map(|i| {
            serde_json::json!({
                "addresses": [format!("10.1.{}.{}", i / 250, i % 250)],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": format!("node-{}", i % 50), "zone": format!("zone-{}", i % 3),
                "targetRef": {"kind": "Pod", "name": format!("web-7d4b9c8f6d-{i:05}"), "namespace": "shop",
                              "uid": format!("5b0c1e6e-8f7e-4c2e-9a1b-{i:012}")}
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": format!("web-{s:05}"), "generateName": "web-", "namespace": "shop",
            "uid": format!("7c0c1e6e-8f7e-4c2e-9a1b-{s:012}"), "resourceVersion": format!("{}", 200_000 + s),
            "labels": {"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "2", "controller": true, "blockOwnerDeletion": true}]
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints
    }))
    .expect("a valid slice")
}

/// What the live cache kept before slices were compact: each endpoint's targetRef without
/// uid, resourceVersion, apiVersion and fieldPath (the live source's former trim).
fn trimmed_slice(mut slice: EndpointSlice) -> EndpointSlice {
    for endpoint in slice.endpoints.iter_mut().flatten() {
        endpoint.deprecated_topology = None;
        if let Some(target) = endpoint.target_ref.as_mut() {
            target.uid = None;
            target.resource_version = None;
            target.api_version = None;
            target.field_path = None;
        }
    }
    slice
}

#[test]
fn a_compact_endpoint_costs_under_half_a_trimmed_typed_one() {
    let _turn = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    const SLICES: usize = PODS / PER_SLICE;
    let per_endpoint = |make: &mut dyn FnMut() -> Vec<Arc<dyn std::any::Any>>| {
        let before = live_bytes();
        let held = make();
        ((live_bytes() - before) / PODS as isize, held)
    };
    let (typed_bytes, typed_held) = per_endpoint(&mut || {
        (0..SLICES)
            .map(|s| Arc::new(service_slice(s)) as Arc<dyn std::any::Any>)
            .collect()
    });
    let (trimmed_bytes, trimmed_held) = per_endpoint(&mut || {
        (0..SLICES)
            .map(|s| Arc::new(trimmed_slice(service_slice(s))) as Arc<dyn std::any::Any>)
            .collect()
    });
    let mut interner = Interner::new();
    let (compact_bytes, compact_held) = per_endpoint(&mut || {
        (0..SLICES)
            .map(|s| {
                Arc::new(SliceInfo::from_slice(&service_slice(s), &mut interner))
                    as Arc<dyn std::any::Any>
            })
            .collect()
    });
    println!(
        "per endpoint: typed {typed_bytes} bytes, trimmed typed {trimmed_bytes}, compact {compact_bytes} (size_of::<EndpointEntry>() = {})",
        std::mem::size_of::<kubehop_engine::objects::EndpointEntry>()
    );
    assert_eq!(typed_held.len(), SLICES);
    assert_eq!(trimmed_held.len(), SLICES);
    assert_eq!(compact_held.len(), SLICES);
    // The bound: the entry (its first address and pod name allocated; node, zone and
    // namespace shared) and its share of the slice's metadata.
    assert!(compact_bytes <= 200, "{compact_bytes} bytes per endpoint");
    assert!(
        compact_bytes * 2 <= trimmed_bytes,
        "{compact_bytes} against {trimmed_bytes}"
    );
}
