//! Copy-ready fixes: the exact `kubectl` command that repairs a finding, for the few codes whose
//! fix is mechanical and certain (docs/diagnostics.md, "Copy-ready fixes"). kubehop only prints
//! or copies the command; it never runs it.
//!
//! Names and values come from the cluster (or a file), so every argument is shell-quoted, and a
//! command whose arguments hold a control character is not made at all: it could not be shown
//! on a terminal safely.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::objects::PodInfo;
use serde_json::{Value, json};

use super::near_miss::{NearMiss, is_typo, near_miss};
use crate::pods::{self, Exclusion};
use crate::ports::{DeclaredPort, declared_ports};
use crate::service::{PortSpec, ServiceView};
use crate::validate::{is_iana_service_name, is_label_value, is_qualified_name};

/// The resource a fix patches, as kubectl names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    Service,
    Ingress,
}

impl Resource {
    fn as_str(self) -> &'static str {
        match self {
            Self::Service => "svc",
            Self::Ingress => "ingress",
        }
    }
}

/// Quotes one shell word: left as it is when it holds only characters no POSIX shell treats
/// specially, else in single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-_./=:,@%+".contains(character));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `kubectl patch RESOURCE NAME -n NAMESPACE --type merge -p BODY`, or `None` when a word
/// holds a control character.
pub(crate) fn merge_patch(
    resource: Resource,
    namespace: &str,
    name: &str,
    body: &Value,
) -> Option<String> {
    patch(resource, namespace, name, "merge", body)
}

/// `kubectl patch RESOURCE NAME -n NAMESPACE --type json -p OPERATIONS`, or `None` when a word
/// holds a control character.
pub(crate) fn json_patch(
    resource: Resource,
    namespace: &str,
    name: &str,
    operations: &Value,
) -> Option<String> {
    patch(resource, namespace, name, "json", operations)
}

fn patch(
    resource: Resource,
    namespace: &str,
    name: &str,
    kind: &str,
    body: &Value,
) -> Option<String> {
    let body = serde_json::to_string(body).ok()?;
    let words = [name, namespace, body.as_str()];
    if name.is_empty() || words.iter().any(|word| word.chars().any(char::is_control)) {
        return None;
    }
    Some(format!(
        "kubectl patch {} {} -n {} --type {kind} -p {}",
        resource.as_str(),
        shell_quote(name),
        shell_quote(namespace),
        shell_quote(&body)
    ))
}

/// The merge patch that sets one selector pair (`{"spec":{"selector":{KEY:VALUE}}}`), or with
/// `None` removes the key; `None` when the key or value is not a valid label.
pub(crate) fn selector_patch(
    namespace: &str,
    name: &str,
    key: &str,
    value: Option<&str>,
) -> Option<String> {
    if !is_qualified_name(key) || !value.is_none_or(is_label_value) {
        return None;
    }
    let body = json!({ "spec": { "selector": { key: value } } });
    merge_patch(Resource::Service, namespace, name, &body)
}

/// A JSON patch on one field of `spec.ports[index]`, guarded by a `test` of another field's
/// current value, so that it fails rather than change the wrong port if the list moved.
pub(crate) fn port_field_patch(
    namespace: &str,
    name: &str,
    index: usize,
    guard: (&str, Value),
    change: (&str, &str, Value),
) -> Option<String> {
    let (guard_field, guard_value) = guard;
    let (op, field, value) = change;
    let operations = json!([
        { "op": "test", "path": format!("/spec/ports/{index}/{guard_field}"), "value": guard_value },
        { "op": op, "path": format!("/spec/ports/{index}/{field}"), "value": value },
    ]);
    json_patch(Resource::Service, namespace, name, &operations)
}

/// `selector-no-match` (rules A2, M1, M2): when every near miss of the selector in the namespace
/// misses the same pair the same way (the same typo, or the same missing key), the merge patch
/// that changes that pair of the selector to what the pods carry (or drops the key) — provided
/// the patched selector selects exactly those pods, and they are running pods, not finished
/// ones. Anything less certain gets no command.
pub(crate) fn selector_fix(
    view: &ServiceView<'_>,
    selector: &BTreeMap<String, String>,
    pods_here: &[&Arc<PodInfo>],
) -> Option<String> {
    let mut agreed: Option<NearMiss<'_>> = None;
    let mut misses = 0usize;
    for pod in pods_here {
        let Some(miss) = near_miss(pods::labels(pod), selector) else {
            continue;
        };
        let finished = matches!(
            pods::phase_exclusion(pod),
            Some(Exclusion::Succeeded | Exclusion::Failed)
        );
        if finished || agreed.is_some_and(|seen| seen != miss) {
            return None;
        }
        agreed = Some(miss);
        misses += 1;
    }
    let (key, value) = match agreed? {
        NearMiss::Typo { key, actual, .. } => (key, Some(actual)),
        NearMiss::MissingKey { key, .. } => (key, None),
    };
    let mut patched = selector.clone();
    match value {
        Some(value) => patched.insert(key.to_owned(), value.to_owned()),
        None => patched.remove(key),
    };
    let selected = pods_here
        .iter()
        .filter(|pod| pods::matches_selector(pod, &patched))
        .count();
    if selected != misses {
        return None;
    }
    selector_patch(view.namespace, view.name, key, value)
}

/// `named-port-not-found` (rules B3, B4) when no selected pod resolves the name: the JSON patch
/// of the port's targetPort to the container port every such pod declares under the port's
/// protocol with the Service port's own number, or with a name one small edit from the
/// targetPort's (`htpp` for `http`) — provided exactly one declared port qualifies and all pods
/// agree on it. Named container ports keep the targetPort a name.
pub(crate) fn named_port_fix(
    view: &ServiceView<'_>,
    spec: &PortSpec<'_>,
    wanted: &str,
    pods_missing: &[&PodInfo],
) -> Option<String> {
    let candidate = |pod: &PodInfo| -> Option<(Option<String>, i32)> {
        let fits = |declared: &DeclaredPort| {
            declared.protocol == spec.protocol
                && (declared.port == spec.port
                    || declared
                        .name
                        .as_deref()
                        .is_some_and(|name| is_typo(name, wanted)))
        };
        let mut found = declared_ports(pod).into_iter().filter(fits);
        let first = found.next()?;
        found
            .next()
            .is_none()
            .then_some((first.name.clone(), first.port))
    };
    let (first, rest) = pods_missing.split_first()?;
    let chosen = candidate(first)?;
    if rest
        .iter()
        .any(|pod| candidate(pod).as_ref() != Some(&chosen))
    {
        return None;
    }
    let value = match chosen {
        (Some(name), _) if is_iana_service_name(&name) => json!(name),
        (_, number) => json!(number),
    };
    port_field_patch(
        view.namespace,
        view.name,
        spec.index,
        ("targetPort", json!(wanted)),
        ("replace", "targetPort", value),
    )
}

/// `multi-port-unnamed` (rule G2): the JSON patch naming the port, when the suggested name is a
/// real one (`http`, `https`, `dns`, `metrics`) that no other port of the Service uses.
pub(crate) fn port_name_fix(
    view: &ServiceView<'_>,
    spec: &PortSpec<'_>,
    suggested: &str,
) -> Option<String> {
    let taken = view.ports.iter().any(|other| other.name == Some(suggested));
    if taken || !is_iana_service_name(suggested) {
        return None;
    }
    port_field_patch(
        view.namespace,
        view.name,
        spec.index,
        ("port", json!(spec.port)),
        ("add", "name", json!(suggested)),
    )
}

/// `ingress-class-missing`, `ingress-class-unknown` (rule M10): the merge patch setting
/// `spec.ingressClassName` to `class`.
pub(crate) fn ingress_class_fix(namespace: &str, name: &str, class: &str) -> Option<String> {
    let body = json!({ "spec": { "ingressClassName": class } });
    merge_patch(Resource::Ingress, namespace, name, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain("web-1", "web-1")]
    #[case::empty("", "''")]
    #[case::space("a b", "'a b'")]
    #[case::quote("it's", r"'it'\''s'")]
    #[case::substitution("$(reboot)", "'$(reboot)'")]
    #[case::separator("web;rm -rf ~", "'web;rm -rf ~'")]
    #[case::json(r#"{"a":1}"#, r#"'{"a":1}'"#)]
    fn quoting(#[case] word: &str, #[case] quoted: &str) {
        assert_eq!(shell_quote(word), quoted);
    }

    /// The shell reads back exactly the word that was quoted, whatever it holds.
    #[rstest]
    #[case("web'; touch /tmp/kubehop-pwned; echo '")]
    #[case("$(touch /tmp/kubehop-pwned)")]
    #[case("`id`\"x\"\\n*?[a]{b,c}~!#&|<>")]
    #[case("'''")]
    fn the_shell_reads_the_word_back(#[case] word: &str) {
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote(word)))
            .output()
            .expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&output.stdout), word);
    }

    #[test]
    fn control_characters_make_no_command() {
        let body = json!({ "spec": {} });
        assert!(merge_patch(Resource::Service, "shop", "web\u{1b}[2J", &body).is_none());
        assert!(merge_patch(Resource::Service, "shop\n", "web", &body).is_none());
        assert!(merge_patch(Resource::Service, "shop", "", &body).is_none());
        assert!(merge_patch(Resource::Service, "shop", "web", &body).is_some());
    }

    #[test]
    fn invalid_labels_make_no_selector_patch() {
        assert!(selector_patch("shop", "web", "app", Some("a'b")).is_none());
        assert!(selector_patch("shop", "web", "a b", Some("web")).is_none());
        assert_eq!(
            selector_patch("shop", "web", "app", Some("web")).as_deref(),
            Some(
                r#"kubectl patch svc web -n shop --type merge -p '{"spec":{"selector":{"app":"web"}}}'"#
            )
        );
        assert_eq!(
            selector_patch("shop", "web", "tier", None).as_deref(),
            Some(
                r#"kubectl patch svc web -n shop --type merge -p '{"spec":{"selector":{"tier":null}}}'"#
            )
        );
    }
}
