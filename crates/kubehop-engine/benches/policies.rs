//! What NetworkPolicy evaluation adds to the engine's full build (rules N1-N10): the synthetic
//! cluster (10,000 Services, 50,000 pods, 500 nodes) built with and without 2,000
//! NetworkPolicies, in the same run, on one thread and with the default threads. Target: the
//! build with policies at most 20 % slower. The ratio is printed at the end.
//!
//! `cargo bench -p kubehop-engine --bench policies -- --sample-size 10`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use kubehop_engine::synthetic::{SyntheticSpec, generate, generate_with_policies};
use kubehop_engine::{ClusterSnapshot, EngineConfig, build, build_on_threads};

/// The allocator of the kubehop binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const POLICIES: usize = 2_000;

fn builds(c: &mut Criterion) {
    let spec = SyntheticSpec::default();
    let plain = generate(&spec);
    let with_policies = generate_with_policies(&spec, POLICIES);
    let config = EngineConfig::default();
    let built = build(&with_policies, &config);
    let guarded = built
        .services
        .iter()
        .filter(|chain| chain.network_policy.is_some())
        .count();
    // Every Service with endpoints (the synthetic cluster has a few without).
    assert!(
        guarded * 10 >= spec.services * 9,
        "{guarded} networkPolicy blocks"
    );
    println!(
        "{guarded} of {} chains carry a networkPolicy block",
        spec.services
    );
    drop(built);
    for (group_name, threads) in [("policies-1-thread", Some(1)), ("policies", None)] {
        let mut group = c.benchmark_group(group_name);
        for (name, snapshot) in [
            ("build without policies", &plain),
            ("build with 2,000 NetworkPolicies", &with_policies),
        ] {
            group.bench_function(name, |b| {
                b.iter(|| one_build(black_box(snapshot), &config, threads));
            });
        }
        group.finish();
    }
    ratio(&plain, &with_policies, &config);
}

fn one_build(snapshot: &ClusterSnapshot, config: &EngineConfig, threads: Option<usize>) {
    let model = match threads {
        Some(threads) => build_on_threads(snapshot, config, threads),
        None => build(snapshot, config),
    };
    black_box(&model);
}

/// The two builds alternated on one thread, ten each: the median wall time of each and their
/// ratio, so that a load change on a shared machine hits both alike; and the CPU time the
/// building thread spent in each, summed (steadier than wall time when other processes
/// share the cores).
fn ratio(plain: &ClusterSnapshot, with_policies: &ClusterSnapshot, config: &EngineConfig) {
    let time = |snapshot: &ClusterSnapshot| {
        let (started, cpu) = (Instant::now(), thread_cpu_ticks());
        one_build(snapshot, config, Some(1));
        (
            started.elapsed(),
            thread_cpu_ticks().zip(cpu).map(|(a, b)| a - b),
        )
    };
    let (mut without, mut with): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    let (mut cpu_without, mut cpu_with) = (Some(0_u64), Some(0_u64));
    for _ in 0..10 {
        let (wall, cpu) = time(plain);
        without.push(wall);
        cpu_without = cpu_without.zip(cpu).map(|(a, b)| a + b);
        let (wall, cpu) = time(with_policies);
        with.push(wall);
        cpu_with = cpu_with.zip(cpu).map(|(a, b)| a + b);
    }
    without.sort_unstable();
    with.sort_unstable();
    let (without, with) = (without[without.len() / 2], with[with.len() / 2]);
    println!(
        "one thread, alternated, median of 10: {without:?} without, {with:?} with {POLICIES} policies: {:+.1} %",
        (with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );
    if let (Some(cpu_without), Some(cpu_with)) = (cpu_without, cpu_with)
        && cpu_without > 0
    {
        // Ten builds of 10 ms ticks: the sum in ticks is the mean in milliseconds.
        println!(
            "CPU time of the building thread, 10 builds each: {cpu_without} ms without, {cpu_with} ms with, per build: {:+.1} %",
            (cpu_with as f64 / cpu_without as f64 - 1.0) * 100.0
        );
    }
}

/// The calling thread's CPU time (user + system) in clock ticks of 10 ms, from Linux's
/// `/proc/thread-self/stat` (fields 14 and 15); `None` elsewhere.
fn thread_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

criterion_group!(benches, builds);
criterion::criterion_main!(benches);
