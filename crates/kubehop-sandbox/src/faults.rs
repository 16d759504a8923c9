//! Fault injection for tests: cut watch streams, expire watches, forbid resources, add
//! latency, fail port-forwards, freeze a cluster DNS pod's records. (Stopping and restarting
//! the listener is on [`SandboxHandle`](crate::SandboxHandle).)

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::request_log::Verb;
use crate::resources::ResourceId;

/// How a port-forward fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortForwardFault {
    /// The upgrade is refused with a 500 Status carrying this message.
    RejectUpgrade(String),
    /// The WebSocket opens, then every port's error channel carries this message.
    ErrorChannel(String),
    /// Only the WebSocket channel protocols are served, as by an API server before
    /// SPDY-in-WebSocket or behind a proxy that passes no SPDY: SPDY upgrades (plain or
    /// tunnelled) are refused with 400.
    NoSpdy,
}

#[derive(Debug, Default)]
struct FaultState {
    cut_watches_after: Option<usize>,
    /// Pending forced expiries: `None` = the next watch of any resource.
    expire_next: Vec<Option<ResourceId>>,
    forbidden: HashMap<String, Vec<Verb>>,
    latency: Duration,
    portforward: Option<PortForwardFault>,
    /// Cluster DNS pods (`namespace/name`) whose records are frozen.
    frozen_dns: BTreeSet<String>,
}

/// The fault switches. Cheap to clone; clones share the switches.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

/// The verbs [`Faults::forbid`] denies.
pub const READ_VERBS: [Verb; 3] = [Verb::Get, Verb::List, Verb::Watch];

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every watch stream started from now on ends after `events` events (bookmarks do not
    /// count); `None` turns this off.
    pub fn cut_watches_after(&self, events: Option<usize>) {
        self.lock().cut_watches_after = events;
    }

    /// The next watch (of `resource`, or of anything) is answered with a 410 Expired ERROR
    /// event, as for a compacted resourceVersion.
    pub fn expire_next_watch(&self, resource: Option<ResourceId>) {
        self.lock().expire_next.push(resource);
    }

    /// Answers 403 Forbidden to get, list and watch of `resource` (plural name, `pods`).
    pub fn forbid(&self, resource: &str) {
        self.forbid_verbs(resource, &READ_VERBS);
    }

    /// Answers 403 Forbidden to these verbs on `resource`.
    pub fn forbid_verbs(&self, resource: &str, verbs: &[Verb]) {
        self.lock()
            .forbidden
            .insert(resource.to_string(), verbs.to_vec());
    }

    /// Lifts [`forbid`](Self::forbid).
    pub fn allow(&self, resource: &str) {
        self.lock().forbidden.remove(resource);
    }

    /// Delays every response by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Makes port-forwards fail (`None` heals them).
    pub fn fail_portforward(&self, fault: Option<PortForwardFault>) {
        self.lock().portforward = fault;
    }

    /// Freezes the records the cluster DNS pod `namespace/pod` serves, as they are now: later
    /// changes of Services and endpoints do not reach it (it answers stale records).
    pub fn freeze_dns(&self, namespace: &str, pod: &str) {
        self.lock().frozen_dns.insert(format!("{namespace}/{pod}"));
    }

    /// Lifts [`freeze_dns`](Self::freeze_dns): the pod serves the current records again.
    pub fn thaw_dns(&self, namespace: &str, pod: &str) {
        self.lock().frozen_dns.remove(&format!("{namespace}/{pod}"));
    }

    /// Turns every fault off.
    pub fn clear(&self) {
        *self.lock() = FaultState::default();
    }

    pub(crate) fn latency(&self) -> Duration {
        self.lock().latency
    }

    pub(crate) fn is_forbidden(&self, resource: &str, verb: Verb) -> bool {
        self.lock()
            .forbidden
            .get(resource)
            .is_some_and(|verbs| verbs.contains(&verb))
    }

    /// Every forbidden resource with its forbidden verbs.
    pub(crate) fn forbidden(&self) -> Vec<(String, Vec<Verb>)> {
        self.lock()
            .forbidden
            .iter()
            .map(|(resource, verbs)| (resource.clone(), verbs.clone()))
            .collect()
    }

    pub(crate) fn watch_cut(&self) -> Option<usize> {
        self.lock().cut_watches_after
    }

    /// Consumes a pending forced expiry that applies to a watch of `resource`.
    pub(crate) fn take_expiry(&self, resource: ResourceId) -> bool {
        let mut state = self.lock();
        match state
            .expire_next
            .iter()
            .position(|r| r.is_none_or(|r| r == resource))
        {
            Some(i) => {
                state.expire_next.remove(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn frozen_dns(&self) -> BTreeSet<String> {
        self.lock().frozen_dns.clone()
    }

    pub(crate) fn is_dns_frozen(&self, pod: &str) -> bool {
        self.lock().frozen_dns.contains(pod)
    }

    pub(crate) fn portforward(&self) -> Option<PortForwardFault> {
        self.lock().portforward.clone()
    }
}
