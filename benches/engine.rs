//! Engine speed on the synthetic cluster: 10,000 Services, 50,000 pods, 500 nodes.
//! Targets: full build ≤ 100 ms, one route ≤ 10 µs, the build with 2,000 NetworkPolicies at
//! most 20 % slower, and an incremental update for one pod event ≤ 1 ms (also at the
//! envelope: 150,000 pods, 5,000 nodes). Run with `cargo bench --bench engine`.
//!
//! Two groups: `engine` measures wall-clock time (the build uses its default threads);
//! `engine-cpu` measures the CPU time of the benchmarking thread with the build on that one
//! thread, which other processes on a busy machine disturb far less than the wall clock.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group};
use kubehop::cluster::synthetic::{SyntheticSpec, generate, generate_with_policies, one_pod_apart};
use kubehop::engine::incremental::{IncrementalModel, Update};
use kubehop::engine::model::Protocol;
use kubehop::engine::{EngineConfig, RouteQuery, TrafficSource, build, build_on_threads};

/// The allocator of the kubehop binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn engine<M: Measurement>(c: &mut Criterion<M>, group_name: &str, threads: Option<usize>) {
    let snapshot = generate(&SyntheticSpec::default());
    let config = EngineConfig::default();
    let mut group = c.benchmark_group(group_name);
    group.sample_size(20);
    group.bench_function("build 10k services / 50k pods / 500 nodes", |b| {
        b.iter(|| match threads {
            Some(threads) => build_on_threads(black_box(&snapshot), black_box(&config), threads),
            None => build(black_box(&snapshot), black_box(&config)),
        });
    });
    // Rules N1-N10: the same cluster with 2,000 NetworkPolicies (a default-deny in every
    // namespace), to compare with the build above (target: at most 20 % more).
    let with_policies = generate_with_policies(&SyntheticSpec::default(), 2_000);
    group.bench_function(
        "build 10k services / 50k pods / 500 nodes / 2,000 NetworkPolicies",
        |b| {
            b.iter(|| match threads {
                Some(threads) => {
                    build_on_threads(black_box(&with_policies), black_box(&config), threads)
                }
                None => build(black_box(&with_policies), black_box(&config)),
            });
        },
    );
    drop(with_policies);
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

/// One pod event (and its EndpointSlice update) applied to a kept model, alternating between
/// the two snapshots; target ≤ 1 ms.
fn incremental<M: Measurement>(c: &mut Criterion<M>, group_name: &str, threads: usize) {
    let config = EngineConfig::default();
    let mut group = c.benchmark_group(group_name);
    group.sample_size(30);
    for (label, spec) in [
        ("10k services / 50k pods", SyntheticSpec::default()),
        (
            "envelope: 10k services / 150k pods / 5k nodes",
            SyntheticSpec::ENVELOPE,
        ),
    ] {
        let (before, after) = one_pod_apart(&spec).expect("a pod that is an endpoint");
        let mut model = IncrementalModel::on_threads(before.clone(), &config, threads);
        let mut flip = false;
        group.bench_function(format!("incremental: one pod update, {label}"), |b| {
            b.iter(|| {
                flip = !flip;
                let next = if flip { &after } else { &before };
                let update = model.update(black_box(next.clone()));
                assert!(matches!(update, Update::Services(_)), "{update:?}");
            });
        });
        group.bench_function(format!("incremental: full build, {label}"), |b| {
            b.iter(|| build_on_threads(black_box(&after), black_box(&config), threads));
        });
        group.bench_function(format!("clone of the whole model, {label}"), |b| {
            b.iter(|| black_box(model.model().clone()));
        });
    }
    group.finish();
}

fn wall(c: &mut Criterion) {
    engine(c, "engine", None);
    incremental(c, "engine", 2);
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    engine(c, "engine-cpu", Some(1));
    incremental(c, "engine-cpu", 1);
}

/// CPU time of the calling thread, from `/proc/thread-self/schedstat` (Linux; nanoseconds on
/// the CPU). Elsewhere it reads 0, and the `engine-cpu` figures are meaningless.
struct ThreadCpuTime;

fn thread_cpu_nanos() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_nanos()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_nanos().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &NanosFormatter
    }
}

/// Nanoseconds, scaled like criterion's own durations (the unit says "cpu").
struct NanosFormatter;

impl ValueFormatter for NanosFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns cpu")
        } else if typical < 1e6 {
            (1e-3, "µs cpu")
        } else if typical < 1e9 {
            (1e-6, "ms cpu")
        } else {
            (1e-9, "s cpu")
        };
        for value in values {
            *value *= factor;
        }
        unit
    }

    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per_iteration = match *throughput {
            Throughput::Elements(count) | Throughput::Bytes(count) => count as f64,
            _ => 1.0,
        };
        let _ = typical;
        for value in values {
            *value = per_iteration * 1e9 / *value;
        }
        "/s cpu"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

criterion_group!(wall_clock, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion::criterion_main!(wall_clock, cpu_time);
