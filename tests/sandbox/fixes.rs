//! Copy-ready fixes applied for real: `kubehop chain -o json` against the built-in scenario
//! gives the `kubectl` command for a broken Service, the real kubectl runs it, and the Service
//! turns healthy in `chain`. kubehop itself only reads (its requests stay get/list/watch).

use std::time::Duration;

use serde_json::Value;

use super::kubectl::Harness;
use crate::support::bin::kubehop_isolated_output;
use crate::support::wait::DEADLINE;

/// `kubehop chain` of the sandbox as JSON (exit status, document).
async fn chain_json(harness: &Harness, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args: Vec<String> = vec![
        "chain".into(),
        "--kubeconfig".into(),
        harness.sandbox.kubeconfig_path().display().to_string(),
        "-o".into(),
        "json".into(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let output = kubehop_isolated_output(args).await;
    let document = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "JSON ({error}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), document)
}

/// The `fix` of every diagnostic of the Services in `document`, with the Service's name.
fn fixes(document: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for service in document["services"].as_array().into_iter().flatten() {
        for diagnostic in service["diagnostics"].as_array().into_iter().flatten() {
            if let Some(fix) = diagnostic["fix"].as_str() {
                let name = service["name"].as_str().unwrap_or_default().to_owned();
                found.push((name, fix.to_owned()));
            }
        }
    }
    found
}

#[tokio::test]
async fn a_copied_fix_heals_the_service() {
    let Some(harness) = Harness::start_builtin("apply-fix").await else {
        return;
    };
    let (status, document) = chain_json(&harness, &["-A", "--only", "broken"]).await;
    assert_eq!(status, Some(1));
    let found = fixes(&document);
    let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["invoices", "blog"], "{found:#?}");
    for (name, fix) in &found {
        assert!(fix.starts_with("kubectl patch svc "), "{fix}");
        let (success, stdout, stderr) = harness.shell(fix).await;
        assert!(success, "{name}: {fix}\n{stdout}\n{stderr}");
        assert!(stdout.contains("patched"), "{stdout}");
    }
    // The EndpointSlice controller picks the pods up: both Services turn ok in `chain`.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    for (namespace, name) in [("billing", "invoices"), ("blog", "blog")] {
        loop {
            let service = format!("{namespace}/{name}");
            let (status, document) = chain_json(&harness, &[&service]).await;
            let health = document["services"][0]["health"].clone();
            if status == Some(0) && health == "ok" {
                let ready = document["services"][0]["ports"][0]["endpoints"]
                    .as_array()
                    .map_or(0, Vec::len);
                assert_eq!(ready, 2, "{service}: {document:#}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{service} did not turn ok: {document:#}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Still broken elsewhere, and no fix left for the two healed ones.
    let (_, document) = chain_json(&harness, &["-A", "--only", "broken"]).await;
    assert!(fixes(&document).is_empty(), "{document:#}");
}
