//! Rule group (e): session affinity and the picker (E1-E4, D11).

use std::collections::BTreeMap;
use std::time::Duration;

use kubehop::engine::model::AffinityConfig;
use kubehop::engine::{Picker, RouteDecision};
use rstest::rstest;

use crate::support::engine::*;
use crate::support::fixtures::*;

fn world(affinity: Option<i32>, ready: [bool; 3]) -> World {
    let mut service = service("web")
        .selector(&[("app", "web")])
        .port(Some("http"), 80, "8080")
        .port(Some("admin"), 81, "8081");
    if let Some(timeout) = affinity {
        service = service.affinity("ClientIP", (timeout > 0).then_some(timeout));
    }
    let mut world = World::new().nodes(three_nodes()).service(service);
    for (index, ready) in ready.into_iter().enumerate() {
        world = world.pod(
            pod(
                &format!("web-{index}"),
                &format!("127.2.0.{}", index + 1),
                "node-a",
            )
            .labels(&[("app", "web")])
            .ready(ready),
        );
    }
    world
}

fn decision(world: &World, port: u16) -> RouteDecision {
    route(&world.model(), "127.10.0.1", port, from_pod("node-b"))
}

fn picked(picker: &mut Picker, decision: &RouteDecision, client: &str, now: u64) -> String {
    picker
        .pick(
            decision,
            Some(client.parse().expect("ip")),
            Duration::from_secs(now),
        )
        .and_then(|e| e.0.info.pod.as_deref().map(str::to_owned))
        .expect("an endpoint")
}

/// E1: default and explicit ClientIP timeouts.
#[rstest]
#[case::e1_default_timeout(0, 10_800)]
#[case::e1_explicit_timeout(60, 60)]
fn e1_timeout(#[case] configured: i32, #[case] seconds: u64) {
    let decision = decision(&world(Some(configured), [true; 3]), 80);
    assert_eq!(
        decision.affinity,
        AffinityConfig::ClientIp {
            timeout: Duration::from_secs(seconds)
        }
    );
}

/// D11: uniform choice among the set, deterministic for a seed, never outside the set.
#[test]
fn d11_uniform_and_seeded() {
    let decision = decision(&world(None, [true; 3]), 80);
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let mut picker = Picker::new(7);
    for _ in 0..3000 {
        *counts
            .entry(picked(&mut picker, &decision, "127.250.0.1", 0))
            .or_default() += 1;
    }
    assert_eq!(counts.len(), 3);
    for (pod, count) in &counts {
        assert!(
            (850..=1150).contains(count),
            "{pod} picked {count} times of 3000"
        );
    }
    let sequence = |seed| {
        let mut picker = Picker::new(seed);
        (0..20)
            .map(|_| picked(&mut picker, &decision, "127.250.0.1", 0))
            .collect::<Vec<_>>()
    };
    assert_eq!(sequence(42), sequence(42));
    assert_ne!(sequence(42), sequence(43));
}

/// E2/E3: a client sticks to its endpoint per Service port; the window slides with each new
/// connection and expires after the timeout.
#[test]
fn e2_e3_sticky_sliding_window() {
    let world = world(Some(60), [true; 3]);
    let http = decision(&world, 80);
    let mut picker = Picker::new(1);
    let first = picked(&mut picker, &http, "127.250.0.1", 0);
    for now in [30, 60, 90, 150] {
        // Each pick is within 60 s of the previous one: the window slides (E3).
        assert_eq!(picked(&mut picker, &http, "127.250.0.1", now), first);
    }
    // E2: the other port keeps its own record (a fresh choice, independent of port 80's).
    let admin = decision(&world, 81);
    let admin_first = picked(&mut picker, &admin, "127.250.0.1", 150);
    assert_eq!(picked(&mut picker, &admin, "127.250.0.1", 151), admin_first);
    // After 61 s of silence the record has expired: picks are random again, so over many
    // clients' expiries we must see other endpoints.
    let mut others = 0;
    for round in 0..50u64 {
        let now = 1_000 + round * 100;
        if picked(&mut picker, &http, "127.250.0.1", now) != first {
            others += 1;
        }
    }
    assert!(
        others > 0,
        "E3: expired affinity must allow a fresh random choice"
    );
}

/// E4: affinity never overrides policy: an endpoint that left the set is not reused.
#[test]
fn e4_affinity_yields_to_policy() {
    let healthy = world(Some(600), [true; 3]);
    let before = decision(&healthy, 80);
    let mut picker = Picker::new(3);
    let first = picked(&mut picker, &before, "127.250.0.1", 0);
    let index: usize = first.trim_start_matches("web-").parse().expect("index");
    let mut ready = [true; 3];
    ready[index] = false;
    let after = decision(&world(Some(600), ready), 80);
    for now in 1..20 {
        let chosen = picked(&mut picker, &after, "127.250.0.1", now);
        assert_ne!(chosen, first, "E4: an unready endpoint is never picked");
    }
}

/// No affinity: a client address does not make picks sticky.
#[test]
fn e1_none_is_not_sticky() {
    let decision = decision(&world(None, [true; 3]), 80);
    let mut picker = Picker::new(9);
    let picks: std::collections::BTreeSet<String> = (0..50)
        .map(|_| picked(&mut picker, &decision, "127.250.0.1", 0))
        .collect();
    assert!(picks.len() > 1);
}
