//! Unit tests of the live source's coordinator and phases.

use super::*;
use kube::core::Status;

fn coordinator() -> (
    Coordinator,
    SnapshotFeed,
    oneshot::Receiver<Result<(), ClusterError>>,
) {
    let config = kube::Config::new("https://127.0.0.1:6443".parse().expect("a valid URL"));
    let target = ClusterTarget::new(config, "test", Scope::Namespace("shop".into()));
    let (publisher, feed) = feed::channel(SourceLabel::default());
    let (first_tx, first_rx) = oneshot::channel();
    let coordinator = Coordinator {
        target,
        options: LiveOptions::default(),
        health: ResourceKind::ALL
            .into_iter()
            .map(|kind| (kind, KindHealth::default()))
            .collect(),
        stores: Stores {
            services: reflector::store().0,
            endpoint_slices: reflector::store().0,
            pods: reflector::store().0,
            nodes: reflector::store().0,
            ingresses: reflector::store().0,
            namespaces: reflector::store().0,
            ingress_classes: reflector::store().0,
            network_policies: reflector::store().0,
            gateway: gateway::GatewayStores::empty(),
        },
        sorted: sorted_kinds::SortedKinds::default(),
        publisher,
        generation: 0,
        unhealthy_since: None,
        first: Some(first_tx),
        relists: None,
        _watchers: JoinSet::new(),
    };
    (coordinator, feed, first_rx)
}

fn api_error(code: u16) -> watcher::Error {
    watcher::Error::InitialListFailed(kube::Error::Api(
        Status::failure("denied", "Forbidden")
            .with_code(code)
            .boxed(),
    ))
}

fn refused() -> watcher::Error {
    watcher::Error::WatchStartFailed(kube::Error::Service(Box::new(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "Connection refused (os error 111)",
    ))))
}

/// Applies signals the way the run loop does (without its coalescing timer).
fn apply(coordinator: &mut Coordinator, signals: Vec<Signal>) {
    for signal in signals {
        let dirty = coordinator.handle(signal);
        let publish = dirty && coordinator.complete();
        if publish {
            coordinator.publish();
        }
        coordinator.update_status();
        if publish {
            coordinator.first_published();
        }
    }
}

fn list_all(except: &[ResourceKind]) -> Vec<Signal> {
    ResourceKind::ALL
        .into_iter()
        .filter(|kind| !except.contains(kind))
        .flat_map(|kind| [Signal::Init(kind), Signal::InitDone(kind)])
        .collect()
}

#[test]
fn phases_follow_the_watcher_events() {
    let (mut coordinator, _feed, _first) = coordinator();
    let phase = |c: &Coordinator| c.health[&ResourceKind::Pod].phase;
    assert_eq!(phase(&coordinator), Phase::Empty);
    apply(&mut coordinator, vec![Signal::Init(ResourceKind::Pod)]);
    assert_eq!(phase(&coordinator), Phase::InitListing);
    apply(&mut coordinator, vec![Signal::InitDone(ResourceKind::Pod)]);
    assert_eq!(phase(&coordinator), Phase::Watching);
    apply(&mut coordinator, vec![Signal::Init(ResourceKind::Pod)]);
    assert_eq!(phase(&coordinator), Phase::Relisting);
    apply(&mut coordinator, vec![Signal::InitDone(ResourceKind::Pod)]);
    assert_eq!(phase(&coordinator), Phase::Watching);
}

#[test]
fn nothing_is_published_before_every_kind_is_listed() {
    let (mut coordinator, feed, _first) = coordinator();
    apply(&mut coordinator, list_all(&[ResourceKind::Node]));
    assert_eq!(feed.snapshots.borrow().generation, 0);
    assert_eq!(*feed.status.borrow(), ConnectionStatus::Connecting);
    apply(
        &mut coordinator,
        vec![
            Signal::Init(ResourceKind::Node),
            Signal::InitDone(ResourceKind::Node),
        ],
    );
    assert_eq!(feed.snapshots.borrow().generation, 1);
    assert_eq!(*feed.status.borrow(), ConnectionStatus::Connected);
    apply(
        &mut coordinator,
        vec![Signal::Changed(ResourceKind::Pod, None)],
    );
    assert_eq!(feed.snapshots.borrow().generation, 2);
}

#[test]
fn forbidden_and_unserved_kinds_complete_the_first_snapshot_as_missing() {
    let (mut coordinator, feed, mut first) = coordinator();
    let mut signals = list_all(&[ResourceKind::Node, ResourceKind::Ingress]);
    signals.push(Signal::Failed(ResourceKind::Node, api_error(403)));
    signals.push(Signal::Failed(ResourceKind::Ingress, api_error(404)));
    apply(&mut coordinator, signals);
    let snapshot = feed.snapshots.borrow().clone();
    assert_eq!(snapshot.generation, 1);
    let missing: Vec<(ResourceKind, &str)> = snapshot
        .missing
        .iter()
        .map(|m| (m.kind, m.reason.as_str()))
        .collect();
    assert_eq!(
        missing,
        [
            (
                ResourceKind::Node,
                "forbidden: cannot list nodes at cluster scope (kubehop needs get, list and watch on nodes)"
            ),
            (
                ResourceKind::Ingress,
                "not served by this API server (/apis/networking.k8s.io/v1 ingresses)"
            ),
        ]
    );
    assert!(matches!(first.try_recv(), Ok(Ok(()))));
    assert_eq!(*feed.status.borrow(), ConnectionStatus::Connected);
}

#[test]
fn a_forbidden_required_kind_fails_the_first_snapshot() {
    let (mut coordinator, _feed, mut first) = coordinator();
    apply(
        &mut coordinator,
        vec![Signal::Failed(ResourceKind::Service, api_error(403))],
    );
    let Ok(Err(error)) = first.try_recv() else {
        panic!("the first snapshot fails");
    };
    assert_eq!(
        error.to_string(),
        "forbidden: cannot list services in namespace shop (denied); kubehop needs get, list and watch on it (check: kubectl auth can-i list services -n shop)"
    );
}

#[test]
fn errors_show_reconnecting_until_the_server_answers_that_kind_again() {
    let (mut coordinator, feed, _first) = coordinator();
    apply(&mut coordinator, list_all(&[]));
    apply(
        &mut coordinator,
        vec![
            Signal::Failed(ResourceKind::Pod, refused()),
            Signal::Failed(ResourceKind::Service, refused()),
        ],
    );
    let status = feed.status.borrow().clone();
    let ConnectionStatus::Reconnecting { since, error } = &status else {
        panic!("expected Reconnecting, got {status:?}");
    };
    assert!(
        error.starts_with(
            "watching services: cannot reach the API server at https://127.0.0.1:6443"
        ),
        "{error}"
    );
    // One kind answering is not enough.
    apply(
        &mut coordinator,
        vec![Signal::Reachable(ResourceKind::Service)],
    );
    let ConnectionStatus::Reconnecting {
        since: still,
        error,
    } = feed.status.borrow().clone()
    else {
        panic!("still reconnecting");
    };
    assert_eq!(still, *since, "the outage started at the first error");
    assert!(error.starts_with("watching pods"), "{error}");
    apply(&mut coordinator, vec![Signal::Reachable(ResourceKind::Pod)]);
    assert_eq!(*feed.status.borrow(), ConnectionStatus::Connected);
    assert_eq!(feed.snapshots.borrow().generation, 1, "nothing changed");
}

#[test]
fn a_relist_after_410_stays_reconnecting_until_it_is_done() {
    let (mut coordinator, feed, _first) = coordinator();
    apply(&mut coordinator, list_all(&[]));
    let gone =
        watcher::Error::WatchError(Status::failure("too old", "Expired").with_code(410).boxed());
    apply(
        &mut coordinator,
        vec![
            Signal::Failed(ResourceKind::Pod, gone),
            Signal::Init(ResourceKind::Pod),
            Signal::Reachable(ResourceKind::Pod),
        ],
    );
    assert!(feed.status.borrow().is_stale());
    apply(&mut coordinator, vec![Signal::InitDone(ResourceKind::Pod)]);
    assert_eq!(*feed.status.borrow(), ConnectionStatus::Connected);
    assert_eq!(feed.snapshots.borrow().generation, 2);
}

#[test]
fn a_kind_forbidden_later_is_left_out_and_comes_back() {
    let (mut coordinator, feed, _first) = coordinator();
    apply(&mut coordinator, list_all(&[]));
    let forbidden = watcher::Error::WatchStartFailed(kube::Error::Api(
        Status::failure("denied", "Forbidden")
            .with_code(403)
            .boxed(),
    ));
    apply(
        &mut coordinator,
        vec![Signal::Failed(ResourceKind::EndpointSlice, forbidden)],
    );
    let snapshot = feed.snapshots.borrow().clone();
    assert_eq!(snapshot.generation, 2);
    assert!(!snapshot.has(ResourceKind::EndpointSlice));
    assert!(
        snapshot.missing[0]
            .reason
            .starts_with("forbidden: cannot watch endpointslices in namespace shop")
    );
    apply(
        &mut coordinator,
        vec![Signal::Reachable(ResourceKind::EndpointSlice)],
    );
    let snapshot = feed.snapshots.borrow().clone();
    assert_eq!(snapshot.generation, 3);
    assert!(snapshot.has(ResourceKind::EndpointSlice));
}

#[test]
fn a_watched_kind_heard_nothing_of_is_stalled_until_the_server_answers() {
    let (mut coordinator, feed, _first) = coordinator();
    apply(&mut coordinator, list_all(&[]));
    assert_eq!(*feed.status.borrow(), ConnectionStatus::Connected);
    let now = Instant::now();
    let next = coordinator.next_stall().expect("watched kinds");
    assert!(next <= now + STALL_AFTER, "{next:?}");
    assert!(!coordinator.mark_stalls(now), "heard of just now");

    // Nothing for STALL_AFTER: every kind is stalled, once.
    assert!(coordinator.mark_stalls(now + STALL_AFTER));
    coordinator.update_status();
    let ConnectionStatus::Reconnecting { error, .. } = feed.status.borrow().clone() else {
        panic!("stale while stalled: {:?}", feed.status.borrow());
    };
    assert!(error.contains("the watch stalled"), "{error}");
    assert_eq!(
        coordinator.next_stall(),
        None,
        "flagged kinds wait for an answer"
    );
    assert!(!coordinator.mark_stalls(now + STALL_AFTER * 2));

    // The next watch answers: connected again.
    apply(
        &mut coordinator,
        ResourceKind::ALL
            .into_iter()
            .map(Signal::Reachable)
            .collect(),
    );
    assert_eq!(*feed.status.borrow(), ConnectionStatus::Connected);
    assert!(coordinator.next_stall().is_some());
}

/// IngressClasses are optional (rule C11's check stays silent without them): an API server
/// that does not serve them (the sandbox, old clusters) or forbids them completes the first
/// snapshot without them and reports nothing missing.
#[rstest::rstest]
#[case::not_served(404)]
#[case::forbidden(403)]
fn unavailable_ingress_classes_are_not_missing(#[case] code: u16) {
    let (mut coordinator, feed, mut first) = coordinator();
    coordinator
        .health
        .insert(ResourceKind::IngressClass, KindHealth::default());
    let mut signals = list_all(&[]);
    signals.push(Signal::Failed(ResourceKind::IngressClass, api_error(code)));
    apply(&mut coordinator, signals);
    let snapshot = feed.snapshots.borrow().clone();
    assert_eq!(snapshot.generation, 1);
    assert!(snapshot.missing.is_empty(), "{:?}", snapshot.missing);
    assert!(snapshot.ingress_classes.is_empty());
    assert!(matches!(first.try_recv(), Ok(Ok(()))));
}

/// NetworkPolicies are optional like IngressClasses (without them no pod is isolated, rule
/// N1): a server that does not serve or forbids them completes the first snapshot without them.
#[rstest::rstest]
#[case::not_served(404)]
#[case::forbidden(403)]
fn unavailable_network_policies_are_not_missing(#[case] code: u16) {
    let (mut coordinator, feed, mut first) = coordinator();
    coordinator
        .health
        .insert(ResourceKind::NetworkPolicy, KindHealth::default());
    let mut signals = list_all(&[]);
    signals.push(Signal::Failed(ResourceKind::NetworkPolicy, api_error(code)));
    apply(&mut coordinator, signals);
    let snapshot = feed.snapshots.borrow().clone();
    assert_eq!(snapshot.generation, 1);
    assert!(snapshot.missing.is_empty(), "{:?}", snapshot.missing);
    assert!(snapshot.network_policies.is_empty());
    assert!(matches!(first.try_recv(), Ok(Ok(()))));
}

/// A cluster without the Gateway API: the first snapshot waits for discovery's answer, then
/// carries one `missing` entry for the whole API (the header's one line) and no note; a 403
/// on a Gateway API kind leaves it out silently, like IngressClasses.
#[test]
fn the_gateway_api_not_installed_is_one_entry_and_no_note() {
    let (mut coordinator, feed, mut first) = coordinator();
    for kind in ResourceKind::GATEWAY_API {
        coordinator.health.insert(kind, KindHealth::default());
    }
    apply(&mut coordinator, list_all(&[]));
    assert_eq!(feed.snapshots.borrow().generation, 0, "waits for discovery");
    apply(
        &mut coordinator,
        ResourceKind::GATEWAY_API
            .into_iter()
            .map(|kind| Signal::Unavailable(kind, gateway::NOT_INSTALLED.to_owned()))
            .collect(),
    );
    let snapshot = feed.snapshots.borrow().clone();
    assert_eq!(snapshot.generation, 1);
    assert_eq!(
        snapshot.missing,
        vec![MissingKind {
            kind: ResourceKind::Gateway,
            reason: gateway::NOT_INSTALLED.to_owned(),
        }]
    );
    assert!(missing_notes(&snapshot).is_empty());
    assert!(matches!(first.try_recv(), Ok(Ok(()))));

    // Installed later: the Gateway watcher lists, the entry goes.
    apply(
        &mut coordinator,
        vec![
            Signal::Init(ResourceKind::Gateway),
            Signal::InitDone(ResourceKind::Gateway),
        ],
    );
    assert!(feed.snapshots.borrow().missing.is_empty());

    // Forbidden: left out, nothing missing.
    apply(
        &mut coordinator,
        vec![Signal::Failed(ResourceKind::Gateway, api_error(403))],
    );
    let snapshot = feed.snapshots.borrow().clone();
    assert!(snapshot.missing.is_empty(), "{:?}", snapshot.missing);
    assert!(snapshot.gateway_api.gateways.is_empty());
}

/// Discovery failing for another reason than 404 or 403 (a 503 from the server, ...) leaves
/// the Gateway API out silently while it is tried again: it is not said to be not installed.
#[test]
fn a_failing_discovery_is_not_not_installed() {
    let (mut coordinator, feed, _first) = coordinator();
    for kind in ResourceKind::GATEWAY_API {
        coordinator.health.insert(kind, KindHealth::default());
    }
    let mut signals = list_all(&[]);
    signals.extend(ResourceKind::GATEWAY_API.into_iter().map(|kind| {
        Signal::Unavailable(
            kind,
            "discovering gateway.networking.k8s.io: 503".to_owned(),
        )
    }));
    apply(&mut coordinator, signals);
    let snapshot = feed.snapshots.borrow().clone();
    assert_eq!(snapshot.generation, 1);
    assert!(snapshot.missing.is_empty(), "{:?}", snapshot.missing);
}
