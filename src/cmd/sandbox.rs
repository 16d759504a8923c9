//! `kubehop sandbox`: the embedded cluster in the foreground until Ctrl-C.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;

use crate::cli::SandboxArgs;
use crate::sandbox::faults::PortForwardFault;
use crate::sandbox::resources::ResourceId;
use crate::sandbox::{ControlPlaneConfig, Sandbox, SandboxHandle, scenario};

/// How long startup waits for the data plane's first listeners.
const FIRST_SYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the command; returns the process exit code (2: bad arguments or scenario).
pub fn main(args: &SandboxArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("kubehop: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(args))
}

/// `"0"`, `"250ms"`, `"2s"`, `"1m"`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try \"500ms\", \"2s\", \"1m\")"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is not a duration"))
}

fn resource_named(plural: &str) -> Option<ResourceId> {
    ResourceId::ALL
        .into_iter()
        .find(|r| r.info().plural == plural || r.info().singular == plural)
}

async fn run(args: &SandboxArgs) -> ExitCode {
    let started = Instant::now();
    let mut config = ControlPlaneConfig::default().seed(args.seed);
    let durations = [
        (&args.ready_delay, "--ready-delay"),
        (&args.grace_period, "--grace-period"),
        (&args.fault_latency, "--fault-latency"),
    ];
    let mut parsed = Vec::new();
    for (value, flag) in durations {
        match value.as_deref().map(parse_duration).transpose() {
            Ok(duration) => parsed.push(duration),
            Err(err) => {
                eprintln!("kubehop: {flag}: {err}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(delay) = parsed[0] {
        config = config.ready_delay(delay);
    }
    if let Some(grace) = parsed[1] {
        config = config.grace_period(grace);
    }
    if let Some(block) = args.address_block {
        config = config.address_block(block);
    }
    let latency = parsed[2];
    let expire = match args.fault_expire_watch.as_deref() {
        None => None,
        Some("*") => Some(None),
        Some(name) => match resource_named(name) {
            Some(resource) => Some(Some(resource)),
            None => {
                eprintln!("kubehop: --fault-expire-watch: the sandbox does not serve {name:?}");
                return ExitCode::from(2);
            }
        },
    };
    for name in &args.fault_forbid {
        if resource_named(name).is_none() {
            eprintln!("kubehop: --fault-forbid: the sandbox does not serve {name:?}");
            return ExitCode::from(2);
        }
    }

    let (objects, source) = if args.scenario.is_empty() {
        (scenario::builtin(), scenario::BUILTIN_NAME.to_string())
    } else {
        (
            scenario::load(&args.scenario),
            args.scenario
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        )
    };
    let objects = match objects {
        Ok(objects) => objects,
        Err(err) => {
            eprintln!("kubehop: {err}");
            return ExitCode::from(2);
        }
    };
    let summary = scenario::summary(&objects);
    let mut builder = Sandbox::builder()
        .objects(objects)
        .control_plane(config)
        .data_plane(!args.api_only);
    if let Some(listen) = args.listen {
        builder = builder.listen(listen);
    }
    if let Some(path) = &args.kubeconfig_out {
        builder = builder.kubeconfig_path(path);
    }
    let sandbox = match builder.start().await {
        Ok(sandbox) => sandbox,
        Err(err) => {
            eprintln!("kubehop: {err}");
            return ExitCode::from(1);
        }
    };
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
    if let Some(latency) = latency {
        faults.set_latency(latency);
    }
    if let Some(message) = &args.fault_portforward {
        faults.fail_portforward(Some(PortForwardFault::ErrorChannel(message.clone())));
    }
    // Ready = the controllers made the scenario's pods and the listeners are bound.
    let _ = tokio::time::timeout(FIRST_SYNC_TIMEOUT, sandbox.settled()).await;
    print_banner(
        &sandbox,
        &source,
        &summary,
        started.elapsed(),
        args.api_only,
    );
    let code = serve_until_stopped(&sandbox).await;
    sandbox.shutdown().await;
    code
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
            "data plane: {} listeners now (pods; a Service's ClusterIP, nodePorts and LoadBalancer IP open once it has ready endpoints)\n",
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
    out.push_str("  kubectl annotate pod -n shop <pod> sandbox.kubehop.dev/ready=false --overwrite   # break a pod's readiness\n");
    out.push_str(&format!("  kubehop chain -A --kubeconfig {kubeconfig}\n"));
    out.push_str("\nCtrl-C stops the sandbox.\n");
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

/// Prints notes as they come until Ctrl-C (or SIGTERM).
async fn serve_until_stopped(sandbox: &SandboxHandle) -> ExitCode {
    let notes = sandbox.notes();
    let mut changes = notes.subscribe();
    let mut printed = 0;
    let terminate = terminate_signal();
    tokio::pin!(terminate);
    loop {
        for note in notes.since(printed) {
            eprintln!("note: {note}");
            printed += 1;
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = &mut terminate => break,
            changed = changes.changed() => if changed.is_err() { break },
        }
    }
    println!("kubehop sandbox: stopping");
    ExitCode::SUCCESS
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

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("0", Ok(Duration::ZERO))]
    #[case("250ms", Ok(Duration::from_millis(250)))]
    #[case("2s", Ok(Duration::from_secs(2)))]
    #[case("1.5", Ok(Duration::from_millis(1500)))]
    #[case("1m", Ok(Duration::from_secs(60)))]
    #[case("soon", Err(()))]
    #[case("3h", Err(()))]
    #[case("-1s", Err(()))]
    fn durations(#[case] text: &str, #[case] expected: Result<Duration, ()>) {
        assert_eq!(parse_duration(text).map_err(|_| ()), expected);
    }
}
