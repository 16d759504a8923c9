//! The TUI's DNS checks: `P` (probe the whole Service) also asks the cluster DNS about the
//! Service ([`crate::probe::dns`]); the check comes back as [`AppEvent::Dns`] and the DNS tab
//! shows it beside each record.
//!
//! [`AppEvent::Dns`]: super::event::AppEvent::Dns

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::catalog::Catalog;
use crate::engine::dnscheck::{ClusterDns, DnsCheck, DnsLookup, find_cluster_dns, lookups};
use crate::engine::model::ServiceKey;
use crate::engine::verdict::ProbeFinding;

/// What the loop needs to check a Service's DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRequest {
    pub service: ServiceKey,
    pub server: ClusterDns,
    pub lookups: Vec<DnsLookup>,
}

/// The DNS check of `service` on `catalog`'s model: `None` when the engine expects no record
/// for it, or there is no cluster DNS Service (the tab says so).
pub fn request(catalog: &Catalog, service: &ServiceKey) -> Option<DnsRequest> {
    let chain = catalog.model.service(&service.namespace, &service.name)?;
    let lookups = lookups(chain, &catalog.model);
    if lookups.is_empty() {
        return None;
    }
    let server = find_cluster_dns(&catalog.model, None)?;
    Some(DnsRequest {
        service: service.clone(),
        server,
        lookups,
    })
}

/// The DNS concern of the app state.
#[derive(Debug, Clone, Default)]
pub struct DnsState {
    /// The latest check of each Service checked so far.
    pub checks: BTreeMap<ServiceKey, Arc<DnsCheck>>,
    /// Services whose check is in flight.
    pub running: BTreeSet<ServiceKey>,
}

impl DnsState {
    /// A check started.
    pub fn begin(&mut self, service: &ServiceKey) {
        self.running.insert(service.clone());
    }

    /// A check came back.
    pub fn land(&mut self, service: ServiceKey, check: DnsCheck) {
        self.running.remove(&service);
        self.checks.insert(service, Arc::new(check));
    }

    pub fn check(&self, service: &ServiceKey) -> Option<&DnsCheck> {
        self.checks.get(service).map(Arc::as_ref)
    }
}

/// The findings of each Service's latest DNS check, as probe findings: they mark the Service in
/// the list, count in the header and show in the Diagnostics tab beside the hops' findings. A
/// Service's are stale (shown, not counted) once the records the check was judged against
/// change (rule F10), and gone with the Service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsFindings {
    kept: BTreeMap<ServiceKey, KeptDns>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct KeptDns {
    findings: Vec<ProbeFinding>,
    /// The lookups (and so the expected answers) the check was judged against.
    lookups: Vec<DnsLookup>,
}

impl DnsFindings {
    /// A check of `service` came back: its findings replace the previous check's.
    pub fn land(&mut self, service: ServiceKey, check: &DnsCheck) {
        let findings = check.probe_findings();
        if findings.is_empty() {
            self.kept.remove(&service);
            return;
        }
        let lookups = check
            .results
            .iter()
            .map(|result| result.lookup.clone())
            .collect();
        self.kept.insert(service, KeptDns { findings, lookups });
    }

    pub fn of(&self, service: &ServiceKey) -> &[ProbeFinding] {
        self.kept
            .get(service)
            .map_or(&[], |kept| kept.findings.as_slice())
    }

    /// Whether no Service has DNS findings (the common case: nothing to scan).
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Marks the findings stale whose Service's expected records changed on `catalog`, and
    /// forgets those of Services that are gone. Returns whether any changed.
    pub fn refresh(&mut self, catalog: &Catalog) -> bool {
        let before = self.kept.len();
        self.kept
            .retain(|service, _| catalog.service(service).is_some());
        let mut changed = before != self.kept.len();
        for (service, kept) in &mut self.kept {
            let stale = catalog
                .service(service)
                .is_none_or(|(_, chain)| lookups(chain, &catalog.model) != kept.lookups);
            for finding in &mut kept.findings {
                changed |= finding.stale != stale;
                finding.stale = stale;
            }
        }
        changed
    }
}
