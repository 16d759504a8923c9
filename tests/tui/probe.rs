//! The probe in the TUI: `p`/`P` start a run over the model on screen, results land inline in
//! the chain tree and in the Probe tab, stale results are marked, Esc cancels.
//!
//! Frame snapshots (80×24 and 120×40) use the demo scenario with fixed outcomes (latencies
//! would make real runs differ from frame to frame); the agreement with the plan is computed by
//! the real code. One test drives the same flow with real probes against the sandbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::tui::*;
use crossterm::event::KeyCode;
use insta::assert_snapshot;
use kubehop::app::probe::RunStatus;
use kubehop::app::{AppEvent, AppState, Command};
use kubehop::engine::plan::{Expectation, HopKind, ProbeHop, ProbePlan, ProbeTarget};
use kubehop::probe::check::{agree, answering_pod};
use kubehop::probe::{
    Answer, FixSuggestion, HopResult, ProbeEvent, ProbeOutcome, RunId, Transport,
};
use rstest::rstest;

fn size_name(size: (u16, u16)) -> String {
    format!("{}x{}", size.0, size.1)
}

/// Presses `P` (or `p`) and returns the run the app asked for.
fn start(state: &mut AppState, key: char) -> (RunId, Arc<ProbePlan>) {
    let commands = press(state, KeyCode::Char(key));
    let Some((run, plan)) = commands.into_iter().find_map(|command| match command {
        Command::RunProbe { run, plan, .. } => Some((run, plan)),
        _ => None,
    }) else {
        panic!("no probe started: {:?}", state.message);
    };
    (run, plan)
}

fn answer_from(pod: Option<&str>) -> Answer {
    Answer {
        status: Some(200),
        reason: Some("OK".to_owned()),
        headers: pod
            .map(|pod| vec![("x-kubehop-pod".to_owned(), pod.to_owned())])
            .unwrap_or_default(),
        first_bytes: "pod answered".to_owned(),
        first_byte: Some(Duration::from_micros(1500)),
        closed_without_data: false,
        tls: None,
        ..Answer::default()
    }
}

/// The first pod the engine expects for a hop.
fn expected_pod(hop: &ProbeHop) -> Option<String> {
    match &hop.expected {
        Expectation::Connect { endpoints, .. } => {
            endpoints.first().and_then(|endpoint| endpoint.pod.clone())
        }
        _ => None,
    }
}

fn connected(hop: &ProbeHop, micros: u64) -> ProbeOutcome {
    ProbeOutcome::Connected {
        latency: Duration::from_micros(micros),
        answer: Some(answer_from(expected_pod(hop).as_deref())),
    }
}

/// A result as the probe would report it for `outcome` (agreement by the real rules).
fn result(hop: &ProbeHop, outcome: ProbeOutcome, fix: Option<FixSuggestion>) -> HopResult {
    let known: Vec<String> = expected_pod(hop).into_iter().collect();
    let answered_by = answering_pod(&outcome, &known);
    let (agreement, why) = agree(&hop.expected, hop.kind, &outcome, answered_by.as_ref());
    HopResult {
        key: hop.key.clone(),
        kind: hop.kind,
        target: hop.target.describe(),
        transport: if matches!(hop.target, ProbeTarget::Pod { .. }) {
            Transport::PortForward
        } else {
            Transport::Direct
        },
        outcome,
        answered_by,
        expected: hop.expected.clone(),
        agreement,
        why,
        fix,
        fallbacks: Vec::new(),
        fingerprint: hop.fingerprint,
        elapsed: Duration::from_millis(3),
        node_cause: None,
    }
}

fn finish(state: &mut AppState, run: RunId, result: HopResult) {
    apply(
        state,
        AppEvent::Probe(ProbeEvent::Started {
            run,
            key: result.key.clone(),
        }),
    );
    apply(
        state,
        AppEvent::Probe(ProbeEvent::Finished {
            run,
            result: Box::new(result),
        }),
    );
}

fn done(state: &mut AppState, run: RunId) {
    apply(
        state,
        AppEvent::Probe(ProbeEvent::Done {
            run,
            elapsed: Duration::from_millis(212),
        }),
    );
}

/// shop/web with every hop answered as predicted.
fn healthy_run(state: &mut AppState) -> (RunId, Arc<ProbePlan>) {
    open_service(state, "shop/web");
    press(state, KeyCode::Char('4'));
    let (run, plan) = start(state, 'P');
    for (index, hop) in plan.hops.iter().enumerate() {
        let micros = 400 + 300 * index as u64;
        finish(state, run, result(hop, connected(hop, micros), None));
    }
    done(state, run);
    (run, plan)
}

#[rstest]
fn healthy(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = demo_app(size.0, size.1);
    let (_, plan) = healthy_run(&mut state);
    let run = state.probe.run.as_ref().expect("a run");
    assert_eq!(run.results.len(), plan.hops.len());
    assert!(matches!(run.status, RunStatus::Done { .. }));
    let text = screen_text(&render(&state));
    assert!(text.contains("✓ 0.4 ms"), "{text}");
    assert_snapshot!(
        format!("probe_healthy_{}", size_name(size)),
        render(&state).backend()
    );
}

#[rstest]
fn broken(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = demo_app(size.0, size.1);
    open_service(&mut state, "catalog/catalog");
    press(&mut state, KeyCode::Char('4'));
    let (run, plan) = start(&mut state, 'P');
    for hop in plan.hops.iter() {
        let outcome_and_fix = match (hop.kind, &hop.target) {
            (HopKind::Endpoint, ProbeTarget::Pod { pod, ip, .. }) => (
                ProbeOutcome::Refused {
                    detail: Some(format!(
                        "error forwarding port 8080 to pod {pod}, uid : failed to connect to {ip}:8080: Connection refused (os error 111)"
                    )),
                },
                Some(FixSuggestion {
                    port: 80,
                    text: format!(
                        "targetPort 8080 refused on {pod}; port 80 accepts, though no container declares it — set targetPort: 80 (and declare containerPort 80)"
                    ),
                }),
            ),
            _ => (
                ProbeOutcome::Reset {
                    after_connect: true,
                    detail: None,
                },
                None,
            ),
        };
        finish(
            &mut state,
            run,
            result(hop, outcome_and_fix.0, outcome_and_fix.1),
        );
    }
    done(&mut state, run);
    let text = screen_text(&render(&state));
    assert!(text.contains("✗ refused"), "{text}");
    assert!(text.contains("✗ reset"), "{text}");
    assert_snapshot!(
        format!("probe_broken_{}", size_name(size)),
        render(&state).backend()
    );
}

#[rstest]
fn in_progress(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = demo_app(size.0, size.1);
    open_service(&mut state, "shop/web");
    press(&mut state, KeyCode::Char('4'));
    let (run, plan) = start(&mut state, 'P');
    assert!(
        state.animating(Instant::now()),
        "the spinner ticks while probing"
    );
    // One hop done, two being probed, the rest queued; three spinner steps.
    finish(
        &mut state,
        run,
        result(&plan.hops[0], connected(&plan.hops[0], 1200), None),
    );
    for hop in &plan.hops[1..3] {
        apply(
            &mut state,
            AppEvent::Probe(ProbeEvent::Started {
                run,
                key: hop.key.clone(),
            }),
        );
    }
    for _ in 0..3 {
        apply(&mut state, AppEvent::Tick(Instant::now()));
    }
    let text = screen_text(&render(&state));
    assert!(text.contains("⠸ probing"), "{text}");
    assert!(text.contains("… queued"), "{text}");
    assert_snapshot!(
        format!("probe_in_progress_{}", size_name(size)),
        render(&state).backend()
    );
}

#[rstest]
fn stale(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = demo_app(size.0, size.1);
    healthy_run(&mut state);
    // A newer snapshot: one of shop/web's endpoints is no longer ready.
    let mut snapshot = demo_snapshot();
    snapshot.generation = 2;
    for slice in &mut snapshot.endpoint_slices {
        if slice.metadata.namespace.as_deref() == Some("shop")
            && slice
                .metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get("kubernetes.io/service-name"))
                .is_some_and(|name| name == "web")
        {
            let mut changed = (**slice).clone();
            if let Some(conditions) = changed
                .endpoints
                .as_mut()
                .and_then(|endpoints| endpoints.first_mut())
                .and_then(|endpoint| endpoint.conditions.as_mut())
            {
                conditions.ready = Some(false);
                conditions.serving = Some(false);
            }
            *slice = Arc::new(changed);
        }
    }
    apply(&mut state, AppEvent::Snapshot(Arc::new(snapshot)));
    let run = state.probe.run.as_ref().expect("a run");
    // The unready endpoint and every front door changed prediction; the two others did not.
    let endpoints = run
        .plan
        .hops
        .iter()
        .filter(|hop| hop.kind == HopKind::Endpoint)
        .count();
    assert_eq!(run.stale.len(), run.plan.hops.len() - (endpoints - 1));
    let text = screen_text(&render(&state));
    assert!(text.contains("↻ stale"), "{text}");
    assert_snapshot!(
        format!("probe_stale_{}", size_name(size)),
        render(&state).backend()
    );
}

#[test]
fn results_of_an_older_run_do_not_land() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "shop/web");
    let (old, plan) = start(&mut state, 'P');
    let (new, _) = start(&mut state, 'P');
    assert_ne!(old, new);
    finish(
        &mut state,
        old,
        result(&plan.hops[0], connected(&plan.hops[0], 900), None),
    );
    let run = state.probe.run.as_ref().expect("a run");
    assert_eq!(run.id, new);
    assert!(run.results.is_empty(), "the old run's result was dropped");
}

#[test]
fn escape_cancels_and_another_service_stops_the_run() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "shop/web");
    let (run, _) = start(&mut state, 'P');
    let commands = press(&mut state, KeyCode::Esc);
    assert!(
        matches!(commands.as_slice(), [Command::CancelProbe { run: cancelled }] if *cancelled == run),
        "{commands:?}"
    );
    assert_eq!(
        state.probe.run.as_ref().map(|run| run.status),
        Some(RunStatus::Cancelled)
    );
    assert!(!state.animating(Instant::now()));

    let (run, _) = start(&mut state, 'P');
    typed(&mut state, ":svc catalog/catalog");
    let commands = press(&mut state, KeyCode::Enter);
    assert!(
        commands
            .iter()
            .any(|command| matches!(command, Command::CancelProbe { run: cancelled } if *cancelled == run)),
        "{commands:?}"
    );
}

#[test]
fn p_probes_one_hop_and_nothing_when_the_hop_has_no_address() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "default/mynodeportservice");
    press(&mut state, KeyCode::Char('j'));
    press(&mut state, KeyCode::Char('j'));
    let (_, plan) = start(&mut state, 'p');
    assert_eq!(plan.hops.len(), 1);
    assert_eq!(plan.hops[0].kind, HopKind::NodePort);

    // An unavailable prober says why instead of starting.
    state.probe.unavailable = Some("this source is a dump".to_owned());
    let commands = press(&mut state, KeyCode::Char('P'));
    assert!(commands.is_empty());
    assert_eq!(
        state.message.as_ref().map(|message| message.text.as_str()),
        Some("cannot probe: this source is a dump")
    );
}

/// The same flow with real probes: the sandbox, the loop's RunProbe handling (spawn, events
/// back into `update`), marks on screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_probes_land_in_the_tree() {
    let mut objects = crate::support::fixtures::manifest::three_nodes();
    objects.extend(crate::support::probe::wrong_target_port());
    let (sandbox, client) =
        crate::support::sandbox::start_cluster(objects, Duration::from_secs(1)).await;
    let snapshot = crate::support::probe::snapshot(&sandbox);
    let mut state = app_with(snapshot, 120, 40);
    open_service(&mut state, "default/catalog");
    press(&mut state, KeyCode::Char('4'));
    let (run, plan) = start(&mut state, 'P');
    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let _handle = kubehop::probe::spawn(
        run,
        (*plan).clone(),
        crate::support::probe::transports(&client),
        kubehop::probe::ProbeOptions::default(),
        move |event| sender.send(AppEvent::Probe(event)).is_ok(),
    );
    loop {
        let event = crate::support::wait::within("probe events", events.recv())
            .await
            .expect("events");
        let last = matches!(event, AppEvent::Probe(ProbeEvent::Done { .. }));
        apply(&mut state, event);
        if last {
            break;
        }
    }
    let text = screen_text(&render(&state));
    assert!(text.contains("✗ refused"), "{text}");
    assert!(text.contains("✗ reset"), "{text}");
    assert!(
        text.contains("fix: targetPort 8080 refused on catalog-"),
        "{text}"
    );
    // The real probe's findings reach the Service's health.
    assert!(text.contains("│✗ default/catalog "), "{text}");
    assert!(
        state
            .probe
            .findings_for(&kubehop::engine::model::ServiceKey {
                namespace: "default".to_owned(),
                name: "catalog".to_owned(),
            })
            .iter()
            .any(|finding| finding.code.as_str() == "probe-unexpected-refusal"),
        "{:?}",
        state.probe.findings
    );
    let run = state.probe.run.as_ref().expect("a run");
    assert!(
        run.results
            .values()
            .all(|result| result.key.to_string().starts_with("default/catalog#"))
    );
    assert!(matches!(
        run.results.values().next().map(|result| &result.outcome),
        Some(ProbeOutcome::Reset { .. } | ProbeOutcome::Refused { .. })
    ));
    sandbox.shutdown().await;
}
