//! Side effects that [`super::update::update`] asks the loop to perform.

use std::sync::Arc;

use super::catalog::Generation;
use crate::cluster::ClusterSnapshot;
use crate::engine::model::{HopKey, ServiceKey};

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
    /// Probe a hop (`p`) or the whole Service (`P`, `hop: None`).
    RunProbe {
        service: ServiceKey,
        hop: Option<HopKey>,
    },
}
