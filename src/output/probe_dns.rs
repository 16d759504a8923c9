//! The DNS half of `kubehop probe` and `chain --probe`: the cluster DNS is asked what it
//! serves for the Service ([`crate::probe::dns`]), and the one [`DnsCheck`] it gives becomes
//! the `dns` part of the probe report (text, JSON, YAML) and, as probe findings
//! ([`DnsCheck::probe_findings`]), part of each Service's `probeFindings`.
//!
//! The cluster DNS and the nodes' service proxies live in `kube-system`, which a command
//! scoped to one namespace does not watch: then its Services, EndpointSlices and Pods are
//! listed once ([`SystemObjects`]: three list requests, read-only, rules F11 and K2) and
//! added to the snapshots the probe plans on.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::engine::dnscheck::{
    DNS_NAMESPACE, DnsCheck, LookupResult, LookupStatus, find_cluster_dns, lookups,
};
use crate::engine::model::ServiceKey;
use crate::engine::snapshot::ClusterSnapshot;
use crate::engine::{ProxyModel, Severity};
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

/// `kube-system`'s Services, EndpointSlices and Pods when the source does not read that
/// namespace (a command scoped to the Service's): the cluster DNS (rule F11) and each node's
/// service proxy pod (rule K2) live there. Three lists, read once, at the start.
#[derive(Debug, Clone, Default)]
pub struct SystemObjects(Option<ClusterSnapshot>);

impl SystemObjects {
    /// Nothing to read when `snapshot` holds `kube-system` objects already; else the three
    /// lists (none, when they fail: then the DNS and proxies are just not found).
    pub async fn read(snapshot: &ClusterSnapshot, api: &kube::Config) -> SystemObjects {
        let system = |namespace: Option<&String>| namespace.is_some_and(|ns| ns == DNS_NAMESPACE);
        let covered = snapshot
            .services
            .iter()
            .any(|service| system(service.metadata.namespace.as_ref()))
            || snapshot
                .pods
                .iter()
                .any(|pod| pod.namespace.as_deref() == Some(DNS_NAMESPACE));
        if covered {
            return SystemObjects(None);
        }
        SystemObjects(list_system(api).await)
    }

    /// `snapshot` with the `kube-system` objects added (the same snapshot when there are none).
    pub fn complete(&self, snapshot: Arc<ClusterSnapshot>) -> Arc<ClusterSnapshot> {
        let Some(system) = &self.0 else {
            return snapshot;
        };
        let mut completed = (*snapshot).clone();
        completed.services.extend(system.services.iter().cloned());
        completed
            .endpoint_slices
            .extend(system.endpoint_slices.iter().cloned());
        Arc::make_mut(&mut completed.pods).extend(system.pods.iter().cloned());
        Arc::new(completed)
    }
}

fn arcs<T>(items: Vec<T>) -> Vec<Arc<T>> {
    items.into_iter().map(Arc::new).collect()
}

/// `kube-system`'s Services, EndpointSlices and Pods, as a snapshot of their own.
async fn list_system(api: &kube::Config) -> Option<ClusterSnapshot> {
    use k8s_openapi::api::core::v1::{Pod, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let client = crate::cluster::connector::streaming_client(api.clone()).ok()?;
    let params = kube::api::ListParams::default();
    let services: kube::Api<Service> = kube::Api::namespaced(client.clone(), DNS_NAMESPACE);
    let slices: kube::Api<EndpointSlice> = kube::Api::namespaced(client.clone(), DNS_NAMESPACE);
    let pods: kube::Api<Pod> = kube::Api::namespaced(client, DNS_NAMESPACE);
    let (services, slices, pods) = tokio::time::timeout(LIST_TIMEOUT, async {
        tokio::join!(
            services.list(&params),
            slices.list(&params),
            pods.list(&params)
        )
    })
    .await
    .ok()?;
    Some(ClusterSnapshot {
        services: arcs(services.ok()?.items),
        endpoint_slices: crate::engine::objects::SliceInfo::compact_all(slices.ok()?.items),
        pods: {
            let mut interner = crate::engine::objects::Interner::new();
            let pods = pods.ok()?.items;
            pods.iter()
                .map(|pod| {
                    Arc::new(crate::engine::objects::PodInfo::from_pod(
                        pod,
                        &mut interner,
                    ))
                })
                .collect::<Vec<_>>()
                .into()
        },
        ..ClusterSnapshot::default()
    })
}

/// Asks the cluster DNS of `model` (rule F11) about `service` through `transports`'
/// port-forwards.
pub async fn probe_service(
    model: &ProxyModel,
    service: &ServiceKey,
    transports: &Transports,
) -> DnsProbe {
    let Some(chain) = model.service(&service.namespace, &service.name) else {
        return DnsProbe::NoRecords;
    };
    let lookups = lookups(chain, model);
    if lookups.is_empty() {
        return DnsProbe::NoRecords;
    }
    let server = find_cluster_dns(model, None);
    let (Some(server), Some(dialer)) = (server, transports.port_forward.clone()) else {
        return DnsProbe::NoServer;
    };
    let transport = PortForwardDns(dialer);
    let check =
        crate::probe::dns::check(&server, &lookups, &transport, &DnsOptions::default()).await;
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
                "\nDNS  not checked: no cluster DNS Service found (kube-system, label k8s-app=kube-dns)"
            );
        }
        DnsProbe::Checked(check) => check,
    };
    writeln!(out)?;
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
