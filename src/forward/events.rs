//! What a running forward reports: [`Notice`]s (one compact log line each) and [`ForwardStats`]
//! (counters for the TUI's Forwards view). Both are owned values sent to whoever listens; nothing
//! is shared with the reader.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use super::backends::{Change, Condition, PodRef};
use super::target::Target;

/// Everything a forward sends to its listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardEvent {
    Notice(Notice),
    /// The counters, at most every [`super::STATS_INTERVAL`] while something changes.
    Stats(ForwardStats),
}

/// One thing worth a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A listener is up.
    Listening { local: SocketAddr, target: Target },
    /// The set of pods new connections go to changed.
    Endpoints { target: Target, change: Change },
    /// Open connections to a pod that is no longer an endpoint were closed.
    Closed {
        target: Target,
        pod: PodRef,
        connections: usize,
    },
    /// A new connection was refused at once: no usable endpoint.
    Refused {
        target: Target,
        client: SocketAddr,
        reason: String,
    },
    /// Opening the forward to a pod failed; another endpoint is tried.
    Retry {
        target: Target,
        client: SocketAddr,
        pod: PodRef,
        error: String,
    },
    /// A connection could not be forwarded to any pod.
    Failed {
        target: Target,
        client: SocketAddr,
        attempts: usize,
        error: String,
    },
    /// An established connection broke (the port-forward reported an error, or its transport
    /// failed).
    Broken {
        target: Target,
        client: SocketAddr,
        pod: PodRef,
        error: String,
    },
}

impl Notice {
    pub fn target(&self) -> &Target {
        match self {
            Notice::Listening { target, .. }
            | Notice::Endpoints { target, .. }
            | Notice::Closed { target, .. }
            | Notice::Refused { target, .. }
            | Notice::Retry { target, .. }
            | Notice::Failed { target, .. }
            | Notice::Broken { target, .. } => target,
        }
    }

    /// Whether the line reports a problem (printed as a warning, kept as the last error).
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Notice::Refused { .. }
                | Notice::Retry { .. }
                | Notice::Failed { .. }
                | Notice::Broken { .. }
                | Notice::Endpoints {
                    change: Change::Emptied { .. },
                    ..
                }
        )
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Listening { local, target } => {
                write!(f, "Forwarding from {local} -> {target}")
            }
            Notice::Endpoints { target, change } => match change {
                Change::Added {
                    pod,
                    address,
                    condition,
                } => write!(f, "{target}: + pod {pod} ({address}, {condition})"),
                Change::Removed { pod, listed: true } => write!(
                    f,
                    "{target}: - pod {pod} (not ready or terminating; open connections stay)"
                ),
                Change::Removed { pod, listed: false } => {
                    write!(f, "{target}: - pod {pod} (no longer an endpoint)")
                }
                Change::Condition { pod, condition } => {
                    write!(f, "{target}: ~ pod {pod} is {condition}")
                }
                Change::Emptied { reason } => write!(
                    f,
                    "{target}: no usable endpoint ({reason}): new connections are refused until one is ready"
                ),
                Change::Refilled { count } => write!(
                    f,
                    "{target}: {count} usable endpoint{}: accepting connections",
                    if *count == 1 { "" } else { "s" }
                ),
            },
            Notice::Closed {
                target,
                pod,
                connections,
            } => write!(
                f,
                "{target}: closed {connections} connection{} to pod {pod}: no longer an endpoint",
                if *connections == 1 { "" } else { "s" }
            ),
            Notice::Refused {
                target,
                client,
                reason,
            } => write!(
                f,
                "{target}: refused {client}: no usable endpoint ({reason})"
            ),
            Notice::Retry {
                target,
                client,
                pod,
                error,
            } => write!(
                f,
                "{target}: {client} -> pod {pod} failed ({error}); trying another endpoint"
            ),
            Notice::Failed {
                target,
                client,
                attempts,
                error,
            } => write!(
                f,
                "{target}: {client} gave up after {attempts} attempt{}: {error}",
                if *attempts == 1 { "" } else { "s" }
            ),
            Notice::Broken {
                target,
                client,
                pod,
                error,
            } => write!(f, "{target}: {client} -> pod {pod} broke: {error}"),
        }
    }
}

/// Connections one pod received through one forwarded port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodStats {
    pub open: u64,
    pub total: u64,
    /// Whether the pod is in the set new connections go to.
    pub usable: Option<Condition>,
}

/// The counters of one forwarded port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortStats {
    pub target: Target,
    /// Every address it listens on.
    pub locals: Vec<SocketAddr>,
    /// Pods new connections may go to now.
    pub usable: usize,
    pub open: u64,
    /// Connections forwarded to a pod (whatever became of them).
    pub total: u64,
    /// Connections refused at once (no usable endpoint).
    pub refused: u64,
    /// Connections that reached no pod after every attempt.
    pub failed: u64,
    /// Attempts that failed and were retried on another pod.
    pub retries: u64,
    /// Bytes from local clients to pods.
    pub bytes_sent: u64,
    /// Bytes from pods to local clients.
    pub bytes_received: u64,
    /// Per pod name, pods in the set and pods that got connections.
    pub pods: BTreeMap<String, PodStats>,
    pub last_error: Option<String>,
}

impl PortStats {
    pub fn new(target: Target, locals: Vec<SocketAddr>) -> Self {
        PortStats {
            target,
            locals,
            usable: 0,
            open: 0,
            total: 0,
            refused: 0,
            failed: 0,
            retries: 0,
            bytes_sent: 0,
            bytes_received: 0,
            pods: BTreeMap::new(),
            last_error: None,
        }
    }
}

/// The counters of a forward, one entry per forwarded port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardStats {
    pub ports: Vec<PortStats>,
}

impl ForwardStats {
    /// `web-1 101, web-2 99` — connections per pod, most first.
    pub fn per_pod(port: &PortStats) -> String {
        let mut pods: Vec<(&String, &PodStats)> = port
            .pods
            .iter()
            .filter(|(_, stats)| stats.total > 0)
            .collect();
        pods.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(b.0)));
        pods.iter()
            .map(|(name, stats)| format!("{name} {}", stats.total))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `1.5 MB`, `312 B` — byte counts for people.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn target() -> Target {
        Target::tcp("shop", "web", 80, Some("http"))
    }

    fn pod(name: &str) -> PodRef {
        PodRef {
            namespace: "shop".into(),
            name: name.into(),
            ip: "127.40.3.1".parse().expect("ip"),
        }
    }

    #[rstest]
    #[case(Notice::Listening { local: "127.0.0.1:8080".parse().expect("addr"), target: target() },
           "Forwarding from 127.0.0.1:8080 -> svc/web:80")]
    #[case(Notice::Endpoints { target: target(), change: Change::Added { pod: pod("web-1"), address: "127.40.3.1:8080".parse().expect("addr"), condition: Condition::Ready } },
           "svc/web:80: + pod web-1 (127.40.3.1:8080, ready)")]
    #[case(Notice::Endpoints { target: target(), change: Change::Removed { pod: pod("web-1"), listed: false } },
           "svc/web:80: - pod web-1 (no longer an endpoint)")]
    #[case(Notice::Endpoints { target: target(), change: Change::Emptied { reason: "selector app=web matches no pod".into() } },
           "svc/web:80: no usable endpoint (selector app=web matches no pod): new connections are refused until one is ready")]
    #[case(Notice::Closed { target: target(), pod: pod("web-1"), connections: 2 },
           "svc/web:80: closed 2 connections to pod web-1: no longer an endpoint")]
    #[case(Notice::Refused { target: target(), client: "127.0.0.1:50000".parse().expect("addr"), reason: "no endpoints".into() },
           "svc/web:80: refused 127.0.0.1:50000: no usable endpoint (no endpoints)")]
    #[case(Notice::Retry { target: target(), client: "127.0.0.1:50000".parse().expect("addr"), pod: pod("web-1"), error: "port-forward failed: pod shop/web-1 not found".into() },
           "svc/web:80: 127.0.0.1:50000 -> pod web-1 failed (port-forward failed: pod shop/web-1 not found); trying another endpoint")]
    #[case(Notice::Failed { target: target(), client: "127.0.0.1:50000".parse().expect("addr"), attempts: 1, error: "x".into() },
           "svc/web:80: 127.0.0.1:50000 gave up after 1 attempt: x")]
    fn notices_are_one_compact_line(#[case] notice: Notice, #[case] line: &str) {
        assert_eq!(notice.to_string(), line);
    }

    #[rstest]
    #[case(0, "0 B")]
    #[case(999, "999 B")]
    #[case(1_500, "1.5 kB")]
    #[case(12_345_678, "12 MB")]
    #[case(3_000_000_000, "3.0 GB")]
    fn bytes_read_like_people_write_them(#[case] bytes: u64, #[case] text: &str) {
        assert_eq!(format_bytes(bytes), text);
    }

    #[test]
    fn per_pod_lists_the_busiest_first() {
        let mut port = PortStats::new(target(), Vec::new());
        for (name, total) in [("web-a", 3), ("web-b", 7), ("web-c", 0)] {
            port.pods.insert(
                name.into(),
                PodStats {
                    open: 0,
                    total,
                    usable: None,
                },
            );
        }
        assert_eq!(ForwardStats::per_pod(&port), "web-b 7, web-a 3");
    }
}
