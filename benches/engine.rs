//! Engine speed on the synthetic cluster of issue 2: 10,000 Services, 50,000 pods, 500 nodes.
//! Targets: full build ≤ 100 ms, one route ≤ 10 µs. Run with `cargo bench --bench engine`.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use kubehop::cluster::synthetic::{SyntheticSpec, generate};
use kubehop::engine::model::Protocol;
use kubehop::engine::{EngineConfig, RouteQuery, TrafficSource, build};

fn engine(c: &mut Criterion) {
    let snapshot = generate(&SyntheticSpec::default());
    let config = EngineConfig::default();
    let mut group = c.benchmark_group("engine");
    group.sample_size(20);
    group.bench_function("build 10k services / 50k pods / 500 nodes", |b| {
        b.iter(|| build(black_box(&snapshot), black_box(&config)));
    });
    let model = build(&snapshot, &config);
    let service = model
        .service("team-01", "svc-00001")
        .expect("synthetic Service svc-00001 exists");
    let cluster_ip: IpAddr = service.cluster_ips[0];
    let query = RouteQuery {
        destination: cluster_ip,
        port: 80,
        protocol: Protocol::Tcp,
        source: TrafficSource::Pod {
            node: "node-0007".to_owned(),
        },
        source_ip: None,
    };
    assert_eq!(
        model.route(&query).verdict,
        kubehop::engine::Verdict::Forward
    );
    group.bench_function("route ClusterIP from a pod", |b| {
        b.iter(|| model.route(black_box(&query)));
    });
    let node_port_service = model
        .service("team-14", "svc-00014")
        .expect("synthetic NodePort Service svc-00014 exists");
    let node_port = u16::try_from(node_port_service.ports[0].node_port.expect("nodePort"))
        .expect("valid nodePort");
    let node_query = RouteQuery {
        destination: "127.1.0.3".parse().expect("node address"),
        port: node_port,
        protocol: Protocol::Tcp,
        source: TrafficSource::External {
            node: "node-0002".to_owned(),
        },
        source_ip: Some("127.250.0.1".parse().expect("client address")),
    };
    group.bench_function("route NodePort from outside", |b| {
        b.iter(|| model.route(black_box(&node_query)));
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
