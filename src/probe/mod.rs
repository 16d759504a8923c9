//! Real connections along every hop of a Service, compared with the engine's prediction.
//!
//! The engine makes a [`ProbePlan`] (pure, [`crate::engine::plan`]); this module carries it
//! out: for each hop it picks a transport ([`reach`]: port-forward for pods, direct TCP for
//! front doors this machine can route to, "not reachable from this machine" otherwise), opens
//! a stream ([`dialer`]), runs one check ([`check`]: connect with a timeout, then one HTTP/1.1
//! request or a short wait for the first bytes) and compares the outcome with the expectation
//! ([`outcome::Agreement`]). When an endpoint's targetPort refuses, the pod's other declared
//! containerPorts (and the Service's own port number) are tried, and an accepting one becomes
//! a fix suggestion.
//!
//! Safety: at most [`ProbeOptions::concurrency`] hops at once, every hop bounded by a deadline
//! derived from [`ProbeOptions::timeout`], only addresses from the plan (the cluster's own
//! objects) within the [`NetworkScope`], and nothing is ever written to the cluster (a
//! port-forward is the only API request besides what the snapshot source reads).
//!
//! Two ways to run a plan:
//! - [`run`]: await the whole [`ProbeReport`] (the CLI, tests, benchmarks);
//! - [`spawn`]: results stream out hop by hop as [`ProbeEvent`]s (the TUI); the returned
//!   [`ProbeHandle`] aborts the run when dropped (cancellation by ownership).
//!
//! Results carry the plan's generation and each hop's fingerprint; whoever shows them decides
//! staleness by re-planning on a newer model ([`stale_keys`]).

pub mod check;
pub mod dialer;
pub mod dns;
pub mod nodes;
pub mod outcome;
pub mod portforward;
pub mod reach;
pub mod spdy;
pub mod stream;
mod tls;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

pub use check::{CheckSpec, HttpSpec};
pub use dialer::{DialTarget, Dialer, DirectDialer, PortForwardDialer};
pub use outcome::{
    Agreement, Answer, AnsweringPod, FallbackResult, FixSuggestion, HopResult, NodeCause,
    ProbeOutcome, ProbeReport, Stage, TlsFailure, Transport,
};
pub use reach::NetworkScope;
pub use spdy::SessionDialer;

use crate::engine::model::{HopKey, TargetPort};
use crate::engine::plan::{Expectation, HopKind, ProbeHop, ProbePlan, ProbeTarget};

/// Default connect (and HTTP answer) timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Default number of hops probed at once.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// At most this many other ports are tried on a pod whose targetPort refuses.
pub const MAX_FALLBACKS: usize = 4;

/// How a run behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Connect timeout; also how long an HTTP answer may take.
    pub timeout: Duration,
    /// Hops probed at once (at least 1).
    pub concurrency: usize,
    /// `--http PATH`: an HTTP request with this path on every hop except Ingress rules (which
    /// keep their rule's Host and path), whatever the port looks like.
    pub http_path: Option<String>,
    /// How long a non-HTTP check waits for the server to speak first.
    pub answer_window: Duration,
    /// Listeners the sandbox could not open (from the snapshot's Nodes): their hops are not
    /// reachable here, not refusals.
    pub unbound: crate::engine::unbound::Unbound,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            timeout: DEFAULT_TIMEOUT,
            concurrency: DEFAULT_CONCURRENCY,
            http_path: None,
            answer_window: check::ANSWER_WINDOW,
            unbound: crate::engine::unbound::Unbound::default(),
        }
    }
}

impl ProbeOptions {
    /// The longest one hop may take, fallback attempts included.
    pub fn hop_deadline(&self, hop: &ProbeHop) -> Duration {
        let attempts = 1 + hop.fallbacks.len().min(MAX_FALLBACKS);
        let per_attempt = self.timeout * 2 + self.answer_window + dialer::CLOSE_TIMEOUT;
        per_attempt * u32::try_from(attempts).unwrap_or(1)
    }
}

/// The transports available to a run and the network rule they follow.
#[derive(Clone)]
pub struct Transports {
    pub direct: Arc<dyn Dialer>,
    /// `None` when there is no API access (then pods are connected to directly, if at all).
    pub port_forward: Option<Arc<dyn Dialer>>,
    pub scope: NetworkScope,
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports")
            .field("port_forward", &self.port_forward.is_some())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Transports {
    /// Port-forwards through `client` and direct connections within `scope`.
    pub fn new(client: kube::Client, scope: NetworkScope) -> Self {
        Self::following(tokio::sync::watch::channel(client).1, scope)
    }

    /// Port-forwards through the latest of `clients` (see `PortForwardDialer::following`).
    pub fn following(
        clients: tokio::sync::watch::Receiver<kube::Client>,
        scope: NetworkScope,
    ) -> Self {
        Transports {
            direct: Arc::new(DirectDialer::new(scope.clone())),
            port_forward: Some(Arc::new(PortForwardDialer::following(clients))),
            scope,
        }
    }

    /// For the sandbox and tests: everything on loopback.
    pub fn loopback(client: kube::Client) -> Self {
        Self::new(client, NetworkScope::LoopbackOnly)
    }
}

/// Identifies one run, so events of an older run can be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RunId(pub u64);

/// What a spawned run reports, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeEvent {
    /// A hop's check began (it holds one of the concurrency slots).
    Started {
        run: RunId,
        key: HopKey,
    },
    Finished {
        run: RunId,
        result: Box<HopResult>,
    },
    /// Every hop has finished.
    Done {
        run: RunId,
        elapsed: Duration,
    },
}

impl ProbeEvent {
    pub fn run(&self) -> RunId {
        match self {
            ProbeEvent::Started { run, .. }
            | ProbeEvent::Finished { run, .. }
            | ProbeEvent::Done { run, .. } => *run,
        }
    }
}

/// A running probe. Dropping it aborts every check still in flight.
#[derive(Debug)]
pub struct ProbeHandle {
    run: RunId,
    task: JoinHandle<()>,
}

impl ProbeHandle {
    pub fn run(&self) -> RunId {
        self.run
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for ProbeHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts `plan` in the background; `sink` receives every event (it returns `false` once
/// nobody listens any more, which stops the run). Must be called inside a tokio runtime.
pub fn spawn(
    run: RunId,
    plan: ProbePlan,
    transports: Arc<Transports>,
    options: ProbeOptions,
    sink: impl Fn(ProbeEvent) -> bool + Send + Sync + 'static,
) -> ProbeHandle {
    let task = tokio::spawn(async move {
        let started = Instant::now();
        let sink = Arc::new(sink);
        let mut tasks = start_hops(&plan, &transports, &options, {
            let sink = sink.clone();
            move |key| sink(ProbeEvent::Started { run, key })
        });
        let hops = async {
            let mut finished = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                let Ok(result) = joined else {
                    continue;
                };
                finished.push(result.clone());
                if !sink(ProbeEvent::Finished {
                    run,
                    result: Box::new(result),
                }) {
                    return None;
                }
            }
            Some(finished)
        };
        let (finished, health) =
            tokio::join!(hops, nodes::check_proxies(&plan, &transports, &options));
        let Some(mut finished) = finished else {
            return;
        };
        // Rules K2, K3: failed NodePorts put down to their node, sent again with the cause.
        nodes::attribute(&mut finished, &plan, &health);
        for result in finished.into_iter().filter(|r| r.node_cause.is_some()) {
            if !sink(ProbeEvent::Finished {
                run,
                result: Box::new(result),
            }) {
                return;
            }
        }
        sink(ProbeEvent::Done {
            run,
            elapsed: started.elapsed(),
        });
    });
    ProbeHandle { run, task }
}

/// Probes every hop of `plan` and returns the report in plan order.
pub async fn run(
    plan: &ProbePlan,
    generation: u64,
    transports: &Arc<Transports>,
    options: &ProbeOptions,
) -> ProbeReport {
    let started = Instant::now();
    let mut tasks = start_hops(plan, transports, options, |_| true);
    let hops = async {
        let mut results = Vec::with_capacity(plan.hops.len());
        while let Some(joined) = tasks.join_next().await {
            if let Ok(result) = joined {
                results.push(result);
            }
        }
        results
    };
    let (mut results, health) = tokio::join!(hops, nodes::check_proxies(plan, transports, options));
    let order = |key: &HopKey| plan.hops.iter().position(|hop| &hop.key == key);
    results.sort_by_key(|result| order(&result.key));
    nodes::attribute(&mut results, plan, &health);
    let mut notes = plan.notes.clone();
    notes.extend(nodes::notes(&health));
    ProbeReport {
        service: plan.service.clone(),
        generation,
        results,
        notes,
        elapsed: started.elapsed(),
    }
}

fn start_hops(
    plan: &ProbePlan,
    transports: &Arc<Transports>,
    options: &ProbeOptions,
    started: impl Fn(HopKey) -> bool + Send + Sync + Clone + 'static,
) -> JoinSet<HopResult> {
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let known_pods: Arc<Vec<String>> = Arc::new(known_pods(plan));
    let mut tasks = JoinSet::new();
    for hop in plan.hops.iter().cloned() {
        let slots = slots.clone();
        let transports = transports.clone();
        let options = options.clone();
        let known_pods = known_pods.clone();
        let started = started.clone();
        tasks.spawn(async move {
            // The semaphore is never closed; a failed acquire would only mean no limit.
            let _slot = slots.acquire_owned().await.ok();
            started(hop.key.clone());
            probe_hop(&hop, &known_pods, &transports, &options).await
        });
    }
    tasks
}

/// Every pod name the plan mentions (to recognise them in answers).
fn known_pods(plan: &ProbePlan) -> Vec<String> {
    let mut pods = BTreeSet::new();
    for hop in &plan.hops {
        if let ProbeTarget::Pod { pod, .. } = &hop.target {
            pods.insert(pod.clone());
        }
        if let Expectation::Connect { endpoints, .. } = &hop.expected {
            pods.extend(endpoints.iter().filter_map(|endpoint| endpoint.pod.clone()));
        }
    }
    pods.into_iter().collect()
}

/// The dialer and the target it dials for a hop (or why the hop cannot be reached).
fn dial_plan<'a>(
    hop: &ProbeHop,
    transports: &'a Transports,
    port: u16,
) -> Result<(&'a dyn Dialer, DialTarget), String> {
    match reach::route_for(hop, &transports.scope, transports.port_forward.is_some()) {
        reach::Route::Unreachable(reason) => Err(reason),
        reach::Route::PortForward => match (&hop.target, &transports.port_forward) {
            (ProbeTarget::Pod { namespace, pod, .. }, Some(dialer)) => Ok((
                dialer.as_ref(),
                DialTarget::Pod {
                    namespace: namespace.clone(),
                    pod: pod.clone(),
                    port,
                },
            )),
            _ => Err("no port-forward transport for this hop".to_owned()),
        },
        reach::Route::Direct => {
            let target = match &hop.target {
                ProbeTarget::Pod { ip, .. } | ProbeTarget::Address { ip, .. } => {
                    DialTarget::Socket(std::net::SocketAddr::new(*ip, port))
                }
                ProbeTarget::Hostname { host, .. } => DialTarget::Host {
                    host: host.clone(),
                    port,
                },
                ProbeTarget::Unaddressed { reason } => return Err(reason.clone()),
            };
            Ok((transports.direct.as_ref(), target))
        }
    }
}

fn check_spec(hop: &ProbeHop, options: &ProbeOptions) -> CheckSpec {
    let http = match (&options.http_path, &hop.http) {
        (Some(path), request) if !matches!(hop.kind, HopKind::Ingress | HopKind::Gateway) => {
            Some(HttpSpec {
                host: request.as_ref().and_then(|request| request.host.clone()),
                path: path.clone(),
                tls: request.as_ref().is_some_and(|request| request.tls),
            })
        }
        (_, Some(request)) => Some(HttpSpec {
            host: request.host.clone(),
            path: request.path.clone(),
            tls: request.tls,
        }),
        (_, None) => None,
    };
    if hop.stream.is_some() {
        return CheckSpec {
            timeout: options.timeout,
            http: None,
            answer_window: options.answer_window,
            stream: hop.stream.clone(),
        };
    }
    CheckSpec {
        timeout: options.timeout,
        http,
        answer_window: options.answer_window,
        stream: None,
    }
}

/// Why `hop`'s address has no listener when the sandbox could not open it (a port below 1024
/// without root): the hop is not reachable here, whatever the prediction.
fn unbound_reason(
    hop: &ProbeHop,
    unbound: &crate::engine::unbound::Unbound,
) -> Option<&'static str> {
    if unbound.is_empty() {
        return None;
    }
    let address = match &hop.target {
        ProbeTarget::Pod { ip, port, .. } | ProbeTarget::Address { ip, port } => {
            std::net::SocketAddr::new(*ip, *port)
        }
        ProbeTarget::Hostname { .. } | ProbeTarget::Unaddressed { .. } => return None,
    };
    unbound.reason(address).map(|reason| reason.explain())
}

/// Probes one hop: transport, check, fallback ports on refusal, agreement.
pub async fn probe_hop(
    hop: &ProbeHop,
    known_pods: &[String],
    transports: &Transports,
    options: &ProbeOptions,
) -> HopResult {
    let started = Instant::now();
    let deadline = options.hop_deadline(hop);
    let attempt = async {
        let Some(port) = hop.target.port() else {
            let reason = match &hop.target {
                ProbeTarget::Unaddressed { reason } => reason.clone(),
                _ => "no port".to_owned(),
            };
            return (
                Transport::None,
                ProbeOutcome::NotReachable(reason),
                None,
                Vec::new(),
            );
        };
        if let Some(reason) = unbound_reason(hop, &options.unbound) {
            return (
                Transport::None,
                ProbeOutcome::NotReachable(reason.to_owned()),
                None,
                Vec::new(),
            );
        }
        let (dialer, target) = match dial_plan(hop, transports, port) {
            Ok(found) => found,
            Err(reason) => {
                return (
                    Transport::None,
                    ProbeOutcome::NotReachable(reason),
                    None,
                    Vec::new(),
                );
            }
        };
        let spec = check_spec(hop, options);
        let outcome = check::check(dialer, &target, hop.kind, &spec).await;
        let (fix, fallbacks) =
            if hop.kind == HopKind::Endpoint && matches!(outcome, ProbeOutcome::Refused { .. }) {
                try_fallbacks(hop, transports, &spec).await
            } else {
                (None, Vec::new())
            };
        (dialer.transport(), outcome, fix, fallbacks)
    };
    let (transport, outcome, fix, fallbacks) = match tokio::time::timeout(deadline, attempt).await {
        Ok(done) => done,
        Err(_) => (
            Transport::None,
            ProbeOutcome::TimedOut {
                stage: Stage::Connect,
                after: deadline,
            },
            None,
            Vec::new(),
        ),
    };
    let answered_by = check::answering_pod(&outcome, known_pods);
    let (agreement, why) = check::agree(&hop.expected, hop.kind, &outcome, answered_by.as_ref());
    HopResult {
        key: hop.key.clone(),
        kind: hop.kind,
        target: hop.target.describe(),
        transport,
        outcome,
        answered_by,
        expected: hop.expected.clone(),
        agreement,
        why,
        fix,
        fallbacks,
        fingerprint: hop.fingerprint,
        elapsed: started.elapsed(),
        node_cause: None,
    }
}

/// Tries the pod's other ports after its targetPort refused; the first that accepts becomes
/// the fix suggestion.
async fn try_fallbacks(
    hop: &ProbeHop,
    transports: &Transports,
    spec: &CheckSpec,
) -> (Option<FixSuggestion>, Vec<FallbackResult>) {
    let mut results = Vec::new();
    for fallback in hop.fallbacks.iter().take(MAX_FALLBACKS) {
        let Ok((dialer, target)) = dial_plan(hop, transports, fallback.port) else {
            break;
        };
        let outcome = check::check(dialer, &target, hop.kind, spec).await;
        let accepted = matches!(outcome, ProbeOutcome::Connected { .. });
        results.push(FallbackResult {
            port: fallback.port,
            declared: fallback.declared,
            outcome,
        });
        if accepted {
            return (Some(fix_text(hop, fallback)), results);
        }
    }
    (None, results)
}

fn fix_text(hop: &ProbeHop, fallback: &crate::engine::plan::FallbackPort) -> FixSuggestion {
    let pod = match &hop.target {
        ProbeTarget::Pod { pod, .. } => pod.clone(),
        other => other.describe(),
    };
    let refused = hop.target.port().unwrap_or_default();
    let written = match &hop.port.target_port {
        TargetPort::Number(_) => format!("targetPort {refused}"),
        TargetPort::Name(name) => format!("targetPort {name} ({refused})"),
    };
    let port = fallback.port;
    let text = if fallback.declared {
        let named = fallback
            .name
            .as_ref()
            .map(|name| format!(" (or its name: targetPort: {name})"))
            .unwrap_or_default();
        format!(
            "{written} refused on {pod}; containerPort {port} accepts — set targetPort: {port}{named}"
        )
    } else {
        format!(
            "{written} refused on {pod}; port {port} accepts, though no container declares it — set targetPort: {port} (and declare containerPort {port})"
        )
    };
    FixSuggestion { port, text }
}

/// The hops of `results` whose prediction changed in `current` (a newer plan of the same
/// Service): their fingerprint differs, or the hop is gone. Their results are stale.
pub fn stale_keys<'a>(
    results: impl IntoIterator<Item = &'a HopResult>,
    current: Option<&ProbePlan>,
) -> BTreeSet<HopKey> {
    results
        .into_iter()
        .filter(|result| {
            current
                .and_then(|plan| plan.hop(&result.key))
                .is_none_or(|hop| hop.fingerprint != result.fingerprint)
        })
        .map(|result| result.key.clone())
        .collect()
}
