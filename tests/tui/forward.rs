//! Forwards in the TUI: Shift-F on a Service port asks for the local port and asks the loop to
//! start a forward; the loop's reports (started, failed, notices, counters) arrive as events;
//! `f` lists the forwards; `d` stops one. Frame snapshots at 80×24 and 120×40 over the demo
//! scenario with fixed counters (real ones would differ from run to run).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use crate::support::tui::*;
use crossterm::event::KeyCode;
use insta::assert_snapshot;
use kubehop::app::forwards::{ForwardId, ForwardStatus, ForwardUpdate};
use kubehop::app::{AppEvent, AppState, Command, Mode};
use kubehop::engine::model::PortRef;
use kubehop::forward::backends::{Condition, PodRef};
use kubehop::forward::{
    ForwardEvent, ForwardRequest, ForwardStats, Listening, Notice, PodStats, PortMapping,
    PortStats, Target,
};
use rstest::rstest;

fn size_name(size: (u16, u16)) -> String {
    format!("{}x{}", size.0, size.1)
}

fn web_target() -> Target {
    Target::tcp("shop", "web", 80, Some("http"))
}

/// Shift-F, then `local` typed and Enter: the forward the app asks the loop for.
fn start(state: &mut AppState, local: &str) -> (ForwardId, ForwardRequest) {
    press(state, KeyCode::Char('F'));
    assert!(
        matches!(state.mode, Mode::ForwardPrompt { .. }),
        "the prompt is open: {:?}",
        state.message
    );
    typed(state, local);
    let commands = press(state, KeyCode::Enter);
    commands
        .into_iter()
        .find_map(|command| match command {
            Command::StartForward { id, request } => Some((id, request)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no forward started: {:?}", state.message))
}

fn report(state: &mut AppState, id: ForwardId, update: ForwardUpdate) {
    apply(state, AppEvent::Forward { id, update });
}

fn stats(local: SocketAddr) -> ForwardStats {
    let mut port = PortStats::new(web_target(), vec![local]);
    port.usable = 3;
    port.open = 2;
    port.total = 300;
    port.retries = 1;
    port.bytes_sent = 31_200;
    port.bytes_received = 1_482_000;
    port.last_error =
        Some("pod web-7d87d85bbb-x2x8k: the kubelet refused port 8080 (connection refused)".into());
    port.pods = BTreeMap::from([
        (
            "web-7d87d85bbb-4kq9w".to_owned(),
            PodStats {
                open: 1,
                total: 104,
                usable: Some(Condition::Ready),
            },
        ),
        (
            "web-7d87d85bbb-9vx2p".to_owned(),
            PodStats {
                open: 1,
                total: 99,
                usable: Some(Condition::Ready),
            },
        ),
        (
            "web-7d87d85bbb-x2x8k".to_owned(),
            PodStats {
                open: 0,
                total: 97,
                usable: Some(Condition::Ready),
            },
        ),
    ]);
    ForwardStats { ports: vec![port] }
}

/// A running forward of shop/web:80 on 127.0.0.1:8080 with counters and a notice, and one
/// that could not start.
fn with_forwards(size: (u16, u16)) -> (AppState, ForwardId, ForwardId) {
    let mut state = demo_app(size.0, size.1);
    open_service(&mut state, "shop/web");
    let (running, request) = start(&mut state, "8080");
    assert_eq!(
        request,
        ForwardRequest {
            service: web_target().port.service,
            ports: vec![PortMapping {
                local: Some(8080),
                port: PortRef::Number(80),
            }],
        }
    );
    let local: SocketAddr = "127.0.0.1:8080".parse().expect("address");
    report(
        &mut state,
        running,
        ForwardUpdate::Started(vec![Listening {
            target: web_target(),
            locals: vec![local],
        }]),
    );
    report(
        &mut state,
        running,
        ForwardUpdate::Event(ForwardEvent::Notice(Notice::Retry {
            target: web_target(),
            client: "127.0.0.1:50112".parse().expect("address"),
            pod: PodRef {
                namespace: "shop".into(),
                name: "web-7d87d85bbb-x2x8k".into(),
                ip: "127.0.0.12".parse().expect("address"),
            },
            error: "connection refused".into(),
        })),
    );
    report(
        &mut state,
        running,
        ForwardUpdate::Event(ForwardEvent::Stats(stats(local))),
    );
    let (failed, _) = start(&mut state, "80");
    report(
        &mut state,
        failed,
        ForwardUpdate::StartFailed(
            "cannot listen on 127.0.0.1:80: Permission denied (os error 13) (ports below 1024 need root: pick a higher local port, e.g. 8080:80)".into(),
        ),
    );
    (state, running, failed)
}

#[rstest]
fn prompt_for_the_local_port(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = demo_app(size.0, size.1);
    open_service(&mut state, "shop/web");
    press(&mut state, KeyCode::Char('F'));
    // Port 80 would need root: nothing is suggested, empty means any free port.
    assert!(matches!(&state.mode, Mode::ForwardPrompt { input, .. } if input.is_empty()));
    typed(&mut state, "80x80");
    assert!(matches!(&state.mode, Mode::ForwardPrompt { input, .. } if input == "8080"));
    assert_snapshot!(
        format!("forward_prompt_{}", size_name(size)),
        render(&state).backend()
    );
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.mode, Mode::Normal);
    assert!(state.forwards.entries.is_empty(), "Esc starts nothing");
}

#[rstest]
fn forwards_list(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let (mut state, _, _) = with_forwards(size);
    let screen = screen_text(&render(&state));
    assert!(
        screen.contains("⇄ 1 forward"),
        "the header counts it: {screen}"
    );
    press(&mut state, KeyCode::Char('f'));
    assert_eq!(state.mode, Mode::Forwards);
    assert_snapshot!(
        format!("forwards_list_{}", size_name(size)),
        render(&state).backend()
    );
}

#[test]
fn an_empty_port_picks_a_free_one_and_the_start_is_announced() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "shop/web");
    let (id, request) = start(&mut state, "");
    assert_eq!(request.ports[0].local, Some(0), "0: any free port");
    assert_eq!(state.forwards.entries[0].status, ForwardStatus::Starting);
    report(
        &mut state,
        id,
        ForwardUpdate::Started(vec![Listening {
            target: web_target(),
            locals: vec!["127.0.0.1:41234".parse().expect("address")],
        }]),
    );
    let message = state.message.as_ref().expect("a message").text.clone();
    assert_eq!(
        message,
        "Forwarding from 127.0.0.1:41234 -> svc/web:80 (f lists forwards)"
    );
    assert_eq!(state.forwards.running(), 1);
}

#[test]
fn d_stops_the_selected_forward_and_removes_a_failed_one() {
    let (mut state, running, failed) = with_forwards((120, 40));
    press(&mut state, KeyCode::Char('f'));
    press(&mut state, KeyCode::Char('j'));
    assert_eq!(state.forwards.cursor, 1);
    // The failed one is only removed from the list: nothing runs.
    assert!(press(&mut state, KeyCode::Char('d')).is_empty());
    assert_eq!(state.forwards.entries.len(), 1);
    assert_eq!(state.forwards.entries[0].id, running);
    assert_ne!(running, failed);
    let commands = press(&mut state, KeyCode::Char('d'));
    assert!(
        matches!(commands.as_slice(), [Command::StopForward { id }] if *id == running),
        "{commands:?}"
    );
    assert!(state.forwards.entries.is_empty());
    let screen = screen_text(&render(&state));
    assert!(screen.contains("No forwards yet"), "{screen}");
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.mode, Mode::Normal);
    // Late reports of a stopped forward change nothing.
    report(
        &mut state,
        running,
        ForwardUpdate::Event(ForwardEvent::Stats(ForwardStats::default())),
    );
    assert!(state.forwards.entries.is_empty());
}

#[rstest]
#[case::udp("dns/dns-cache", "is UDP: a port-forward carries TCP only")]
#[case::external_name("legacy/payments", "ExternalName Service: there are no pods")]
fn ports_that_cannot_be_forwarded_say_why(#[case] service: &str, #[case] expected: &str) {
    let mut state = demo_app(120, 40);
    open_service(&mut state, service);
    let commands = press(&mut state, KeyCode::Char('F'));
    assert!(commands.is_empty());
    assert_eq!(state.mode, Mode::Normal);
    let message = state.message.as_ref().expect("a message");
    assert!(
        message.error && message.text.contains(expected),
        "{message:?}"
    );
}

#[test]
fn the_port_selected_in_the_chain_is_the_one_forwarded() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "data/mongodb");
    press(&mut state, KeyCode::Char('F'));
    let Mode::ForwardPrompt { port, input } = &state.mode else {
        panic!("no prompt: {:?}", state.message);
    };
    assert_eq!((port.port, input.as_str()), (27017, "27017"));
    assert_eq!(port.label(), "svc/mongodb:27017 (mongodb)");
}

#[test]
fn a_source_without_port_forwards_says_so() {
    let mut state = demo_app(120, 40);
    state.forwards.unavailable = Some("forwarding needs a live cluster".into());
    open_service(&mut state, "shop/web");
    assert!(press(&mut state, KeyCode::Char('F')).is_empty());
    let message = state.message.as_ref().expect("a message");
    assert_eq!(
        message.text,
        "cannot forward: forwarding needs a live cluster"
    );
    press(&mut state, KeyCode::Char('f'));
    let screen = screen_text(&render(&state));
    assert!(
        screen.contains("Cannot forward: forwarding needs a live cluster."),
        "{screen}"
    );
}
