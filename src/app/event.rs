//! Things that happened: input, new snapshots, connection status, background results, time.

use std::sync::Arc;
use std::time::Instant;

use crossterm::event::{KeyEvent, MouseEvent};

use super::catalog::{Catalog, Generation};
use super::drill::{Inspected, RequestId};
use super::forwards::{ForwardId, ForwardUpdate};
use crate::cluster::ClusterSnapshot;
use crate::cluster::feed::ConnectionStatus;
use crate::probe::ProbeEvent;

/// Everything [`super::update::update`] reacts to.
#[derive(Debug, Clone)]
pub enum AppEvent {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize {
        width: u16,
        height: u16,
    },
    /// The source published a snapshot.
    Snapshot(Arc<ClusterSnapshot>),
    Status(ConnectionStatus),
    /// The engine finished reading a snapshot (see [`Generation`]).
    ModelBuilt {
        catalog: Arc<Catalog>,
        at: Instant,
    },
    /// A message for the status line (from a command the loop could not carry out).
    Notice(String),
    /// Time passed (only sent while something animates).
    Tick(Instant),
    /// Progress of a probe run.
    Probe(ProbeEvent),
    /// A DNS check of a Service came back.
    Dns {
        service: crate::engine::model::ServiceKey,
        check: Box<crate::engine::dnscheck::DnsCheck>,
    },
    /// An answer to `Command::Inspect` of `id`.
    Inspected {
        id: RequestId,
        answer: Inspected,
    },
    /// A forward started, failed to, or reported a notice or its counters.
    Forward {
        id: ForwardId,
        update: ForwardUpdate,
    },
}

impl AppEvent {
    /// The generation of a build result, if this is one.
    pub fn generation(&self) -> Option<Generation> {
        match self {
            AppEvent::ModelBuilt { catalog, .. } => Some(catalog.generation),
            _ => None,
        }
    }
}
