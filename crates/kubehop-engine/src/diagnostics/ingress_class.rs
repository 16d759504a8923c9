//! `ingress-class-missing` and `ingress-class-unknown` (rules C11, M10): an Ingress that no
//! controller is likely to serve, because it names no IngressClass and none is the default, or
//! names a class that does not exist.
//!
//! Precision: both stay silent when the snapshot has no IngressClass at all (the source could
//! not read them, or the cluster's controllers predate IngressClasses), because then nothing
//! tells a forgotten class from a cluster that does not use them.

use std::collections::BTreeSet;

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use super::near_miss::is_typo;
use super::{Diagnostic, DiagnosticCode, Subject, fix, name_list};

/// The annotation that makes an IngressClass the default for Ingresses without a class.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
/// The class annotation that predates `spec.ingressClassName`; controllers still honour it.
pub const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// The class an Ingress asks for: `spec.ingressClassName`, else the legacy annotation.
fn requested_class(ingress: &Ingress) -> Option<&str> {
    let field = ingress
        .spec
        .as_ref()
        .and_then(|spec| spec.ingress_class_name.as_deref());
    let annotation = ingress
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(LEGACY_CLASS_ANNOTATION))
        .map(String::as_str);
    field
        .or(annotation)
        .map(str::trim)
        .filter(|class| !class.is_empty())
}

fn is_default(class: &IngressClass) -> bool {
    class
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(DEFAULT_CLASS_ANNOTATION))
        .is_some_and(|value| value.trim() == "true")
}

/// The class finding for one Ingress, if any; `classes` are every IngressClass of the snapshot.
pub(crate) fn ingress_class_finding(
    ingress: &Ingress,
    classes: &[std::sync::Arc<IngressClass>],
) -> Option<Diagnostic> {
    if classes.is_empty() {
        return None;
    }
    let names: BTreeSet<&str> = classes
        .iter()
        .filter_map(|class| class.metadata.name.as_deref())
        .collect();
    let known: Vec<&str> = names.iter().copied().collect();
    let namespace = ingress.metadata.namespace.as_deref().unwrap_or("default");
    let name = ingress.metadata.name.as_deref().unwrap_or("");
    let subject = Subject::Ingress(name.to_owned());
    match requested_class(ingress) {
        Some(class) if names.contains(class) => None,
        Some(class) => Some(Diagnostic::new(
            DiagnosticCode::IngressClassUnknown,
            subject,
            format!(
                "Ingress {namespace}/{name} asks for IngressClass {class:?}, which does not exist (classes here: {}), so no ingress controller is likely to serve it; use one of those classes in spec.ingressClassName or create the IngressClass (see docs/diagnostics.md#ingress-class-unknown).",
                name_list(&known)
            ),
        ).with_fix(unknown_class_fix(ingress, class, &known))),
        None if classes.iter().any(|class| is_default(class)) => None,
        None => Some(Diagnostic::new(
            DiagnosticCode::IngressClassMissing,
            subject,
            format!(
                "Ingress {namespace}/{name} names no IngressClass and no class is marked default ({DEFAULT_CLASS_ANNOTATION}), so controllers ignore it; set spec.ingressClassName to one of {} (see docs/diagnostics.md#ingress-class-missing).",
                name_list(&known)
            ),
        ).with_fix(match known.as_slice() {
            // The only class there is: the one the Ingress was meant for.
            [only] => fix::ingress_class_fix(namespace, name, only),
            _ => None,
        })),
    }
}

/// `ingress-class-unknown`: set `spec.ingressClassName` to the one existing class that is a
/// small edit from the class asked for (`ngnix` for `nginx`), when the Ingress asks in that
/// field (not in the legacy annotation, which would then disagree with it).
fn unknown_class_fix(ingress: &Ingress, class: &str, known: &[&str]) -> Option<String> {
    let in_field = ingress
        .spec
        .as_ref()
        .and_then(|spec| spec.ingress_class_name.as_deref())
        .is_some_and(|field| field.trim() == class);
    let mut near = known.iter().filter(|known| is_typo(class, known));
    let target = near.next()?;
    if !in_field || near.next().is_some() {
        return None;
    }
    let namespace = ingress.metadata.namespace.as_deref().unwrap_or("default");
    let name = ingress.metadata.name.as_deref()?;
    fix::ingress_class_fix(namespace, name, target)
}
