//! The probe's runner with fake transports and real loopback sockets, no cluster: refused,
//! timed out (tokio's paused clock: no waiting), DNS failures, the kubelet's error channel, the
//! per-hop deadline, bounded concurrency, and "not reachable from this machine".

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use kubehop::engine::model::ServiceKey;
use kubehop::engine::plan::{
    HopKind, PlanContext, PortSelector, ProbePlan, ProbeTarget, Via, probe_plan_with,
};
use kubehop::engine::{EngineConfig, build};
use kubehop::probe::dialer::{DialError, Dialed, Resolve};
use kubehop::probe::{
    self, Agreement, DialTarget, Dialer, DirectDialer, NetworkScope, ProbeOptions, ProbeOutcome,
    Stage, Transport, Transports,
};

const DEMO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/scenarios/demo-all.yaml"
);

fn plan(namespace: &str, name: &str, via: Via) -> ProbePlan {
    let snapshot = kubehop::cluster::dump::load_paths(&[DEMO.into()])
        .expect("the demo loads")
        .snapshot;
    probe_plan_with(
        &build(&snapshot, &EngineConfig::default()),
        &ServiceKey {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        },
        &PortSelector::All,
        via,
        &PlanContext::from_snapshot(&snapshot),
    )
    .expect("a plan")
}

/// A dialer that behaves as told, counting how many dials are in flight at once.
struct Fake {
    behaviour: Behaviour,
    in_flight: AtomicUsize,
    most: AtomicUsize,
}

#[derive(Clone, Copy)]
enum Behaviour {
    /// Waits for the timeout, then gives up (what a dropped SYN looks like).
    Unanswered,
    /// Never returns (a transport that ignores its timeout).
    Hang,
    /// The port-forward opens; its error channel says "connection refused".
    KubeletRefuses,
    /// Connects after 10 ms to a stream that stays silent.
    SilentAfter10ms,
}

impl Fake {
    fn new(behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Fake {
            behaviour,
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        })
    }
}

impl Dialer for Fake {
    fn transport(&self) -> Transport {
        Transport::PortForward
    }

    fn dial<'a>(
        &'a self,
        _target: &'a DialTarget,
        _kind: HopKind,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Dialed, DialError>> {
        async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            let result = match self.behaviour {
                Behaviour::Unanswered => {
                    tokio::time::sleep(timeout).await;
                    Err(DialError::TimedOut(timeout))
                }
                Behaviour::Hang => std::future::pending().await,
                Behaviour::KubeletRefuses => {
                    // The far end stays open until the connection is closed.
                    let (stream, far) = tokio::io::duplex(64);
                    Ok(Dialed {
                        stream: Box::new(stream),
                        connected_in: Duration::from_millis(3),
                        errors: Some(
                            async {
                                Some("error forwarding port 8080 to pod x, uid : failed to connect to localhost:8080: connection refused".to_owned())
                            }
                            .boxed(),
                        ),
                        finish: Some(async move { drop(far) }.boxed()),
                        half_close: true,
                    })
                }
                Behaviour::SilentAfter10ms => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    let (stream, far) = tokio::io::duplex(64);
                    Ok(Dialed {
                        stream: Box::new(stream),
                        connected_in: Duration::from_millis(10),
                        errors: None,
                        finish: Some(async move { drop(far) }.boxed()),
                        half_close: true,
                    })
                }
            };
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            result
        }
        .boxed()
    }
}

fn fake_transports(direct: Arc<Fake>, port_forward: Arc<Fake>) -> Arc<Transports> {
    Arc::new(Transports {
        direct,
        port_forward: Some(port_forward),
        scope: NetworkScope::LoopbackOnly,
    })
}

#[tokio::test(start_paused = true)]
async fn unanswered_connects_time_out_and_a_predicted_drop_agrees() {
    // edge/gateway, eTP Local: node-2 and node-3 drop, node-1 forwards.
    let plan = plan("edge", "gateway", Via::NodePort);
    let transports = fake_transports(
        Fake::new(Behaviour::Unanswered),
        Fake::new(Behaviour::Unanswered),
    );
    let report = probe::run(&plan, 1, &transports, &ProbeOptions::default()).await;
    assert_eq!(report.results.len(), 3);
    for result in &report.results {
        assert!(
            matches!(
                result.outcome,
                ProbeOutcome::TimedOut {
                    stage: Stage::Connect,
                    ..
                }
            ),
            "{result:?}"
        );
        let drop = plan
            .hop(&result.key)
            .is_some_and(|hop| hop.expected.verdict() == "drop");
        let expected = if drop {
            Agreement::Expected
        } else {
            Agreement::Unexpected
        };
        assert_eq!(result.agreement, expected, "{result:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_kubelets_refusal_is_a_refusal() {
    let plan = plan("shop", "web", Via::Endpoints);
    let transports = fake_transports(
        Fake::new(Behaviour::Unanswered),
        Fake::new(Behaviour::KubeletRefuses),
    );
    let report = probe::run(&plan, 1, &transports, &ProbeOptions::default()).await;
    for result in &report.results {
        assert!(
            matches!(&result.outcome, ProbeOutcome::Refused { detail: Some(detail) } if detail.contains("connection refused")),
            "{result:?}"
        );
        assert_eq!(result.agreement, Agreement::Unexpected);
        assert_eq!(result.transport, Transport::PortForward);
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_transport_is_cut_by_the_hop_deadline() {
    let plan = plan("shop", "web", Via::Endpoints);
    let transports = fake_transports(Fake::new(Behaviour::Hang), Fake::new(Behaviour::Hang));
    let options = ProbeOptions::default();
    let report = probe::run(&plan, 1, &transports, &options).await;
    for result in &report.results {
        assert!(
            matches!(result.outcome, ProbeOutcome::TimedOut { after, .. } if after == options.hop_deadline(plan.hop(&result.key).expect("hop"))),
            "{result:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded() {
    // shop/web: 6 hops; front doors are direct, endpoints port-forwarded: one fake for both.
    let plan = plan("shop", "web", Via::All);
    let fake = Fake::new(Behaviour::SilentAfter10ms);
    let transports = fake_transports(fake.clone(), fake.clone());
    let options = ProbeOptions {
        concurrency: 2,
        ..ProbeOptions::default()
    };
    let report = probe::run(&plan, 1, &transports, &options).await;
    assert_eq!(report.results.len(), plan.hops.len());
    assert_eq!(fake.most.load(Ordering::SeqCst), 2);
}

struct FailingResolver;

impl Resolve for FailingResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        _port: u16,
    ) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        async move {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("failed to lookup address information: {host}: Name or service not known"),
            ))
        }
        .boxed()
    }
}

#[tokio::test]
async fn dns_failures_and_refusals_on_loopback() {
    let scope = NetworkScope::Cluster {
        in_cluster: true,
        routes: Default::default(),
    };
    let dialer = DirectDialer::new(scope).with_resolver(Arc::new(FailingResolver));
    let spec = probe::CheckSpec {
        timeout: Duration::from_secs(2),
        http: None,
        answer_window: Duration::from_millis(10),
        stream: None,
    };
    let outcome = probe::check::check(
        &dialer,
        &DialTarget::Host {
            host: "lb.example.invalid".to_owned(),
            port: 80,
        },
        HopKind::LoadBalancer,
        &spec,
    )
    .await;
    assert!(
        matches!(&outcome, ProbeOutcome::DnsFailure(detail) if detail.contains("lb.example.invalid")),
        "{outcome:?}"
    );

    // A port that was bound, then freed: refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let loopback = DirectDialer::new(NetworkScope::LoopbackOnly);
    let outcome = probe::check::check(
        &loopback,
        &DialTarget::Socket(address),
        HopKind::ClusterIp,
        &spec,
    )
    .await;
    assert_eq!(outcome, ProbeOutcome::Refused { detail: None });
}

#[tokio::test]
async fn hops_outside_the_scope_are_not_reachable_and_not_failures() {
    // The plan of a real-looking cluster (10.x addresses), probed under the loopback-only
    // rule: nothing is dialled, every hop says why.
    let mut plan = plan("shop", "web", Via::All);
    for hop in &mut plan.hops {
        if let ProbeTarget::Address { ip, .. } | ProbeTarget::Pod { ip, .. } = &mut hop.target {
            *ip = "10.96.0.10".parse().expect("ip");
        }
    }
    let transports = Arc::new(Transports {
        direct: Arc::new(DirectDialer::new(NetworkScope::LoopbackOnly)),
        port_forward: None,
        scope: NetworkScope::LoopbackOnly,
    });
    let report = probe::run(&plan, 1, &transports, &ProbeOptions::default()).await;
    assert!(!report.results.is_empty());
    for result in &report.results {
        let hop = plan.hop(&result.key).expect("hop");
        let ProbeOutcome::NotReachable(reason) = &result.outcome else {
            panic!("{result:?}");
        };
        if !matches!(hop.target, ProbeTarget::Unaddressed { .. }) {
            assert!(reason.contains("outside 127.0.0.0/8"), "{reason}");
        }
        assert_eq!(result.transport, Transport::None);
        assert_eq!(result.agreement, Agreement::Unverified);
        assert!(!result.failed());
    }
}
