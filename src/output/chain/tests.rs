use super::*;
use rstest::rstest;

#[rstest]
#[case::nothing(None, None, false, Ok((Scope::Namespace("default".into()), None)))]
#[case::namespace(None, Some("shop"), false, Ok((Scope::Namespace("shop".into()), None)))]
#[case::all_wins_over_namespace(None, Some("shop"), true, Ok((Scope::All, None)))]
#[case::name(Some("web"), None, false, Ok((Scope::Namespace("default".into()), Some("web"))))]
#[case::name_all(Some("web"), None, true, Ok((Scope::All, Some("web"))))]
#[case::qualified(Some("shop/web"), None, false, Ok((Scope::Namespace("shop".into()), Some("web"))))]
#[case::qualified_same_flag(Some("shop/web"), Some("shop"), false, Ok((Scope::Namespace("shop".into()), Some("web"))))]
#[case::qualified_with_all(Some("shop/web"), None, true, Ok((Scope::Namespace("shop".into()), Some("web"))))]
fn reads_service_and_scope(
    #[case] service: Option<&str>,
    #[case] namespace: Option<&str>,
    #[case] all: bool,
    #[case] expected: Result<(Scope, Option<&str>), ()>,
) {
    let selection = ChainSelection::new(service, namespace, all).map_err(|_| ());
    let expected = expected.map(|(scope, service)| ChainSelection {
        scope,
        service: service.map(str::to_owned),
    });
    assert_eq!(selection, expected);
}

#[rstest]
#[case("", "invalid SERVICE \"\": expected NAME or NAMESPACE/NAME")]
#[case("a/b/c", "invalid SERVICE \"a/b/c\": expected NAME or NAMESPACE/NAME")]
#[case("/web", "invalid SERVICE \"/web\": expected NAME or NAMESPACE/NAME")]
fn rejects_bad_service_names(#[case] service: &str, #[case] message: &str) {
    let error = ChainSelection::new(Some(service), None, false).expect_err("invalid");
    assert_eq!(error.to_string(), message);
}

fn model(dump: &str) -> crate::engine::ClusterSnapshot {
    let load = crate::cluster::dump::load_str("test.yaml", dump).expect("valid dump");
    load.snapshot
}

fn text(snapshot: &crate::engine::ClusterSnapshot, style: Style) -> String {
    let chains = ServiceChains::new(snapshot, &crate::engine::EngineConfig::default());
    let selection = ChainSelection::new(None, None, true).expect("valid");
    let selected = select(&chains, &selection).expect("selects");
    let mut out = Vec::new();
    write_text(&mut out, &selected, style).expect("in memory");
    String::from_utf8(out).expect("UTF-8")
}

const BROKEN: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {clusterIP: 127.10.0.1, selector: {app: web}, ports: [{port: 80}]}\n";

#[test]
fn colour_only_when_asked() {
    let model = model(BROKEN);
    let plain = text(&model, Style::PLAIN);
    assert!(!plain.contains('\u{1b}'));
    assert!(plain.contains("✗ chain breaks here"), "{plain}");
    let coloured = text(&model, Style { color: true });
    assert!(coloured.contains("\u{1b}[31m"), "{coloured}");
    // Colour does not move the columns.
    let strip = |text: &str| {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|c| *c == 'm');
            } else {
                out.push(c);
            }
        }
        out
    };
    assert_eq!(strip(&coloured), plain);
}

#[test]
fn a_headless_service_without_ports_lists_its_endpoints() {
    let dump = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: peers, namespace: db}\n  spec: {clusterIP: None, selector: {app: db}}\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: db-0, namespace: db, labels: {app: db}}\n  spec: {nodeName: node-1, containers: [{name: db}]}\n  status: {phase: Running, podIP: 127.1.1.5, conditions: [{type: Ready, status: 'True'}]}\n";
    let text = text(&model(dump), Style::PLAIN);
    assert!(
        text.contains("no ports  1 ready of 1 endpoints (reachable by DNS name only)"),
        "{text}"
    );
    assert!(text.contains("✓  db-0  127.1.1.5  ready  node-1"), "{text}");
    // Rule F4: no hostname on the endpoint, so CoreDNS names it by its dashed IP.
    assert!(
        text.contains("127-1-1-5.peers.db.svc.cluster.local  A  127.1.1.5"),
        "{text}"
    );
}

#[test]
fn namespace_flag_must_agree_with_the_argument() {
    let error = ChainSelection::new(Some("shop/web"), Some("blog"), false).expect_err("conflict");
    assert_eq!(
        error.to_string(),
        "SERVICE \"shop/web\" names namespace \"shop\" but -n says \"blog\": drop one of them"
    );
}
