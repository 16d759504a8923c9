//! Logging and each subcommand's own flags, through the built binary: `--log-file` writes the
//! log and leaves standard output and standard error as they were; `kubehop sandbox` does not
//! accept the source flags it never reads.

use rstest::rstest;

use crate::support::bin::{json, kubehop, kubehop_command, scratch_dir, stderr, stdout};

#[test]
fn chain_with_a_log_file_writes_the_log_and_not_the_terminal() {
    let dir = scratch_dir("logging-chain");
    let log = dir.join("kubehop.log");
    let log_path = log.to_str().expect("UTF-8 path");
    let output = kubehop_command(&[
        "chain",
        "--demo",
        "-n",
        "shop",
        "web",
        "-o",
        "json",
        "--log-file",
        log_path,
    ])
    .env("KUBEHOP_LOG", "debug")
    .output()
    .expect("the kubehop binary runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Standard output is the JSON document alone, standard error stays empty.
    let document = json(&output);
    assert_eq!(document["services"][0]["name"], "web", "{document:#}");
    assert_eq!(stderr(&output), "", "no log line on standard error");
    let text = std::fs::read_to_string(&log).expect("the log file is written");
    assert!(text.contains("kubehop starts"), "{text}");
    assert!(text.contains("kubehop exits"), "{text}");
    assert!(
        text.contains("DEBUG"),
        "KUBEHOP_LOG=debug is honoured:\n{text}"
    );
    assert!(!text.contains('\x1b'), "no colour codes in the file");
}

#[test]
fn the_log_file_can_come_from_the_environment() {
    let dir = scratch_dir("logging-env");
    let log = dir.join("from-env.log");
    let output = kubehop_command(&["chain", "-A", "-f", "assets/scenarios/web-ingress.yaml"])
        .env("KUBEHOP_LOG_FILE", &log)
        .output()
        .expect("the kubehop binary runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = std::fs::read_to_string(&log).expect("the log file is written");
    assert!(text.contains("kubehop starts"), "{text}");
}

#[test]
fn without_a_log_file_nothing_is_logged_to_the_terminal() {
    let output = kubehop_command(&["chain", "-A", "-f", "assets/scenarios/web-ingress.yaml"])
        .env("KUBEHOP_LOG", "trace")
        .env_remove("KUBEHOP_LOG_FILE")
        .output()
        .expect("the kubehop binary runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

#[test]
fn an_unwritable_log_file_is_a_usage_error() {
    let output = kubehop(&[
        "chain",
        "-f",
        "assets/scenarios/web-ingress.yaml",
        "--log-file",
        "/nonexistent/folder/kubehop.log",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .starts_with("kubehop: cannot open the log file /nonexistent/folder/kubehop.log"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn sandbox_help_shows_only_sandbox_flags() {
    let output = kubehop(&["sandbox", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = stdout(&output);
    // Whole flags: `--kubeconfig-out` is the sandbox's own, `--kubeconfig` is not.
    let flags: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
        .filter(|word| word.starts_with("--"))
        .collect();
    for own in [
        "--scenario",
        "--from-file",
        "--listen",
        "--ready-delay",
        "--api-only",
        "--log-file",
    ] {
        assert!(flags.contains(&own), "sandbox --help misses {own}:\n{help}");
    }
    for foreign in [
        "--demo",
        "--kubeconfig",
        "--context",
        "--namespace",
        "--all-namespaces",
        "--request-timeout",
        "--cluster-domain",
    ] {
        assert!(
            !flags.contains(&foreign),
            "sandbox --help lists {foreign}:\n{help}"
        );
    }
    // The commands that read a cluster list the source flags.
    let help = stdout(&kubehop(&["chain", "--help"]));
    for flag in ["--demo", "--from-file", "--kubeconfig", "--all-namespaces"] {
        assert!(help.contains(flag), "chain --help misses {flag}:\n{help}");
    }
}

#[rstest]
#[case::sandbox_dump_and_scenario(&["sandbox", "-f", "dump.yaml", "--scenario", "s.yaml"], "'--from-file <PATH>' cannot be used with '--scenario <FILE>'")]
#[case::sandbox_demo(&["sandbox", "--demo"], "unexpected argument '--demo'")]
#[case::sandbox_namespace(&["sandbox", "-A"], "unexpected argument '-A'")]
#[case::chain_demo_kubeconfig(&["chain", "--demo", "--kubeconfig", "x"], "'--demo' cannot be used with '--kubeconfig <FILE>'")]
#[case::probe_dump_context(&["probe", "web", "-f", "x.yaml", "--context", "c"], "'--from-file <PATH>' cannot be used with '--context <NAME>'")]
#[case::tui_flag_before_subcommand(&["-A", "sandbox"], "the subcommand 'sandbox' cannot be used with '--all-namespaces'")]
#[case::bad_request_timeout(&["chain", "--demo", "--request-timeout", "soon"], "invalid value 'soon' for '--request-timeout <DURATION>'")]
fn flags_a_command_cannot_use_are_errors(#[case] args: &[&str], #[case] message: &str) {
    let output = kubehop(args);
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    assert!(
        stderr(&output).contains(message),
        "{args:?}: {}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());
}
