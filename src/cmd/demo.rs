//! `--demo`: the embedded sandbox (built-in scenario, control plane and data plane on
//! loopback) wired into the cluster layer's sources. The binary builds its [`Sources`] here;
//! the cluster layer itself does not know the sandbox.

use futures::future::BoxFuture;

use crate::cluster::{ClusterError, DemoCluster, DemoStarted, Sources};

/// The demo cluster: the sandbox with its built-in scenario, started in this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoSandbox;

impl DemoCluster for DemoSandbox {
    fn start(&self) -> BoxFuture<'static, Result<DemoStarted, ClusterError>> {
        Box::pin(async {
            let demo = |error: crate::sandbox::SandboxError| ClusterError::Demo(error.to_string());
            let sandbox = crate::sandbox::start_demo().await.map_err(demo)?;
            let config = sandbox.config().await.map_err(demo)?;
            Ok(DemoStarted {
                config,
                keep_alive: Box::new(sandbox),
            })
        })
    }
}

/// Every source the binary offers: dumps, kubeconfig clusters and `--demo`.
pub fn sources() -> Sources {
    Sources::with_demo(DemoSandbox)
}
