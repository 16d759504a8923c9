//! Copy-ready fixes (docs/diagnostics.md#copy-ready-fixes): the exact `kubectl` command a
//! finding carries when its fix is mechanical and certain, and the near cases that must carry
//! none. Rule ids name the behaviour each fix relies on.

use kubehop::engine::DiagnosticCode;
use rstest::rstest;

use crate::support::engine::*;
use crate::support::fixtures::*;

fn base() -> World {
    World::new().nodes(three_nodes())
}

fn api_service(selector: &[(&str, &str)]) -> ServiceBuilder {
    service("invoices")
        .selector(selector)
        .port(Some("http"), 80, "8080")
}

fn labelled(name: &str, ip: &str, labels: &[(&str, &str)]) -> PodBuilder {
    pod(name, ip, "node-a").labels(labels)
}

/// (world, service, code, subject, the command or `None`)
#[rstest]
// A2/M1: every pod carries the same one-edit typo: patch the selector to it.
#[case::selector_typo(
    base().service(api_service(&[("app", "invoice-api")]))
        .pod(labelled("inv-1", "127.2.0.1", &[("app", "invoices-api")]))
        .pod(labelled("inv-2", "127.2.0.2", &[("app", "invoices-api")])),
    "invoices", DiagnosticCode::SelectorNoMatch, "service/invoices",
    Some(r#"kubectl patch svc invoices -n shop --type merge -p '{"spec":{"selector":{"app":"invoices-api"}}}'"#))]
// M2: every pod lacks the same key and nothing else carries the rest: drop the key.
#[case::selector_missing_key(
    base().service(api_service(&[("app", "blog"), ("tier", "frontend")]))
        .pod(labelled("blog-1", "127.2.0.1", &[("app", "blog")])),
    "invoices", DiagnosticCode::SelectorNoMatch, "service/invoices",
    Some(r#"kubectl patch svc invoices -n shop --type merge -p '{"spec":{"selector":{"tier":null}}}'"#))]
// M2: dropping the key would also select the backend pods: no command.
#[case::selector_missing_key_would_widen(
    base().service(api_service(&[("app", "blog"), ("tier", "frontend")]))
        .pod(labelled("blog-1", "127.2.0.1", &[("app", "blog")]))
        .pod(labelled("db-1", "127.2.0.2", &[("app", "blog"), ("tier", "backend")])),
    "invoices", DiagnosticCode::SelectorNoMatch, "service/invoices", None)]
// M1: two different typos: which one was meant is a guess.
#[case::selector_two_typos(
    base().service(api_service(&[("app", "invoice-api")]))
        .pod(labelled("inv-1", "127.2.0.1", &[("app", "invoices-api")]))
        .pod(labelled("inv-2", "127.2.0.2", &[("app", "invoice-apj")])),
    "invoices", DiagnosticCode::SelectorNoMatch, "service/invoices", None)]
// M2: another word, not a typo (the guestbook master): no command.
#[case::selector_other_word(
    base().service(api_service(&[("app", "redis"), ("role", "replica")]))
        .pod(labelled("redis-1", "127.2.0.1", &[("app", "redis"), ("role", "master")])),
    "invoices", DiagnosticCode::SelectorNoMatch, "service/invoices", None)]
// A3: the near misses are finished Job pods: selecting them would not help.
#[case::selector_typo_finished_pods(
    base().service(api_service(&[("app", "invoice-api")]))
        .pod(labelled("inv-1", "127.2.0.1", &[("app", "invoices-api")]).phase("Succeeded")),
    "invoices", DiagnosticCode::SelectorNoMatch, "service/invoices", None)]
// B3/B4: the named targetPort is missing and one declared port has the Service port's number.
#[case::named_port_by_number(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 8080, "http"))
        .pod(labelled("web-1", "127.2.0.1", &[("app", "web")]).container_port("app", Some("web"), 8080, "TCP").container_port("app", Some("metrics"), 9090, "TCP")),
    "web", DiagnosticCode::NamedPortNotFound, "port/http",
    Some(r#"kubectl patch svc web -n shop --type json -p '[{"op":"test","path":"/spec/ports/0/targetPort","value":"http"},{"op":"replace","path":"/spec/ports/0/targetPort","value":"web"}]'"#))]
// B3: a declared name one edit from the targetPort's.
#[case::named_port_typo(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 80, "http"))
        .pod(labelled("web-1", "127.2.0.1", &[("app", "web")]).container_port("app", Some("htpp"), 8080, "TCP")),
    "web", DiagnosticCode::NamedPortNotFound, "port/http",
    Some(r#"kubectl patch svc web -n shop --type json -p '[{"op":"test","path":"/spec/ports/0/targetPort","value":"http"},{"op":"replace","path":"/spec/ports/0/targetPort","value":"htpp"}]'"#))]
// B3: nothing ties a declared port to this one (the demo's search): no command.
#[case::named_port_no_candidate(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 80, "http"))
        .pod(labelled("web-1", "127.2.0.1", &[("app", "web")]).container_port("app", Some("web"), 8080, "TCP").container_port("app", Some("metrics"), 9090, "TCP")),
    "web", DiagnosticCode::NamedPortNotFound, "port/http", None)]
// B4: some pods still resolve the name (a rollout): no command.
#[case::named_port_some_resolve(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 8080, "http"))
        .pod(labelled("web-1", "127.2.0.1", &[("app", "web")]).container_port("app", Some("web"), 8080, "TCP"))
        .pod(labelled("web-2", "127.2.0.2", &[("app", "web")]).container_port("app", Some("http"), 8080, "TCP")),
    "web", DiagnosticCode::NamedPortNotFound, "port/http", None)]
// G2: name the unnamed port, guarded by a test of its number.
#[case::unnamed_port(
    base().service(service("web").selector(&[("app", "web")]).port(Some("metrics"), 9090, "9090").port(None, 8080, "8080"))
        .pod(labelled("web-1", "127.2.0.1", &[("app", "web")])),
    "web", DiagnosticCode::MultiPortUnnamed, "port/8080/TCP",
    Some(r#"kubectl patch svc web -n shop --type json -p '[{"op":"test","path":"/spec/ports/1/port","value":8080},{"op":"add","path":"/spec/ports/1/name","value":"http"}]'"#))]
// G2: the suggested name is taken by another port: no command.
#[case::unnamed_port_name_taken(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 80, "8080").port(None, 8080, "8080"))
        .pod(labelled("web-1", "127.2.0.1", &[("app", "web")])),
    "web", DiagnosticCode::MultiPortUnnamed, "port/8080/TCP", None)]
// G2: no meaningful name for the number: no command.
#[case::unnamed_port_no_name(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 80, "8080").port(None, 7000, "7000"))
        .pod(labelled("web-1", "127.2.0.1", &[("app", "web")])),
    "web", DiagnosticCode::MultiPortUnnamed, "port/7000/TCP", None)]
// M10: the class asked for is one edit from the only existing class.
#[case::ingress_class_typo(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 80, "8080")).pod(labelled("web-1", "127.2.0.1", &[("app", "web")]))
        .ingress(with_class(shop_ingress(), "ngnix")).ingress_class(ingress_class("nginx", "k8s.io/ingress-nginx", false)),
    "web", DiagnosticCode::IngressClassUnknown, "ingress/shop",
    Some(r#"kubectl patch ingress shop -n shop --type merge -p '{"spec":{"ingressClassName":"nginx"}}'"#))]
// M10: another class name altogether: no command.
#[case::ingress_class_other(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 80, "8080")).pod(labelled("web-1", "127.2.0.1", &[("app", "web")]))
        .ingress(with_class(shop_ingress(), "traefik")).ingress_class(ingress_class("nginx", "k8s.io/ingress-nginx", false)),
    "web", DiagnosticCode::IngressClassUnknown, "ingress/shop", None)]
// C11/M10: no class and exactly one IngressClass: that one.
#[case::ingress_class_missing_only_one(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 80, "8080")).pod(labelled("web-1", "127.2.0.1", &[("app", "web")]))
        .ingress(shop_ingress()).ingress_class(ingress_class("nginx", "k8s.io/ingress-nginx", false)),
    "web", DiagnosticCode::IngressClassMissing, "ingress/shop",
    Some(r#"kubectl patch ingress shop -n shop --type merge -p '{"spec":{"ingressClassName":"nginx"}}'"#))]
// C11/M10: two classes to choose from: no command.
#[case::ingress_class_missing_two(
    base().service(service("web").selector(&[("app", "web")]).port(Some("http"), 80, "8080")).pod(labelled("web-1", "127.2.0.1", &[("app", "web")]))
        .ingress(shop_ingress()).ingress_class(ingress_class("nginx", "k8s.io/ingress-nginx", false)).ingress_class(ingress_class("traefik", "traefik.io/ingress-controller", false)),
    "web", DiagnosticCode::IngressClassMissing, "ingress/shop", None)]
fn fix_command(
    #[case] world: World,
    #[case] name: &str,
    #[case] code: DiagnosticCode,
    #[case] subject: &str,
    #[case] expected: Option<&str>,
) {
    let model = world.model();
    let chain = chain(&model, name);
    let found = chain
        .diagnostics
        .iter()
        .find(|d| d.code == code && d.subject.to_string() == subject)
        .unwrap_or_else(|| panic!("no {code} about {subject} in {:#?}", chain.diagnostics));
    assert_eq!(found.fix.as_deref(), expected, "{found:#?}");
}

/// Codes without a mechanical fix never carry a command (A4: a pod failing its readiness probe
/// needs its app looked at; C1: a pending load balancer needs a controller).
#[rstest]
#[case::not_ready(base().service(api_service(&[("app", "web")])).pod(labelled("web-1", "127.2.0.1", &[("app", "web")]).ready(false)))]
#[case::lb_pending(base().service(api_service(&[("app", "web")]).type_("LoadBalancer").node_port(30080)).pod(labelled("web-1", "127.2.0.1", &[("app", "web")])))]
#[case::selectorless(base().service(service("invoices").port(None, 80, "8080")))]
fn no_command_without_a_mechanical_fix(#[case] world: World) {
    let model = world.model();
    let chain = chain(&model, "invoices");
    assert!(!chain.diagnostics.is_empty());
    for diagnostic in &chain.diagnostics {
        assert_eq!(diagnostic.fix, None, "{diagnostic:#?}");
    }
}

/// A hostile name (read from a file: the API server would refuse it) is quoted so that the
/// shell reads it as one word, and the command still parses as `kubectl patch svc NAME`.
#[test]
fn hostile_names_are_quoted() {
    let hostile = "x'; touch /tmp/kubehop-fix-pwned; echo '$(id)";
    let mut world = base()
        .service(api_service(&[("app", "invoice-api")]).namespace("a b"))
        .pod(labelled("inv-1", "127.2.0.1", &[("app", "invoices-api")]).namespace("a b"));
    world.services[0].metadata.name = Some(hostile.to_owned());
    let model = world.model();
    let chain = model
        .services
        .iter()
        .find(|chain| chain.name == hostile)
        .expect("the hostile Service");
    let fix = chain
        .diagnostics
        .iter()
        .find_map(|d| d.fix.clone())
        .expect("a fix");
    // `sh` splits the command into words without running it: printf prints each on a line.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '%s\\n' {}",
            fix.trim_start_matches("kubectl ")
        ))
        .output()
        .expect("sh runs");
    let words: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        words,
        [
            "patch",
            "svc",
            hostile,
            "-n",
            "a b",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"selector":{"app":"invoices-api"}}}"#
        ]
    );
    assert!(!std::path::Path::new("/tmp/kubehop-fix-pwned").exists());
}
