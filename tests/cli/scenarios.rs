//! `kubehop chain` on every scenario in assets/scenarios, through the built binary:
//! JSON snapshots of every file, text snapshots of the seed scenarios and some broken ones, and
//! the diagnostic codes each file must produce (the table in assets/scenarios/README.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kubehop::engine::DiagnosticCode;
use rstest::rstest;
use serde_json::Value;

use crate::support::bin::{MANIFEST_DIR, kubehop, stdout};

fn relative(path: &Path) -> String {
    path.strip_prefix(MANIFEST_DIR)
        .expect("fixture inside the crate")
        .display()
        .to_string()
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .expect("file name")
        .to_owned()
}

/// Every Service's and every unattached diagnostic's code in `chain -o json` output.
fn codes(json: &Value) -> BTreeSet<String> {
    let services = json["services"].as_array().expect("services array");
    services
        .iter()
        .flat_map(|service| service["diagnostics"].as_array().expect("diagnostics"))
        .chain(
            json["diagnostics"]
                .as_array()
                .expect("top-level diagnostics"),
        )
        .map(|diagnostic| diagnostic["code"].as_str().expect("code").to_owned())
        .collect()
}

#[rstest]
fn chain_json_of_every_scenario(#[files("assets/scenarios/*.yaml")] path: PathBuf) {
    let file = relative(&path);
    let output = kubehop(&["chain", "-A", "-o", "json", "--from-file", &file]);
    let text = stdout(&output);
    let json: Value = serde_json::from_str(&text).expect("chain -o json prints JSON");
    // Exit 1 exactly when some error-level diagnostic is printed.
    let has_error = json["services"]
        .as_array()
        .expect("services")
        .iter()
        .flat_map(|service| service["diagnostics"].as_array().expect("diagnostics"))
        .chain(json["diagnostics"].as_array().expect("diagnostics"))
        .any(|diagnostic| diagnostic["severity"] == "error");
    assert_eq!(output.status.code(), Some(i32::from(has_error)), "{file}");
    insta::assert_snapshot!(format!("chain_json__{}", stem(&path)), text);
}

#[rstest]
#[case::web_ingress("web-ingress")]
#[case::mongodb("mongodb")]
#[case::nodeport("nodeport")]
#[case::loadbalancer("loadbalancer")]
#[case::selector_partial("selector-partial")]
#[case::named_port_missing("named-port-missing")]
#[case::terminating_only("terminating-only")]
#[case::etp_local_drops("etp-local-drops")]
#[case::ingress_missing_service("ingress-missing-service")]
#[case::selectorless("selectorless")]
#[case::externalname("externalname")]
fn chain_text(#[case] scenario: &str) {
    let file = format!("assets/scenarios/{scenario}.yaml");
    let output = kubehop(&["chain", "-A", "--from-file", &file]);
    let text = stdout(&output);
    assert!(
        !text.contains('\u{1b}'),
        "no colour when stdout is not a terminal"
    );
    insta::assert_snapshot!(format!("chain_text__{scenario}"), text);
}

/// The "expected diagnostic codes" column of assets/scenarios/README.md, per file.
fn readme_codes() -> BTreeMap<String, BTreeSet<String>> {
    let readme = std::fs::read_to_string(format!("{MANIFEST_DIR}/assets/scenarios/README.md"))
        .expect("scenario README");
    let known: BTreeSet<&str> = DiagnosticCode::ALL
        .iter()
        .map(|code| code.as_str())
        .collect();
    let mut table = BTreeMap::new();
    for line in readme.lines().filter(|line| line.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        let file = cells[0].trim().trim_matches('`').to_owned();
        let expected = cells.last().expect("codes column");
        let codes: BTreeSet<String> = expected
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|word| known.contains(word))
            .map(str::to_owned)
            .collect();
        table.insert(file, codes);
    }
    table
}

#[test]
fn every_scenario_is_in_the_readme_table() {
    let table = readme_codes();
    let files: BTreeSet<String> = std::fs::read_dir(format!("{MANIFEST_DIR}/assets/scenarios"))
        .expect("scenario folder")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    let listed: BTreeSet<String> = table.keys().cloned().collect();
    assert_eq!(files, listed);
}

#[rstest]
fn every_scenario_produces_its_expected_codes(#[files("assets/scenarios/*.yaml")] path: PathBuf) {
    let table = readme_codes();
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .expect("file name");
    let expected: BTreeSet<String> = if name == "demo-all.yaml" {
        // "all of the above"
        table
            .iter()
            .filter(|(file, _)| *file != name)
            .flat_map(|(_, codes)| codes.iter().cloned())
            .collect()
    } else {
        table.get(name).cloned().expect("file listed in the README")
    };
    let output = kubehop(&["chain", "-A", "-o", "json", "--from-file", &relative(&path)]);
    let json: Value = serde_json::from_str(&stdout(&output)).expect("JSON");
    assert_eq!(codes(&json), expected, "{name}");
}
