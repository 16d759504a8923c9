//! `kubehop chain` through the built binary: exit codes, bad input, standard input, Service
//! selection, output forms.

use std::io::Write;
use std::process::{Output, Stdio};

use rstest::rstest;
use serde_json::Value;

use crate::support::bin::{
    MANIFEST_DIR, json, kubehop, kubehop_command as command, stderr, stdout,
};

/// Runs with `input` on standard input.
fn kubehop_stdin(args: &[&str], input: &str) -> Output {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the kubehop binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("the kubehop binary runs")
}

/// `namespace/name` of every printed Service.
fn names(json: &Value) -> Vec<String> {
    json["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|service| {
            format!(
                "{}/{}",
                service["namespace"].as_str().expect("namespace"),
                service["name"].as_str().expect("name")
            )
        })
        .collect()
}

fn scenario(name: &str) -> String {
    std::fs::read_to_string(format!("{MANIFEST_DIR}/assets/scenarios/{name}"))
        .expect("scenario file")
}

/// Writes a file under the test's temporary folder and returns its path.
fn temp_file(name: &str, contents: &str) -> String {
    let path = format!("{}/{name}", env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(&path, contents).expect("write temporary file");
    path
}

#[rstest]
#[case::healthy("web-ingress.yaml", 0)]
#[case::warnings_only("lb-pending.yaml", 0)]
#[case::info_only("externalname.yaml", 0)]
#[case::error("selector-mismatch.yaml", 1)]
#[case::error_on_one_port("named-port-missing.yaml", 1)]
#[case::rejected_manifest("multiport-unnamed.yaml", 1)]
fn exit_status_follows_error_diagnostics(#[case] file: &str, #[case] status: i32) {
    let path = format!("assets/scenarios/{file}");
    for format in ["text", "json", "yaml"] {
        let output = kubehop(&["chain", "-A", "-o", format, "-f", &path]);
        assert_eq!(output.status.code(), Some(status), "{file} -o {format}");
    }
}

#[test]
fn an_ingress_to_a_missing_service_counts_within_its_namespace() {
    // Only an Ingress whose backend Service does not exist: an unattached error.
    let dump = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: docs, namespace: docs}\nspec:\n  rules:\n  - host: docs.example.test\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n        backend: {service: {name: gone, port: {number: 80}}}\n";
    let output = kubehop_stdin(&["chain", "-n", "docs", "-o", "json", "-f", "-"], dump);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let document = json(&output);
    assert_eq!(document["services"], Value::Array(Vec::new()));
    let diagnostics = document["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0]["code"], "ingress-backend-missing");
    assert_eq!(diagnostics[0]["severity"], "error");
    assert_eq!(diagnostics[0]["subject"], "ingress/docs");
    assert_eq!(diagnostics[0]["namespace"], "docs");

    // Another namespace does not see it.
    let output = kubehop_stdin(&["chain", "-n", "shop", "-o", "json", "-f", "-"], dump);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(json(&output)["diagnostics"], Value::Array(Vec::new()));

    // The text form ends with an Ingresses section.
    let output = kubehop_stdin(&["chain", "-A", "-f", "-"], dump);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.starts_with("Ingresses"), "{text}");
    assert!(
        text.contains("ingress-backend-missing  ingress/docs"),
        "{text}"
    );
}

#[rstest]
#[case::missing_file(None, "does-not-exist.yaml", "does-not-exist.yaml: cannot read")]
#[case::truncated_yaml(
    Some("truncated.yaml"),
    "truncated",
    "truncated.yaml:80:24: items[1] (EndpointSlice): unclosed quote"
)]
#[case::wrong_type(
    Some("wrong-type.yaml"),
    "wrong-type",
    "wrong-type.yaml:25:13: items[0] (Service shop/web): spec.ports[0].port: invalid value: \"http\", expected i32"
)]
#[case::truncated_json(Some("truncated.json"), "truncated-json", "truncated.json:")]
#[case::not_kubernetes(Some("plain.yaml"), "plain", "plain.yaml")]
fn bad_input_is_one_line_naming_file_and_line(
    #[case] file: Option<&str>,
    #[case] content: &str,
    #[case] expected: &str,
) {
    let web = scenario("web-ingress.yaml");
    let path = match file {
        None => content.to_owned(),
        Some(name) => {
            let text = match content {
                // Cut inside the quoted creationTimestamp of the EndpointSlice (line 80).
                "truncated" => {
                    let slice = web.find("kind: EndpointSlice").expect("slice");
                    let at = web[slice..]
                        .find("creationTimestamp: \"2025")
                        .expect("timestamp")
                        + slice;
                    web[..at + 25].to_owned()
                }
                "wrong-type" => web.replacen("    port: 80\n", "    port: http\n", 1),
                "truncated-json" => {
                    let value: Value = serde_saphyr::from_str(&web).expect("fixture");
                    let text = serde_json::to_string_pretty(&value).expect("json");
                    text[..text.len() / 2].to_owned()
                }
                _ => "just: a mapping\nwith: [unbalanced\n".to_owned(),
            };
            temp_file(name, &text)
        }
    };
    let output = kubehop(&["chain", "-A", "--from-file", &path]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.starts_with("kubehop: "), "{message}");
    assert!(message.contains(expected), "{message}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn reads_standard_input() {
    let output = kubehop_stdin(
        &["chain", "-A", "-o", "json", "--from-file", "-"],
        &scenario("nodeport.yaml"),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(names(&json(&output)), ["default/mynodeportservice"]);

    // Errors on standard input name it.
    let output = kubehop_stdin(&["chain", "-f", "-"], "kind: [");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with("kubehop: <stdin>:"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn reads_several_files_and_notes_skipped_kinds_on_stderr() {
    let output = kubehop(&[
        "chain",
        "-A",
        "-o",
        "json",
        "-f",
        "assets/scenarios/web-ingress.yaml",
        "-f",
        "assets/scenarios/multiport-unnamed.yaml",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(names(&json(&output)), ["dns/dns-cache", "shop/web"]);
    // Both files carry the same three Nodes.
    assert_eq!(
        stderr(&output),
        "kubehop: note: skipped 1 Deployment (apps/v1) object in assets/scenarios/multiport-unnamed.yaml: kubehop does not read this kind\n\
         kubehop: note: 3 object(s) in assets/scenarios/multiport-unnamed.yaml appeared earlier in the input (same kind, namespace and name): the copy from assets/scenarios/multiport-unnamed.yaml is used\n"
    );
}

#[rstest]
#[case::all_namespaces(&["-A"], &["data/mongodb", "data/mongodb-headless", "legacy/external-db", "legacy/legacy-api"])]
#[case::namespace(&["-n", "data"], &["data/mongodb", "data/mongodb-headless"])]
#[case::all_wins_over_namespace(&["-n", "data", "-A"], &["data/mongodb", "data/mongodb-headless", "legacy/external-db", "legacy/legacy-api"])]
#[case::name_in_namespace(&["mongodb", "-n", "data"], &["data/mongodb"])]
#[case::qualified_name(&["data/mongodb-headless"], &["data/mongodb-headless"])]
#[case::name_everywhere(&["external-db", "-A"], &["legacy/external-db"])]
#[case::default_namespace_is_empty(&[], &[])]
fn selects_services(#[case] args: &[&str], #[case] expected: &[&str]) {
    let mut all = vec![
        "chain",
        "-o",
        "json",
        "-f",
        "assets/scenarios/mongodb.yaml",
        "-f",
        "assets/scenarios/selectorless.yaml",
    ];
    all.extend_from_slice(args);
    let output = kubehop(&all);
    assert_eq!(names(&json(&output)), expected);
    // legacy/legacy-api (an error) is printed only with -A and no name.
    let expected_status = i32::from(args == ["-A"] || args == ["-n", "data", "-A"]);
    assert_eq!(output.status.code(), Some(expected_status));
}

#[test]
fn nothing_in_scope_says_where_services_are() {
    let output = kubehop(&["chain", "-f", "assets/scenarios/web-ingress.yaml"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).is_empty());
    assert_eq!(
        stderr(&output),
        "No Services found in namespace default. The input has Services in namespace shop: use -n NAMESPACE or -A.\n"
    );
    let output = kubehop(&[
        "chain",
        "-o",
        "json",
        "-f",
        "assets/scenarios/web-ingress.yaml",
    ]);
    assert_eq!(
        json(&output),
        serde_json::json!({"services": [], "diagnostics": []})
    );
}

#[rstest]
#[case::unknown_service(
    &["nope", "-n", "shop"],
    "kubehop: Service \"nope\" not found in namespace shop (Services there: web)\n"
)]
#[case::service_elsewhere(
    &["web"],
    "kubehop: Service \"web\" not found in namespace default (it exists in namespace shop: use -n shop or shop/web)\n"
)]
#[case::namespace_conflict(
    &["shop/web", "-n", "blog"],
    "kubehop: SERVICE \"shop/web\" names namespace \"shop\" but -n says \"blog\": drop one of them\n"
)]
#[case::bad_name(
    &["a/b/c"],
    "kubehop: invalid SERVICE \"a/b/c\": expected NAME or NAMESPACE/NAME\n"
)]
fn selection_errors_exit_2(#[case] args: &[&str], #[case] message: &str) {
    let mut all = vec!["chain", "-f", "assets/scenarios/web-ingress.yaml"];
    all.extend_from_slice(args);
    let output = kubehop(&all);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stderr(&output), message);
    assert!(stdout(&output).is_empty());
}

#[rstest]
#[case::two_sources(&["--demo", "-f", "x.yaml"], "the argument '--demo' cannot be used with '--from-file <PATH>'")]
#[case::bad_output(&["-o", "table", "-f", "assets/scenarios/web-ingress.yaml"], "invalid value 'table'")]
fn usage_errors_exit_2(#[case] args: &[&str], #[case] message: &str) {
    let mut all = vec!["chain", "-A"];
    all.extend_from_slice(args);
    let output = kubehop(&all);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains(message), "{}", stderr(&output));
}

#[test]
fn demo_chain_reads_the_embedded_cluster() {
    let output = kubehop(&["chain", "--demo", "-A", "-o", "json"]);
    // Broken Services in the demo make the exit status 1.
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let document = json(&output);
    let services = names(&document);
    for expected in ["shop/web", "default/mynodeportservice", "edge/gateway"] {
        assert!(services.iter().any(|name| name == expected), "{services:?}");
    }
    let web = document["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|service| service["namespace"] == "shop" && service["name"] == "web")
        .expect("shop/web");
    let endpoints = web["ports"][0]["endpoints"].as_array().expect("endpoints");
    assert!(!endpoints.is_empty(), "{web}");
    for endpoint in endpoints {
        let ip = endpoint["ip"].as_str().expect("ip");
        assert!(ip.starts_with("127."), "loopback only: {ip}");
    }
}

#[test]
fn json_and_yaml_carry_the_same_document() {
    let file = "assets/scenarios/demo-all.yaml";
    let from_json = json(&kubehop(&["chain", "-A", "-o", "json", "-f", file]));
    let yaml = stdout(&kubehop(&["chain", "-A", "-o", "yaml", "-f", file]));
    let from_yaml: Value = serde_saphyr::from_str(&yaml).expect("chain -o yaml prints YAML");
    assert_eq!(from_json, from_yaml);
    let top: Vec<&String> = from_json.as_object().expect("object").keys().collect();
    assert_eq!(top, ["diagnostics", "services"]);
}

#[test]
fn watch_on_a_dump_prints_once() {
    let output = kubehop(&[
        "chain",
        "--watch",
        "-A",
        "-o",
        "json",
        "-f",
        "assets/scenarios/web-ingress.yaml",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(names(&json(&output)), ["shop/web"]);
}

#[test]
fn cluster_domain_reaches_dns_names() {
    let output = kubehop(&[
        "chain",
        "shop/web",
        "-o",
        "json",
        "--cluster-domain",
        "corp.example",
        "-f",
        "assets/scenarios/web-ingress.yaml",
    ]);
    assert_eq!(
        json(&output)["services"][0]["dns"][0]["name"],
        "web.shop.svc.corp.example"
    );
}

/// Every Service carries its `health` in JSON (its worst finding), and the text ends with the
/// same counts in one line.
#[test]
fn health_per_service_and_a_summary_line() {
    let demo = format!("{MANIFEST_DIR}/assets/scenarios/demo-all.yaml");
    let output = kubehop(&["chain", "-A", "-f", &demo, "-o", "json"]);
    let document = json(&output);
    let services = document["services"].as_array().expect("services");
    let mut counts = std::collections::BTreeMap::new();
    for service in services {
        let severities: Vec<&str> = service["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .filter_map(|diagnostic| diagnostic["severity"].as_str())
            .collect();
        let expected = if severities.contains(&"error") {
            "broken"
        } else if severities.contains(&"warning") {
            "warning"
        } else {
            "ok"
        };
        assert_eq!(service["health"], expected, "{}", service["name"]);
        *counts.entry(expected).or_insert(0) += 1;
    }
    let output = kubehop(&["chain", "-A", "-f", &demo]);
    let text = stdout(&output);
    let ports: usize = services
        .iter()
        .map(|service| service["ports"].as_array().expect("ports").len())
        .sum();
    let line = format!(
        "{} Services · {} broken · {} warnings · {} ok · {ports} ports",
        services.len(),
        counts.get("broken").copied().unwrap_or(0),
        counts.get("warning").copied().unwrap_or(0),
        counts.get("ok").copied().unwrap_or(0)
    );
    assert!(text.trim_end().ends_with(&format!("\n\n{line}")), "{text}");
    assert_eq!(
        line,
        "18 Services · 7 broken · 2 warnings · 9 ok · 22 ports"
    );
}

/// `-o wide`: a header, then one row per Service port with its type, front doors, endpoints
/// ready/total and worst finding; the summary line after.
#[test]
fn wide_is_one_row_per_port() {
    let demo = format!("{MANIFEST_DIR}/assets/scenarios/demo-all.yaml");
    let output = kubehop(&["chain", "-A", "-f", &demo, "-o", "wide"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "NAME",
            "PORT",
            "TYPE",
            "FRONT-DOORS",
            "ENDPOINTS",
            "FINDING"
        ]
    );
    let rows: Vec<Vec<&str>> = lines[1..]
        .iter()
        .take_while(|line| !line.is_empty())
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 22, "{text}");
    let row = |namespace: &str, port: &str| {
        rows.iter()
            .find(|row| row[0] == namespace && row[2] == port)
            .unwrap_or_else(|| panic!("no {namespace} {port} in {text}"))
    };
    assert_eq!(
        row("edge", "http=80/TCP")[..],
        [
            "edge",
            "frontend",
            "http=80/TCP",
            "LoadBalancer",
            "lb:127.20.0.2,nodePort:30080,clusterIP:127.10.0.13",
            "2/2",
            "-"
        ]
    );
    assert_eq!(
        row("shop", "http=80/TCP")[4],
        "ingress:2,clusterIP:127.10.0.10"
    );
    assert_eq!(
        row("orders", "http=80/TCP")[5..],
        ["0/2", "no-ready-endpoints"]
    );
    // The unnamed port carries its own finding; the named one of the same Service does not.
    assert_eq!(row("dns", "53/TCP")[6], "multi-port-unnamed");
    assert_eq!(row("dns", "dns=53/UDP")[6], "-");
    assert_eq!(row("data", "mongodb=27017/TCP")[3], "ClusterIP");
    // The Ingress finding that belongs to no Service follows the table.
    assert!(
        text.contains("\ndocs/ingress/docs   ingress-backend-missing\n"),
        "{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("18 Services · 7 broken · 2 warnings · 9 ok · 22 ports")
    );
}

/// `--only broken` prints only the broken Services, in text, wide, JSON and YAML; the summary
/// says how many were left out, and the exit status is unchanged.
#[test]
fn only_broken() {
    let demo = format!("{MANIFEST_DIR}/assets/scenarios/demo-all.yaml");
    let output = kubehop(&["chain", "-A", "-f", &demo, "--only", "broken", "-o", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let document = json(&output);
    let names: Vec<&str> = document["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|service| {
            assert_eq!(service["health"], "broken");
            service["name"].as_str().expect("name")
        })
        .collect();
    assert_eq!(
        names,
        [
            "invoices",
            "blog",
            "dns-cache",
            "docs",
            "legacy-api",
            "orders",
            "search"
        ]
    );
    let output = kubehop(&["chain", "-A", "-f", &demo, "--only", "broken", "-o", "yaml"]);
    let yaml = stdout(&output);
    assert_eq!(yaml.matches("\n  health: broken").count(), 7, "{yaml}");
    assert!(!yaml.contains("health: ok"));
    let output = kubehop(&["chain", "-A", "-f", &demo, "--only", "broken"]);
    let text = stdout(&output);
    assert!(!text.contains("shop/web"), "{text}");
    assert!(
        text.trim_end().ends_with(
            "7 Services · 7 broken · 0 warnings · 0 ok · 9 ports (11 not broken, not shown)"
        ),
        "{text}"
    );
    let output = kubehop(&["chain", "-A", "-f", &demo, "--only", "broken", "-o", "wide"]);
    let rows = stdout(&output)
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .count();
    assert_eq!(rows, 9);
    // A healthy Service asked for by name: nothing printed, exit 0.
    let output = kubehop(&[
        "chain", "-f", &demo, "shop/web", "--only", "broken", "-o", "json",
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(json(&output)["services"], serde_json::json!([]));
}

/// The copy-ready command: a `fix` field in JSON (only where there is one) and a `fix:` line
/// under the finding in text.
#[test]
fn fix_commands_in_json_and_text() {
    let demo = format!("{MANIFEST_DIR}/assets/scenarios/demo-all.yaml");
    let output = kubehop(&["chain", "-f", &demo, "billing/invoices", "-o", "json"]);
    let document = json(&output);
    let diagnostics = document["services"][0]["diagnostics"]
        .as_array()
        .expect("diagnostics");
    let fixes: Vec<(&str, &str)> = diagnostics
        .iter()
        .filter_map(|d| Some((d["code"].as_str()?, d.get("fix")?.as_str()?)))
        .collect();
    let command = r#"kubectl patch svc invoices -n billing --type merge -p '{"spec":{"selector":{"app":"invoices-api"}}}'"#;
    assert_eq!(fixes, [("selector-no-match", command)]);
    // Findings without one have no `fix` key at all (not null).
    assert!(
        diagnostics
            .iter()
            .filter(|d| d.get("fix").is_none())
            .count()
            == 2
    );
    let output = kubehop(&["chain", "-f", &demo, "billing/invoices"]);
    assert!(
        stdout(&output).contains(&format!("└── fix: {command}\n")),
        "{}",
        stdout(&output)
    );
}

/// `--probe` connects to pods: a dump has none (exit 2, one line), and it does not watch.
#[test]
fn probe_needs_a_live_cluster() {
    let demo = format!("{MANIFEST_DIR}/assets/scenarios/demo-all.yaml");
    let output = kubehop(&["chain", "-f", &demo, "--probe"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("probing needs a live cluster"));
    let output = kubehop(&["chain", "-f", &demo, "--probe", "--watch"]);
    assert_eq!(output.status.code(), Some(2));
}
