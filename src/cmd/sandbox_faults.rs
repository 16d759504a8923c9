//! `kubehop sandbox`'s data-plane faults: a frozen cluster DNS pod (`--fault-freeze-dns`), a
//! node whose kube-proxy is unhealthy (`--fault-node-proxy-down`) and forwarding cut between
//! two nodes (`--fault-cut-nodes`). They need the scenario's pods and nodes, so they are
//! checked before the sandbox starts (syntax) and switched on once it has settled (names).
//! The node faults are cluster state (annotations, rules K2, K3), so kubectl can heal them.

use k8s_openapi::api::core::v1::Pod;

use super::sandbox::SandboxCommandError;
use crate::cli::SandboxArgs;
use crate::printable::escape;
use crate::sandbox::SandboxHandle;
use crate::sandbox::dataplane::dns::is_dns_pod;

/// The data-plane faults asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataPlaneFaults {
    /// `*` (the first DNS pod), `NAMESPACE/NAME` or a kube-system pod's name.
    freeze_dns: Vec<String>,
    proxy_down: Vec<String>,
    cuts: Vec<(String, String)>,
}

fn fault(flag: &'static str, reason: String) -> SandboxCommandError {
    SandboxCommandError::Fault { flag, reason }
}

impl DataPlaneFaults {
    /// The flags, with `--fault-cut-nodes`' pairs split.
    pub fn of(args: &SandboxArgs) -> Result<Self, SandboxCommandError> {
        let cuts = args
            .fault_cut_nodes
            .iter()
            .map(|pair| match pair.split_once(',') {
                Some((a, b)) if !a.is_empty() && !b.is_empty() && a != b && !b.contains(',') => {
                    Ok((a.to_owned(), b.to_owned()))
                }
                _ => Err(fault(
                    "--fault-cut-nodes",
                    format!("{:?} is not two different nodes, NODE,NODE", escape(pair)),
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(DataPlaneFaults {
            freeze_dns: args.fault_freeze_dns.clone(),
            proxy_down: args.fault_node_proxy_down.clone(),
            cuts,
        })
    }

    /// Switches the faults on; one line per fault for the banner.
    pub fn apply(&self, sandbox: &SandboxHandle) -> Result<Vec<String>, SandboxCommandError> {
        let mut lines = Vec::new();
        for wanted in &self.freeze_dns {
            let (namespace, name) = dns_pod(sandbox, wanted)?;
            sandbox.faults().freeze_dns(&namespace, &name);
            lines.push(format!(
                "fault: DNS pod {namespace}/{name} frozen (it keeps answering today's records)"
            ));
        }
        for node in &self.proxy_down {
            let switched = sandbox
                .set_node_proxy_healthy(node, false)
                .map_err(|err| fault("--fault-node-proxy-down", err.to_string()))?;
            if switched == 0 {
                return Err(fault(
                    "--fault-node-proxy-down",
                    format!("no kube-proxy pod runs on node {:?}", escape(node)),
                ));
            }
            lines.push(format!(
                "fault: kube-proxy of {} unhealthy (its NodePorts stop answering)",
                escape(node)
            ));
        }
        for (a, b) in &self.cuts {
            sandbox
                .cut_nodes(a, b, true)
                .map_err(|err| fault("--fault-cut-nodes", err.to_string()))?;
            lines.push(format!(
                "fault: forwarding between {} and {} cut",
                escape(a),
                escape(b)
            ));
        }
        Ok(lines)
    }
}

/// The DNS pod `wanted` names (see [`DataPlaneFaults::freeze_dns`]).
fn dns_pod(sandbox: &SandboxHandle, wanted: &str) -> Result<(String, String), SandboxCommandError> {
    let pods: Vec<Pod> = sandbox
        .store()
        .list::<Pod>(None)
        .map_err(|err| fault("--fault-freeze-dns", err.to_string()))?;
    let mut dns: Vec<(String, String)> = pods
        .iter()
        .filter(|pod| is_dns_pod(pod))
        .filter_map(|pod| Some((pod.metadata.namespace.clone()?, pod.metadata.name.clone()?)))
        .collect();
    dns.sort();
    let found = match wanted {
        "*" => dns.into_iter().next(),
        _ => {
            let (namespace, name) = wanted.split_once('/').unwrap_or(("kube-system", wanted));
            dns.into_iter().find(|(ns, n)| ns == namespace && n == name)
        }
    };
    found.ok_or_else(|| {
        fault(
            "--fault-freeze-dns",
            format!("no cluster DNS pod {:?}", escape(wanted)),
        )
    })
}
