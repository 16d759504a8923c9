//! `kubehop chain`: which Services to print, the JSON/YAML document, and the text tree.
//!
//! The JSON and YAML forms are the engine's [`ProxyModel`] serialisation (the documented shape)
//! restricted to the selected Services, plus one addition: a top-level `diagnostics` array for
//! findings that belong to no Service (an Ingress backend naming a Service that does not exist),
//! each with the `namespace` of the object it is about.
//!
//! `text` prints the header, summary, diagnostics and DNS of a Service; `port` prints each
//! port from the engine's hop tree ([`crate::engine::hops`]), one arm per kind of hop.

mod port;
#[cfg(test)]
mod tests;
mod text;

pub use text::{service_tree, write_text};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

#[cfg(test)]
use super::style::Style;
use crate::engine::diagnostics::name_list;
use crate::engine::model::ServiceKey;
use crate::engine::verdict::{Health, HealthCounts, ProbeFinding};
use crate::engine::{Diagnostic, ProxyModel, ServiceChain, Severity};

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
pub struct ScopedDiagnostic<'m> {
    #[serde(flatten)]
    pub diagnostic: &'m Diagnostic,
    pub namespace: &'m str,
}

/// The probe findings of each probed Service (`chain --probe`).
pub type ProbeFindings = BTreeMap<ServiceKey, Vec<ProbeFinding>>;

/// The selected part of a model: what `chain` prints, and its JSON/YAML document
/// (`{"services": [...], "diagnostics": [...]}`).
#[derive(Debug, Clone)]
pub struct Selected<'m> {
    pub services: Vec<&'m ServiceChain>,
    /// Unattached diagnostics in scope (only when no single Service was asked for).
    pub diagnostics: Vec<ScopedDiagnostic<'m>>,
    /// What `--probe` found, per probed Service (`None`: no probe ran).
    pub probe: Option<ProbeFindings>,
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

impl Serialize for Selected<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut document = serializer.serialize_struct("Selected", 2)?;
        let services: Vec<ServiceDocument<'_>> = self
            .services
            .iter()
            .map(|chain| self.document(chain))
            .collect();
        document.serialize_field("services", &services)?;
        document.serialize_field("diagnostics", &self.diagnostics)?;
        document.end()
    }
}

impl<'m> Selected<'m> {
    /// The probe findings of a Service (`None` without `--probe`).
    pub fn probe_findings(&self, chain: &ServiceChain) -> Option<&[ProbeFinding]> {
        let probe = self.probe.as_ref()?;
        Some(probe.get(&chain.key()).map_or(&[], Vec::as_slice))
    }

    /// A Service's health: its diagnostics and, with `--probe`, its live probe findings.
    pub fn health(&self, chain: &ServiceChain) -> Health {
        Health::of(chain).with_probe(self.probe_findings(chain).unwrap_or_default())
    }

    /// How many selected Services are broken, have warnings, are ok.
    pub fn health_counts(&self) -> HealthCounts {
        self.services
            .iter()
            .map(|chain| self.health(chain))
            .collect()
    }

    /// One Service as the document shows it.
    pub fn document<'s>(&'s self, chain: &'s ServiceChain) -> ServiceDocument<'s> {
        ServiceDocument {
            chain,
            health: self.health(chain),
            probe_findings: self.probe_findings(chain),
        }
    }
}

impl Selected<'_> {
    /// Whether `chain` exits 1: an error-level diagnostic (or, with `--probe`, a live
    /// error-level probe finding) on a selected Service or in scope.
    pub fn has_errors(&self) -> bool {
        self.services
            .iter()
            .any(|chain| self.health(chain) == Health::Broken)
            || self
                .diagnostics
                .iter()
                .any(|scoped| scoped.diagnostic.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.diagnostics.is_empty()
    }
}

/// Picks the Services (and unattached diagnostics) a selection names.
pub fn select<'m>(
    model: &'m ProxyModel,
    selection: &ChainSelection,
) -> Result<Selected<'m>, SelectionError> {
    let in_scope = |namespace: &str| selection.scope.contains(namespace);
    let services: Vec<&ServiceChain> = model
        .services
        .iter()
        .filter(|chain| in_scope(&chain.namespace))
        .filter(|chain| {
            selection
                .service
                .as_deref()
                .is_none_or(|name| chain.name == name)
        })
        .collect();
    if let Some(name) = &selection.service {
        if services.is_empty() {
            return Err(SelectionError::ServiceNotFound {
                name: name.clone(),
                scope: selection.scope.clone(),
                hint: not_found_hint(model, name, &selection.scope),
            });
        }
        return Ok(Selected {
            services,
            diagnostics: Vec::new(),
            probe: None,
        });
    }
    let diagnostics = model
        .unattached_by_namespace()
        .filter(|(namespace, _)| in_scope(namespace))
        .map(|(namespace, diagnostic)| ScopedDiagnostic {
            diagnostic,
            namespace,
        })
        .collect();
    Ok(Selected {
        services,
        diagnostics,
        probe: None,
    })
}

pub(crate) fn not_found_hint(model: &ProxyModel, name: &str, scope: &Scope) -> String {
    let elsewhere: Vec<&str> = model
        .services
        .iter()
        .filter(|chain| chain.name == name)
        .map(|chain| chain.namespace.as_str())
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
    let here: Vec<&str> = model
        .services
        .iter()
        .filter(|chain| chain.namespace == *namespace)
        .map(|chain| chain.name.as_str())
        .collect();
    if here.is_empty() {
        " (the input has no Services there)".to_owned()
    } else {
        format!(" (Services there: {})", name_list(&here))
    }
}

/// Why nothing was printed, for standard error (kubectl's "No resources found").
pub fn nothing_found_message(model: &ProxyModel, scope: &Scope) -> String {
    let mut message = match scope {
        Scope::All => "No Services found in the input.".to_owned(),
        Scope::Namespace(namespace) => format!("No Services found in namespace {namespace}."),
    };
    let namespaces: BTreeSet<&str> = model
        .services
        .iter()
        .map(|chain| chain.namespace.as_str())
        .collect();
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
