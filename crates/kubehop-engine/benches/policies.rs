//! What NetworkPolicy evaluation adds to the engine's full build (rules N1-N10): the synthetic
//! cluster (10,000 Services, 50,000 pods, 500 nodes) built with and without 2,000
//! NetworkPolicies, in the same run, on one thread and with the default threads. Both builds
//! read the same objects (the build without policies gets the snapshot with its policy list
//! emptied), so they differ only by the policies. Target: the build with policies at most
//! 20 % slower. The ratio is printed at the end.
//!
//! `cargo bench -p kubehop-engine --bench policies -- --sample-size 10`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use kubehop_engine::synthetic::{SyntheticSpec, generate_with_policies};
use kubehop_engine::{ClusterSnapshot, EngineConfig, build, build_on_threads};

/// The allocator of the kubehop binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const POLICIES: usize = 2_000;

fn builds(c: &mut Criterion) {
    let spec = SyntheticSpec::default();
    let with_policies = generate_with_policies(&spec, POLICIES);
    // The same cluster without its policies: the same objects (shared, not generated again),
    // so that both builds read the same memory and differ only by the policies.
    let plain = ClusterSnapshot {
        network_policies: Vec::new(),
        ..with_policies.clone()
    };
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
/// building thread spent in each, summed, and the median of the ten pairs' ratios (steadier
/// than wall time when other processes share the cores).
fn ratio(plain: &ClusterSnapshot, with_policies: &ClusterSnapshot, config: &EngineConfig) {
    let time = |snapshot: &ClusterSnapshot| {
        let (started, cpu) = (Instant::now(), thread_cpu());
        one_build(snapshot, config, Some(1));
        (started.elapsed(), thread_cpu().zip(cpu).map(|(a, b)| a - b))
    };
    let (mut without, mut with): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    let mut cpu: Vec<(Duration, Duration)> = Vec::new();
    for _ in 0..10 {
        let (wall_without, cpu_without) = time(plain);
        let (wall_with, cpu_with) = time(with_policies);
        without.push(wall_without);
        with.push(wall_with);
        if let (Some(a), Some(b)) = (cpu_without, cpu_with) {
            cpu.push((a, b));
        }
    }
    without.sort_unstable();
    with.sort_unstable();
    let (without, with) = (without[without.len() / 2], with[with.len() / 2]);
    println!(
        "one thread, alternated, median of 10: {without:?} without, {with:?} with {POLICIES} policies: {:+.1} %",
        (with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );
    if cpu.len() == 10 {
        let total = |pick: fn(&(Duration, Duration)) -> Duration| -> Duration {
            cpu.iter().map(pick).sum::<Duration>() / 10
        };
        let (mean_without, mean_with) = (total(|pair| pair.0), total(|pair| pair.1));
        let mut ratios: Vec<f64> = cpu
            .iter()
            .map(|(a, b)| b.as_secs_f64() / a.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "CPU time of the building thread, mean of 10 each: {mean_without:?} without, {mean_with:?} with: {:+.1} %; median of the 10 pairs' ratios: {:+.1} %",
            (mean_with.as_secs_f64() / mean_without.as_secs_f64() - 1.0) * 100.0,
            (ratios[ratios.len() / 2] - 1.0) * 100.0
        );
    }
}

/// The calling thread's time on a CPU, from Linux's `/proc/thread-self/schedstat` (its first
/// field, in nanoseconds); `None` elsewhere.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(nanos))
}

criterion_group!(benches, builds);
criterion::criterion_main!(benches);
