//! Hostile input through the built binary: control characters in object names and paths never
//! reach the terminal raw (they are shown escaped in text, exact in JSON).

use crate::support::bin::{MANIFEST_DIR, json, kubehop, service_names, stderr, stdout};

/// Sets the window title, rings the bell, clears the screen.
const TITLE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J";
/// The same as a YAML double-quoted scalar.
const TITLE_YAML: &str = "\\e]0;pwned\\a\\e[2J";
/// The same as the text output shows it.
const TITLE_SHOWN: &str = "\\u{1b}]0;pwned\\u{7}\\u{1b}[2J";

/// web-ingress with a second Service whose name carries the escape sequence, and an Ingress
/// path that does.
fn hostile_dump() -> String {
    let path = format!("{MANIFEST_DIR}/assets/scenarios/web-ingress.yaml");
    let web = std::fs::read_to_string(path).expect("scenario file");
    let web = web.replacen(
        "path: /static",
        &format!("path: \"/static{TITLE_YAML}\""),
        1,
    );
    assert!(web.contains(TITLE_YAML), "the scenario has a /static path");
    let service = format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: \"evil{TITLE_YAML}\", namespace: shop}}\nspec:\n  clusterIP: 127.10.0.99\n  ports: [{{name: http, port: 80, protocol: TCP, targetPort: 8080}}]\n  selector: {{app: nothing}}\n"
    );
    format!("{web}{service}")
}

fn write_dump(name: &str) -> String {
    let path = format!("{}/{name}", env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(&path, hostile_dump()).expect("write the dump");
    path
}

fn assert_no_raw_controls(text: &str) {
    assert!(
        !text.contains(['\u{1b}', '\u{7}', '\r', '\u{9b}']),
        "raw control characters in {text:?}"
    );
}

#[test]
fn chain_text_shows_control_characters_escaped() {
    let dump = write_dump("hostile-chain.yaml");
    let output = kubehop(&["chain", "-A", "--from-file", &dump]);
    let text = stdout(&output);
    assert_no_raw_controls(&text);
    assert_no_raw_controls(&stderr(&output));
    assert!(text.contains(&format!("evil{TITLE_SHOWN}")), "{text}");
    assert!(text.contains(&format!("/static{TITLE_SHOWN}")), "{text}");
    // Line breaks between lines are kept.
    assert!(text.lines().count() > 10, "{text}");
}

#[test]
fn chain_json_stays_exact() {
    let dump = write_dump("hostile-json.yaml");
    let output = kubehop(&["chain", "-A", "-o", "json", "--from-file", &dump]);
    let document = json(&output);
    let names: Vec<&str> = service_names(&document);
    assert!(
        names.contains(&format!("evil{TITLE}").as_str()),
        "{names:?}"
    );
    // serde_json escapes control characters itself.
    assert_no_raw_controls(&stdout(&output));
}

#[test]
fn route_text_shows_control_characters_escaped() {
    let dump = write_dump("hostile-route.yaml");
    let output = kubehop(&["route", "127.10.0.99:80", "--from-file", &dump]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert_no_raw_controls(&text);
    assert!(text.contains(&format!("evil{TITLE_SHOWN}")), "{text}");
}

/// A kubeconfig for `server` whose user `admin` has `token` (a YAML double-quoted scalar).
fn kubeconfig(name: &str, server: &str, token_yaml: &str) -> String {
    let path = format!("{}/{name}", env!("CARGO_TARGET_TMPDIR"));
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: kind\nclusters:\n- name: kind\n  cluster: {{server: \"{server}\", insecure-skip-tls-verify: true}}\ncontexts:\n- name: kind\n  context: {{cluster: kind, user: admin, namespace: default}}\nusers:\n- name: admin\n  user: {{token: \"{token_yaml}\"}}\n"
    );
    std::fs::write(&path, text).expect("write the kubeconfig");
    path
}

/// Loopback port 1: nothing listens there, so a connection is refused at once.
const NOWHERE: &str = "https://127.0.0.1:1";

#[rstest::rstest]
#[case::newline_chain("chain", "tok\\nX-Evil: 1", "a line break")]
#[case::bell_chain("chain", "tok\\a", "U+0007")]
#[case::newline_probe("probe", "tok\\nX-Evil: 1", "a line break")]
#[case::bell_probe("probe", "tok\\a", "U+0007")]
fn a_token_with_a_control_character_is_a_one_line_error(
    #[case] command: &str,
    #[case] token: &str,
    #[case] problem: &str,
) {
    let config = kubeconfig(
        &format!("bad-token-{command}-{}", token.len()),
        NOWHERE,
        token,
    );
    let mut args = vec![command, "--kubeconfig", &config];
    if command == "probe" {
        args.insert(1, "web");
    }
    let output = kubehop(&args);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.starts_with("kubehop: the kubeconfig's users[].user.token of user \"admin\""),
        "{message}"
    );
    assert!(message.contains(problem), "{message}");
    assert!(
        !message.contains("panicked") && !message.contains("X-Evil"),
        "{message}"
    );
    assert!(stdout(&output).is_empty());
}

#[rstest::rstest]
#[case::chain("chain")]
#[case::probe("probe")]
fn a_password_in_the_server_url_is_never_printed(#[case] command: &str) {
    let server = "https://admin:S3CRET@127.0.0.1:1";
    let config = kubeconfig(&format!("password-url-{command}"), server, "token");
    let mut args = vec![command, "--kubeconfig", &config, "--request-timeout", "5s"];
    if command == "probe" {
        args.insert(1, "web");
    }
    let output = kubehop(&args);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(!message.contains("S3CRET"), "{message}");
    assert!(
        message.contains("https://admin:***@127.0.0.1:1"),
        "{message}"
    );
}
