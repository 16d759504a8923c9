//! Reading pods the way the EndpointSlice controller does (rules A2-A7).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

use crate::objects::{Labels, PodInfo};

/// Why a pod that the selector matches is not an endpoint (rules A3, A7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Exclusion {
    /// Rule A3: phase Succeeded.
    Succeeded,
    /// Rule A3: phase Failed.
    Failed,
    /// Rule A3: neither `status.podIP` nor `status.podIPs` is set yet.
    NoIp,
    /// Rule A7: the pod names a node that is not known (published only with pNRA).
    UnknownNode(String),
    /// Rule A3 (no IP) because the scheduler has not placed the pod: its PodScheduled
    /// condition is False, with the scheduler's reason and message (M9).
    NotScheduled(String),
}

impl std::fmt::Display for Exclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Succeeded => f.write_str("phase Succeeded"),
            Self::Failed => f.write_str("phase Failed"),
            Self::NoIp => f.write_str("no pod IP yet"),
            Self::UnknownNode(node) => write!(f, "on unknown node {node}"),
            Self::NotScheduled(why) => write!(f, "not scheduled: {why}"),
        }
    }
}

pub fn name(pod: &PodInfo) -> &str {
    pod.name.as_deref().unwrap_or("")
}

pub fn namespace(pod: &PodInfo) -> &str {
    pod.namespace.as_deref().unwrap_or("default")
}

pub fn labels(pod: &PodInfo) -> Option<&Labels> {
    pod.labels.as_ref()
}

/// Rule A2: every key=value pair of the selector is on the pod.
pub fn matches_selector(pod: &PodInfo, selector: &BTreeMap<String, String>) -> bool {
    let Some(labels) = labels(pod) else {
        return selector.is_empty();
    };
    selector
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value.as_str()))
}

pub fn node_name(pod: &PodInfo) -> Option<&str> {
    pod.node_name.as_deref().filter(|node| !node.is_empty())
}

/// Rule A4: `serving` is the pod's Ready condition.
pub fn is_ready(pod: &PodInfo) -> bool {
    pod.ready
}

/// Rule A4: `terminating` is a set deletionTimestamp.
pub fn is_terminating(pod: &PodInfo) -> bool {
    pod.terminating
}

/// The pod IPs, `status.podIPs` first, else `status.podIP`; unparsable ones are skipped.
pub fn ips(pod: &PodInfo) -> Vec<IpAddr> {
    pod.ips.as_slice().to_vec()
}

/// The pod's first IP ([`ips`] order), without collecting them all.
pub fn first_ip(pod: &PodInfo) -> Option<IpAddr> {
    pod.ips.as_slice().first().copied()
}

/// Whether the pod has a usable IP (without collecting them all).
pub fn has_ip(pod: &PodInfo) -> bool {
    !pod.ips.as_slice().is_empty()
}

/// Rule A3 (phase and IP part; the node part, A7, needs the node list).
pub fn phase_exclusion(pod: &PodInfo) -> Option<Exclusion> {
    exclusion(pod.phase.as_deref(), has_ip(pod), || {
        pod.not_scheduled().map(str::to_owned)
    })
}

/// Rule A3 on what it reads: the phase, whether the pod has an address and, without one, why
/// it is not scheduled.
fn exclusion(
    phase: Option<&str>,
    has_ip: bool,
    not_scheduled: impl FnOnce() -> Option<String>,
) -> Option<Exclusion> {
    match phase {
        Some("Succeeded") => Some(Exclusion::Succeeded),
        Some("Failed") => Some(Exclusion::Failed),
        _ if has_ip => None,
        _ => Some(not_scheduled().map_or(Exclusion::NoIp, Exclusion::NotScheduled)),
    }
}

pub fn hostname(pod: &PodInfo) -> Option<&str> {
    pod.hostname().filter(|hostname| !hostname.is_empty())
}

pub fn subdomain(pod: &PodInfo) -> Option<&str> {
    pod.subdomain().filter(|subdomain| !subdomain.is_empty())
}

/// The typed pod's IPs, as [`ips`] lists them (for the conversion to [`PodInfo`]).
pub(crate) fn typed_ips(pod: &Pod) -> Vec<IpAddr> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<IpAddr> = Vec::new();
    let listed = status
        .pod_ips
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|ip| ip.ip.as_str());
    for candidate in listed.chain(status.pod_ip.as_deref()) {
        if let Ok(ip) = trim_fast(candidate).parse::<IpAddr>()
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
    out
}

/// `value.trim()`, without the Unicode scan when the value starts and ends with a printable
/// ASCII character (no white space to trim; addresses from the API almost always look so).
#[inline]
pub(crate) fn trim_fast(value: &str) -> &str {
    match (value.as_bytes().first(), value.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => value,
        _ => value.trim(),
    }
}

/// The typed pod's Ready condition is True (for the conversion to [`PodInfo`]).
pub(crate) fn typed_is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_deref())
        .unwrap_or_default()
        .iter()
        .any(|condition| condition.type_ == "Ready" && condition.status == "True")
}

/// The longest scheduler message kept (it lists every node group's reason).
const MAX_CONDITION_MESSAGE: usize = 300;

/// M9: why the scheduler has not placed the pod, from its PodScheduled=False condition
/// ("Unschedulable: 0/3 nodes are available: ..."), on one line without control characters.
pub(crate) fn typed_not_scheduled(pod: &Pod) -> Option<String> {
    let condition = pod
        .status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|condition| condition.type_ == "PodScheduled" && condition.status == "False")?;
    let reason = condition.reason.as_deref().unwrap_or("");
    let message = condition.message.as_deref().unwrap_or("");
    let text = match (reason.is_empty(), message.is_empty()) {
        (true, true) => "the scheduler has not placed it".to_owned(),
        (false, true) => reason.to_owned(),
        (true, false) => message.to_owned(),
        (false, false) => format!("{reason}: {message}"),
    };
    let mut clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned();
    if let Some((cut, _)) = clean.char_indices().nth(MAX_CONDITION_MESSAGE) {
        clean.truncate(cut);
        clean.push('…');
    }
    Some(clean)
}

/// The same facts read from a typed Pod, for code that holds full objects (the sandbox's
/// controllers and data plane).
pub mod typed {
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    use k8s_openapi::api::core::v1::Pod;

    pub use super::Exclusion;

    pub fn name(pod: &Pod) -> &str {
        pod.metadata.name.as_deref().unwrap_or("")
    }

    pub fn namespace(pod: &Pod) -> &str {
        pod.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// Rule A2, as [`super::matches_selector`].
    pub fn matches_selector(pod: &Pod, selector: &BTreeMap<String, String>) -> bool {
        let Some(labels) = pod.metadata.labels.as_ref() else {
            return selector.is_empty();
        };
        selector
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
    }

    pub fn node_name(pod: &Pod) -> Option<&str> {
        pod.spec
            .as_ref()
            .and_then(|spec| spec.node_name.as_deref())
            .filter(|node| !node.is_empty())
    }

    /// Rule A4, as [`super::is_ready`].
    pub fn is_ready(pod: &Pod) -> bool {
        super::typed_is_ready(pod)
    }

    pub fn is_terminating(pod: &Pod) -> bool {
        pod.metadata.deletion_timestamp.is_some()
    }

    /// As [`super::ips`].
    pub fn ips(pod: &Pod) -> Vec<IpAddr> {
        super::typed_ips(pod)
    }

    pub fn has_ip(pod: &Pod) -> bool {
        !super::typed_ips(pod).is_empty()
    }

    /// Rule A3, as [`super::phase_exclusion`].
    pub fn phase_exclusion(pod: &Pod) -> Option<Exclusion> {
        let phase = pod
            .status
            .as_ref()
            .and_then(|status| status.phase.as_deref());
        super::exclusion(phase, has_ip(pod), || super::typed_not_scheduled(pod))
    }
}

#[cfg(test)]
mod trim_tests {
    use super::trim_fast;

    #[test]
    fn trim_fast_is_trim() {
        for value in [
            "",
            " ",
            "127.0.0.1",
            " 127.0.0.1",
            "127.0.0.1\n",
            "\u{a0}127.0.0.1",
            "127.0.0.1\u{3000}",
            "a",
            "\t",
            "é",
            " é ",
        ] {
            assert_eq!(trim_fast(value), value.trim(), "{value:?}");
        }
    }
}
