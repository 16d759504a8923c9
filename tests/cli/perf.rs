//! The synthetic cluster of the engine benchmark (10,000 Services, 50,000 pods, 500 nodes) as
//! dump files, for measuring `kubehop chain -A -o json` on it (README, "Performance"):
//!
//! ```sh
//! cargo test --release --test cli perf:: -- --ignored
//! /usr/bin/time -v target/release/kubehop chain -A -o json -f target/tmp/synthetic.json > /dev/null
//! ```
//!
//! Ignored by default: writing and re-reading the dumps takes a while and a few hundred MB.

use std::path::PathBuf;

use kubehop::cluster::dump;
use kubehop::cluster::synthetic::{SyntheticSpec, objects};

/// A `kubectl get ... -o json|yaml` style `v1 List` of the synthetic cluster.
fn list() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": objects(&SyntheticSpec::default()),
    })
}

fn target(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Reads the written dump back and checks it is the whole synthetic cluster.
fn check(path: &PathBuf) {
    let load = dump::load_paths(std::slice::from_ref(path)).expect("the dump loads");
    let snapshot = load.snapshot;
    assert_eq!(snapshot.services.len(), 10_000);
    assert_eq!(snapshot.pods.len(), 50_000);
    assert_eq!(snapshot.nodes.len(), 500);
    assert!(snapshot.endpoint_slices.len() >= 9_500);
    assert!(load.notes.is_empty(), "{:?}", load.notes);
}

#[test]
#[ignore = "writes ~100 MB dumps to target/tmp; run for the README's memory figures"]
fn write_synthetic_dumps() {
    let list = list();
    let json = target("synthetic.json");
    std::fs::write(&json, serde_json::to_vec(&list).expect("JSON")).expect("write JSON dump");
    check(&json);
    let yaml = target("synthetic.yaml");
    std::fs::write(&yaml, serde_saphyr::to_string(&list).expect("YAML")).expect("write YAML dump");
    check(&yaml);
}
