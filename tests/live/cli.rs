//! `kubehop chain` on live clusters, through the binary: connection errors exit 2 with one
//! actionable line; forbidden kinds leave a note and the chain still prints; kubehop only reads.

use std::path::Path;
use std::process::Output;

use kubehop::sandbox::SandboxHandle;
use rstest::rstest;

use crate::support::bin::{KUBEHOP, kubehop_isolated, scratch_dir, service_names};
use crate::support::fixtures::manifest::small_world;
use crate::support::live::{DEADLINE, assert_read_only};
use crate::support::sandbox::sandbox_with;
use crate::support::wait::within_for;

/// Runs the binary with `args`, no KUBECONFIG from the environment, HOME at `home`.
async fn kubehop(args: &[&str], home: &Path) -> Output {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let command = tokio::process::Command::from(kubehop_isolated(&args))
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .output();
    within_for(DEADLINE, "kubehop to exit", command)
        .await
        .expect("kubehop runs")
}

fn scratch(name: &str) -> std::path::PathBuf {
    scratch_dir(&format!("live-cli-{name}"))
}

/// The one line on standard error, after checking the exit status is 2.
fn one_error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    lines[0].to_owned()
}

#[rstest]
#[case::broken_kubeconfig("broken")]
#[case::unknown_context("unknown-context")]
#[case::unreachable_server("unreachable")]
#[case::no_kubeconfig("none")]
#[tokio::test]
async fn chain_fails_with_one_actionable_line(#[case] case: &str) {
    let dir = scratch(case);
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let kubeconfig = dir.join("config");
    let text = match case {
        "broken" => "apiVersion: v1\nclusters: [\n  - name: x\n".to_owned(),
        _ => kubehop::sandbox::kubeconfig::render(
            &format!("https://127.0.0.1:{closed_port}"),
            None,
            "token",
        ),
    };
    std::fs::write(&kubeconfig, text).expect("write");
    let path = kubeconfig.display().to_string();
    let mut args = vec!["chain", "-o", "json"];
    match case {
        "none" => {}
        "unknown-context" => args.extend(["--kubeconfig", &path, "--context", "prod"]),
        _ => args.extend(["--kubeconfig", &path]),
    }
    let line = one_error_line(&kubehop(&args, &dir).await);
    let expected = match case {
        "broken" => {
            format!("kubehop: cannot read kubeconfig {path}: failed to parse kubeconfig YAML")
        }
        "unknown-context" => format!(
            "kubehop: context \"prod\" is not in the kubeconfig ({path}); known contexts: kubehop-sandbox"
        ),
        "unreachable" => {
            format!("kubehop: cannot reach the API server at https://127.0.0.1:{closed_port} (")
        }
        _ => "kubehop: no kubeconfig found (looked at ".to_owned(),
    };
    assert!(line.starts_with(&expected), "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn chain_json(sandbox: &SandboxHandle, extra: &[&str]) -> (Output, serde_json::Value) {
    let dir = scratch("json");
    let path = sandbox.kubeconfig_path().display().to_string();
    let mut args = vec!["chain", "-o", "json", "--kubeconfig", &path];
    args.extend(extra);
    let output = kubehop(&args, &dir).await;
    let document = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "chain prints JSON ({error}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let _ = std::fs::remove_dir_all(&dir);
    (output, document)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_nodes_and_pods_leave_notes_and_the_chain_still_prints() {
    let sandbox = sandbox_with(small_world()).await;
    sandbox.faults().forbid("nodes");
    sandbox.faults().forbid("pods");
    let (output, document) = chain_json(&sandbox, &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code().is_some_and(|code| code <= 1),
        "{stderr}"
    );
    let names: Vec<&str> = service_names(&document);
    assert_eq!(names, ["web"]);
    let notes: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("note:"))
        .collect();
    assert!(
        notes
            .iter()
            .any(|note| note.contains("pods left out: forbidden: cannot list pods")),
        "{stderr}"
    );
    assert!(
        notes
            .iter()
            .any(|note| note.contains("nodes left out: forbidden: cannot list nodes")),
        "{stderr}"
    );
    // Without nodes the NodePort rows have no addresses, but the endpoints come from the slice.
    let port = &document["services"][0]["ports"][0];
    assert_eq!(port["endpoints"].as_array().map(Vec::len), Some(1));
    assert_read_only(&sandbox);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_uses_the_contexts_namespace_and_only_reads() {
    let sandbox = sandbox_with(small_world()).await;
    let (output, document) = chain_json(&sandbox, &[]).await;
    assert!(output.status.code().is_some_and(|code| code <= 1));
    assert_eq!(document["services"][0]["namespace"], "default");
    assert_eq!(document["services"][0]["name"], "web");
    let (_, all) = chain_json(&sandbox, &["-A"]).await;
    assert_eq!(all["services"].as_array().map(Vec::len), Some(1));
    assert_read_only(&sandbox);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_watch_prints_again_when_the_chain_changes() {
    use k8s_openapi::api::core::v1::Service;
    use kube::api::{Api, Patch, PatchParams};
    use tokio::io::AsyncReadExt;

    let sandbox = sandbox_with(small_world()).await;
    let dir = scratch("watch");
    let path = sandbox.kubeconfig_path().display().to_string();
    let mut child = tokio::process::Command::new(KUBEHOP)
        .args([
            "chain",
            "web",
            "--watch",
            "-o",
            "json",
            "--kubeconfig",
            &path,
        ])
        .env_remove("KUBECONFIG")
        .env("HOME", &dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("kubehop starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buffer = Vec::new();
    // Reads until `count` complete JSON documents have been printed; returns them.
    let mut documents = async |count: usize| -> Vec<serde_json::Value> {
        loop {
            let parsed: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&buffer)
                .into_iter()
                .map_while(Result::ok)
                .collect();
            if parsed.len() >= count {
                return parsed;
            }
            let mut chunk = [0u8; 8192];
            let read = stdout.read(&mut chunk).await.expect("read stdout");
            assert!(read > 0, "kubehop exited early");
            buffer.extend_from_slice(&chunk[..read]);
        }
    };
    let first = within_for(DEADLINE, "the first chain", documents(1)).await;
    assert_eq!(first[0]["services"][0]["name"], "web");
    assert_eq!(
        first[0]["services"][0]["selector"]["app"], "web",
        "{}",
        first[0]
    );

    // A new selector changes the chain: a second document follows.
    let client = crate::support::sandbox::test_client(&sandbox).await;
    let services: Api<Service> = Api::namespaced(client, "default");
    let patch = serde_json::json!({"spec": {"selector": {"app": "db"}}});
    services
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch the selector");
    let both = within_for(DEADLINE, "the changed chain", documents(2)).await;
    assert_eq!(
        both[1]["services"][0]["selector"]["app"], "db",
        "{}",
        both[1]
    );
    assert_eq!(both.len(), 2, "printed only when the chain changed");
    child.kill().await.expect("stop kubehop");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_finds_an_address_in_any_namespace() {
    use crate::support::fixtures::manifest::{Edit as _, service};
    let mut objects = small_world();
    objects.push(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
    );
    objects.push(service("shop", "api", 80).cluster_ip("127.96.0.20"));
    let sandbox = sandbox_with(objects).await;
    let dir = scratch("route");
    let path = sandbox.kubeconfig_path().display().to_string();
    // The context's namespace is `default`; the Service is in `shop`.
    let output = kubehop(
        &[
            "route",
            "127.96.0.20:80",
            "-o",
            "json",
            "--kubeconfig",
            &path,
        ],
        &dir,
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let decision: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(decision["matched"]["namespace"], "shop", "{decision:#}");
    assert_eq!(decision["matched"]["service"], "api", "{decision:#}");
    assert_read_only(&sandbox);
    let _ = std::fs::remove_dir_all(&dir);
}

#[rstest]
#[case::chain("chain")]
#[case::probe("probe")]
#[tokio::test]
async fn an_exec_plugin_token_with_a_line_break_exits_2_naming_the_field(#[case] command: &str) {
    use crate::client::{TempDir, exec_credential, exec_plugin_kubeconfig};
    let dir = TempDir::new();
    let sandbox = sandbox_with(small_world()).await;
    let credential = exec_credential("tok\nX-Evil: 1", false);
    let config = exec_plugin_kubeconfig(&dir.0, &sandbox, &credential);
    let path = config.display().to_string();
    let mut args = vec![command, "--kubeconfig", &path];
    if command == "probe" {
        args.insert(1, "web");
    }
    let output = kubehop(&args, &dir.0).await;
    let line = one_error_line(&output);
    assert!(
        line.starts_with("kubehop: the kubeconfig's users[].user.exec of user \"plugin\""),
        "{line}"
    );
    assert!(line.contains("a line break"), "{line}");
    assert!(
        !line.contains("panicked") && !line.contains("X-Evil"),
        "{line}"
    );
}
