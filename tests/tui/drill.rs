//! The drill-down and the k9s habits, through `update` and rendered into a TestBackend: `d`
//! on a not-ready endpoint describes its pod (the failing readiness probe and its last
//! `Unhealthy` message first), `l` its log, `y` its YAML (each read on demand: the app asks
//! the loop with `Command::Inspect` and the answer comes back as `AppEvent::Inspected`),
//! `Esc` back; `:pods`, Ctrl-A, the hint for a key that does nothing, `q` asking first while
//! forwards run, the first frame before the first snapshot, and the focus rules.

use std::sync::Arc;

use crate::support::tui::*;
use crossterm::event::KeyCode;
use insta::assert_snapshot;
use kubehop::app::drill::{InspectRequest, Inspected, Page, RequestId};
use kubehop::app::forwards::ForwardUpdate;
use kubehop::app::state::{Focus, Mode};
use kubehop::app::{AppEvent, AppState, Command, Size, SourceKind};
use kubehop::cluster::feed::SourceLabel;
use kubehop::cluster::inspect::EventRow;
use kubehop::engine::EngineConfig;
use kubehop::forward::{Listening, Target};
use rstest::rstest;

/// When the fixture's Events were read (seconds since the epoch).
const READ_AT: i64 = 1_767_225_600;

/// shop/web with two pods: web-ok ready, web-slow not ready (its readiness probe fails).
const FIXTURE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ports: [{name: http, port: 80, targetPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-ok
  namespace: shop
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d9f7c, uid: rs-1, controller: true}]
spec:
  nodeName: node-1
  containers:
  - name: web
    image: nginx:1.27
    ports: [{containerPort: 8080, protocol: TCP}]
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 5}
status:
  phase: Running
  podIP: 10.244.1.5
  conditions:
  - {type: Ready, status: "True"}
  containerStatuses:
  - {name: web, ready: true, restartCount: 0, image: nginx:1.27, imageID: "", state: {running: {}}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-slow
  namespace: shop
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d9f7c, uid: rs-1, controller: true}]
spec:
  nodeName: node-2
  containers:
  - name: web
    image: nginx:1.27
    ports: [{containerPort: 8080, protocol: TCP}]
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 5, failureThreshold: 3}
    livenessProbe: {tcpSocket: {port: 8080}, initialDelaySeconds: 10}
  - name: log-shipper
    image: fluent-bit:3
status:
  phase: Running
  podIP: 10.244.2.7
  conditions:
  - {type: PodScheduled, status: "True"}
  - {type: Ready, status: "False", reason: ContainersNotReady}
  containerStatuses:
  - name: web
    ready: false
    restartCount: 2
    image: nginx:1.27
    imageID: ""
    state: {running: {}}
    lastState: {terminated: {exitCode: 137, reason: OOMKilled}}
  - {name: log-shipper, ready: true, restartCount: 0, image: "fluent-bit:3", imageID: "", state: {running: {}}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc12
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.1.5]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-1
  targetRef: {kind: Pod, name: web-ok, namespace: shop}
- addresses: [10.244.2.7]
  conditions: {ready: false, serving: false, terminating: false}
  nodeName: node-2
  targetRef: {kind: Pod, name: web-slow, namespace: shop}
"#;

fn fixture_app(width: u16, height: u16) -> AppState {
    let snapshot = kubehop::cluster::dump::load_str("fixture.yaml", FIXTURE)
        .expect("the fixture loads")
        .snapshot;
    app_with(snapshot, width, height)
}

/// Selects shop/web and walks its chain to the endpoint of `pod`.
fn to_endpoint(state: &mut AppState, pod: &str) {
    open_service(state, "shop/web");
    let address = match pod {
        "web-slow" => "10.244.2.7",
        _ => "10.244.1.5",
    };
    for _ in 0..20 {
        let on_pod = state
            .selected_node()
            .is_some_and(|node| node.id.contains(address));
        if on_pod {
            return;
        }
        press(state, KeyCode::Char('j'));
    }
    panic!("no endpoint of {pod} in the chain");
}

/// The one read a key asked for.
fn inspect_request(commands: Vec<Command>) -> (RequestId, InspectRequest) {
    let found: Vec<(RequestId, InspectRequest)> = commands
        .into_iter()
        .filter_map(|command| match command {
            Command::Inspect { id, request } => Some((id, request)),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "one read: {found:?}");
    found.into_iter().next().expect("one read")
}

fn unhealthy_events() -> Vec<EventRow> {
    vec![
        EventRow {
            kind: "Normal".to_owned(),
            reason: "Scheduled".to_owned(),
            message: "Successfully assigned shop/web-slow to node-2".to_owned(),
            count: 1,
            last_seen: Some(READ_AT - 3_600),
            from: "default-scheduler".to_owned(),
        },
        EventRow {
            kind: "Warning".to_owned(),
            reason: "Unhealthy".to_owned(),
            message: "Readiness probe failed: HTTP probe failed with statuscode: 503".to_owned(),
            count: 42,
            last_seen: Some(READ_AT - 7),
            from: "kubelet".to_owned(),
        },
    ]
}

/// `d` on web-slow's endpoint, answered with the pod and its Events.
fn describe_slow(width: u16, height: u16) -> AppState {
    let mut state = fixture_app(width, height);
    to_endpoint(&mut state, "web-slow");
    let (id, request) = inspect_request(press(&mut state, KeyCode::Char('d')));
    let InspectRequest::Pod(target) = request else {
        panic!("d on an endpoint reads its pod: {request:?}");
    };
    assert_eq!(target.name, "web-slow");
    let pod = kubehop::app::drill::cached_pod(&state, &target).expect("the pod is in the fixture");
    apply(
        &mut state,
        AppEvent::Inspected {
            id,
            answer: Inspected::Pod {
                pod: Ok(pod),
                events: Ok(unhealthy_events()),
                at: READ_AT,
            },
        },
    );
    state
}

#[rstest]
fn describe_a_pod_with_a_failing_readiness_probe(
    #[values((80, 24), (120, 40), (200, 60))] size: (u16, u16),
) {
    let state = describe_slow(size.0, size.1);
    let terminal = render(&state);
    let text = screen_text(&terminal);
    assert!(text.contains("Why not ready"), "{text}");
    assert!(text.contains("readiness probe http-get"), "{text}");
    assert!(text.contains("statuscode: 503"), "{text}");
    assert_snapshot!(
        format!("describe_pod_{}x{}", size.0, size.1),
        terminal.backend()
    );
}

#[test]
fn describe_lists_probes_restarts_and_events_as_kubectl_does() {
    let mut state = describe_slow(200, 60);
    let text = screen_text(&render(&state));
    for wanted in [
        "Readiness:      http-get http://:8080/healthz delay=0s timeout=1s period=5s #success=1 #failure=3",
        "Liveness:       tcp-socket :8080 delay=10s timeout=1s period=10s #success=1 #failure=3",
        "Restart Count:  2",
        "Last State:     Terminated (OOMKilled, exit code 137)",
        "Controlled By:  ReplicaSet/web-5d9f7c",
        "Unhealthy",
        "7s (x42)",
    ] {
        assert!(text.contains(wanted), "{wanted:?} in\n{text}");
    }
    // Esc goes back to the chain, on the same endpoint.
    press(&mut state, KeyCode::Esc);
    assert!(!state.drill.is_open());
    assert_eq!(state.focus, Focus::Chain);
    assert!(
        state
            .selected_node()
            .is_some_and(|node| node.id.contains("10.244.2.7"))
    );
}

#[test]
fn enter_on_a_pod_drills_in_and_a_dump_says_what_it_cannot_read() {
    let mut state = fixture_app(120, 40);
    state.drill.unavailable = Some("a dump has no Events, logs or fresh reads".to_owned());
    to_endpoint(&mut state, "web-slow");
    let commands = press(&mut state, KeyCode::Enter);
    assert!(
        commands.is_empty(),
        "nothing to read from a dump: {commands:?}"
    );
    let text = screen_text(&render(&state));
    assert!(text.contains("Describe Pod shop/web-slow"), "{text}");
    assert!(text.contains("cached copy"), "{text}");
    assert!(
        text.contains("its message is in the Events, which this source does not have"),
        "{text}"
    );
    assert!(
        text.contains("not available: a dump has no Events"),
        "{text}"
    );
}

fn logs_of_slow(width: u16, height: u16) -> (AppState, RequestId) {
    let mut state = fixture_app(width, height);
    to_endpoint(&mut state, "web-slow");
    let (id, request) = inspect_request(press(&mut state, KeyCode::Char('l')));
    let InspectRequest::Logs(request) = request else {
        panic!("l reads a log: {request:?}");
    };
    assert_eq!(request.pod, "web-slow");
    assert_eq!(request.container.as_deref(), Some("web"));
    assert!(request.follow && !request.previous);
    let lines = [
        "10.244.1.1 - - \"GET /healthz HTTP/1.1\" 503 12",
        "10.244.1.1 - - \"GET /orders HTTP/1.1\" 200 512",
        "error: upstream db timed out \u{1b}[31mafter 5s\u{1b}[0m",
        "10.244.1.1 - - \"GET /healthz HTTP/1.1\" 503 12",
    ];
    apply(
        &mut state,
        AppEvent::Inspected {
            id,
            answer: Inspected::LogLines(lines.iter().map(ToString::to_string).collect()),
        },
    );
    (state, id)
}

#[rstest]
fn the_log_of_a_pod(#[values((80, 24), (120, 40), (200, 60))] size: (u16, u16)) {
    let (state, _) = logs_of_slow(size.0, size.1);
    let terminal = render(&state);
    let text = screen_text(&terminal);
    assert!(text.contains("GET /orders"), "{text}");
    // Control characters from the log are shown escaped, never sent to the terminal.
    assert!(text.contains("\\u{1b}[31mafter"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert_snapshot!(format!("logs_{}x{}", size.0, size.1), terminal.backend());
}

#[test]
fn log_keys_search_switch_container_and_previous_then_esc_stops_the_stream() {
    let (mut state, first) = logs_of_slow(120, 40);
    typed(&mut state, "/healthz");
    press(&mut state, KeyCode::Enter);
    let Some(Page::Logs(logs)) = state.drill.top().map(|top| top.page.clone()) else {
        panic!("the log is on top");
    };
    assert_eq!(logs.shown().len(), 2);
    let text = screen_text(&render(&state));
    assert!(!text.contains("GET /orders"), "{text}");
    // c: the next container, a new stream (the old one stops).
    let commands = press(&mut state, KeyCode::Char('c'));
    assert!(
        commands
            .iter()
            .any(|command| matches!(command, Command::StopInspect { id } if *id == first)),
        "{commands:?}"
    );
    let (second, request) = inspect_request(commands);
    let InspectRequest::Logs(request) = request else {
        panic!("{request:?}");
    };
    assert_eq!(request.container.as_deref(), Some("log-shipper"));
    // p: the previous instance, not followed.
    let (_, request) = inspect_request(press(&mut state, KeyCode::Char('p')));
    let InspectRequest::Logs(request) = request else {
        panic!("{request:?}");
    };
    assert!(request.previous && !request.follow);
    assert_ne!(second, first);
    // Esc closes the page and stops its stream.
    let commands = press(&mut state, KeyCode::Esc);
    assert!(
        matches!(commands.as_slice(), [Command::StopInspect { .. }]),
        "{commands:?}"
    );
    assert!(!state.drill.is_open());
}

#[rstest]
fn the_yaml_of_a_pod_read_now(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = fixture_app(size.0, size.1);
    to_endpoint(&mut state, "web-slow");
    let (id, request) = inspect_request(press(&mut state, KeyCode::Char('y')));
    assert!(matches!(request, InspectRequest::Yaml(ref target) if target.name == "web-slow"));
    let text = screen_text(&render(&state));
    assert!(text.contains("reading…"), "{text}");
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-slow\n  namespace: shop\n  resourceVersion: \"4711\"\nspec:\n  containers:\n  - name: web\n    readinessProbe:\n      httpGet:\n        path: /healthz\n        port: 8080\n";
    apply(
        &mut state,
        AppEvent::Inspected {
            id,
            answer: Inspected::Yaml(Ok(yaml.to_owned())),
        },
    );
    let terminal = render(&state);
    assert!(screen_text(&terminal).contains("resourceVersion: \"4711\""));
    assert_snapshot!(
        format!("yaml_pod_{}x{}", size.0, size.1),
        terminal.backend()
    );
}

#[test]
fn pages_stack_and_esc_walks_back() {
    let mut state = describe_slow(120, 40);
    press(&mut state, KeyCode::Char('l'));
    press(&mut state, KeyCode::Char('y'));
    assert_eq!(state.drill.stack.len(), 3);
    press(&mut state, KeyCode::Esc);
    assert!(matches!(
        state.drill.top().map(|top| &top.page),
        Some(Page::Logs(_))
    ));
    // h goes back like Esc.
    press(&mut state, KeyCode::Char('h'));
    assert!(matches!(
        state.drill.top().map(|top| &top.page),
        Some(Page::Pod(_))
    ));
    press(&mut state, KeyCode::Esc);
    assert!(!state.drill.is_open());
    // An answer for a page that is gone is dropped.
    apply(
        &mut state,
        AppEvent::Inspected {
            id: 1,
            answer: Inspected::Yaml(Ok("late".to_owned())),
        },
    );
    assert!(!state.drill.is_open());
}

#[test]
fn describe_a_service_names_its_not_ready_pods_and_asks_for_its_workload() {
    let mut state = fixture_app(120, 40);
    select_service(&mut state, "shop/web");
    let (id, request) = inspect_request(press(&mut state, KeyCode::Char('d')));
    let InspectRequest::Service {
        owners, not_ready, ..
    } = request
    else {
        panic!("d on a Service reads its Events and workloads: {request:?}");
    };
    assert_eq!(not_ready, vec!["web-slow".to_owned()]);
    assert_eq!(owners.len(), 1, "both pods share one ReplicaSet");
    let workload = kubehop::cluster::inspect::Workload {
        kind: "Deployment".to_owned(),
        name: "web".to_owned(),
        desired: 2,
        ready: 1,
        updated: 2,
        available: 1,
        rollout: "progressing: 1 of 2 updated replicas available".to_owned(),
    };
    apply(
        &mut state,
        AppEvent::Inspected {
            id,
            answer: Inspected::Service {
                events: Ok(Vec::new()),
                workloads: Ok(vec![workload]),
                pods: vec![("web-slow".to_owned(), Ok(unhealthy_events()))],
                at: READ_AT,
            },
        },
    );
    let text = screen_text(&render(&state));
    assert!(text.contains("Describe Service shop/web"), "{text}");
    assert!(
        text.contains("web-slow: Readiness probe failed: HTTP probe failed with statuscode: 503"),
        "{text}"
    );
    assert!(text.contains("Deployment/web  ready 1/2"), "{text}");
    // l from there: the log of the pod that is not ready.
    let (_, request) = inspect_request(press(&mut state, KeyCode::Char('l')));
    assert!(matches!(request, InspectRequest::Logs(ref logs) if logs.pod == "web-slow"));
}

#[test]
fn pods_list_shows_each_pod_with_its_hops_and_enter_describes() {
    let mut state = fixture_app(120, 40);
    typed(&mut state, ":pods");
    press(&mut state, KeyCode::Enter);
    let text = screen_text(&render(&state));
    assert!(text.contains("Pods behind Services"), "{text}");
    assert!(text.contains("shop/web-slow"), "{text}");
    assert!(text.contains("web:80→:8080"), "{text}");
    // The pod that is not ready comes first.
    let (_, request) = inspect_request(press(&mut state, KeyCode::Enter));
    assert!(matches!(request, InspectRequest::Pod(ref pod) if pod.name == "web-slow"));
    press(&mut state, KeyCode::Esc);
    press(&mut state, KeyCode::Esc);
    assert!(!state.drill.is_open());
    // :ep and :ing are lists too; :svc goes back to the panes.
    typed(&mut state, ":ep");
    press(&mut state, KeyCode::Enter);
    assert!(screen_text(&render(&state)).contains("10.244.2.7:8080"));
    typed(&mut state, ":svc");
    press(&mut state, KeyCode::Enter);
    assert!(!state.drill.is_open());
    assert_eq!(state.focus, Focus::Services);
}

#[test]
fn ctrl_a_lists_the_commands_and_their_aliases() {
    let mut state = demo_app(120, 40);
    ctrl(&mut state, 'a');
    assert_eq!(state.mode, Mode::Aliases);
    let text = screen_text(&render(&state));
    assert!(text.contains(":pods :pod :po"), "{text}");
    assert!(text.contains(":ing :ingress"), "{text}");
    press(&mut state, KeyCode::Char('x'));
    assert_eq!(state.mode, Mode::Normal);
}

#[test]
fn a_key_that_does_nothing_says_so() {
    let mut state = demo_app(120, 40);
    state.dirty = false;
    press(&mut state, KeyCode::Char('x'));
    assert!(state.dirty);
    let message = state.message.clone().expect("a hint");
    assert!(
        message
            .text
            .starts_with("x does nothing · ? lists the keys"),
        "{message:?}"
    );
    assert!(screen_text(&render(&state)).contains("x does nothing"));
    // The next key clears it.
    press(&mut state, KeyCode::Char('j'));
    assert!(state.message.is_none());
}

#[test]
fn svc_command_keeps_the_focus_on_the_list() {
    let mut state = demo_app(120, 40);
    select_service(&mut state, "catalog/catalog");
    assert_eq!(state.focus, Focus::Services);
    let before = state.list.cursor;
    press(&mut state, KeyCode::Char('j'));
    assert_eq!(state.list.cursor, before + 1, "j moves in the list");
}

#[test]
fn explain_can_be_focused_and_scrolled_and_yaml_starts_at_the_top_per_object() {
    let mut state = demo_app(80, 24);
    open_service(&mut state, "default/mynodeportservice");
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.focus, Focus::Explain);
    press(&mut state, KeyCode::Char('j'));
    let theme = kubehop::ui::theme::Theme::plain();
    let view = kubehop::ui::view::View::from_state(&state, &theme, std::time::Instant::now());
    assert_eq!(
        view.explain.scroll, 1,
        "the explanation is longer than the pane"
    );
    // The YAML tab, scrolled, then another hop: it starts at the top again.
    press(&mut state, KeyCode::Char('5'));
    press(&mut state, KeyCode::Tab);
    assert_eq!(state.focus, Focus::Details);
    press(&mut state, KeyCode::Char('G'));
    assert!(state.details_scroll > 0);
    press(&mut state, KeyCode::Char('h'));
    assert_eq!(state.focus, Focus::Chain);
    press(&mut state, KeyCode::Char('j'));
    assert_eq!(state.details_scroll, 0);
}

#[rstest]
fn q_asks_first_while_forwards_run(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = demo_app(size.0, size.1);
    open_service(&mut state, "shop/web");
    press(&mut state, KeyCode::Char('F'));
    let commands = press(&mut state, KeyCode::Enter);
    let id = commands
        .iter()
        .find_map(|command| match command {
            Command::StartForward { id, .. } => Some(*id),
            _ => None,
        })
        .expect("a forward starts");
    apply(
        &mut state,
        AppEvent::Forward {
            id,
            update: ForwardUpdate::Started(vec![Listening {
                target: Target::tcp("shop", "web", 80, Some("http")),
                locals: vec!["127.0.0.1:41234".parse().expect("address")],
            }]),
        },
    );
    assert!(press(&mut state, KeyCode::Char('q')).is_empty());
    assert_eq!(state.mode, Mode::ConfirmQuit);
    let terminal = render(&state);
    assert!(screen_text(&terminal).contains("1 port-forward is running: quit and stop them?"));
    assert_snapshot!(
        format!("confirm_quit_{}x{}", size.0, size.1),
        terminal.backend()
    );
    // n stays; q then y quits.
    assert!(press(&mut state, KeyCode::Char('n')).is_empty());
    assert_eq!(state.mode, Mode::Normal);
    press(&mut state, KeyCode::Char('q'));
    assert!(matches!(
        press(&mut state, KeyCode::Char('y')).as_slice(),
        [Command::Quit]
    ));
}

#[rstest]
fn the_first_frame_says_what_it_waits_for(
    #[values((80, 24), (120, 40))] size: (u16, u16),
    #[values(
        "starting the demo cluster…",
        "connecting to prod (https://10.0.0.1:6443)…"
    )]
    waiting: &str,
) {
    let label = SourceLabel {
        context: "demo".to_owned(),
        namespace: None,
    };
    let mut state = AppState::new(
        label,
        SourceKind::Demo,
        EngineConfig::default(),
        Size {
            width: size.0,
            height: size.1,
        },
    );
    state.starting = Some(waiting.to_owned());
    let terminal = render(&state);
    assert!(screen_text(&terminal).contains(waiting));
    let name = if waiting.starts_with("starting") {
        "demo"
    } else {
        "live"
    };
    assert_snapshot!(
        format!("first_frame_{name}_{}x{}", size.0, size.1),
        terminal.backend()
    );
    // Once a model is there, the box is gone.
    apply(&mut state, AppEvent::Snapshot(Arc::new(demo_snapshot())));
    assert!(!screen_text(&render(&state)).contains(waiting));
}

#[test]
fn help_scrolls_at_80x24_and_fits_at_120x40() {
    let mut state = demo_app(120, 40);
    press(&mut state, KeyCode::Char('?'));
    let text = screen_text(&render(&state));
    assert!(
        text.contains("Keys (Esc closes)"),
        "everything fits:\n{text}"
    );
    assert!(text.contains("marks: ✗ error"), "{text}");
    let mut state = demo_app(80, 24);
    press(&mut state, KeyCode::Char('?'));
    let terminal = render(&state);
    let text = screen_text(&terminal);
    assert!(text.contains("Keys (j/k scroll, Esc closes)"), "{text}");
    // Long descriptions wrap inside the box instead of being cut.
    assert!(text.contains("                  header)"), "{text}");
    assert_snapshot!("help_80x24", terminal.backend());
}

#[test]
fn a_not_ready_endpoint_explains_itself_with_its_last_readiness_failure() {
    let mut state = fixture_app(120, 40);
    open_service(&mut state, "shop/web");
    let mut asked = None;
    for _ in 0..20 {
        if let Some(found) = press(&mut state, KeyCode::Char('j'))
            .into_iter()
            .find_map(|command| match command {
                Command::Inspect {
                    id,
                    request: InspectRequest::PodEvents(pod),
                } => Some((id, pod)),
                _ => None,
            })
        {
            asked = Some(found);
            break;
        }
    }
    let (id, pod) = asked.expect("landing on the not-ready endpoint reads its pod's Events");
    assert_eq!(pod.name, "web-slow");
    // Resting on it asks nothing more, whatever else happens (a new snapshot here).
    let again = apply(
        &mut state,
        AppEvent::Snapshot(Arc::new(
            kubehop::cluster::dump::load_str("fixture.yaml", FIXTURE)
                .expect("the fixture loads")
                .snapshot,
        )),
    );
    assert!(again.is_empty(), "{again:?}");
    apply(
        &mut state,
        AppEvent::Inspected {
            id,
            answer: Inspected::PodEvents(Ok(unhealthy_events())),
        },
    );
    let text = screen_text(&render(&state));
    assert!(
        text.contains("Not ready: Readiness probe failed: HTTP probe failed with"),
        "{text}"
    );
    // Arriving again reads again (the Events move on); the old answer stays meanwhile.
    press(&mut state, KeyCode::Char('k'));
    let again = press(&mut state, KeyCode::Char('j'));
    assert!(
        matches!(
            again.as_slice(),
            [Command::Inspect {
                request: InspectRequest::PodEvents(_),
                ..
            }]
        ),
        "{again:?}"
    );
    assert!(screen_text(&render(&state)).contains("Not ready: Readiness probe failed"));
}
