//! `--demo`: the built-in scenario running in this process.
//!
//! How a caller turns the demo into a stream of snapshots (kubehop's `--demo` source does this):
//!
//! ```no_run
//! # async fn feed() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = kubehop_sandbox::start_demo().await?;
//! let client: kube::Client = sandbox.client().await?;   // or sandbox.kubeconfig_path()
//! // ... watch Services, EndpointSlices, Pods, Nodes, Ingresses, Namespaces with `client`
//! // exactly as for a real cluster; keep `sandbox` alive as long as `client` is used.
//! # drop(client); sandbox.shutdown().await; Ok(()) }
//! ```
//!
//! The demo serves HTTPS on 127.0.0.1 (a free port), writes a private kubeconfig (context
//! `kubehop-sandbox`) to the temp folder and removes it when the handle is dropped or shut
//! down. Its pods, ClusterIPs, nodePorts and LoadBalancer IPs are real listeners in the
//! instance's loopback block, so probes connect for real.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use crate::control::READY_ANNOTATION;
use crate::{
    ControlPlaneConfig, Sandbox, SandboxBuilder, SandboxError, SandboxHandle, Store, scenario,
};

/// The longest [`start_demo`] waits for the demo's pods to come up before returning anyway.
pub const DEMO_STARTUP_LIMIT: Duration = Duration::from_secs(15);

/// The demo's configuration (built-in scenario, control plane with default timings, data
/// plane on), to adjust before starting.
pub fn demo_builder() -> Result<SandboxBuilder, SandboxError> {
    Ok(Sandbox::builder()
        .objects(scenario::builtin()?)
        .control_plane(ControlPlaneConfig::default())
        .data_plane(true)
        .gateway_api(true))
}

/// Starts the demo sandbox in-process and returns its handle once the demo has come up (see
/// [`demo_up`]; at most [`DEMO_STARTUP_LIMIT`]), so the first snapshot shows the scenario as
/// designed rather than pods still starting: use [`SandboxHandle::client`] for a
/// `kube::Client` or [`SandboxHandle::kubeconfig_path`]. Dropping the handle stops the sandbox.
pub async fn start_demo() -> Result<SandboxHandle, SandboxError> {
    let sandbox = demo_builder()?.start().await?;
    // Past the limit the demo is shown as it is; the watchers catch up by themselves.
    let _ = tokio::time::timeout(DEMO_STARTUP_LIMIT, demo_up(&sandbox)).await;
    Ok(sandbox)
}

/// Waits until the controllers are idle, the listeners match the store, and every running pod
/// is Ready except those the readiness switch ([`READY_ANNOTATION`]) keeps unready and those
/// terminating. Wrap it in a timeout.
pub async fn demo_up(sandbox: &SandboxHandle) {
    let mut changes = sandbox.store().changes();
    loop {
        changes.borrow_and_update();
        sandbox.settled().await;
        if pods_up(sandbox.store()) {
            return;
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

fn pods_up(store: &Store) -> bool {
    let Ok(pods) = store.list::<Pod>(None) else {
        return true;
    };
    pods.iter().all(|pod| {
        let switched_off = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(READY_ANNOTATION))
            .is_some_and(|value| value == "false");
        let status = pod.status.as_ref();
        let running = status
            .and_then(|status| status.phase.as_deref())
            .is_some_and(|phase| phase == "Running");
        let ready = status
            .and_then(|status| status.conditions.as_ref())
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|condition| condition.type_ == "Ready" && condition.status == "True")
            });
        switched_off || pod.metadata.deletion_timestamp.is_some() || !running || ready
    })
}
