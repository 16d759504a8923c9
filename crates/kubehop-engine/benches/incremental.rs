//! One pod event applied to a kept model ([`IncrementalModel::update`]) at 10,000 Services /
//! 50,000 pods / 500 nodes and at the Kubernetes envelope (10,000 Services / 150,000 pods /
//! 5,000 nodes). Target: ≤ 1 ms. The previous model stays held by a second owner, as the TUI's
//! catalog holds it, so an update that copies the shared model pays for the copy.
//!
//! In the engine crate so that its build needs only the engine and criterion:
//! `cargo bench -p kubehop-engine --bench incremental -- --sample-size 10`

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use kubehop_engine::EngineConfig;
use kubehop_engine::incremental::{IncrementalModel, Update};
use kubehop_engine::synthetic::{SyntheticSpec, generate, one_pod_apart, sorted};

/// The allocator of the kubehop binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn incremental(c: &mut Criterion) {
    let config = EngineConfig::default();
    let mut group = c.benchmark_group("incremental");
    for (label, spec) in [
        (
            "10k services / 50k pods / 500 nodes",
            SyntheticSpec::default(),
        ),
        (
            "envelope: 10k services / 150k pods / 5k nodes",
            SyntheticSpec::ENVELOPE,
        ),
    ] {
        let (before, after) = one_pod_apart(&spec).expect("a pod that is an endpoint");
        let mut model = IncrementalModel::new(before.clone(), &config);
        // The catalog's hold on the model it shows.
        let mut held = model.shared_model();
        let mut flip = false;
        group.bench_function(
            format!("one pod event, previous model held, {label}"),
            |b| {
                b.iter(|| {
                    flip = !flip;
                    let next = if flip { &after } else { &before };
                    let update = model.update(black_box(next.clone()));
                    assert!(matches!(update, Update::Services(_)), "{update:?}");
                    held = model.shared_model();
                });
            },
        );
        drop(held);
        group.bench_function(format!("one pod event, model not held, {label}"), |b| {
            b.iter(|| {
                flip = !flip;
                let next = if flip { &after } else { &before };
                let update = model.update(black_box(next.clone()));
                assert!(matches!(update, Update::Services(_)), "{update:?}");
            });
        });
    }
    group.finish();
}

/// What the live source did with the pods for every coalesced publish before it kept them
/// sorted (`src/cluster/live/sorted_kinds.rs`): sort the store's pods (in the store's hash
/// order) by (namespace, name); and what it did after that, until snapshots shared the pod
/// list: copy the kept sorted list's pointers (now it patches in place a list no snapshot
/// holds any more, and copies only when the views hold both earlier ones).
fn live_pods(c: &mut Criterion) {
    let mut group = c.benchmark_group("live-pods");
    for (label, spec) in [
        ("50k pods", SyntheticSpec::default()),
        ("envelope: 150k pods", SyntheticSpec::ENVELOPE),
    ] {
        let sorted_pods = sorted(generate(&spec)).pods;
        // A fixed shuffle stands for the store's hash order.
        let mut shuffled: Vec<_> = sorted_pods.to_vec();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for at in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let other = usize::try_from(state % (at as u64 + 1)).unwrap_or(0);
            shuffled.swap(at, other);
        }
        group.bench_function(format!("sort every pod, {label}"), |b| {
            b.iter(|| {
                let mut pods = black_box(&shuffled).clone();
                pods.sort_unstable_by(|a, b| {
                    (a.namespace.as_deref(), a.name.as_deref())
                        .cmp(&(b.namespace.as_deref(), b.name.as_deref()))
                });
                pods
            });
        });
        group.bench_function(format!("copy the kept sorted list, {label}"), |b| {
            b.iter(|| black_box(&sorted_pods).to_vec());
        });
    }
    group.finish();
}

criterion_group!(benches, incremental, live_pods);
criterion::criterion_main!(benches);
