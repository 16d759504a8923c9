//! `kubehop probe` through the real binary: against a sandbox reached with `--kubeconfig`,
//! against `--demo`, and the exit statuses (0 as predicted, 1 unexpected, 2 unusable input).
//! Loopback only: the sandbox's addresses are all in 127.0.0.0/8.

use std::process::Output;
use std::time::Duration;

use kubehop::sandbox::Verb;
use serde_json::Value;

use crate::support::probe::*;
use crate::support::sandbox::start_cluster;

use crate::support::bin::kubehop_isolated_output as kubehop;

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{error}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// `kubehop probe ARGS...` with text output: the output and its stdout.
async fn probe_text(arguments: &[&str]) -> (Output, String) {
    let mut items = vec!["probe"];
    items.extend_from_slice(arguments);
    let output = kubehop(args(&items)).await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, text)
}

/// `kubehop probe TARGET... --via endpoints -o json`: the output and its JSON document.
async fn probe_endpoints_json(target: &[&str]) -> (Output, Value) {
    let mut items = vec!["probe"];
    items.extend_from_slice(target);
    items.extend_from_slice(&["--via", "endpoints", "-o", "json"]);
    let output = kubehop(args(&items)).await;
    let document = json(&output);
    (output, document)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_report_and_exit_status_through_a_kubeconfig() {
    let (sandbox, _client) = start_cluster(world(), Duration::from_secs(1)).await;
    sandbox.request_log().clear();
    let kubeconfig = sandbox.kubeconfig_path().display().to_string();

    let output = kubehop(args(&[
        "probe",
        "web",
        "--kubeconfig",
        &kubeconfig,
        "-n",
        NAMESPACE,
        "-o",
        "json",
    ]))
    .await;
    let document = json(&output);
    assert_eq!(output.status.code(), Some(0), "{document:#}");
    assert_eq!(document["service"]["name"], "web");
    assert_eq!(document["summary"]["unexpected"], 0);
    let hops = document["hops"].as_array().expect("hops");
    assert_eq!(
        hops.len(),
        8,
        "LB, 3 NodePorts, ClusterIP, 3 endpoints: {document:#}"
    );
    assert_eq!(document["summary"]["expected"], 8);
    for hop in hops {
        assert_eq!(hop["agreement"], "expected", "{hop:#}");
        assert_eq!(hop["outcome"]["result"], "connected", "{hop:#}");
        assert_eq!(hop["outcome"]["answer"]["status"], 200, "{hop:#}");
        assert_eq!(hop["expected"]["verdict"], "connect", "{hop:#}");
        assert_eq!(hop["stale"], false);
        assert!(hop["answeredBy"]["pod"].as_str().is_some(), "{hop:#}");
        assert!(
            hop["key"]
                .as_str()
                .expect("key")
                .starts_with("default/web#8080/TCP/")
        );
        let transport = if hop["kind"] == "endpoint" {
            "portForward"
        } else {
            "direct"
        };
        assert_eq!(hop["transport"], transport, "{hop:#}");
    }
    let kinds: Vec<&str> = hops.iter().filter_map(|hop| hop["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "loadBalancer",
            "nodePort",
            "nodePort",
            "nodePort",
            "clusterIP",
            "endpoint",
            "endpoint",
            "endpoint"
        ]
    );

    // The wrong targetPort: exit 1, refused endpoints with the fix.
    let (output, document) =
        probe_endpoints_json(&["default/catalog:http", "--kubeconfig", &kubeconfig]).await;
    assert_eq!(output.status.code(), Some(1), "{document:#}");
    for hop in document["hops"].as_array().expect("hops") {
        assert_eq!(hop["outcome"]["result"], "refused", "{hop:#}");
        assert_eq!(hop["agreement"], "unexpected");
        assert_eq!(hop["fix"]["port"], 9090, "{hop:#}");
        assert_eq!(hop["fallbacks"][0]["outcome"]["result"], "connected");
    }

    // Text output, and the drop as predicted: exit 0.
    let (output, text) = probe_text(&[
        "gateway",
        "--kubeconfig",
        &kubeconfig,
        "--via",
        "nodeport",
        "--timeout",
        "500ms",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with("Probe default/gateway — 3 hops in "),
        "{text}"
    );
    assert!(
        text.contains("connected, then silence: no answer after"),
        "{text}"
    );
    // A predicted drop is an expected failure, not an ok.
    assert!(text.contains("  [direct]  fails as predicted\n"), "{text}");
    assert!(text.contains("\n  ⊘ "), "{text}");
    assert!(
        text.trim_end()
            .ends_with("3 as predicted, 0 unexpected, 0 not checked, 0 stale"),
        "{text}"
    );

    // Unusable input: exit 2 with one line.
    for (bad, message) in [
        (vec!["probe", "nope"], "no Service default/nope"),
        (vec!["probe", "web:9"], "Service default/web has no port 9"),
        (vec!["probe", "Web"], "is not SERVICE[:PORT]"),
    ] {
        let mut line = args(&bad);
        line.extend(args(&["--kubeconfig", &kubeconfig]));
        let output = kubehop(line).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.starts_with("kubehop: ") && stderr.contains(message),
            "{stderr}"
        );
    }
    // The probe only read (list) and port-forwarded.
    let entries = sandbox.request_log().entries();
    assert!(entries.iter().any(|entry| entry.verb == Verb::PortForward));
    assert!(entries.iter().any(|entry| entry.verb == Verb::List));
    for entry in entries {
        assert!(
            matches!(
                entry.verb,
                Verb::Get | Verb::List | Verb::Watch | Verb::PortForward
            ),
            "{entry:?}"
        );
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_probes_the_built_in_scenario() {
    let (output, document) = probe_endpoints_json(&["shop/web-lb", "--demo"]).await;
    assert_eq!(output.status.code(), Some(0), "{document:#}");
    assert_eq!(document["summary"]["expected"], 3, "{document:#}");

    // catalog/catalog: the bug only a probe finds.
    let (output, text) =
        probe_text(&["catalog", "-n", "catalog", "--demo", "--via", "endpoints"]).await;
    assert_eq!(output.status.code(), Some(1), "{text}");
    // The same symbol and word as the TUI's for an unexpected result.
    assert!(text.contains("  [port-forward]  unexpected\n"), "{text}");
    assert!(text.contains("\n  ✗ endpoint "), "{text}");
    assert!(text.contains("      refused; predicted:"), "{text}");
    // The app listens on 80: only a privileged run can bind it, and only then does it accept.
    if can_bind_privileged_ports() {
        assert!(
            text.contains("fix: targetPort 8080 refused on catalog-"),
            "{text}"
        );
        assert!(text.contains("set targetPort: 80"), "{text}");
    } else {
        eprintln!("ports below 1024 cannot be bound here: the fix suggestion is not checked");
    }
}

/// Whether this process may listen on ports below 1024 (root, CAP_NET_BIND_SERVICE, or the
/// unprivileged port start lowered).
fn can_bind_privileged_ports() -> bool {
    !matches!(
        std::net::TcpListener::bind("127.0.0.1:1"),
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_cannot_be_probed() {
    let dump = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/demo-all.yaml"
    );
    let output = kubehop(args(&["probe", "shop/web", "-f", dump])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "kubehop: probing needs a live cluster: a dump has no pods or addresses to connect to (use --demo, or a kubeconfig context)"
    );
    assert!(output.stdout.is_empty());
}

/// `chain --probe`: the probe's unexpected results are findings of the Service, in its health,
/// in the output and in the exit status (CI gates on them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_probe_adds_findings_health_and_exit_status() {
    let output = kubehop(args(&[
        "chain", "catalog", "-n", "catalog", "--demo", "--probe", "-o", "json",
    ]))
    .await;
    let document = json(&output);
    assert_eq!(output.status.code(), Some(1), "{document:#}");
    let service = &document["services"][0];
    assert_eq!(service["health"], "broken", "{service:#}");
    let findings = service["probeFindings"].as_array().expect("probeFindings");
    let refusal = findings
        .iter()
        .find(|finding| finding["code"] == "probe-unexpected-refusal")
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(refusal["severity"], "error");
    assert_eq!(refusal["stale"], false);
    assert!(
        refusal["subject"]
            .as_str()
            .is_some_and(|subject| subject.starts_with("endpoint catalog-")),
        "{refusal:#}"
    );

    let output = kubehop(args(&[
        "chain", "catalog", "-n", "catalog", "--demo", "--probe",
    ]))
    .await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("probe findings"), "{text}");
    assert!(text.contains("probe-unexpected-refusal"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("1 Service · 1 broken · 0 warnings · 0 ok · 1 port"),
        "{text}"
    );
}
