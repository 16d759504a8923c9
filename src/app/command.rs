//! Side effects that [`super::update::update`] asks the loop to perform.

use std::sync::Arc;

use super::catalog::Generation;
use super::drill::{InspectRequest, RequestId};
use super::forwards::ForwardId;
use crate::cluster::ClusterSnapshot;
use crate::engine::model::{HopKey, ServiceKey};
use crate::engine::plan::ProbePlan;
use crate::forward::ForwardRequest;
use crate::probe::RunId;

/// What the loop should do after an update.
#[derive(Debug, Clone)]
pub enum Command {
    Quit,
    /// Run the engine over this snapshot off the UI thread; answer with `AppEvent::ModelBuilt`
    /// carrying the same generation.
    BuildModel {
        snapshot: Arc<ClusterSnapshot>,
        generation: Generation,
    },
    /// Switch the kubeconfig context (`:ctx NAME`): the source must restart.
    SwitchContext(String),
    /// Probe a hop (`p`) or the whole Service (`P`, `hop: None`): carry out `plan` and answer
    /// with `AppEvent::Probe` events of run `run`.
    RunProbe {
        service: ServiceKey,
        hop: Option<HopKey>,
        run: RunId,
        plan: Arc<ProbePlan>,
        /// For `P`: the Service's DNS check too (when there is a cluster DNS to ask); answer
        /// with `AppEvent::Dns`.
        dns: Option<Arc<super::dns::DnsRequest>>,
    },
    /// Stop run `run` (Esc, or another Service selected).
    CancelProbe {
        run: RunId,
    },
    /// Start forward `id` (Shift-F); answer with `AppEvent::Forward` updates of that id.
    StartForward {
        id: ForwardId,
        request: ForwardRequest,
    },
    /// Stop forward `id` (`d` in the list).
    StopForward {
        id: ForwardId,
    },
    /// Read something on demand (the drill-down); answer with `AppEvent::Inspected` of `id`.
    Inspect {
        id: RequestId,
        request: InspectRequest,
    },
    /// Stop read `id` (a log stream whose page closed).
    StopInspect {
        id: RequestId,
    },
    /// Put this text on the clipboard: an OSC 52 sequence written through the terminal
    /// (`c`: a copy-ready fix).
    Copy(String),
}
