//! The real binary in a real terminal (tmux): from the demo's first screen to a not-ready
//! pod's failing readiness probe and its log, a fix copied with OSC 52 and applied with
//! kubectl; and the requests such a session makes stay reads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kubehop::sandbox::Verb;

use crate::support::bin::{KUBEHOP, find_kubectl, scratch_dir};
use crate::support::tmux::{Tmux, osc52_copies, shell_quote};
use crate::support::wait::{DEADLINE, poll_until};

const PROBE_MESSAGE: &str = "Readiness probe failed: HTTP probe failed with statuscode: 503";

/// kubectl with `kubeconfig`, its standard output (a failure is `Err` with its stderr).
fn kubectl(kubectl: &Path, kubeconfig: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(kubectl)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .map_err(|error| error.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The kubeconfig the demo wrote into its private folder under `tmp`.
fn demo_kubeconfig(tmp: &Path) -> PathBuf {
    poll_until("the demo's kubeconfig", DEADLINE, || {
        std::fs::read_dir(tmp)
            .map_err(|error| error.to_string())?
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("kubeconfig"))
            .find(|path| path.is_file())
            .ok_or_else(|| format!("nothing in {}", tmp.display()))
    })
}

/// The Services-list row of `name` on `screen`.
fn row_of<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    // The name right after the border and the mark: not a pane title further right on the
    // same line (`│✓ data/mongodb … │┌ Explain billing/invoices`).
    screen.lines().find(|line| {
        line.starts_with('│')
            && line
                .chars()
                .skip(3)
                .collect::<String>()
                .starts_with(&format!("{name} "))
    })
}

/// The first data row of a table page (below its column titles).
fn first_table_row(screen: &str) -> &str {
    screen.lines().nth(3).unwrap_or("")
}

#[test]
fn from_the_demo_to_a_failing_probe_and_its_log_then_a_copied_fix_heals_a_service() {
    let Some(kubectl_path) = find_kubectl() else {
        eprintln!("SKIP tmux demo: no working kubectl on PATH (or KUBEHOP_KUBECTL)");
        return;
    };
    let scratch = scratch_dir("tmux-demo");
    let tmp = scratch.join("tmp");
    std::fs::create_dir_all(&tmp).expect("the demo's temp folder");
    let tmp_text = tmp.display().to_string();
    if !Tmux::available() {
        eprintln!("SKIP tmux demo: tmux is not installed");
        return;
    }
    let mut tmux = Tmux::new("demo");
    tmux.piped(
        (120, 40),
        &[("TMPDIR", &tmp_text)],
        &[KUBEHOP, "--demo"],
        &scratch,
    );
    tmux.wait_until("the demo's first screen", |screen| {
        screen.contains("● live") && row_of(screen, "billing/invoices").is_some()
    });
    let kubeconfig = demo_kubeconfig(&tmp);
    // The kubelet has probed the orders pods by now, or will shortly.
    poll_until("the kubelet's Unhealthy Event", DEADLINE, || {
        let out = kubectl(
            &kubectl_path,
            &kubeconfig,
            &[
                "get",
                "events",
                "-n",
                "orders",
                "--field-selector",
                "reason=Unhealthy",
                "-o",
                "jsonpath={.items[*].message}",
            ],
        )?;
        out.contains(PROBE_MESSAGE).then_some(()).ok_or(out)
    });

    // Key 1: `!` describes the first failing pod (the pods view, failing pods first, with that
    // pod open): why it is not ready, with the kubelet's last message.
    tmux.keys(&["!"]);
    let described = tmux.wait_until("the failing probe's message", |screen| {
        screen.contains("Why not ready") && screen.contains("statuscode: 503")
    });
    assert!(
        described.contains("readiness probe http-get") && described.contains("orders-"),
        "{described}"
    );
    // Key 2: l, its log: the kubelet's probes and what the app answered.
    tmux.keys(&["l"]);
    tmux.wait_until("the pod's log", |screen| {
        screen.contains("\"GET /healthz HTTP/1.1\" 503") && screen.contains("kube-probe/")
    });

    // Back to the panes: the first Service's diagnostic carries its fix; c copies it.
    tmux.keys(&[":", "svc", "Enter"]);
    tmux.wait_until("the diagnostic with its fix", |screen| {
        screen.contains("fix (c copies): kubectl patch svc invoices -n billing")
    });
    tmux.keys(&["c"]);
    let fix = poll_until("the OSC 52 copy", DEADLINE, || {
        osc52_copies(&tmux.raw_output())
            .pop()
            .ok_or_else(|| "no OSC 52 sequence yet".to_owned())
    });
    assert!(
        fix.starts_with("kubectl patch svc invoices -n billing --type merge -p "),
        "{fix}"
    );
    // The copied command, pasted into a shell.
    let command = fix.replacen(
        "kubectl",
        &shell_quote(&kubectl_path.display().to_string()),
        1,
    );
    let applied = Command::new("sh")
        .args(["-c", &command])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .expect("sh runs");
    assert!(
        applied.status.success(),
        "{fix}: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let healed = tmux.wait_until("billing/invoices to turn ✓", |screen| {
        row_of(screen, "billing/invoices").is_some_and(|row| row.starts_with("│✓"))
    });
    assert!(
        row_of(&healed, "billing/invoices").is_some_and(|row| row.contains("2/2")),
        "{healed}"
    );
    tmux.keys(&["q"]);
}

/// A session that opens describe, logs and YAML against the built-in scenario: the API server
/// saw only reads (get, list, watch, the pods' log, their Events).
#[test]
fn a_session_with_describe_logs_and_yaml_only_reads() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the sandbox");
    let sandbox = runtime.block_on(async {
        let sandbox = kubehop::sandbox::demo::demo_builder()
            .expect("the built-in scenario parses")
            .start()
            .await
            .expect("the sandbox starts");
        tokio::time::timeout(
            Duration::from_secs(30),
            kubehop::sandbox::demo::demo_up(&sandbox),
        )
        .await
        .expect("the demo comes up");
        sandbox
    });
    let scratch = scratch_dir("tmux-readonly");
    let kubeconfig = sandbox.kubeconfig_path().display().to_string();
    if !Tmux::available() {
        eprintln!("SKIP tmux read-only session: tmux is not installed");
        return;
    }
    let mut tmux = Tmux::new("readonly");
    tmux.piped(
        (120, 40),
        &[],
        &[KUBEHOP, "-A", "--kubeconfig", &kubeconfig],
        &scratch,
    );
    tmux.wait_until("the first screen", |screen| {
        screen.contains("● live") && row_of(screen, "billing/invoices").is_some()
    });
    // `:po`, k9s's pods view: the failing pods come first.
    tmux.keys(&[":", "po", "Enter"]);
    let pods = tmux.wait_until("the pods", |screen| screen.contains("Pods behind Services"));
    assert!(
        first_table_row(&pods).contains("orders/orders-")
            && first_table_row(&pods).contains("NOT READY"),
        "{pods}"
    );
    tmux.keys(&["Enter"]);
    tmux.wait_until("describe", |screen| screen.contains("Why not ready"));
    tmux.keys(&["l"]);
    tmux.wait_until("the log", |screen| screen.contains("Logs Pod orders/"));
    tmux.keys(&["y"]);
    tmux.wait_until("the YAML", |screen| screen.contains("apiVersion: v1"));
    tmux.keys(&["q"]);

    let records = sandbox.request_log().entries();
    assert!(!records.is_empty());
    for record in &records {
        let allowed = matches!(record.verb, Verb::Get | Verb::List | Verb::Watch)
            && matches!(record.subresource.as_deref(), None | Some("log"));
        assert!(
            allowed,
            "{} {} {:?}/{:?}",
            record.method, record.path, record.verb, record.subresource
        );
    }
    let read = |resource: &str, subresource: Option<&str>| {
        records.iter().any(|record| {
            record.resource.as_deref() == Some(resource)
                && record.subresource.as_deref() == subresource
        })
    };
    assert!(read("pods", Some("log")), "the log was read");
    assert!(read("events", None), "the Events were read");
    drop(tmux);
    runtime.block_on(sandbox.shutdown());
}
