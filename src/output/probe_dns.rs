//! The DNS half of `kubehop probe` and `chain --probe`: the cluster DNS is asked what it
//! serves for the Service ([`crate::probe::dns`]), and the one [`DnsCheck`] it gives becomes
//! the `dns` part of the probe report (text, JSON, YAML) and, as probe findings
//! ([`DnsCheck::probe_findings`]), part of each Service's `probeFindings`.
//!
//! The cluster DNS lives in `kube-system`, which a command scoped to one namespace does not
//! watch: then its Services and EndpointSlices are listed once (two list requests, read-only,
//! rule F11), and its pods asked through port-forwards as the TUI asks them.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::engine::dnscheck::{
    ClusterDns, DNS_NAMESPACE, DnsCheck, LookupResult, LookupStatus, find_cluster_dns, lookups,
};
use crate::engine::model::ServiceKey;
use crate::engine::snapshot::ClusterSnapshot;
use crate::engine::{EngineConfig, ProxyModel, Severity, build};
use crate::printable::escape;
use crate::probe::Transports;
use crate::probe::dns::{DnsOptions, PortForwardDns};

/// How long the two lists of `kube-system` may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// What the DNS probe of one Service gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsProbe {
    /// The engine expects no record for the Service: nothing to ask.
    NoRecords,
    /// No cluster DNS Service was found (rule F11): nothing to ask.
    NoServer,
    Checked(Box<DnsCheck>),
}

impl DnsProbe {
    /// The check's findings as probe findings (none without a check).
    pub fn probe_findings(&self) -> Vec<crate::engine::verdict::ProbeFinding> {
        match self {
            DnsProbe::Checked(check) => check.probe_findings(),
            _ => Vec::new(),
        }
    }

    /// Whether the check found something wrong with the answers or a DNS pod: any finding but
    /// a pod that could not be reached (nothing was learnt) or a Service without ready pods.
    pub fn is_unexpected(&self) -> bool {
        use crate::engine::dnscheck::DnsFindingCode as Code;
        match self {
            DnsProbe::Checked(check) => check
                .findings
                .iter()
                .any(|finding| !matches!(finding.code, Code::PodUnreachable | Code::NoServer)),
            _ => false,
        }
    }
}

/// The cluster DNS of `model`, else (a source scoped to another namespace) of `kube-system`
/// as two lists read it. `None` when there is none or the lists fail.
pub async fn cluster_dns(
    model: &ProxyModel,
    api: &kube::Config,
    config: &EngineConfig,
) -> Option<ClusterDns> {
    if let Some(found) = find_cluster_dns(model, None) {
        return Some(found);
    }
    if model
        .services
        .iter()
        .any(|chain| chain.namespace == DNS_NAMESPACE)
    {
        // kube-system is read already, and holds no cluster DNS.
        return None;
    }
    let system = list_system(api).await?;
    find_cluster_dns(&build(&system, config), None)
}

/// `kube-system`'s Services and EndpointSlices, as a snapshot of its own.
async fn list_system(api: &kube::Config) -> Option<ClusterSnapshot> {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let client = crate::cluster::connector::streaming_client(api.clone()).ok()?;
    let params = kube::api::ListParams::default();
    let services: kube::Api<Service> = kube::Api::namespaced(client.clone(), DNS_NAMESPACE);
    let slices: kube::Api<EndpointSlice> = kube::Api::namespaced(client, DNS_NAMESPACE);
    let (services, slices) = tokio::time::timeout(LIST_TIMEOUT, async {
        tokio::join!(services.list(&params), slices.list(&params))
    })
    .await
    .ok()?;
    Some(ClusterSnapshot {
        services: services.ok()?.items.into_iter().map(Arc::new).collect(),
        endpoint_slices: slices.ok()?.items.into_iter().map(Arc::new).collect(),
        ..ClusterSnapshot::default()
    })
}

/// Asks `server`'s pods about `service` of `model` through `transports`' port-forwards.
pub async fn probe_service(
    model: &ProxyModel,
    service: &ServiceKey,
    server: Option<&ClusterDns>,
    transports: &Transports,
) -> DnsProbe {
    let Some(chain) = model.service(&service.namespace, &service.name) else {
        return DnsProbe::NoRecords;
    };
    let lookups = lookups(chain, model);
    if lookups.is_empty() {
        return DnsProbe::NoRecords;
    }
    let (Some(server), Some(dialer)) = (server, transports.port_forward.clone()) else {
        return DnsProbe::NoServer;
    };
    let transport = PortForwardDns(dialer);
    let check =
        crate::probe::dns::check(server, &lookups, &transport, &DnsOptions::default()).await;
    DnsProbe::Checked(Box::new(check))
}

/// `✓ 2/2 pods`, or the first wrong (else failed) answer with its mark.
pub fn lookup_mark(result: &LookupResult) -> (Option<Severity>, String) {
    let total = result.statuses.len();
    if result.all_matched() {
        return (None, format!("✓ {total}/{total} pods"));
    }
    let wrong = result.statuses.iter().find(|status| status.is_wrong_data());
    let other = || {
        result
            .statuses
            .iter()
            .find(|status| **status != LookupStatus::Matched)
    };
    match (wrong, other()) {
        (Some(status), _) => (Some(Severity::Error), format!("✗ {}", status.word())),
        (None, Some(status)) => (Some(Severity::Warning), format!("! {}", status.word())),
        (None, None) => (Some(Severity::Warning), "! no DNS pod".to_owned()),
    }
}

/// The text part: one line per lookup with its mark, then the findings.
pub fn write_text(out: &mut dyn Write, probe: &DnsProbe) -> io::Result<()> {
    let check = match probe {
        DnsProbe::NoRecords => return Ok(()),
        DnsProbe::NoServer => {
            return writeln!(
                out,
                "DNS  not checked: no cluster DNS Service found (kube-system, label k8s-app=kube-dns)"
            );
        }
        DnsProbe::Checked(check) => check,
    };
    let pods: Vec<&str> = check.pods.iter().map(|pod| pod.name.as_str()).collect();
    writeln!(
        out,
        "DNS  {}/{} {} — {}/{} lookups matched",
        escape(&check.server.namespace),
        escape(&check.server.name),
        if pods.is_empty() {
            "(no ready pod)".to_owned()
        } else {
            format!("(pods {})", escape(&pods.join(", ")))
        },
        check.matched(),
        check.results.len()
    )?;
    let width = check
        .results
        .iter()
        .map(|result| result.lookup.asked.chars().count())
        .max()
        .unwrap_or(0);
    for result in &check.results {
        let (_, mark) = lookup_mark(result);
        writeln!(
            out,
            "  {:<5} {:<width$}  {}",
            format!("{:?}", result.lookup.record_type),
            escape(&result.lookup.asked),
            escape(&mark)
        )?;
    }
    for finding in &check.findings {
        writeln!(
            out,
            "  {} {} {}: {}",
            severity_mark(finding.severity),
            finding.code,
            escape(&finding.subject),
            escape(&finding.message)
        )?;
    }
    Ok(())
}

fn severity_mark(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "✗",
        Severity::Warning => "!",
        Severity::Info => "i",
    }
}

/// The JSON `dns` member (docs/output.md): `null` when the engine expects no record.
pub fn to_json(probe: &DnsProbe) -> Value {
    let check = match probe {
        DnsProbe::NoRecords => return Value::Null,
        DnsProbe::NoServer => {
            return json!({
                "server": null, "pods": [], "matched": 0, "lookups": [], "findings": []
            });
        }
        DnsProbe::Checked(check) => check,
    };
    let lookups: Vec<Value> = check
        .results
        .iter()
        .map(|result| {
            let answers: Vec<Value> = check
                .pods
                .iter()
                .zip(&result.statuses)
                .map(|(pod, status)| {
                    let mut answer = serde_json::to_value(status).unwrap_or(Value::Null);
                    if let Value::Object(fields) = &mut answer {
                        fields.insert("pod".to_owned(), json!(pod.name));
                    }
                    answer
                })
                .collect();
            json!({
                "asked": result.lookup.asked,
                "type": format!("{:?}", result.lookup.record_type),
                "form": result.lookup.form,
                "answersAs": result.lookup.answers_as,
                "expected": result.lookup.expected,
                "matched": result.all_matched(),
                "answers": answers,
            })
        })
        .collect();
    json!({
        "server": {
            "namespace": check.server.namespace,
            "name": check.server.name,
            "foundBy": check.server.found_by,
        },
        "pods": check.pods.iter().map(|pod| json!({
            "namespace": pod.namespace, "pod": pod.name, "ip": pod.ip, "port": pod.port,
        })).collect::<Vec<_>>(),
        "matched": check.matched(),
        "lookups": lookups,
        "findings": check.probe_findings(),
    })
}
