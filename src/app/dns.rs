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
