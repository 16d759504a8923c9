//! Hostile Gateway API objects through the built binary: Gateway, listener and route names,
//! hostnames, matches and status messages with terminal escape sequences and bidirectional
//! overrides are shown escaped in every text output, never raw.

use crate::support::bin::{MANIFEST_DIR, kubehop, stderr, stdout};

/// web-ingress with the hostile Gateway API objects.
fn write_dump(name: &str) -> String {
    let web = std::fs::read_to_string(format!("{MANIFEST_DIR}/assets/scenarios/web-ingress.yaml"))
        .expect("scenario file");
    let gateway = std::fs::read_to_string(format!(
        "{MANIFEST_DIR}/tests/support/fixtures/gateway-hostile.yaml"
    ))
    .expect("fixture");
    let path = format!("{}/{name}", env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(&path, format!("{web}\n---\n{gateway}")).expect("write the dump");
    path
}

/// No C0/C1 control character but the line breaks, and no bidirectional override.
fn assert_printable(text: &str) {
    let raw: Vec<char> = text
        .chars()
        .filter(|c| *c != '\n' && kubehop::printable::needs_escape(*c))
        .collect();
    assert!(raw.is_empty(), "raw {raw:?} in {text}");
}

#[test]
fn chain_text_escapes_hostile_gateway_names() {
    let dump = write_dump("hostile-gateway-chain.yaml");
    let output = kubehop(&["chain", "shop/web", "--from-file", &dump]);
    let text = stdout(&output);
    assert_printable(&text);
    assert_printable(&stderr(&output));
    // The route hops are there, escaped.
    assert!(text.contains(r"edge\u{1b}]0;pwned\u{7}"), "{text}");
    assert!(text.contains(r"store\u{1b}]0;pwned\u{7}"), "{text}");
    assert!(text.contains(r"vault\u{1b}]0;pwned\u{7}"), "{text}");
}

#[test]
fn route_text_escapes_hostile_gateway_names() {
    let dump = write_dump("hostile-gateway-route.yaml");
    for args in [
        [
            "route",
            "127.20.0.5:80",
            "--host",
            "www.shop.test",
            "--from-file",
            &dump,
        ],
        [
            "route",
            "127.20.0.5:8443",
            "--host",
            "vault.shop.test",
            "--from-file",
            &dump,
        ],
    ] {
        let output = kubehop(&args);
        assert_printable(&stdout(&output));
        assert_printable(&stderr(&output));
    }
}
