//! Rule group (f): headless and ExternalName Services, DNS records (F3-F8).

use kubehop::engine::EngineConfig;
use kubehop::engine::dns::{DnsRecordType, DnsRule};
use rstest::rstest;

use crate::support::engine::*;
use crate::support::fixtures::*;

fn records(world: &World, name: &str, domain: &str) -> Vec<(String, DnsRecordType, String)> {
    let model = world.model_with(&EngineConfig {
        cluster_domain: domain.to_owned(),
        ..EngineConfig::default()
    });
    chain(&model, name)
        .dns
        .iter()
        .map(|r| (r.name.clone(), r.record_type, r.value.clone()))
        .collect()
}

fn rec(name: &str, kind: DnsRecordType, value: &str) -> (String, DnsRecordType, String) {
    (name.to_owned(), kind, value.to_owned())
}

/// F3: A per cluster IP, SRV per named port (Service port, not targetPort), no SRV for unnamed.
#[rstest]
#[case::f3_default_domain("cluster.local")]
#[case::f3_custom_domain("corp.test.")]
fn f3_cluster_ip(#[case] domain: &str) {
    let world = World::new().service(
        service("web")
            .port(Some("http"), 80, "8080")
            .port(Some("metrics"), 9090, "9090")
            .selector(&[("app", "web")]),
    );
    let zone = domain.trim_end_matches('.');
    let fqdn = format!("web.shop.svc.{zone}");
    assert_eq!(
        records(&world, "web", domain),
        vec![
            rec(&fqdn, DnsRecordType::A, "127.10.0.1"),
            rec(
                &format!("_http._tcp.{fqdn}"),
                DnsRecordType::SRV,
                &format!("80 {fqdn}")
            ),
            rec(
                &format!("_metrics._tcp.{fqdn}"),
                DnsRecordType::SRV,
                &format!("9090 {fqdn}")
            ),
        ]
    );
    let unnamed = World::new().service(service("one").port(None, 80, "8080"));
    assert_eq!(
        records(&unnamed, "one", domain).len(),
        1,
        "F3: unnamed ports get no SRV"
    );
}

/// The headless Service `db` (port `pg` 5432) with pod `db-0` named `db-0` in `subdomain`.
fn headless_db(subdomain: &str) -> World {
    World::new()
        .nodes(three_nodes())
        .service(
            service("db")
                .headless()
                .selector(&[("app", "db")])
                .port(Some("pg"), 5432, "5432"),
        )
        .pod(
            pod("db-0", "127.2.0.1", "node-a")
                .labels(&[("app", "db")])
                .hostname("db-0", subdomain),
        )
}

fn headless_world() -> World {
    headless_db("db")
        .pod(pod("db-1", "127.2.0.2", "node-b").labels(&[("app", "db")]))
        .pod(
            pod("db-2", "127.2.0.3", "node-c")
                .labels(&[("app", "db")])
                .ready(false),
        )
}

/// F4: one A per ready endpoint, per-endpoint names (hostname or dashed IP), SRV per named port
/// targeting those names with the endpoint's port; F6: hostname/subdomain pod FQDN.
#[test]
fn f4_f6_headless() {
    let fqdn = "db.shop.svc.cluster.local";
    let all = records(&headless_world(), "db", "cluster.local");
    assert_eq!(
        all,
        vec![
            rec(fqdn, DnsRecordType::A, "127.2.0.1"),
            rec(fqdn, DnsRecordType::A, "127.2.0.2"),
            rec(&format!("db-0.{fqdn}"), DnsRecordType::A, "127.2.0.1"),
            rec(&format!("127-2-0-2.{fqdn}"), DnsRecordType::A, "127.2.0.2"),
            rec(
                &format!("_pg._tcp.{fqdn}"),
                DnsRecordType::SRV,
                &format!("5432 db-0.{fqdn}")
            ),
            rec(
                &format!("_pg._tcp.{fqdn}"),
                DnsRecordType::SRV,
                &format!("5432 127-2-0-2.{fqdn}")
            ),
        ]
    );
    let model = headless_world().model();
    let f6: Vec<&str> = chain(&model, "db")
        .dns
        .iter()
        .filter(|r| r.rule == DnsRule::F6)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(f6, vec!["db-0.db.shop.svc.cluster.local"]);
}

/// F5: pNRA publishes unready pods in DNS.
#[test]
fn f5_pnra_publishes_unready() {
    let mut world = headless_world();
    world.services[0]
        .spec
        .as_mut()
        .expect("spec")
        .publish_not_ready_addresses = Some(true);
    let all = records(&world, "db", "cluster.local");
    assert!(all.contains(&rec(
        "db.shop.svc.cluster.local",
        DnsRecordType::A,
        "127.2.0.3"
    )));
}

/// F6: a pod whose subdomain names another Service gets no per-pod name here.
#[test]
fn f6_subdomain_mismatch() {
    let world = headless_db("other");
    let names: Vec<String> = records(&world, "db", "cluster.local")
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert!(!names.iter().any(|n| n.starts_with("db-0.")));
    assert!(names.contains(&"127-2-0-1.db.shop.svc.cluster.local".to_owned()));
}

/// F8: ExternalName is a CNAME (one trailing dot removed), nothing else.
#[rstest]
#[case::f8_plain("db.example.test", "db.example.test")]
#[case::f8_trailing_dot("db.example.test.", "db.example.test")]
fn f8_external_name(#[case] target: &str, #[case] value: &str) {
    let world = World::new().service(service("db").external_name(target).port(None, 5432, "5432"));
    assert_eq!(
        records(&world, "db", "cluster.local"),
        vec![rec(
            "db.shop.svc.cluster.local",
            DnsRecordType::CNAME,
            value
        )]
    );
}
