//! Toolbox fit: `--version`, shell completions and the man page, generated from the clap
//! definitions by the real binaries (`kubehop` and the kubectl plugin `kubectl-hop`).

use std::process::{Command, Output};

use rstest::rstest;

use crate::support::bin::{KUBECTL_HOP, KUBEHOP, scratch_dir, stdout};

/// The subcommands a user sees; completions and the man page must know each of them.
const SUBCOMMANDS: [&str; 6] = [
    "chain",
    "route",
    "probe",
    "forward",
    "sandbox",
    "completions",
];

fn run(binary: &str, args: &[&str]) -> Output {
    let output = Command::new(binary)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "{binary} {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[rstest]
#[case::kubehop(KUBEHOP, "kubehop")]
#[case::plugin(KUBECTL_HOP, "kubehop")]
fn version_names_the_package_version(#[case] binary: &str, #[case] name: &str) {
    let out = stdout(&run(binary, &["--version"]));
    assert_eq!(out.trim(), format!("{name} {}", env!("CARGO_PKG_VERSION")));
    // Subcommands share it (propagate_version).
    let out = stdout(&run(binary, &["chain", "--version"]));
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
}

#[test]
fn the_plugin_binary_calls_itself_kubectl_hop() {
    // The TUI's options or a subcommand (which takes its own flags after its name).
    let out = stdout(&run(KUBECTL_HOP, &["--help"]));
    assert!(
        out.contains("Usage: kubectl hop [OPTIONS]\n       kubectl hop <COMMAND>"),
        "{out}"
    );
    let out = stdout(&run(KUBECTL_HOP, &["chain", "--help"]));
    assert!(out.contains("Usage: kubectl hop chain"), "{out}");
    let out = stdout(&run(KUBEHOP, &["--help"]));
    assert!(
        out.contains("Usage: kubehop [OPTIONS]\n       kubehop <COMMAND>"),
        "{out}"
    );
}

#[rstest]
#[case::bash("bash", "complete -F _kubehop")]
#[case::zsh("zsh", "#compdef kubehop")]
#[case::fish("fish", "complete -c kubehop")]
fn completions_cover_every_subcommand_and_flag(#[case] shell: &str, #[case] marker: &str) {
    let script = stdout(&run(KUBEHOP, &["completions", shell]));
    assert!(
        script.contains(marker),
        "{shell}: no `{marker}` in\n{script}"
    );
    for sub in SUBCOMMANDS {
        assert!(script.contains(sub), "{shell} completions miss `{sub}`");
    }
    // Long flags, global and per subcommand (fish writes them without the dashes).
    for flag in [
        "all-namespaces",
        "kubeconfig",
        "demo",
        "via",
        "watch",
        "concurrency",
    ] {
        assert!(script.contains(flag), "{shell} completions miss `{flag}`");
    }
    // Value enums complete to their values.
    assert!(script.contains("clusterip") && script.contains("nodeport"));
}

#[rstest]
#[case::bash("bash")]
#[case::zsh("zsh")]
#[case::fish("fish")]
fn completions_are_valid_scripts_for_their_shell(#[case] shell: &str) {
    let Ok(probe) = Command::new(shell).arg("-c").arg("exit 0").output() else {
        eprintln!(
            "\n==== SKIP syntax check of the {shell} completions: no `{shell}` on PATH ====\n"
        );
        return;
    };
    assert!(probe.status.success());
    let script = run(KUBEHOP, &["completions", shell]).stdout;
    let dir = scratch_dir(&format!("toolbox-completions-{shell}"));
    let file = dir.join(format!("kubehop.{shell}"));
    std::fs::write(&file, script).expect("write the script");
    let check = match shell {
        "fish" => Command::new("fish").arg("--no-execute").arg(&file).output(),
        _ => Command::new(shell).arg("-n").arg(&file).output(),
    }
    .expect("the shell runs");
    assert!(
        check.status.success(),
        "{shell} rejects the completions: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn man_page_is_roff_and_lists_the_subcommands() {
    let page = stdout(&run(KUBEHOP, &["man"]));
    assert!(page.starts_with(".ie"), "not roff:\n{page}");
    assert!(page.contains(".TH kubehop 1"), "{page}");
    assert!(
        page.contains(env!("CARGO_PKG_VERSION")),
        "no version in the page"
    );
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("kubehop\\-{sub}(1)")),
            "the page misses `{sub}`"
        );
    }
    assert!(page.contains("\\-\\-all\\-namespaces"), "{page}");
}

#[test]
fn man_pages_per_subcommand_are_written_to_a_folder() {
    let dir = scratch_dir("toolbox-man");
    let out = stdout(&run(
        KUBEHOP,
        &["man", "--out-dir", dir.to_str().expect("UTF-8 path")],
    ));
    assert_eq!(out.lines().count(), 1 + SUBCOMMANDS.len(), "{out}");
    for name in std::iter::once("kubehop".to_owned())
        .chain(SUBCOMMANDS.iter().map(|sub| format!("kubehop-{sub}")))
    {
        let page = std::fs::read_to_string(dir.join(format!("{name}.1")))
            .unwrap_or_else(|error| panic!("{name}.1: {error}"));
        assert!(page.contains(&format!(".TH {name} 1")), "{name}.1:\n{page}");
    }
    // A subcommand's page carries its own flags and the global ones.
    let probe = std::fs::read_to_string(dir.join("kubehop-probe.1")).expect("probe page");
    for flag in [
        "\\-\\-via",
        "\\-\\-concurrency",
        "\\-\\-demo",
        "\\-\\-kubeconfig",
    ] {
        assert!(probe.contains(flag), "kubehop-probe.1 misses {flag}");
    }
}
