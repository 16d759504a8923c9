//! `kubehop probe SERVICE[:PORT]`: source flags → a cluster connection → one snapshot → the
//! engine's plan → real connections → the report, checked once more against a fresh snapshot
//! so that hops whose prediction changed meanwhile are marked stale instead of wrong.
//!
//! Exit status: 0 when every hop that could be checked behaved as predicted (hops that are
//! not reachable from this machine do not count), 1 otherwise, 2 for bad input or a source
//! that cannot be probed (a dump: there is nothing to connect to).
//!
//! The snapshot is read with plain `list` requests in the Service's namespace (Services,
//! EndpointSlices, Pods, Ingresses) plus Nodes — the probe makes no other API request than
//! `pods/portforward`, and never writes.

use std::collections::BTreeSet;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};

use super::probe::{ProbeView, to_json, write_text};
use crate::cli::{OutputFormat, ProbeArgs, SourceArgs, Via as CliVia};
use crate::cluster::client::{self, ClientSettings, Environment};
use crate::cluster::{
    ClusterError, ClusterSnapshot, MissingKind, ResourceKind, Source, SourceError,
};
use crate::engine::model::ServiceKey;
use crate::engine::plan::{PlanContext, PlanError, PortSelector, ProbePlan, Via, probe_plan_with};
use crate::engine::{EngineConfig, build};
use crate::probe::{self, NetworkScope, ProbeOptions, Transports};
use crate::sandbox::{ControlPlaneConfig, Sandbox, SandboxError, SandboxHandle, scenario};

/// Exit status: every checked hop behaved as predicted.
pub const EXIT_AS_PREDICTED: u8 = 0;
/// Exit status: at least one hop did not.
pub const EXIT_UNEXPECTED: u8 = 1;
/// Exit status: bad input, or a source that cannot be probed.
pub const EXIT_USAGE: u8 = 2;

/// How long the demo cluster may take to settle.
const DEMO_SETTLE: Duration = Duration::from_secs(30);

/// Why `kubehop probe` could not run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ProbeCommandError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(
        "probing needs a live cluster: a dump has no pods or addresses to connect to (use --demo, or a kubeconfig context)"
    )]
    NeedsLiveCluster,
    #[error(
        "{0:?} is not SERVICE[:PORT] (a name or namespace/name, then an optional port name or number)"
    )]
    Target(String),
    #[error("cannot start the demo cluster: {0}")]
    Demo(#[from] SandboxError),
    #[error("cannot read the built-in scenario: {0}")]
    Scenario(#[from] crate::cluster::dump::DumpError),
    #[error("the demo cluster did not settle within {0:?}")]
    DemoSettle(Duration),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot list {kind}: {source}")]
    List {
        kind: ResourceKind,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
    #[error("cannot write the output: {0}")]
    Write(#[from] io::Error),
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

/// A cluster to probe.
struct Connection {
    client: kube::Client,
    scope: NetworkScope,
    default_namespace: String,
    /// Keeps the `--demo` cluster running.
    sandbox: Option<SandboxHandle>,
}

async fn connect(source: &SourceArgs) -> Result<Connection, ProbeCommandError> {
    match Source::from_args(source)? {
        Source::Dump(_) => Err(ProbeCommandError::NeedsLiveCluster),
        Source::Demo => {
            // The built-in scenario with the data plane: every hop is a real listener.
            let sandbox = Sandbox::builder()
                .objects(scenario::builtin()?)
                .control_plane(ControlPlaneConfig::default().ready_delay(Duration::ZERO))
                .data_plane(true)
                .start()
                .await?;
            tokio::time::timeout(DEMO_SETTLE, sandbox.settled())
                .await
                .map_err(|_| ProbeCommandError::DemoSettle(DEMO_SETTLE))?;
            let client = sandbox.client().await?;
            Ok(Connection {
                client,
                scope: NetworkScope::LoopbackOnly,
                default_namespace: "default".to_owned(),
                sandbox: Some(sandbox),
            })
        }
        Source::Live { .. } => {
            // The same kubeconfig resolution and one-line errors as `chain` and the TUI.
            let settings = ClientSettings::from_args(source)?;
            let target = client::resolve(&settings, &Environment::from_process()).await?;
            let client = client::build_client(&target)?;
            client::check_server(&client, &target).await?;
            Ok(Connection {
                client,
                scope: NetworkScope::cluster_from_environment(),
                default_namespace: target.config.default_namespace.clone(),
                sandbox: None,
            })
        }
    }
}

/// Whether a list error means "this kind is not available" rather than "stop".
fn unavailable(error: &kube::Error) -> Option<String> {
    match error {
        kube::Error::Api(status) if status.code == 403 => {
            Some(format!("forbidden: {}", status.message))
        }
        kube::Error::Api(status) if status.code == 404 => {
            Some("not served by this cluster".to_owned())
        }
        _ => None,
    }
}

async fn list<K>(
    api: Api<K>,
    kind: ResourceKind,
    missing: &mut Vec<MissingKind>,
) -> Result<Vec<Arc<K>>, ProbeCommandError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list.items.into_iter().map(Arc::new).collect()),
        Err(error) => match unavailable(&error) {
            Some(reason) if kind != ResourceKind::Service => {
                missing.push(MissingKind { kind, reason });
                Ok(Vec::new())
            }
            _ => Err(ProbeCommandError::List {
                kind,
                source: error,
            }),
        },
    }
}

/// What the probe needs of the cluster: the Service's namespace and the nodes.
async fn list_snapshot(
    client: &kube::Client,
    namespace: &str,
    generation: u64,
) -> Result<ClusterSnapshot, ProbeCommandError> {
    let mut missing = Vec::new();
    let services = list(
        Api::<Service>::namespaced(client.clone(), namespace),
        ResourceKind::Service,
        &mut missing,
    )
    .await?;
    let endpoint_slices = list(
        Api::<EndpointSlice>::namespaced(client.clone(), namespace),
        ResourceKind::EndpointSlice,
        &mut missing,
    )
    .await?;
    let pods = list(
        Api::<Pod>::namespaced(client.clone(), namespace),
        ResourceKind::Pod,
        &mut missing,
    )
    .await?;
    let nodes = list(
        Api::<Node>::all(client.clone()),
        ResourceKind::Node,
        &mut missing,
    )
    .await?;
    let ingresses = list(
        Api::<Ingress>::namespaced(client.clone(), namespace),
        ResourceKind::Ingress,
        &mut missing,
    )
    .await?;
    Ok(ClusterSnapshot {
        generation,
        services,
        endpoint_slices,
        pods,
        nodes,
        ingresses,
        namespaces: Vec::new(),
        missing,
    })
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

/// `kubehop probe`, printing to standard output and standard error.
pub fn probe(source: &SourceArgs, args: &ProbeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kubehop: {}", ProbeCommandError::Runtime(error));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut err = io::stderr();
    let status = runtime.block_on(run_probe(source, args, &mut out, &mut err));
    let _ = out.flush();
    ExitCode::from(status)
}

/// `kubehop probe` with explicit writers; returns the exit status.
pub async fn run_probe(
    source: &SourceArgs,
    args: &ProbeArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    match try_probe(source, args, out, err).await {
        Ok(status) => status,
        Err(ProbeCommandError::Write(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
            EXIT_AS_PREDICTED
        }
        Err(error) => {
            let _ = writeln!(err, "kubehop: {error}");
            EXIT_USAGE
        }
    }
}

async fn try_probe(
    source: &SourceArgs,
    args: &ProbeArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, ProbeCommandError> {
    let target = ProbeTargetArg::parse(&args.target)?;
    let connection = connect(source).await?;
    let namespace = target
        .namespace
        .clone()
        .or_else(|| source.namespace.clone())
        .unwrap_or_else(|| connection.default_namespace.clone());
    let service = ServiceKey {
        namespace: namespace.clone(),
        name: target.name.clone(),
    };
    let config = EngineConfig {
        cluster_domain: source.cluster_domain.clone(),
        ..EngineConfig::default()
    };
    let via = via(args.via);
    let before = list_snapshot(&connection.client, &namespace, 1).await?;
    for missing in &before.missing {
        writeln!(
            err,
            "kubehop: note: {} left out: {}",
            missing.kind, missing.reason
        )?;
    }
    let plan = plan_for(&before, &config, &service, &target.port, via)?;
    let options = ProbeOptions {
        timeout: args.timeout,
        concurrency: usize::from(args.concurrency),
        http_path: args.http.clone(),
        ..ProbeOptions::default()
    };
    let transports = Arc::new(Transports::new(
        connection.client.clone(),
        connection.scope.clone(),
    ));
    let report = probe::run(&plan, before.generation, &transports, &options).await;
    // Did the prediction change while the hops were probed?
    let after = list_snapshot(&connection.client, &namespace, 2).await?;
    let current = plan_for(&after, &config, &service, &target.port, via).ok();
    let stale: BTreeSet<_> = probe::stale_keys(&report.results, current.as_ref());
    let view = ProbeView {
        plan: &plan,
        report: &report,
        stale: &stale,
    };
    match args.output {
        OutputFormat::Text => write_text(out, &view)?,
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &to_json(&view))?;
            writeln!(out)?;
        }
        OutputFormat::Yaml => {
            let text = serde_saphyr::to_string(&to_json(&view))?;
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    if let Some(sandbox) = connection.sandbox {
        sandbox.shutdown().await;
    }
    Ok(view.exit_status())
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
