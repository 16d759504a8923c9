//! `--demo`: the built-in scenario running in this process.
//!
//! For the code that turns the demo into a [`SnapshotFeed`](crate::cluster::feed::SnapshotFeed):
//!
//! ```no_run
//! # async fn feed() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = kubehop::sandbox::start_demo().await?;
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

use crate::sandbox::{
    ControlPlaneConfig, Sandbox, SandboxBuilder, SandboxError, SandboxHandle, scenario,
};

/// The demo's configuration (built-in scenario, control plane with default timings, data
/// plane on), to adjust before starting.
pub fn demo_builder() -> Result<SandboxBuilder, SandboxError> {
    Ok(Sandbox::builder()
        .objects(scenario::builtin()?)
        .control_plane(ControlPlaneConfig::default())
        .data_plane(true))
}

/// Starts the demo sandbox in-process and returns its handle: use
/// [`SandboxHandle::client`] for a `kube::Client` or [`SandboxHandle::kubeconfig_path`].
/// Dropping the handle stops the sandbox.
pub async fn start_demo() -> Result<SandboxHandle, SandboxError> {
    demo_builder()?.start().await
}
