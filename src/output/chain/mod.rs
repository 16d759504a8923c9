//! `kubehop chain`: which Services to print, the JSON/YAML document, and the text tree.
//!
//! The JSON and YAML forms are the engine's [`crate::engine::ProxyModel`] serialisation (the
//! documented shape) restricted to the selected Services, plus one addition: a top-level
//! `diagnostics` array for findings that belong to no Service (an Ingress backend naming a
//! Service that does not exist), each with the `namespace` of the object it is about. Both are
//! written as each Service's chain is built ([`Selected`]), never held whole in memory.
//!
//! `text` prints the header, summary, diagnostics and DNS of a Service; `port` prints each
//! port from the engine's hop tree ([`crate::engine::hops`]), one arm per kind of hop.

mod policy;
mod port;
#[cfg(test)]
mod tests;
mod text;
mod wide;

pub use text::{service_tree, write_text};
pub use wide::write_wide;

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};

#[cfg(test)]
use super::style::Style;
use crate::engine::diagnostics::name_list;
use crate::engine::model::ServiceKey;
use crate::engine::verdict::{Health, HealthCounts, ProbeFinding};
use crate::engine::{Diagnostic, ServiceChain, ServiceChains, Severity};

/// Which namespaces a command looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `-A`.
    All,
    /// `-n NS`, a `namespace/name` argument, or `default`.
    Namespace(String),
}

impl Scope {
    /// `-A` wins over `-n` (as in kubectl); without either, `default`.
    pub fn from_flags(namespace: Option<&str>, all_namespaces: bool) -> Self {
        match (all_namespaces, namespace) {
            (true, _) => Scope::All,
            (false, Some(namespace)) => Scope::Namespace(namespace.to_owned()),
            (false, None) => Scope::Namespace("default".to_owned()),
        }
    }

    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespace(scope) => scope == namespace,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::All => f.write_str("all namespaces"),
            Scope::Namespace(namespace) => write!(f, "namespace {namespace}"),
        }
    }
}

/// What `kubehop chain [SERVICE] [-n NS | -A]` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSelection {
    pub scope: Scope,
    /// Only Services with this name (in the scope).
    pub service: Option<String>,
}

/// A selection that cannot be satisfied; the message is one line (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("invalid SERVICE {0:?}: expected NAME or NAMESPACE/NAME")]
    InvalidName(String),
    #[error("SERVICE {service:?} names namespace {named:?} but -n says {flag:?}: drop one of them")]
    NamespaceConflict {
        service: String,
        named: String,
        flag: String,
    },
    #[error("Service {name:?} not found in {scope}{hint}")]
    ServiceNotFound {
        name: String,
        scope: Scope,
        /// `" (it exists in namespace shop: use -n shop)"` or the Services there.
        hint: String,
    },
}

impl ChainSelection {
    /// Reads `SERVICE` (`name` or `namespace/name`) together with `-n` and `-A`.
    pub fn new(
        service: Option<&str>,
        namespace: Option<&str>,
        all_namespaces: bool,
    ) -> Result<Self, SelectionError> {
        let Some(service) = service else {
            return Ok(Self {
                scope: Scope::from_flags(namespace, all_namespaces),
                service: None,
            });
        };
        let invalid = || SelectionError::InvalidName(service.to_owned());
        match service.split_once('/') {
            Some((named, name)) => {
                if named.is_empty() || name.is_empty() || name.contains('/') {
                    return Err(invalid());
                }
                if let Some(flag) = namespace.filter(|flag| *flag != named && !all_namespaces) {
                    return Err(SelectionError::NamespaceConflict {
                        service: service.to_owned(),
                        named: named.to_owned(),
                        flag: flag.to_owned(),
                    });
                }
                Ok(Self {
                    scope: Scope::Namespace(named.to_owned()),
                    service: Some(name.to_owned()),
                })
            }
            None if service.is_empty() => Err(invalid()),
            None => Ok(Self {
                scope: Scope::from_flags(namespace, all_namespaces),
                service: Some(service.to_owned()),
            }),
        }
    }
}

/// An unattached diagnostic with the namespace of the object it is about.
#[derive(Debug, Clone, Serialize)]
pub struct ScopedDiagnostic {
    #[serde(flatten)]
    pub diagnostic: Diagnostic,
    pub namespace: String,
}

/// The probe findings of each probed Service (`chain --probe`).
pub type ProbeFindings = BTreeMap<ServiceKey, Vec<ProbeFinding>>;

/// The DNS checks of each probed Service that the cluster DNS was asked about.
pub type DnsChecks = BTreeMap<ServiceKey, crate::engine::dnscheck::DnsCheck>;

/// The selected part of a snapshot: what `chain` prints, and its JSON/YAML document
/// (`{"services": [...], "diagnostics": [...]}`).
///
/// The chains are not kept: each selected Service's chain is built when it is printed
/// ([`Selected::for_each_chain`], or serialising the document) and dropped after, so the
/// output streams in memory bounded by one Service's chain.
pub struct Selected<'p, 's> {
    chains: &'p ServiceChains<'s>,
    /// Positions in `chains` of the selected Services, in order.
    positions: Vec<usize>,
    /// Unattached diagnostics in scope (only when no single Service was asked for).
    pub diagnostics: Vec<ScopedDiagnostic>,
    /// What `--probe` found, per probed Service (`None`: no probe ran).
    pub probe: Option<ProbeFindings>,
    /// What the cluster DNS answered, per probed Service (`--probe`; text marks each record).
    pub dns: DnsChecks,
    /// `--only broken`: hand on only the broken Services (the others are counted as hidden).
    pub only_broken: bool,
    /// The health of the chains built so far (all of them once `visited`).
    counts: Cell<HealthCounts>,
    /// The ports of the chains handed on so far.
    ports: Cell<usize>,
    /// The Services left out by `only_broken` so far.
    hidden: Cell<usize>,
    /// Whether every selected chain was built (so `counts` covers them all).
    visited: Cell<bool>,
}

/// One Service of the document: the engine's serialisation, its `health`, and with `--probe`
/// its `probeFindings`.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceDocument<'m> {
    #[serde(flatten)]
    pub chain: &'m ServiceChain,
    pub health: Health,
    #[serde(rename = "probeFindings", skip_serializing_if = "Option::is_none")]
    pub probe_findings: Option<&'m [ProbeFinding]>,
}

impl Selected<'_, '_> {
    /// How many Services are selected.
    pub fn service_count(&self) -> usize {
        self.positions.len()
    }

    /// (namespace, name) of the selected Services, in order.
    pub fn service_keys(&self) -> Vec<ServiceKey> {
        let keys: Vec<(&str, &str)> = self.chains.keys().collect();
        self.positions
            .iter()
            .filter_map(|position| keys.get(*position))
            .map(|(namespace, name)| ServiceKey {
                namespace: (*namespace).to_owned(),
                name: (*name).to_owned(),
            })
            .collect()
    }

    /// Builds each selected Service's chain in order, hands it to `each` and drops it; stops at
    /// the first error. Counts the chains' health on the way.
    pub fn for_each_chain<E>(
        &self,
        mut each: impl FnMut(&ServiceChain) -> Result<(), E>,
    ) -> Result<(), E> {
        self.counts.set(HealthCounts::default());
        self.ports.set(0);
        self.hidden.set(0);
        for position in &self.positions {
            let Some(chain) = self.chains.chain(*position) else {
                continue;
            };
            let health = self.health(&chain);
            if self.only_broken && health != Health::Broken {
                self.hidden.set(self.hidden.get() + 1);
                continue;
            }
            let mut counts = self.counts.get();
            counts.add(health);
            self.counts.set(counts);
            self.ports.set(self.ports.get() + chain.ports.len());
            each(&chain)?;
        }
        self.visited.set(true);
        Ok(())
    }

    /// How many selected Services are broken, have warnings, are ok (with `only_broken`: of
    /// those handed on). Free once the chains were printed; otherwise they are built again to
    /// find out.
    pub fn health_counts(&self) -> HealthCounts {
        self.visit();
        self.counts.get()
    }

    /// How many ports the Services handed on have.
    pub fn port_count(&self) -> usize {
        self.visit();
        self.ports.get()
    }

    /// How many selected Services `only_broken` left out.
    pub fn hidden_count(&self) -> usize {
        self.visit();
        self.hidden.get()
    }

    fn visit(&self) {
        if !self.visited.get()
            && let Err(never) = self.for_each_chain(|_| Ok::<(), std::convert::Infallible>(()))
        {
            match never {}
        }
    }

    /// The probe findings of a Service (`None` without `--probe`).
    pub fn probe_findings(&self, chain: &ServiceChain) -> Option<&[ProbeFinding]> {
        let probe = self.probe.as_ref()?;
        Some(probe.get(&chain.key()).map_or(&[], Vec::as_slice))
    }

    /// What the cluster DNS answered about a Service (with `--probe`, when it was asked).
    pub fn dns_check(&self, chain: &ServiceChain) -> Option<&crate::engine::dnscheck::DnsCheck> {
        self.dns.get(&chain.key())
    }

    /// A Service's health: its diagnostics and, with `--probe`, its live probe findings.
    pub fn health(&self, chain: &ServiceChain) -> Health {
        Health::of(chain).with_probe(self.probe_findings(chain).unwrap_or_default())
    }

    /// One Service as the document shows it.
    pub fn document<'c>(&'c self, chain: &'c ServiceChain) -> ServiceDocument<'c> {
        ServiceDocument {
            chain,
            health: self.health(chain),
            probe_findings: self.probe_findings(chain),
        }
    }

    /// Whether `chain` exits 1: an error-level diagnostic (or, with `--probe`, a live
    /// error-level probe finding) on a selected Service or in scope.
    pub fn has_errors(&self) -> bool {
        self.health_counts().broken > 0
            || self
                .diagnostics
                .iter()
                .any(|scoped| scoped.diagnostic.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty() && self.diagnostics.is_empty()
    }
}

impl Serialize for Selected<'_, '_> {
    /// The document of the model's serialisation, restricted to the selection, written one
    /// Service at a time.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut document = serializer.serialize_struct("Selected", 2)?;
        document.serialize_field("services", &StreamedServices(self))?;
        document.serialize_field("diagnostics", &self.diagnostics)?;
        document.end()
    }
}

/// The `services` array of [`Selected`]: each chain built, serialised and dropped in turn.
struct StreamedServices<'a, 'p, 's>(&'a Selected<'p, 's>);

impl Serialize for StreamedServices<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let length = (!self.0.only_broken).then(|| self.0.service_count());
        let mut services = serializer.serialize_seq(length)?;
        self.0
            .for_each_chain(|chain| services.serialize_element(&self.0.document(chain)))?;
        services.end()
    }
}

/// Picks the Services (and unattached diagnostics) a selection names.
pub fn select<'p, 's>(
    chains: &'p ServiceChains<'s>,
    selection: &ChainSelection,
) -> Result<Selected<'p, 's>, SelectionError> {
    let in_scope = |namespace: &str| selection.scope.contains(namespace);
    let positions: Vec<usize> = chains
        .keys()
        .enumerate()
        .filter(|(_, (namespace, _))| in_scope(namespace))
        .filter(|(_, (_, name))| {
            selection
                .service
                .as_deref()
                .is_none_or(|wanted| *name == wanted)
        })
        .map(|(position, _)| position)
        .collect();
    let diagnostics = match &selection.service {
        Some(name) if positions.is_empty() => {
            return Err(SelectionError::ServiceNotFound {
                name: name.clone(),
                scope: selection.scope.clone(),
                hint: not_found_hint(chains.keys(), name, &selection.scope),
            });
        }
        Some(_) => Vec::new(),
        None => chains
            .unattached()
            .into_iter()
            .filter(|(namespace, _)| in_scope(namespace))
            .map(|(namespace, diagnostic)| ScopedDiagnostic {
                diagnostic,
                namespace,
            })
            .collect(),
    };
    Ok(Selected {
        chains,
        positions,
        diagnostics,
        probe: None,
        dns: DnsChecks::new(),
        only_broken: false,
        counts: Cell::new(HealthCounts::default()),
        ports: Cell::new(0),
        hidden: Cell::new(0),
        visited: Cell::new(false),
    })
}

/// Where a Service named `name` exists instead, or what is in the namespace looked at;
/// `keys` are (namespace, name) of every Service.
pub(crate) fn not_found_hint<'k>(
    keys: impl Iterator<Item = (&'k str, &'k str)> + Clone,
    name: &str,
    scope: &Scope,
) -> String {
    let elsewhere: Vec<&str> = keys
        .clone()
        .filter(|(_, other)| *other == name)
        .map(|(namespace, _)| namespace)
        .collect();
    if let Some(first) = elsewhere.first() {
        return format!(
            " (it exists in namespace {}: use -n {first} or {first}/{name})",
            name_list(&elsewhere)
        );
    }
    let Scope::Namespace(namespace) = scope else {
        return String::new();
    };
    let here: Vec<&str> = keys
        .filter(|(other, _)| other == namespace)
        .map(|(_, name)| name)
        .collect();
    if here.is_empty() {
        " (the input has no Services there)".to_owned()
    } else {
        format!(" (Services there: {})", name_list(&here))
    }
}

/// Why nothing was printed, for standard error (kubectl's "No resources found").
pub fn nothing_found_message(chains: &ServiceChains<'_>, scope: &Scope) -> String {
    let mut message = match scope {
        Scope::All => "No Services found in the input.".to_owned(),
        Scope::Namespace(namespace) => format!("No Services found in namespace {namespace}."),
    };
    let namespaces: BTreeSet<&str> = chains.keys().map(|(namespace, _)| namespace).collect();
    if matches!(scope, Scope::Namespace(_)) && !namespaces.is_empty() {
        let namespaces: Vec<&str> = namespaces.into_iter().collect();
        let _ = write!(
            message,
            " The input has Services in namespace {}: use -n NAMESPACE or -A.",
            name_list(&namespaces)
        );
    }
    message
}
