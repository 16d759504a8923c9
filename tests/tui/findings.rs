//! Probe results are findings: an unexpected result marks the Service in the list (and the
//! header) in the frame it lands, shows in Diagnostics, goes stale when a newer snapshot
//! changes the hop's prediction, and is gone once a later probe agrees. Findings that belong
//! to no Service have their own section.

use std::sync::Arc;
use std::time::Duration;

use crate::support::tui::*;
use crossterm::event::KeyCode;
use insta::assert_snapshot;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubehop::app::{AppEvent, AppState, Command};
use kubehop::engine::ClusterSnapshot;
use kubehop::engine::plan::{Expectation, HopKind, ProbeHop, ProbePlan, ProbeTarget};
use kubehop::probe::check::{agree, answering_pod};
use kubehop::probe::{
    Answer, FixSuggestion, HopResult, ProbeEvent, ProbeOutcome, RunId, Transport,
};
use rstest::rstest;

fn size_name(size: (u16, u16)) -> String {
    format!("{}x{}", size.0, size.1)
}

fn start(state: &mut AppState) -> (RunId, Arc<ProbePlan>) {
    let commands = press(state, KeyCode::Char('P'));
    commands
        .into_iter()
        .find_map(|command| match command {
            Command::RunProbe { run, plan, .. } => Some((run, plan)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no probe started: {:?}", state.message))
}

/// A result judged by the real rules.
fn result(hop: &ProbeHop, outcome: ProbeOutcome, fix: Option<FixSuggestion>) -> HopResult {
    let known: Vec<String> = match &hop.expected {
        Expectation::Connect { endpoints, .. } => endpoints
            .iter()
            .filter_map(|endpoint| endpoint.pod.clone())
            .collect(),
        _ => Vec::new(),
    };
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

/// The endpoints refuse (the targetPort bug only a probe sees); the rest answers.
fn refused_or_connected(hop: &ProbeHop) -> HopResult {
    match (hop.kind, &hop.target) {
        (HopKind::Endpoint, ProbeTarget::Pod { pod, .. }) => result(
            hop,
            ProbeOutcome::Refused { detail: None },
            Some(FixSuggestion {
                port: 80,
                text: format!(
                    "targetPort 8080 refused on {pod}; port 80 accepts — set targetPort: 80"
                ),
            }),
        ),
        _ => connected(hop),
    }
}

fn connected(hop: &ProbeHop) -> HopResult {
    let pod = match &hop.expected {
        Expectation::Connect { endpoints, .. } => {
            endpoints.first().and_then(|endpoint| endpoint.pod.clone())
        }
        _ => None,
    };
    let answer = Answer {
        status: Some(200),
        reason: Some("OK".to_owned()),
        headers: pod
            .map(|pod| vec![("x-kubehop-pod".to_owned(), pod)])
            .unwrap_or_default(),
        first_bytes: "ok".to_owned(),
        first_byte: Some(Duration::from_micros(900)),
        closed_without_data: false,
        tls: None,
        ..Answer::default()
    };
    result(
        hop,
        ProbeOutcome::Connected {
            latency: Duration::from_micros(800),
            answer: Some(answer),
        },
        None,
    )
}

fn land(state: &mut AppState, run: RunId, result: HopResult) {
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
            elapsed: Duration::from_millis(120),
        }),
    );
}

/// The health mark of a Service's row in the list, as rendered.
fn mark_of(text: &str, service: &str) -> &'static str {
    ["✓", "!", "✗"]
        .into_iter()
        .find(|mark| text.contains(&format!("│{mark} {service} ")))
        .unwrap_or_else(|| panic!("no row for {service}:\n{text}"))
}

/// The fix applied: targetPort 80, and the EndpointSlice controller's port with it.
fn fixed_snapshot() -> ClusterSnapshot {
    let mut snapshot = demo_snapshot();
    snapshot.generation = 2;
    for service in &mut snapshot.services {
        if service.metadata.namespace.as_deref() == Some("catalog") {
            let mut changed = (**service).clone();
            for port in changed
                .spec
                .iter_mut()
                .flat_map(|spec| spec.ports.iter_mut().flatten())
            {
                port.target_port = Some(IntOrString::Int(80));
            }
            *service = Arc::new(changed);
        }
    }
    for slice in &mut snapshot.endpoint_slices {
        if slice.metadata.namespace.as_deref() == Some("catalog") {
            let mut changed = (**slice).clone();
            for port in changed.ports.iter_mut().flatten() {
                port.port = Some(80);
            }
            *slice = Arc::new(changed);
        }
    }
    snapshot
}

/// catalog/catalog probed with every endpoint refusing; the Diagnostics tab shown.
fn probed_broken(size: (u16, u16)) -> AppState {
    let mut state = demo_app(size.0, size.1);
    open_service(&mut state, "catalog/catalog");
    assert_eq!(
        mark_of(&screen_text(&render(&state)), "catalog/catalog"),
        "✓"
    );
    press(&mut state, KeyCode::Char('2'));
    let (run, plan) = start(&mut state);
    let endpoint = plan
        .hops
        .iter()
        .find(|hop| hop.kind == HopKind::Endpoint)
        .expect("an endpoint hop");
    // One result is enough: the very next frame marks the Service.
    land(&mut state, run, refused_or_connected(endpoint));
    let text = screen_text(&render(&state));
    assert_eq!(mark_of(&text, "catalog/catalog"), "✗", "{text}");
    assert!(text.contains("✗ 8 "), "the header counts it: {text}");
    assert!(text.contains("probe-unexpected-refusal"), "{text}");
    for hop in plan.hops.iter().filter(|hop| hop.key != endpoint.key) {
        land(&mut state, run, refused_or_connected(hop));
    }
    done(&mut state, run);
    state
}

#[rstest]
fn a_probe_finding_marks_the_service_then_goes_stale_then_away(
    #[values((80, 24), (120, 40))] size: (u16, u16),
) {
    let mut state = probed_broken(size);
    assert_snapshot!(
        format!("probe_finding_{}", size_name(size)),
        render(&state).backend()
    );

    // The fix lands: the endpoints' prediction changed, so the finding is stale (shown, not
    // counted).
    apply(&mut state, AppEvent::Snapshot(Arc::new(fixed_snapshot())));
    let text = screen_text(&render(&state));
    assert_ne!(mark_of(&text, "catalog/catalog"), "✗", "{text}");
    let kept: Vec<_> = state
        .probe
        .findings
        .values()
        .flat_map(|kept| kept.values())
        .collect();
    assert!(
        !kept.is_empty() && kept.iter().all(|kept| kept.finding.stale),
        "{kept:?}"
    );
    if size.1 >= 40 {
        assert!(text.contains("↻ stale probe-unexpected-refusal"), "{text}");
    }
    assert_snapshot!(
        format!("probe_finding_stale_{}", size_name(size)),
        render(&state).backend()
    );

    // A new probe agrees: the finding is gone.
    let (run, plan) = start(&mut state);
    for hop in &plan.hops {
        land(&mut state, run, connected(hop));
    }
    done(&mut state, run);
    press(&mut state, KeyCode::Char('2'));
    let text = screen_text(&render(&state));
    assert!(!text.contains("probe-unexpected"), "{text}");
    assert!(state.probe.findings.is_empty());
}

#[rstest]
fn findings_of_no_service_have_their_own_section(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = demo_app(size.0, size.1);
    open_service(&mut state, "docs/docs");
    press(&mut state, KeyCode::Char('2'));
    let text = screen_text(&render(&state));
    assert!(text.contains("1 cluster finding"), "{text}");
    if size.1 >= 40 {
        assert!(text.contains("Cluster findings"), "{text}");
        assert!(text.contains("ingress-backend-missing"), "{text}");
    }
    assert_snapshot!(
        format!("cluster_findings_{}", size_name(size)),
        render(&state).backend()
    );
}

/// The same results read the same in the TUI and in `kubehop probe`'s text: one symbol and one
/// word per verdict (a predicted refusal is `⊘`, never `✓`; an unexpected one `✗`, never `⚠`).
#[test]
fn the_tui_and_probe_text_share_the_vocabulary() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "orders/orders");
    press(&mut state, KeyCode::Char('4'));
    let (run, plan) = start(&mut state);
    // Every hop refused: the ClusterIP (no ready endpoint) fails as predicted; the endpoints
    // that are not ready have no prediction.
    for hop in &plan.hops {
        land(
            &mut state,
            run,
            result(hop, ProbeOutcome::Refused { detail: None }, None),
        );
    }
    done(&mut state, run);
    let probe_run = state.probe.run.as_ref().expect("a run");
    let report = kubehop::probe::ProbeReport {
        service: probe_run.service.clone(),
        generation: 1,
        results: plan
            .hops
            .iter()
            .filter_map(|hop| probe_run.results.get(&hop.key).cloned())
            .collect(),
        notes: Vec::new(),
        elapsed: Duration::from_millis(5),
    };
    let stale = std::collections::BTreeSet::new();
    let view = kubehop::output::probe::ProbeView {
        plan: &plan,
        report: &report,
        stale: &stale,
    };
    let mut text = Vec::new();
    kubehop::output::probe::write_text(&mut text, &view).expect("text");
    let text = String::from_utf8(text).expect("UTF-8");
    let screen = screen_text(&render(&state));
    let mut seen = std::collections::BTreeSet::new();
    for result in &report.results {
        let verdict = result.verdict(false);
        seen.insert(verdict);
        let label = plan.hop(&result.key).expect("planned").label();
        let line = format!(
            "  {} {label}  [{}]  {}",
            verdict.symbol(),
            result.transport.as_str(),
            verdict.word()
        );
        assert!(text.contains(&line), "{line}\n{text}");
        // The Probe tab: the hop's mark, then its verdict and why.
        assert!(
            screen.contains(&format!("{} refused {label}", verdict.symbol())),
            "{label}\n{screen}"
        );
    }
    use kubehop::engine::verdict::HopVerdict;
    assert!(seen.contains(&HopVerdict::ExpectedFailure), "{text}");
    assert!(seen.contains(&HopVerdict::NotReachable), "{text}");
    assert!(
        screen.contains("⊘ fails as predicted: from a host process"),
        "{screen}"
    );
}

/// An externalTrafficPolicy Local NodePort with no usable endpoint anywhere rejects on every
/// node: the TUI says what the engine's hop state says ("rejects"), not "drops".
#[test]
fn local_policy_without_any_endpoint_rejects() {
    let path = format!(
        "{}/assets/scenarios/etp-local-drops.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut snapshot = kubehop::cluster::dump::load_paths(&[path.into()])
        .expect("the scenario loads")
        .snapshot;
    for slice in &mut snapshot.endpoint_slices {
        let mut changed = (**slice).clone();
        for endpoint in changed.endpoints.iter_mut().flatten() {
            let conditions = endpoint.conditions.get_or_insert_with(Default::default);
            conditions.ready = Some(false);
            conditions.serving = Some(false);
        }
        *slice = Arc::new(changed);
    }
    let mut state = app_with(snapshot, 120, 40);
    open_service(&mut state, "edge/gateway");
    let text = screen_text(&render(&state));
    assert!(text.contains("· rejects: no ready endpoint"), "{text}");
    assert!(!text.contains("drops: no local endpoint"), "{text}");
    assert!(text.contains(" reject"), "{text}");
}
