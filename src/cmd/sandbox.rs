//! `kubehop sandbox`: the embedded cluster in the foreground until Ctrl-C.

use std::io::Write;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;

use crate::cli::SandboxArgs;
use crate::sandbox::faults::PortForwardFault;
use crate::sandbox::resources::ResourceId;
use crate::sandbox::{ControlPlaneConfig, Sandbox, SandboxError, SandboxHandle, scenario};

/// How long startup waits for the data plane's first listeners.
const FIRST_SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `kubehop sandbox` could not run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxCommandError {
    #[error("{flag}: the sandbox does not serve {name:?}")]
    UnknownResource { flag: &'static str, name: String },
    #[error(transparent)]
    Scenario(#[from] crate::engine::dump::DumpError),
    #[error(transparent)]
    Start(#[from] SandboxError),
    #[error("cannot print the Gateway API CRDs: {0}")]
    Print(String),
    /// A data-plane fault that names no such node or DNS pod (`--fault-cut-nodes`, ...).
    #[error("{flag}: {reason}")]
    Fault { flag: &'static str, reason: String },
}

impl SandboxCommandError {
    /// 2 for bad arguments or a bad scenario, 1 when the sandbox cannot start.
    pub fn exit_code(&self) -> u8 {
        match self {
            SandboxCommandError::Start(_) | SandboxCommandError::Print(_) => 1,
            _ => 2,
        }
    }
}

fn resource_named(plural: &str) -> Option<ResourceId> {
    ResourceId::ALL
        .into_iter()
        .find(|r| r.info().plural == plural || r.info().singular == plural)
}

/// Runs the sandbox in the foreground until Ctrl-C (or SIGTERM); the exit status.
pub async fn sandbox(args: &SandboxArgs) -> Result<u8, SandboxCommandError> {
    if args.print_gateway_api_crds {
        return print_gateway_api_crds();
    }
    let started = Instant::now();
    let mut config = ControlPlaneConfig::default().seed(args.seed);
    if let Some(delay) = args.ready_delay {
        config = config.ready_delay(delay);
    }
    if let Some(grace) = args.grace_period {
        config = config.grace_period(grace);
    }
    if let Some(block) = args.address_block {
        config = config.address_block(block);
    }
    let expire = expired_watch(args)?;
    let data_plane_faults = super::sandbox_faults::DataPlaneFaults::of(args)?;
    // A dump and scenario files load the same way: what carries status replays as it is.
    let files = if args.from_file.is_empty() {
        &args.scenario
    } else {
        &args.from_file
    };
    let (objects, source) = if let Some(spec) = args.synthetic {
        (
            Ok(crate::engine::synthetic::objects(&spec)),
            format!(
                "synthetic: {} Services, {} pods, {} nodes, {} namespaces",
                spec.services, spec.pods, spec.nodes, spec.namespaces
            ),
        )
    } else if files.is_empty() {
        (scenario::builtin(), scenario::BUILTIN_NAME.to_string())
    } else {
        (
            scenario::load(files),
            files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )
    };
    let objects = objects?;
    let summary = scenario::summary(&objects);
    let mut builder = Sandbox::builder()
        .objects(objects)
        .control_plane(config)
        .data_plane(!args.api_only)
        .gateway_api(args.gateway_api || files.is_empty())
        .unprivileged(args.unprivileged);
    if let Some(listen) = args.listen {
        builder = builder.listen(listen);
    }
    if let Some(path) = &args.kubeconfig_out {
        builder = builder.kubeconfig_path(path);
    }
    let sandbox = builder.start().await?;
    set_faults(&sandbox, args, expire);
    // Ready = the controllers made the scenario's pods and the listeners are bound.
    let _ = tokio::time::timeout(FIRST_SYNC_TIMEOUT, sandbox.settled()).await;
    let fault_lines = match data_plane_faults.apply(&sandbox) {
        Ok(lines) => lines,
        Err(error) => {
            sandbox.shutdown().await;
            return Err(error);
        }
    };
    print_banner(
        &sandbox,
        &source,
        &summary,
        started.elapsed(),
        args.api_only,
    );
    for line in fault_lines {
        println!("{line}");
    }
    serve_until_stopped(&sandbox, args.verbose).await;
    sandbox.shutdown().await;
    Ok(0)
}

/// `--print-gateway-api-crds`: the generated CRDs as a YAML stream on standard output.
fn print_gateway_api_crds() -> Result<u8, SandboxCommandError> {
    let mut out = String::new();
    for crd in crate::sandbox::gateway::crds() {
        let yaml =
            serde_saphyr::to_string(&crd).map_err(|e| SandboxCommandError::Print(e.to_string()))?;
        out.push_str("---\n");
        out.push_str(&yaml);
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| SandboxCommandError::Print(e.to_string()))?;
    Ok(0)
}

/// `--fault-expire-watch`: `None` = off, `Some(None)` = any watch, `Some(Some(r))` = a
/// watch of `r`. Also checks `--fault-forbid`'s names.
fn expired_watch(args: &SandboxArgs) -> Result<Option<Option<ResourceId>>, SandboxCommandError> {
    let unknown = |flag: &'static str, name: &str| SandboxCommandError::UnknownResource {
        flag,
        name: name.to_owned(),
    };
    if let Some(name) = args
        .fault_forbid
        .iter()
        .find(|name| resource_named(name).is_none())
    {
        return Err(unknown("--fault-forbid", name));
    }
    Ok(match args.fault_expire_watch.as_deref() {
        None => None,
        Some("*") => Some(None),
        Some(name) => Some(Some(
            resource_named(name).ok_or_else(|| unknown("--fault-expire-watch", name))?,
        )),
    })
}

/// Switches on the `--fault-*` flags.
fn set_faults(sandbox: &SandboxHandle, args: &SandboxArgs, expire: Option<Option<ResourceId>>) {
    let faults = sandbox.faults();
    if let Some(events) = args.fault_cut_watches {
        faults.cut_watches_after(Some(events));
    }
    if let Some(resource) = expire {
        faults.expire_next_watch(resource);
    }
    for name in &args.fault_forbid {
        faults.forbid(name);
    }
    if let Some(latency) = args.fault_latency {
        faults.set_latency(latency);
    }
    if let Some(message) = &args.fault_portforward {
        faults.fail_portforward(Some(PortForwardFault::ErrorChannel(message.clone())));
    }
}

fn print_banner(
    sandbox: &SandboxHandle,
    source: &str,
    summary: &std::collections::BTreeMap<String, usize>,
    startup: Duration,
    api_only: bool,
) {
    let kubeconfig = sandbox.kubeconfig_path().display().to_string();
    let block = sandbox
        .address_block()
        .map(|b| format!("127.{b}-{}.*.*", b.saturating_add(3)))
        .unwrap_or_default();
    let kinds: Vec<String> = summary
        .iter()
        .filter(|(kind, _)| !kind.is_empty())
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    let mut out = String::new();
    out.push_str(&format!(
        "kubehop sandbox: Kubernetes API on {} (ready in {} ms)\n",
        sandbox.url(),
        startup.as_millis()
    ));
    out.push_str(&format!("scenario: {source} ({})\n", kinds.join(", ")));
    out.push_str(&format!("addresses: {block} (loopback only)\n"));
    if api_only {
        out.push_str(
            "data plane: off (--api-only: no pod, ClusterIP, NodePort or LoadBalancer listeners)\n",
        );
    } else {
        out.push_str(&format!(
            "data plane: {} listeners now (pods; a Service's ClusterIP, nodePorts and LoadBalancer IP open once it has ready endpoints; the Ingress controller on each Ingress's address)\n",
            sandbox.listening().len()
        ));
    }
    out.push_str(&format!("kubeconfig: {kubeconfig}\n\nTry:\n"));
    out.push_str(&format!("  export KUBECONFIG={kubeconfig}\n"));
    out.push_str("  kubectl get svc -A\n  kubectl get pods -A -o wide\n");
    let web = sandbox
        .store()
        .get::<Service>("shop", "web")
        .ok()
        .flatten()
        .and_then(|s| s.spec.and_then(|spec| spec.cluster_ip));
    if let Some(ip) = web.filter(|_| !api_only) {
        out.push_str(&format!(
            "  curl -s http://{ip}/            # the shop/web Service answers with a pod's name\n"
        ));
    }
    let ingress = sandbox
        .store()
        .get::<Ingress>("shop", "shop")
        .ok()
        .flatten()
        .and_then(|i| i.status?.load_balancer?.ingress?.first()?.ip.clone())
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok());
    if let Some(ip) = ingress.filter(|_| !api_only) {
        out.push_str(&format!(
            "  curl -s -H 'Host: shop.example.test' http://{ip}/static/   # through the Ingress shop/shop\n"
        ));
    }
    out.push_str("  kubectl annotate pod -n shop <pod> sandbox.kubehop.dev/ready=false --overwrite   # break a pod's readiness\n");
    out.push_str(&format!("  kubehop chain -A --kubeconfig {kubeconfig}\n"));
    out.push_str("\nCtrl-C stops the sandbox. Notes after startup go to the log (--log-file), or here with --verbose.\n");
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

/// Prints the startup notes, then (`verbose`) later ones as they come, until Ctrl-C (or
/// SIGTERM). Without `verbose` later notes go only to the log: a terminal UI started in the
/// same terminal must not be painted over.
async fn serve_until_stopped(sandbox: &SandboxHandle, verbose: bool) {
    let notes = sandbox.notes();
    let mut changes = notes.subscribe();
    let mut printed = 0;
    let startup = notes.all().len();
    let terminate = terminate_signal();
    tokio::pin!(terminate);
    loop {
        for note in notes.since(printed) {
            if verbose || printed < startup {
                eprintln!("note: {note}");
            }
            printed += 1;
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut terminate => break,
            changed = changes.changed() => if changed.is_err() { break },
        }
    }
    println!("kubehop sandbox: stopping");
}

#[cfg(unix)]
async fn terminate_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut stream) => {
            stream.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminate_signal() {
    std::future::pending::<()>().await
}
