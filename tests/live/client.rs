//! Connecting like kubectl: kubeconfig loading rules, contexts, namespaces, request timeouts and
//! the one-line errors for each way connecting can fail (real sockets on loopback).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kubehop::cluster::ClusterError;
use kubehop::cluster::client::{
    self, ClientSettings, Environment, KubeconfigFiles, Scope, kubeconfig_files,
};
use kubehop::sandbox::kubeconfig;
use rstest::rstest;

use crate::support::live::DEADLINE;
use crate::support::sandbox::sandbox_with;
use crate::support::wait::within_for;

/// A folder in the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "kubehop-live-client-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn kubeconfig_text(current: Option<&str>, contexts: &[(&str, &str, Option<&str>)]) -> String {
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, server, _) in contexts {
        text.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {server}\n"
        ));
    }
    text.push_str("users:\n");
    for (name, _, _) in contexts {
        text.push_str(&format!("- name: {name}\n  user:\n    token: t-{name}\n"));
    }
    text.push_str("contexts:\n");
    for (name, _, namespace) in contexts {
        text.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"
        ));
        if let Some(namespace) = namespace {
            text.push_str(&format!("    namespace: {namespace}\n"));
        }
    }
    if let Some(current) = current {
        text.push_str(&format!("current-context: {current}\n"));
    }
    text
}

fn env_with(kubeconfig: Option<OsString>, home: Option<&Path>) -> Environment {
    Environment {
        kubeconfig,
        home: home.map(Path::to_path_buf),
        in_cluster: false,
    }
}

fn joined(paths: &[&Path]) -> OsString {
    std::env::join_paths(paths).expect("joinable paths")
}

#[test]
fn loading_rules_pick_files_like_kubectl() {
    let dir = TempDir::new();
    let a = dir.write("a.yaml", "");
    let b = dir.write("b.yaml", "");
    let missing = dir.0.join("missing.yaml");
    let home = dir.0.join("home");
    let home_config = dir.write("home/.kube/config", "");

    // --kubeconfig wins and is taken as given.
    let explicit = kubeconfig_files(Some(&missing), &env_with(Some(joined(&[&a])), Some(&home)));
    assert_eq!(explicit.files, std::slice::from_ref(&missing));

    // KUBECONFIG: missing and empty entries are skipped, order is kept.
    let mut list = joined(&[&b, &missing, &a]);
    list.push(if cfg!(windows) { ";" } else { ":" });
    let from_env = kubeconfig_files(None, &env_with(Some(list), Some(&home)));
    assert_eq!(from_env.files, [b.clone(), a.clone()]);

    // An empty KUBECONFIG counts as unset: ~/.kube/config.
    let from_home = kubeconfig_files(None, &env_with(Some(OsString::new()), Some(&home)));
    assert_eq!(from_home.files, [home_config]);

    // Nothing anywhere: no files, and the message can say where kubehop looked.
    let nothing = kubeconfig_files(None, &env_with(Some(joined(&[&missing])), Some(&home)));
    assert_eq!(
        nothing,
        KubeconfigFiles {
            files: Vec::new(),
            looked: vec![format!("KUBECONFIG={}", missing.display())]
        }
    );
}

fn settings() -> ClientSettings {
    ClientSettings::default()
}

#[tokio::test]
async fn kubeconfig_lists_merge_first_file_wins_and_contexts_come_from_every_file() {
    let dir = TempDir::new();
    let first = dir.write(
        "first.yaml",
        &kubeconfig_text(
            Some("alpha"),
            &[("alpha", "https://127.0.0.1:6443", Some("shop"))],
        ),
    );
    let second = dir.write(
        "second.yaml",
        &kubeconfig_text(
            Some("beta"),
            &[
                ("beta", "https://127.0.0.2:6443", None),
                // Shadowed by the first file's alpha.
                ("alpha", "https://127.0.0.9:6443", Some("ignored")),
            ],
        ),
    );
    let env = env_with(Some(joined(&[&first, &second])), None);

    let target = client::resolve(&settings(), &env).await.expect("resolves");
    assert_eq!(target.context, "alpha");
    assert_eq!(target.url(), "https://127.0.0.1:6443");
    assert_eq!(target.scope, Scope::Namespace("shop".into()));

    let beta = ClientSettings {
        context: Some("beta".into()),
        ..settings()
    };
    let target = client::resolve(&beta, &env).await.expect("resolves");
    assert_eq!(target.url(), "https://127.0.0.2:6443");
    assert_eq!(
        target.scope,
        Scope::Namespace("default".into()),
        "no namespace in the context"
    );

    let overridden = ClientSettings {
        namespace: Some("billing".into()),
        ..settings()
    };
    let target = client::resolve(&overridden, &env).await.expect("resolves");
    assert_eq!(target.scope, Scope::Namespace("billing".into()));

    let all = ClientSettings {
        all_namespaces: true,
        namespace: Some("billing".into()),
        ..settings()
    };
    let target = client::resolve(&all, &env).await.expect("resolves");
    assert_eq!(target.scope, Scope::All);
    assert!(
        target
            .config
            .headers
            .iter()
            .any(|(name, value)| name == "user-agent" && value == client::USER_AGENT)
    );
}

/// The error of resolving `settings` in `env`, after checking it is one line.
async fn resolve_error(settings: &ClientSettings, env: &Environment) -> (ClusterError, String) {
    let error = client::resolve(settings, env).await.expect_err("fails");
    let message = error.to_string();
    eprintln!("{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    (error, message)
}

#[tokio::test]
async fn configuration_errors_say_what_to_do() {
    let dir = TempDir::new();
    let two = dir.write(
        "two.yaml",
        &kubeconfig_text(
            None,
            &[
                ("kind-dev", "https://127.0.0.1:6443", None),
                ("k3d-test", "https://127.0.0.2:6443", None),
            ],
        ),
    );
    let env = env_with(Some(joined(&[&two])), None);

    let (error, message) = resolve_error(&settings(), &env).await;
    assert!(
        matches!(error, ClusterError::NoCurrentContext { .. }),
        "{error:?}"
    );
    assert!(message.contains("--context"), "{message}");
    assert!(message.contains("kind-dev, k3d-test"), "{message}");

    let unknown = ClientSettings {
        context: Some("prod".into()),
        ..settings()
    };
    let (error, message) = resolve_error(&unknown, &env).await;
    assert!(
        matches!(error, ClusterError::UnknownContext { .. }),
        "{error:?}"
    );
    assert!(
        message.starts_with("context \"prod\" is not in the kubeconfig"),
        "{message}"
    );
    assert!(
        message.contains("known contexts: kind-dev, k3d-test"),
        "{message}"
    );

    let broken = dir.write("broken.yaml", "apiVersion: v1\nclusters: [\n  - name: x\n");
    let (error, message) =
        resolve_error(&settings(), &env_with(Some(joined(&[&broken])), None)).await;
    assert!(
        matches!(error, ClusterError::KubeconfigUnreadable { .. }),
        "{error:?}"
    );
    assert!(message.contains(&broken.display().to_string()), "{message}");
    assert!(message.contains("--kubeconfig"), "{message}");

    let missing = dir.0.join("nope.yaml");
    let explicit = ClientSettings {
        kubeconfig: Some(missing.clone()),
        ..settings()
    };
    let (error, message) = resolve_error(&explicit, &env).await;
    assert!(
        matches!(error, ClusterError::KubeconfigUnreadable { .. }),
        "{error:?}"
    );
    assert!(message.contains("No such file"), "{message}");

    let home = dir.0.join("empty-home");
    let (error, message) = resolve_error(&settings(), &env_with(None, Some(&home))).await;
    assert!(
        matches!(error, ClusterError::NoKubeconfig { .. }),
        "{error:?}"
    );
    assert!(
        message.contains(&home.join(".kube").join("config").display().to_string()),
        "{message}"
    );
    assert!(message.contains("--demo"), "{message}");

    // A pod without its service account files (this machine): the in-cluster path is tried.
    let in_pod = Environment {
        in_cluster: true,
        ..env_with(None, Some(&home))
    };
    let (error, message) = resolve_error(&settings(), &in_pod).await;
    assert!(matches!(error, ClusterError::InCluster { .. }), "{error:?}");
    assert!(message.contains("in-cluster"), "{message}");
}

#[rstest]
#[case::refused("refused")]
#[case::wrong_ca("wrong-ca")]
#[case::wrong_token("wrong-token")]
#[case::no_answer("no-answer")]
#[tokio::test]
async fn connection_errors_are_classified(#[case] case: &str) {
    let dir = TempDir::new();
    let sandbox = sandbox_with(Vec::new()).await;
    let other = sandbox_with(Vec::new()).await;
    // A listener that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("address");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let ca = sandbox.ca_pem().expect("https sandbox");
    let text = match case {
        "refused" => kubeconfig::render(&format!("https://127.0.0.1:{closed_port}"), Some(ca), "t"),
        "wrong-ca" => kubeconfig::render(sandbox.url(), other.ca_pem(), sandbox.token()),
        "wrong-token" => kubeconfig::render(sandbox.url(), Some(ca), "not-the-token"),
        _ => kubeconfig::render(&format!("https://{silent_addr}"), Some(ca), "t"),
    };
    let path = dir.write("config", &text);
    let settings = ClientSettings {
        kubeconfig: Some(path),
        request_timeout: Some(Duration::from_millis(500)),
        ..ClientSettings::default()
    };
    let Err(error) = within_for(
        DEADLINE,
        "connect",
        client::connect(&settings, &Environment::default()),
    )
    .await
    else {
        panic!("connecting succeeded");
    };
    let message = error.to_string();
    eprintln!("{case}: {message}");
    assert!(!message.contains('\n'), "one line: {message}");
    match case {
        "refused" => {
            assert!(
                matches!(error, ClusterError::Unreachable { .. }),
                "{error:?}"
            );
            assert!(
                message.contains(&format!("https://127.0.0.1:{closed_port}")),
                "{message}"
            );
            assert!(message.contains("Connection refused"), "{message}");
        }
        "wrong-ca" => {
            assert!(matches!(error, ClusterError::Tls { .. }), "{error:?}");
            assert!(message.contains("certificate-authority"), "{message}");
        }
        "wrong-token" => {
            assert!(
                matches!(error, ClusterError::Unauthorized { .. }),
                "{error:?}"
            );
            assert!(message.contains("401"), "{message}");
        }
        _ => {
            assert!(matches!(error, ClusterError::Timeout { .. }), "{error:?}");
            assert!(message.contains("500ms"), "{message}");
            assert!(message.contains("--request-timeout"), "{message}");
        }
    }
    holder.abort();
}

#[tokio::test]
async fn the_sandbox_kubeconfig_connects() {
    let sandbox = sandbox_with(Vec::new()).await;
    let settings = ClientSettings {
        kubeconfig: Some(sandbox.kubeconfig_path().to_path_buf()),
        ..ClientSettings::default()
    };
    let (_client, target) = client::connect(&settings, &Environment::default())
        .await
        .expect("connects");
    assert_eq!(target.context, "kubehop-sandbox");
    assert_eq!(target.url(), sandbox.url());
}

/// A kubeconfig for the sandbox whose user runs an exec credential plugin (`sh -c SCRIPT`).
fn exec_kubeconfig(sandbox: &kubehop::sandbox::SandboxHandle, script: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(sandbox.ca_pem().expect("https"));
    let script = serde_json::to_string(script).expect("a JSON string");
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: sandbox
  cluster:
    server: \"{url}\"
    certificate-authority-data: {ca}
users:
- name: plugin
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: /bin/sh
      args: [\"-c\", {script}]
      interactiveMode: Never
contexts:
- name: sandbox
  context:
    cluster: sandbox
    user: plugin
current-context: sandbox
",
        url = sandbox.url()
    )
}

#[tokio::test]
async fn exec_credential_plugins_run_through_kube_rs() {
    let dir = TempDir::new();
    let sandbox = sandbox_with(Vec::new()).await;
    let good = format!(
        "echo '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{}\"}}}}'",
        sandbox.token()
    );
    let settings = ClientSettings {
        kubeconfig: Some(dir.write("good", &exec_kubeconfig(&sandbox, &good))),
        ..ClientSettings::default()
    };
    let (_client, target) = within_for(
        DEADLINE,
        "connect",
        client::connect(&settings, &Environment::default()),
    )
    .await
    .expect("the plugin's token is accepted");
    assert_eq!(target.context, "sandbox");

    let failing = ClientSettings {
        kubeconfig: Some(dir.write(
            "failing",
            &exec_kubeconfig(&sandbox, "echo 'error: you must be logged in' >&2; exit 1"),
        )),
        ..ClientSettings::default()
    };
    let Err(error) = within_for(
        DEADLINE,
        "connect",
        client::connect(&failing, &Environment::default()),
    )
    .await
    else {
        panic!("a failing plugin cannot connect");
    };
    let message = error.to_string();
    eprintln!("{message}");
    assert!(matches!(error, ClusterError::Auth { .. }), "{error:?}");
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(message.contains("exec/OIDC credential plugin"), "{message}");
}

/// Writes an exec credential plugin to `dir` (a shell script printing `credential`) and a
/// kubeconfig for the sandbox whose user runs it; returns the kubeconfig's path.
pub(crate) fn exec_plugin_kubeconfig(
    dir: &Path,
    sandbox: &kubehop::sandbox::SandboxHandle,
    credential: &serde_json::Value,
) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let plugin = dir.join("plugin.sh");
    // printf '%s' prints the JSON as it is: its "\n" escapes stay escapes for the JSON reader.
    let quoted = credential.to_string().replace('\'', r"'\''");
    std::fs::write(&plugin, format!("#!/bin/sh\nprintf '%s\\n' '{quoted}'\n")).expect("write");
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let text = exec_kubeconfig(sandbox, "unused").replace(
        "command: /bin/sh\n      args: [\"-c\", \"unused\"]",
        &format!("command: {}", plugin.display()),
    );
    assert!(text.contains("plugin.sh"), "{text}");
    let path = dir.join("config");
    std::fs::write(&path, text).expect("write");
    path
}

/// An ExecCredential carrying `token`, expiring or not.
pub(crate) fn exec_credential(token: &str, expiring: bool) -> serde_json::Value {
    let mut status = serde_json::json!({ "token": token });
    if expiring {
        status["expirationTimestamp"] = "2099-01-01T00:00:00Z".into();
    }
    serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": status,
    })
}

#[rstest]
#[case::static_token("tok\nX-Evil: 1", false, "a line break")]
#[case::expiring_token("tok\nX-Evil: 1", true, "a line break")]
#[case::bell("tok\u{7}", false, "U+0007")]
#[tokio::test]
async fn an_exec_plugin_token_with_a_control_character_names_the_field(
    #[case] token: &str,
    #[case] expiring: bool,
    #[case] problem: &str,
) {
    let dir = TempDir::new();
    let sandbox = sandbox_with(Vec::new()).await;
    let settings = ClientSettings {
        kubeconfig: Some(exec_plugin_kubeconfig(
            &dir.0,
            &sandbox,
            &exec_credential(token, expiring),
        )),
        ..ClientSettings::default()
    };
    let Err(error) = within_for(
        DEADLINE,
        "connect",
        client::connect(&settings, &Environment::default()),
    )
    .await
    else {
        panic!("a token that cannot be a header connects");
    };
    let message = error.to_string();
    assert!(
        matches!(error, ClusterError::Credentials { field, .. } if field == "users[].user.exec"),
        "{error:?}"
    );
    assert!(message.contains(problem), "{message}");
    assert!(message.contains("status.token"), "{message}");
    assert!(
        !message.contains("X-Evil") && !message.contains('\n'),
        "{message}"
    );
}

#[rstest]
#[case::static_token(false)]
#[case::expiring_token(true)]
#[tokio::test]
async fn an_exec_plugin_token_that_is_fine_connects(#[case] expiring: bool) {
    let dir = TempDir::new();
    let sandbox = sandbox_with(Vec::new()).await;
    let credential = exec_credential(sandbox.token(), expiring);
    let settings = ClientSettings {
        kubeconfig: Some(exec_plugin_kubeconfig(&dir.0, &sandbox, &credential)),
        ..ClientSettings::default()
    };
    let (_client, target) = within_for(
        DEADLINE,
        "connect",
        client::connect(&settings, &Environment::default()),
    )
    .await
    .expect("the plugin's token is accepted");
    // A token that never expires is what kube-rs would send for ever: the plugin ran once.
    assert_eq!(target.config.auth_info.exec.is_none(), !expiring);
}
