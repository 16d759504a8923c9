//! The TUI's probe state: at most one run at a time, its plan, the results as they arrive, and
//! which of them are stale.
//!
//! - `p` / `P` make a plan from the model on screen and start a run ([`ProbeState::begin`]);
//!   the loop carries it out ([`crate::probe::spawn`]) and sends [`ProbeEvent`]s back.
//! - Events of any other run are dropped: a result never lands on a newer run.
//! - Each new model re-plans the run's Service; hops whose prediction changed (fingerprint)
//!   are stale, shown as `↻ stale`, never as a wrong verdict (STYLE §3.2).
//! - Esc cancels a running probe; so does selecting another Service.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::catalog::{Catalog, Generation};
use crate::engine::model::{HopKey, ServiceChain, ServiceKey};
use crate::engine::plan::{
    PlanContext, PlanError, PortSelector, ProbeHop, ProbePlan, Via, probe_plan_with,
};
use crate::engine::verdict::{Health, ProbeFinding};
pub use crate::probe::outcome::{Agreement, HopResult, ProbeOutcome, format_latency};
pub use crate::probe::{ProbeEvent, RunId};

/// Spinner frames, one per tick while a probe runs.
pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Done { elapsed: Duration },
    Cancelled,
}

/// One probe run of one Service (every hop, or one).
#[derive(Debug, Clone)]
pub struct ProbeRun {
    pub id: RunId,
    pub service: ServiceKey,
    /// `Some` for `p` (one hop), `None` for `P`.
    pub hop: Option<HopKey>,
    pub plan: Arc<ProbePlan>,
    /// The model the plan was made from.
    pub generation: Generation,
    pub status: RunStatus,
    /// Hops whose check has begun and not finished.
    pub running: BTreeSet<HopKey>,
    pub results: BTreeMap<HopKey, HopResult>,
    /// Results whose hop's prediction has changed since (or that are gone from the model).
    pub stale: BTreeSet<HopKey>,
    /// The plan on the newest model, once a newer model than the run's arrived (`Some(None)`:
    /// the Service is gone). Results that land later are judged against it.
    pub latest: Option<Option<Arc<ProbePlan>>>,
}

impl ProbeRun {
    /// Stores a result (stale when the newest plan predicts otherwise); returns the finding it
    /// makes for its hop (`None`: it agrees, or was not checked).
    fn land(&mut self, result: HopResult) -> (ServiceKey, HopKey, Option<KeptFinding>) {
        self.running.remove(&result.key);
        let stale = self.latest.as_ref().is_some_and(|latest| {
            !crate::probe::stale_keys([&result], latest.as_deref()).is_empty()
        });
        if stale {
            self.stale.insert(result.key.clone());
        }
        let label = self
            .plan
            .hop(&result.key)
            .map_or_else(|| result.key.to_string(), ProbeHop::label);
        let kept = result.finding(&label, stale).map(|finding| KeptFinding {
            finding,
            fingerprint: result.fingerprint,
        });
        let key = result.key.clone();
        self.results.insert(key.clone(), result);
        (self.service.clone(), key, kept)
    }

    pub fn is_running(&self) -> bool {
        self.status == RunStatus::Running
    }

    pub fn is_stale(&self, key: &HopKey) -> bool {
        self.stale.contains(key)
    }
}

/// The probe concern of the app state.
#[derive(Debug, Clone, Default)]
pub struct ProbeState {
    pub run: Option<ProbeRun>,
    /// The id the next run gets.
    pub next_id: u64,
    /// Advances on every tick while a run is in progress.
    pub spinner: usize,
    /// Why probing is not possible with this source (`None`: it is).
    pub unavailable: Option<String>,
    /// The unexpected results of every Service probed so far, as findings: they mark the
    /// Service in the list and count in the header until a later probe of the hop agrees;
    /// they are stale (shown, not counted) once the hop's prediction changed.
    pub findings: BTreeMap<ServiceKey, BTreeMap<HopKey, KeptFinding>>,
    /// The DNS checks' findings (`P` asks the cluster DNS too), counted like the hops'.
    pub dns: super::dns::DnsFindings,
}

/// A probe finding and the prediction it was judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptFinding {
    pub finding: ProbeFinding,
    /// The plan hop's fingerprint when it was probed.
    pub fingerprint: u64,
}

/// Why `p`/`P` did not start a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginError {
    Unavailable(String),
    Plan(PlanError),
    /// The selected hop has nothing to connect to (an EndpointSlice, a group).
    NothingToProbe(String),
}

impl std::fmt::Display for BeginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BeginError::Unavailable(reason) => write!(f, "cannot probe: {reason}"),
            BeginError::Plan(error) => write!(f, "cannot probe: {error}"),
            BeginError::NothingToProbe(what) => f.write_str(what),
        }
    }
}

/// The plan of every hop of `service` in `catalog`.
pub fn plan_for(catalog: &Catalog, service: &ServiceKey) -> Result<ProbePlan, PlanError> {
    probe_plan_with(
        &catalog.model,
        service,
        &PortSelector::All,
        Via::All,
        &PlanContext::from_snapshot(&catalog.snapshot),
    )
}

impl ProbeState {
    pub fn is_running(&self) -> bool {
        self.run.as_ref().is_some_and(ProbeRun::is_running)
    }

    /// The run for `service`, if the last run probed it.
    pub fn run_for(&self, service: &ServiceKey) -> Option<&ProbeRun> {
        self.run.as_ref().filter(|run| &run.service == service)
    }

    /// Starts a run over `catalog`: the whole Service, or one hop of it.
    pub fn begin(
        &mut self,
        catalog: &Catalog,
        service: &ServiceKey,
        hop: Option<&HopKey>,
    ) -> Result<&ProbeRun, BeginError> {
        if let Some(reason) = &self.unavailable {
            return Err(BeginError::Unavailable(reason.clone()));
        }
        let mut plan = plan_for(catalog, service).map_err(BeginError::Plan)?;
        if let Some(key) = hop {
            plan = plan.only(key);
            if plan.hops.is_empty() {
                return Err(BeginError::NothingToProbe(
                    "nothing to connect to at this hop: select a front door or an endpoint (P probes the whole Service)".to_owned(),
                ));
            }
        } else if plan.hops.is_empty() {
            let why = plan
                .notes
                .first()
                .cloned()
                .unwrap_or_else(|| "no hop to probe".to_owned());
            return Err(BeginError::NothingToProbe(format!(
                "nothing to probe: {why}"
            )));
        }
        let id = RunId(self.next_id);
        self.next_id += 1;
        self.spinner = 0;
        self.run = Some(ProbeRun {
            id,
            service: service.clone(),
            hop: hop.cloned(),
            plan: Arc::new(plan),
            generation: catalog.generation,
            status: RunStatus::Running,
            running: BTreeSet::new(),
            results: BTreeMap::new(),
            stale: BTreeSet::new(),
            latest: None,
        });
        self.run
            .as_ref()
            .ok_or_else(|| BeginError::NothingToProbe("no run".to_owned()))
    }

    /// Applies an event of the current run; events of other runs are dropped. Returns whether
    /// anything changed.
    pub fn apply(&mut self, event: ProbeEvent) -> bool {
        let Some(run) = self.run.as_mut() else {
            return false;
        };
        if event.run() != run.id || !run.is_running() {
            return false;
        }
        match event {
            ProbeEvent::Started { key, .. } => {
                run.running.insert(key);
            }
            ProbeEvent::Finished { result, .. } => {
                let (service, key, kept) = run.land(*result);
                self.keep(service, key, kept);
            }
            ProbeEvent::Done { elapsed, .. } => {
                run.running.clear();
                run.status = RunStatus::Done { elapsed };
                if run.hop.is_none() {
                    // A whole-Service run replaces every finding of the Service.
                    let probed: BTreeSet<HopKey> = run.results.keys().cloned().collect();
                    if let Some(kept) = self.findings.get_mut(&run.service) {
                        kept.retain(|key, _| probed.contains(key));
                    }
                    self.findings.retain(|_, kept| !kept.is_empty());
                }
            }
        }
        true
    }

    /// Records (or clears, `None`) the finding of one hop.
    fn keep(&mut self, service: ServiceKey, key: HopKey, kept: Option<KeptFinding>) {
        match kept {
            Some(kept) => {
                self.findings.entry(service).or_default().insert(key, kept);
            }
            None => {
                if let Some(findings) = self.findings.get_mut(&service) {
                    findings.remove(&key);
                    if findings.is_empty() {
                        self.findings.remove(&service);
                    }
                }
            }
        }
    }

    /// The probe findings of a Service, live ones first.
    pub fn findings_for(&self, service: &ServiceKey) -> Vec<&ProbeFinding> {
        let mut findings: Vec<&ProbeFinding> = self
            .findings
            .get(service)
            .map(|kept| kept.values().map(|kept| &kept.finding).collect())
            .unwrap_or_default();
        findings.extend(self.dns.of(service));
        findings.sort_by_key(|finding| (finding.stale, finding.severity));
        findings
    }

    /// What the probe findings make of a Service's health.
    pub fn health(&self, chain: &ServiceChain, health: Health) -> Health {
        // Few Services have findings: a scan beats building a key for every row.
        let health = if self.dns.is_empty() {
            health
        } else {
            health.with_probe(self.dns.of(&chain.key()))
        };
        self.findings
            .iter()
            .find(|(key, _)| key.namespace == chain.namespace && key.name == chain.name)
            .map_or(health, |(_, kept)| {
                health.with_probe(kept.values().map(|kept| &kept.finding))
            })
    }

    /// Marks the kept findings whose hop's prediction changed on `catalog` (or whose hop is
    /// gone) stale, and forgets those of Services that are gone. Returns whether any changed.
    pub fn refresh_findings(&mut self, catalog: &Catalog) -> bool {
        // A Service that is gone takes its findings with it.
        let before = self.findings.len();
        self.findings
            .retain(|service, _| catalog.service(service).is_some());
        let dns_changed = self.dns.refresh(catalog);
        let mut changed = dns_changed || before != self.findings.len();
        for (service, kept) in &mut self.findings {
            let plan = plan_for(catalog, service).ok();
            for (key, kept) in kept.iter_mut() {
                let stale = plan
                    .as_ref()
                    .and_then(|plan| plan.hop(key))
                    .is_none_or(|hop| hop.fingerprint != kept.fingerprint);
                changed |= stale != kept.finding.stale;
                kept.finding.stale = stale;
            }
        }
        changed
    }

    /// Stops the running probe; returns its id when there was one.
    pub fn cancel(&mut self) -> Option<RunId> {
        let run = self.run.as_mut().filter(|run| run.is_running())?;
        run.status = RunStatus::Cancelled;
        run.running.clear();
        Some(run.id)
    }

    /// Re-plans the run's Service on a newer model and marks the results whose prediction
    /// changed. Returns whether the stale set changed.
    pub fn refresh_stale(&mut self, catalog: &Catalog) -> bool {
        let Some(run) = self.run.as_mut() else {
            return false;
        };
        if catalog.generation == run.generation {
            return false;
        }
        let current = plan_for(catalog, &run.service).ok().map(Arc::new);
        let stale = crate::probe::stale_keys(run.results.values(), current.as_deref());
        // Hops still waiting for their result are judged when it arrives (see `apply`).
        run.latest = Some(current);
        let changed = stale != run.stale;
        run.stale = stale;
        changed
    }

    /// One line about the finished run (`probed shop/web: 5 as predicted, 1 unexpected, ...`)
    /// and whether anything was unexpected.
    pub fn summary(&self) -> Option<(String, bool)> {
        let run = self.run.as_ref()?;
        let count = |agreement: Agreement| {
            run.results
                .values()
                .filter(|result| !run.is_stale(&result.key) && result.agreement == agreement)
                .count()
        };
        let unexpected = count(Agreement::Unexpected);
        Some((
            format!(
                "probed {}: {} as predicted, {unexpected} unexpected, {} not checked, {} stale (details in the Probe tab)",
                run.service,
                count(Agreement::Expected),
                count(Agreement::Unverified),
                run.stale.len()
            ),
            unexpected > 0,
        ))
    }

    /// One spinner step while a run is in progress.
    pub fn tick(&mut self) -> bool {
        if self.is_running() {
            self.spinner = self.spinner.wrapping_add(1);
            true
        } else {
            false
        }
    }

    pub fn spinner_frame(&self) -> &'static str {
        SPINNER[self.spinner % SPINNER.len()]
    }
}
