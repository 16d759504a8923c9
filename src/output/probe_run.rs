//! `kubehop probe SERVICE[:PORT]`: source settings → the same feed as `chain` and the TUI
//! ([`Sources::open`], scoped to the Service's namespace) → the engine's plan → real
//! connections → the report, checked once more against the feed's latest snapshot so that hops
//! whose prediction changed meanwhile are marked stale instead of wrong.
//!
//! Exit status: 0 when every hop that could be checked behaved as predicted (hops that are
//! not reachable from this machine do not count), 1 otherwise, 2 for bad input or a source
//! that cannot be probed (a dump: there is nothing to connect to).
//!
//! The cluster is read with list and watch requests in the Service's namespace (Services,
//! EndpointSlices, Pods, Ingresses) plus Nodes and Namespaces — the probe makes no other API
//! request than `pods/portforward` (and, when the Service is not in that namespace, one list
//! of Services by name to say where it is), and never writes.

use std::collections::BTreeSet;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use super::chain::{DnsChecks, ProbeFindings};
use super::probe::{ProbeView, to_json, write_text};
use super::probe_dns::{self, DnsProbe, SystemObjects};
use crate::cli::{OutputFormat, ProbeArgs, Via as CliVia};
use crate::cluster::feed::SnapshotFeed;
use crate::cluster::{ClusterError, ClusterSnapshot, Source, SourceSettings, Sources};
use crate::engine::model::ServiceKey;
use crate::engine::plan::{PlanContext, PlanError, PortSelector, ProbePlan, Via, probe_plan_with};
use crate::engine::{EngineConfig, ProxyModel, build};
use crate::probe::{self, NetworkScope, ProbeOptions, Transports};

/// Exit status: every checked hop behaved as predicted.
pub const EXIT_AS_PREDICTED: u8 = 0;
/// Exit status: at least one hop did not.
pub const EXIT_UNEXPECTED: u8 = 1;
/// Exit status: bad input, or a source that cannot be probed.
pub const EXIT_USAGE: u8 = 2;

/// Why `kubehop probe` could not run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ProbeCommandError {
    #[error(
        "probing needs a live cluster: a dump has no pods or addresses to connect to (use --demo, or a kubeconfig context)"
    )]
    NeedsLiveCluster,
    #[error(
        "{0:?} is not SERVICE[:PORT] (a name or namespace/name, then an optional port name or number)"
    )]
    Target(String),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot reach the cluster's API: {0}")]
    Client(#[source] kube::Error),
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The Service is not in the namespace probed; `hint` says where it is, as `chain` does.
    #[error("no Service {service}{hint}")]
    ServiceNotFound { service: ServiceKey, hint: String },
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
    #[error("cannot write the output: {0}")]
    Write(#[from] io::Error),
}

impl ProbeCommandError {
    /// The exit status for this error: 2, or 0 for a closed pipe.
    pub fn exit_code(&self) -> u8 {
        match self {
            ProbeCommandError::Write(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                EXIT_AS_PREDICTED
            }
            _ => EXIT_USAGE,
        }
    }
}

/// `SERVICE[:PORT]`, the Service optionally as `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTargetArg {
    pub namespace: Option<String>,
    pub name: String,
    pub port: PortSelector,
}

impl ProbeTargetArg {
    pub fn parse(text: &str) -> Result<Self, ProbeCommandError> {
        let bad = || ProbeCommandError::Target(text.to_owned());
        let (service, port) = match text.split_once(':') {
            Some((service, port)) if !port.is_empty() => (service, PortSelector::parse(port)),
            Some(_) => return Err(bad()),
            None => (text, PortSelector::All),
        };
        let (namespace, name) = match service.split_once('/') {
            Some((namespace, name)) => (Some(namespace.to_owned()), name),
            None => (None, service),
        };
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        if !valid(name) || namespace.as_deref().is_some_and(|ns| !valid(ns)) {
            return Err(bad());
        }
        Ok(ProbeTargetArg {
            namespace,
            name: name.to_owned(),
            port,
        })
    }
}

/// Where else a Service named like `service` exists (one list of Services by name, across
/// namespaces), in `chain`'s words: `" (it exists in namespace shop: use -n shop or
/// shop/orders)"`; empty when it exists nowhere else or the list fails.
pub(crate) async fn elsewhere_hint(api: &kube::Config, service: &ServiceKey) -> String {
    use k8s_openapi::api::core::v1::Service;
    let Ok(client) = crate::cluster::connector::streaming_client(api.clone()) else {
        return String::new();
    };
    let services: kube::Api<Service> = kube::Api::all(client);
    let params =
        kube::api::ListParams::default().fields(&format!("metadata.name={}", service.name));
    let listed = tokio::time::timeout(std::time::Duration::from_secs(5), services.list(&params));
    let Ok(Ok(list)) = listed.await else {
        return String::new();
    };
    let mut namespaces: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|item| item.metadata.namespace)
        .filter(|namespace| *namespace != service.namespace)
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let Some(first) = namespaces.first() else {
        return String::new();
    };
    format!(
        " (it exists in namespace {}: use -n {first} or {first}/{})",
        crate::engine::diagnostics::name_list(&namespaces),
        service.name
    )
}

/// The plan for the first snapshot; a Service that is not there is looked up in the other
/// namespaces, for the error message.
async fn first_plan(
    snapshot: &ClusterSnapshot,
    config: &EngineConfig,
    (service, ports, via): (&ServiceKey, &PortSelector, Via),
    api: &kube::Config,
) -> Result<ProbePlan, ProbeCommandError> {
    match plan_for(snapshot, config, service, ports, via) {
        Err(PlanError::ServiceNotFound { service }) => {
            let hint = elsewhere_hint(api, &service).await;
            Err(ProbeCommandError::ServiceNotFound { service, hint })
        }
        plan => Ok(plan?),
    }
}

fn via(via: CliVia) -> Via {
    match via {
        CliVia::Endpoints => Via::Endpoints,
        CliVia::Clusterip => Via::ClusterIp,
        CliVia::Nodeport => Via::NodePort,
        CliVia::Lb => Via::LoadBalancer,
        CliVia::Ingress => Via::Ingress,
        CliVia::All => Via::All,
    }
}

fn plan_for(
    snapshot: &ClusterSnapshot,
    config: &EngineConfig,
    service: &ServiceKey,
    ports: &PortSelector,
    via: Via,
) -> Result<ProbePlan, PlanError> {
    let model = build(snapshot, config);
    probe_plan_with(
        &model,
        service,
        ports,
        via,
        &PlanContext::from_snapshot(snapshot),
    )
}

/// `kubehop probe`, printing to standard output and standard error; the exit status.
pub async fn probe(sources: &Sources, args: &ProbeArgs) -> Result<u8, ProbeCommandError> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut err = io::stderr();
    let settings = args.source.settings();
    let status = run_probe(sources, &settings, args, &mut out, &mut err).await;
    out.flush()?;
    status
}

/// `kubehop probe` with explicit writers; returns the exit status.
///
/// A straight sequence (source, Service, plan, transports, run with the DNS check, print), a
/// little over ~80 lines; each step is already a call.
pub async fn run_probe(
    sources: &Sources,
    settings: &SourceSettings,
    args: &ProbeArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, ProbeCommandError> {
    let mut text_out = super::run::output_writer(out, args.output, super::style::Style::PLAIN);
    let out: &mut dyn Write = &mut *text_out;
    let mut messages = super::run::message_writer(err);
    let err: &mut dyn Write = &mut messages;
    let target = ProbeTargetArg::parse(&args.target)?;
    if let Source::Dump(_) = settings.source {
        return Err(ProbeCommandError::NeedsLiveCluster);
    }
    // Only the Service's namespace is watched when it is known (fewer objects, and RBAC
    // limited to it is enough); otherwise the context's namespace.
    let named = target
        .namespace
        .as_deref()
        .or(settings.namespace.as_deref());
    let scoped = match named {
        Some(namespace) => settings.in_namespace(namespace),
        None if settings.source == Source::Demo => settings.in_namespace("default"),
        None => SourceSettings {
            all_namespaces: false,
            ..settings.clone()
        },
    };
    let mut feed = sources.open(&scoped).await?;
    let api = feed
        .api
        .clone()
        .ok_or(ProbeCommandError::NeedsLiveCluster)?;
    let namespace = scoped
        .namespace
        .clone()
        .filter(|namespace| !namespace.is_empty())
        .unwrap_or_else(|| api.default_namespace.clone());
    let service = ServiceKey {
        namespace,
        name: target.name.clone(),
    };
    let config = settings.engine_config();
    let via = via(args.via);
    for note in &feed.notes {
        writeln!(err, "{}: note: {note}", crate::cli::program_name())?;
    }
    // kube-system's DNS and node proxies, when the scoped feed does not read them (F11, K2).
    let first = feed.snapshots.borrow_and_update().clone();
    let system = SystemObjects::read(&first, &api).await;
    let before = system.complete(first);
    let plan = first_plan(&before, &config, (&service, &target.port, via), &api).await?;
    let options = ProbeOptions {
        timeout: args.timeout,
        concurrency: usize::from(args.concurrency),
        http_path: args.http.clone(),
        unbound: crate::engine::unbound::Unbound::from_snapshot(&before),
        ..ProbeOptions::default()
    };
    let transports = transports(api.clone(), settings)?;
    // The Service's hops and its names in the cluster DNS at once (the DNS only with --via all).
    let dns = async {
        if via != Via::All {
            return DnsProbe::NoRecords;
        }
        probe_dns::probe_service(&build(&before, &config), &service, &transports).await
    };
    let (report, dns) = tokio::join!(
        probe::run(&plan, before.generation, &transports, &options),
        dns
    );
    // Did the prediction change while the hops were probed?
    let after = system.complete(feed.snapshots.borrow_and_update().clone());
    let current = plan_for(&after, &config, &service, &target.port, via).ok();
    let stale: BTreeSet<_> = probe::stale_keys(&report.results, current.as_ref());
    let view = ProbeView {
        plan: &plan,
        report: &report,
        stale: &stale,
    };
    print_report(out, args.output, &view, &dns)
}

/// Prints the report in `format`; the exit status: 1 when a hop or the DNS did not behave as
/// predicted.
fn print_report(
    out: &mut dyn Write,
    format: OutputFormat,
    view: &ProbeView<'_>,
    dns: &DnsProbe,
) -> Result<u8, ProbeCommandError> {
    let json = || {
        let mut json = to_json(view);
        json["dns"] = probe_dns::to_json(dns);
        json
    };
    match format {
        OutputFormat::Text => {
            write_text(out, view)?;
            probe_dns::write_text(out, dns)?;
        }
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &json())?;
            writeln!(out)?;
        }
        OutputFormat::Yaml => {
            let text = serde_saphyr::to_string(&json())?;
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(view.exit_status().max(u8::from(dns.is_unexpected())))
}

/// How a one-shot probe reaches hops: port-forwards through the API server (probes bound each
/// hop themselves, so the client has no read timeout) and direct connections within the
/// source's scope (loopback only for the demo).
fn transports(
    api: kube::Config,
    settings: &SourceSettings,
) -> Result<Arc<Transports>, ProbeCommandError> {
    let client =
        crate::cluster::connector::streaming_client(api).map_err(ProbeCommandError::Client)?;
    let scope = match settings.source {
        Source::Demo => NetworkScope::LoopbackOnly,
        _ => NetworkScope::cluster_from_environment(),
    };
    Ok(Arc::new(Transports::new(client, scope)))
}

/// `chain --probe`: probes every hop of each of `services` (one Service at a time, its hops
/// concurrently, its names in the cluster DNS meanwhile) and returns the findings of each
/// (empty: every checked hop and name behaved as predicted) and the DNS checks. Results whose
/// prediction changed meanwhile (the feed's newest snapshot) are kept, marked stale.
pub async fn chain_probe_findings(
    feed: &mut SnapshotFeed,
    settings: &SourceSettings,
    snapshot: &ClusterSnapshot,
    services: &[ServiceKey],
) -> Result<(ProbeFindings, DnsChecks), ProbeCommandError> {
    if let Source::Dump(_) = settings.source {
        return Err(ProbeCommandError::NeedsLiveCluster);
    }
    let api = feed
        .api
        .clone()
        .ok_or(ProbeCommandError::NeedsLiveCluster)?;
    let transports = transports(api.clone(), settings)?;
    let config = settings.engine_config();
    let system = SystemObjects::read(snapshot, &api).await;
    let snapshot = &*system.complete(Arc::new(snapshot.clone()));
    // Listeners the sandbox could not open are not reachable here, never unexpected.
    let options = ProbeOptions {
        unbound: crate::engine::unbound::Unbound::from_snapshot(snapshot),
        ..ProbeOptions::default()
    };
    let context = PlanContext::from_snapshot(snapshot);
    let plan_on = |model: &ProxyModel, context: &PlanContext, service: &ServiceKey| {
        probe_plan_with(model, service, &PortSelector::All, Via::All, context).ok()
    };
    let model = build(snapshot, &config);
    // The newest snapshot's model, rebuilt only when the feed moved on.
    let mut newest: Option<(u64, ProxyModel, PlanContext)> = None;
    let mut findings = ProbeFindings::new();
    let mut checks = DnsChecks::new();
    let mut keep = |service: &ServiceKey, dns: DnsProbe| {
        let found = dns.probe_findings();
        if let DnsProbe::Checked(check) = dns {
            checks.insert(service.clone(), *check);
        }
        found
    };
    for service in services {
        let Some(plan) = plan_on(&model, &context, service) else {
            // No hop to probe (ExternalName, no ports): only its names, if any.
            let dns = probe_dns::probe_service(&model, service, &transports).await;
            findings.insert(service.clone(), keep(service, dns));
            continue;
        };
        let (report, dns) = tokio::join!(
            probe::run(&plan, snapshot.generation, &transports, &options),
            probe_dns::probe_service(&model, service, &transports)
        );
        let after = system.complete(feed.snapshots.borrow_and_update().clone());
        let current = if after.generation == snapshot.generation {
            Some(plan.clone())
        } else {
            if newest
                .as_ref()
                .is_none_or(|(generation, ..)| *generation != after.generation)
            {
                let context = PlanContext::from_snapshot(&after);
                newest = Some((after.generation, build(&after, &config), context));
            }
            newest
                .as_ref()
                .and_then(|(_, model, context)| plan_on(model, context, service))
        };
        let stale = probe::stale_keys(&report.results, current.as_ref());
        let mut found: Vec<_> = report
            .results
            .iter()
            .filter_map(|result| {
                let label = plan
                    .hop(&result.key)
                    .map_or_else(|| result.key.to_string(), |hop| hop.label());
                result.finding(&label, stale.contains(&result.key))
            })
            .collect();
        // The Service's names in the cluster DNS (rules F10, F11), in the same list.
        found.extend(keep(service, dns));
        findings.insert(service.clone(), found);
    }
    Ok((findings, checks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("web", None, "web", PortSelector::All)]
    #[case("shop/web", Some("shop"), "web", PortSelector::All)]
    #[case("shop/web:http", Some("shop"), "web", PortSelector::Name("http".into()))]
    #[case("web:8080", None, "web", PortSelector::Number(8080))]
    fn targets(
        #[case] text: &str,
        #[case] namespace: Option<&str>,
        #[case] name: &str,
        #[case] port: PortSelector,
    ) {
        assert_eq!(
            ProbeTargetArg::parse(text).expect("valid"),
            ProbeTargetArg {
                namespace: namespace.map(str::to_owned),
                name: name.to_owned(),
                port
            }
        );
    }

    #[rstest]
    #[case("")]
    #[case("web:")]
    #[case("Web")]
    #[case("a/b/c")]
    fn bad_targets(#[case] text: &str) {
        assert!(ProbeTargetArg::parse(text).is_err());
    }
}
