//! Probe speed on the sandbox (loopback only): one LoadBalancer Service with 100 ready pods on
//! three nodes — 105 hops (the LoadBalancer IP, three node addresses:nodePort, the ClusterIP,
//! and 100 endpoints through port-forwards via the API server), default concurrency 16.
//! Target (docs/performance.md): the whole probe in ≤ 1 s. Run with `cargo bench --bench probe`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use kubehop::engine::model::ServiceKey;
use kubehop::engine::plan::{PlanContext, PortSelector, Via, probe_plan_with};
use kubehop::engine::{EngineConfig, build};
use kubehop::probe::{self, Agreement, ProbeOptions, Transports};
use kubehop::sandbox::{ControlPlaneConfig, Sandbox};
use serde_json::json;

const PODS: i32 = 100;

fn objects() -> Vec<serde_json::Value> {
    let mut objects: Vec<serde_json::Value> = ["node-1", "node-2", "node-3"]
        .into_iter()
        .map(|name| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}))
        .collect();
    objects.push(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": PODS,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "example/web:1",
                          "ports": [{"name": "http", "containerPort": 8080}]}]}
            }
        }
    }));
    objects.push(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}
    }));
    objects
}

fn probe_100_endpoints(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (sandbox, plan, transports) = runtime.block_on(async {
        let sandbox = Sandbox::builder()
            .objects(objects())
            .control_plane(ControlPlaneConfig::immediate(Duration::from_secs(1)))
            .data_plane(true)
            .start()
            .await
            .expect("the sandbox starts");
        tokio::time::timeout(Duration::from_secs(60), sandbox.settled())
            .await
            .expect("the sandbox settles");
        let store = sandbox.store();
        let snapshot = store
            .cluster_snapshot(store.resource_version())
            .expect("a snapshot");
        let model = build(&snapshot, &EngineConfig::default());
        let plan = probe_plan_with(
            &model,
            &ServiceKey {
                namespace: "default".to_owned(),
                name: "web".to_owned(),
            },
            &PortSelector::All,
            Via::All,
            &PlanContext::from_snapshot(&snapshot),
        )
        .expect("a plan");
        let client = sandbox.client().await.expect("a client");
        (sandbox, plan, Arc::new(Transports::loopback(client)))
    });
    assert_eq!(plan.hops.len(), 105, "{:?}", plan.notes);
    let options = ProbeOptions::default();
    // One run outside the measurement: every hop must behave as predicted.
    let report = runtime.block_on(probe::run(&plan, 1, &transports, &options));
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|result| result.agreement != Agreement::Expected)
        .map(|result| format!("{}: {}", result.target, result.outcome))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    eprintln!("probe of 105 hops (100 endpoints): {:?}", report.elapsed);

    let mut group = c.benchmark_group("probe");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("service_with_100_endpoints", |b| {
        b.iter(|| runtime.block_on(probe::run(&plan, 1, &transports, &options)))
    });
    group.finish();
    runtime.block_on(sandbox.shutdown());
}

criterion_group!(benches, probe_100_endpoints);
criterion_main!(benches);
