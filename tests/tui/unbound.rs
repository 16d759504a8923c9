//! A probe run whose hops the sandbox could not listen on (ports below 1024 without root):
//! the hops say "not reachable", and the status line says why, once for the whole run.

use std::time::Duration;

use crate::support::tui::*;
use crossterm::event::KeyCode;
use kubehop::app::{AppEvent, Command};
use kubehop::engine::plan::ProbeTarget;
use kubehop::engine::unbound::UnboundReason;
use kubehop::probe::check::agree;
use kubehop::probe::{HopResult, ProbeEvent, ProbeOutcome, Transport};

#[test]
fn the_status_line_says_once_why_hops_are_not_reachable() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "shop/web");
    press(&mut state, KeyCode::Char('4'));
    let commands = press(&mut state, KeyCode::Char('P'));
    let (run, plan) = commands
        .into_iter()
        .find_map(|command| match command {
            Command::RunProbe { run, plan, .. } => Some((run, plan)),
            _ => None,
        })
        .expect("a probe run");
    let reason = UnboundReason::Privileged.explain();
    let mut unreachable = 0;
    for hop in &plan.hops {
        // The port-80 front doors had no listener; everything else was not tried either way.
        let outcome = match &hop.target {
            ProbeTarget::Address { port, .. } if *port < 1024 => {
                unreachable += 1;
                ProbeOutcome::NotReachable(reason.to_owned())
            }
            _ => ProbeOutcome::NotReachable("ClusterIP".to_owned()),
        };
        let (agreement, why) = agree(&hop.expected, hop.kind, &outcome, None);
        let result = HopResult {
            key: hop.key.clone(),
            kind: hop.kind,
            target: hop.target.describe(),
            transport: Transport::Direct,
            outcome,
            answered_by: None,
            expected: hop.expected.clone(),
            agreement,
            why,
            fix: None,
            fallbacks: Vec::new(),
            fingerprint: hop.fingerprint,
            elapsed: Duration::from_millis(1),
            node_cause: None,
        };
        apply(
            &mut state,
            AppEvent::Probe(ProbeEvent::Finished {
                run,
                result: Box::new(result),
            }),
        );
    }
    apply(
        &mut state,
        AppEvent::Probe(ProbeEvent::Done {
            run,
            elapsed: Duration::from_millis(5),
        }),
    );
    assert!(unreachable > 0, "shop/web has port-80 front doors");
    // A message (the run's end) goes first; the note shows once it is gone.
    state.message = None;
    let text = screen_text(&render(&state));
    let status = text.lines().last().expect("a status line");
    let hops = if unreachable == 1 { "hop" } else { "hops" };
    assert!(
        status.contains(&format!(
            "{unreachable} {hops} not reachable here: the sandbox needs root"
        )),
        "{status}"
    );
    // The chain rows say only "not reachable"; the reason is in the status line (and in the
    // Probe tab's details of each hop).
    let chain_rows = text.lines().filter(|line| line.contains("· not reachable"));
    assert!(chain_rows.clone().count() >= unreachable, "{text}");
    assert!(
        chain_rows
            .into_iter()
            .all(|line| !line.contains("needs root")),
        "{text}"
    );
}
