//! The TUI's forwards: Shift-F on a Service port asks for a local port and starts a
//! load-balancing port-forward ([`crate::forward`]); `f` (or `:pf`) lists them with their
//! counters; `d` in the list stops one. The loop owns the running forwards (dropping one stops
//! it, and all stop with the app); their notices and stats arrive here as events.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::chain::NodeKind;
use super::state::AppState;
use crate::engine::model::{PortRef, Protocol, ServiceChain, ServiceKey, ServiceType};
use crate::forward::{ForwardEvent, ForwardRequest, Listening, PortMapping, PortStats};

/// Notices kept per forward for the list.
pub const KEPT_NOTICES: usize = 3;

/// Identifies one forward of this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ForwardId(pub u64);

/// Where a forward stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardStatus {
    Starting,
    Running,
    /// It could not start (the port is taken, the Service has no such port, ...).
    Failed(String),
}

/// One forward as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardEntry {
    pub id: ForwardId,
    pub service: ServiceKey,
    pub port: i32,
    /// The Service port's name, if any.
    pub port_name: Option<String>,
    /// What was asked for (0: any free port).
    pub requested_local: u16,
    pub status: ForwardStatus,
    pub locals: Vec<SocketAddr>,
    pub stats: Option<PortStats>,
    /// The last few notices, oldest first.
    pub notices: VecDeque<String>,
}

impl ForwardEntry {
    /// `shop/web:80`.
    pub fn target(&self) -> String {
        format!("{}:{}", self.service, self.port)
    }
}

/// What the loop reports about a forward.
#[derive(Debug, Clone)]
pub enum ForwardUpdate {
    Started(Vec<Listening>),
    StartFailed(String),
    /// The loop stopped it (the context changed); the text says why.
    Stopped(String),
    Event(ForwardEvent),
}

/// The forwards concern of the app state.
#[derive(Debug, Clone, Default)]
pub struct ForwardsState {
    /// Running or failed, in the order they were started.
    pub entries: Vec<ForwardEntry>,
    pub next_id: u64,
    /// The selected entry in the list.
    pub cursor: usize,
    /// Why forwarding is not possible with this source (`None`: it is).
    pub unavailable: Option<String>,
}

/// The Service port Shift-F forwards: the port of the selected Chain node, else the
/// Service's only port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortChoice {
    pub service: ServiceKey,
    pub port: i32,
    pub name: Option<String>,
}

impl PortChoice {
    /// `svc/web:80 (http)`.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("svc/{}:{} ({name})", self.service.name, self.port),
            None => format!("svc/{}:{}", self.service.name, self.port),
        }
    }

    /// What the prompt offers: the same number locally, unless it needs root.
    pub fn suggested_local(&self) -> String {
        match u16::try_from(self.port) {
            Ok(port) if port >= 1024 => port.to_string(),
            _ => String::new(),
        }
    }
}

/// Which port Shift-F means, or why none.
pub fn port_choice(state: &AppState) -> Result<PortChoice, String> {
    let Some((_, chain)) = state.selected_service() else {
        return Err("select a Service to forward".to_owned());
    };
    if chain.service_type == ServiceType::ExternalName {
        return Err(format!(
            "{} is an ExternalName Service: there are no pods to forward to",
            chain.key()
        ));
    }
    let from_chain = state.chain_view().and_then(|view| {
        (1..=view.selected.len()).find_map(|length| {
            let prefix = view.selected.get(..length)?.to_vec();
            match state.chain.outline.get(&prefix)?.kind {
                NodeKind::Port { port } => Some(port),
                _ => None,
            }
        })
    });
    let index = match from_chain {
        Some(index) => index,
        None => {
            let tcp: Vec<usize> = chain
                .ports
                .iter()
                .enumerate()
                .filter(|(_, port)| port.protocol == Protocol::Tcp)
                .map(|(index, _)| index)
                .collect();
            match tcp.as_slice() {
                [only] => *only,
                [] => return Err(format!("{} has no TCP port to forward", chain.key())),
                _ => {
                    return Err(format!(
                        "{} has {} ports: select one in the Chain pane, then F",
                        chain.key(),
                        tcp.len()
                    ));
                }
            }
        }
    };
    choice(chain, index)
}

fn choice(chain: &ServiceChain, index: usize) -> Result<PortChoice, String> {
    let Some(port) = chain.ports.get(index) else {
        return Err("this port is gone".to_owned());
    };
    if port.protocol != Protocol::Tcp {
        return Err(format!(
            "port {} of {} is {}: a port-forward carries TCP only",
            port.port,
            chain.key(),
            port.protocol
        ));
    }
    Ok(PortChoice {
        service: chain.key(),
        port: port.port,
        name: port.name.clone().filter(|name| !name.is_empty()),
    })
}

/// The local port typed at the prompt: empty means any free port.
pub fn parse_local(input: &str) -> Result<u16, String> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(0);
    }
    input
        .parse::<u16>()
        .map_err(|_| format!("{input:?} is not a port number (0-65535; empty picks a free one)"))
}

impl ForwardsState {
    /// Adds a starting forward; returns its id and the request for the loop.
    pub fn begin(&mut self, choice: &PortChoice, local: u16) -> (ForwardId, ForwardRequest) {
        let id = ForwardId(self.next_id);
        self.next_id += 1;
        self.entries.push(ForwardEntry {
            id,
            service: choice.service.clone(),
            port: choice.port,
            port_name: choice.name.clone(),
            requested_local: local,
            status: ForwardStatus::Starting,
            locals: Vec::new(),
            stats: None,
            notices: VecDeque::new(),
        });
        let request = ForwardRequest {
            service: choice.service.clone(),
            ports: vec![PortMapping {
                local: Some(local),
                port: PortRef::Number(choice.port),
            }],
        };
        (id, request)
    }

    pub fn entry_mut(&mut self, id: ForwardId) -> Option<&mut ForwardEntry> {
        self.entries.iter_mut().find(|entry| entry.id == id)
    }

    /// Applies what the loop reported. Returns the status-line message it deserves, if any
    /// (`true`: an error).
    pub fn apply(&mut self, id: ForwardId, update: ForwardUpdate) -> Option<(String, bool)> {
        let entry = self.entry_mut(id)?;
        match update {
            ForwardUpdate::Started(listening) => {
                entry.status = ForwardStatus::Running;
                entry.locals = listening
                    .iter()
                    .flat_map(|listening| listening.locals.iter().copied())
                    .collect();
                let first = entry
                    .locals
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                Some((
                    format!(
                        "Forwarding from {first} -> svc/{}:{} (f lists forwards)",
                        entry.service.name, entry.port
                    ),
                    false,
                ))
            }
            ForwardUpdate::StartFailed(error) => {
                let text = format!("forward {}: {error}", entry.target());
                entry.status = ForwardStatus::Failed(error);
                Some((text, true))
            }
            ForwardUpdate::Stopped(reason) => {
                entry.status = ForwardStatus::Failed(reason);
                None
            }
            ForwardUpdate::Event(ForwardEvent::Notice(notice)) => {
                if matches!(notice, crate::forward::Notice::Listening { .. }) {
                    return None;
                }
                entry.notices.push_back(notice.to_string());
                while entry.notices.len() > KEPT_NOTICES {
                    entry.notices.pop_front();
                }
                None
            }
            ForwardUpdate::Event(ForwardEvent::Stats(stats)) => {
                entry.stats = stats.ports.into_iter().next();
                None
            }
        }
    }

    /// Removes the selected entry; returns its id when it was running (the loop stops it).
    pub fn remove_selected(&mut self) -> Option<ForwardEntry> {
        if self.cursor >= self.entries.len() {
            return None;
        }
        let entry = self.entries.remove(self.cursor);
        self.cursor = self.cursor.min(self.entries.len().saturating_sub(1));
        Some(entry)
    }

    /// Forwards that are listening.
    pub fn running(&self) -> usize {
        self.entries
            .iter()
            .filter(|entry| entry.status == ForwardStatus::Running)
            .count()
    }

    pub fn move_cursor(&mut self, delta: isize) {
        let last = self.entries.len().saturating_sub(1);
        self.cursor = self.cursor.saturating_add_signed(delta).min(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::ServicePortKey;
    use crate::forward::{Notice, Target};
    use rstest::rstest;

    fn choice() -> PortChoice {
        PortChoice {
            service: ServiceKey {
                namespace: "shop".into(),
                name: "web".into(),
            },
            port: 80,
            name: Some("http".into()),
        }
    }

    #[rstest]
    #[case("", Ok(0))]
    #[case(" 8080 ", Ok(8080))]
    #[case("0", Ok(0))]
    #[case("70000", Err(()))]
    #[case("http", Err(()))]
    fn local_ports_parse(#[case] input: &str, #[case] expected: Result<u16, ()>) {
        assert_eq!(parse_local(input).map_err(|_| ()), expected);
    }

    #[test]
    fn privileged_ports_are_not_suggested() {
        assert_eq!(choice().suggested_local(), "");
        let high = PortChoice {
            port: 8080,
            ..choice()
        };
        assert_eq!(high.suggested_local(), "8080");
        assert_eq!(choice().label(), "svc/web:80 (http)");
    }

    #[test]
    fn a_forward_goes_from_starting_to_running_with_stats_and_notices() {
        let mut forwards = ForwardsState::default();
        let (id, request) = forwards.begin(&choice(), 0);
        assert_eq!(request.ports[0].to_string(), "0:80");
        assert_eq!(forwards.entries[0].status, ForwardStatus::Starting);
        let target = Target {
            port: ServicePortKey {
                service: choice().service,
                port: 80,
                protocol: Protocol::Tcp,
            },
            name: Some("http".into()),
        };
        let local: SocketAddr = "127.0.0.1:41000".parse().expect("addr");
        let message = forwards.apply(
            id,
            ForwardUpdate::Started(vec![Listening {
                target: target.clone(),
                locals: vec![local],
            }]),
        );
        assert_eq!(
            message,
            Some((
                "Forwarding from 127.0.0.1:41000 -> svc/web:80 (f lists forwards)".into(),
                false
            ))
        );
        assert_eq!(forwards.running(), 1);
        for n in 0..5 {
            forwards.apply(
                id,
                ForwardUpdate::Event(ForwardEvent::Notice(Notice::Refused {
                    target: target.clone(),
                    client: format!("127.0.0.1:{}", 50000 + n).parse().expect("addr"),
                    reason: "no endpoints".into(),
                })),
            );
        }
        assert_eq!(forwards.entries[0].notices.len(), KEPT_NOTICES);
        assert!(forwards.entries[0].notices[2].contains("50004"));
        let removed = forwards.remove_selected().expect("one entry");
        assert_eq!(removed.id, id);
        assert!(forwards.entries.is_empty());
        assert_eq!(forwards.remove_selected(), None);
    }

    #[test]
    fn failures_to_start_are_kept_and_reported() {
        let mut forwards = ForwardsState::default();
        let (id, _) = forwards.begin(&choice(), 80);
        let message = forwards.apply(
            id,
            ForwardUpdate::StartFailed("cannot listen on 127.0.0.1:80: permission denied".into()),
        );
        assert_eq!(
            message,
            Some((
                "forward shop/web:80: cannot listen on 127.0.0.1:80: permission denied".into(),
                true
            ))
        );
        assert!(matches!(
            forwards.entries[0].status,
            ForwardStatus::Failed(_)
        ));
        assert_eq!(forwards.running(), 0);
    }
}
