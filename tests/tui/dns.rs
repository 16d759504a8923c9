//! The DNS tab with a DNS check's results beside each record: one DNS pod answers the current
//! records, its sibling an old cluster IP. The check is judged by the engine from made-up
//! replies (the probe itself is tested in src/probe/dns and tests/sandbox/dns.rs).

use std::collections::BTreeMap;

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use kubehop::app::event::AppEvent;
use kubehop::engine::dns::DnsRecordType;
use kubehop::engine::dnscheck::{
    ClusterDns, DnsAnswer, DnsPod, DnsQuestion, DnsRcode, DnsReply, FoundBy, PodReplies, compare,
    lookups, questions,
};
use kubehop::engine::model::{ServiceChain, ServiceKey};
use rstest::rstest;

use crate::support::tui::*;

fn pod(name: &str, last: u8) -> DnsPod {
    DnsPod {
        namespace: "kube-system".to_owned(),
        name: name.to_owned(),
        ip: std::net::IpAddr::from([127, 0, 9, last]),
        port: 53,
    }
}

/// What a DNS pod serving `chain`'s records says to `question` (`stale`: its A records carry
/// an old cluster IP).
fn reply(chain: &ServiceChain, question: &DnsQuestion, stale: bool) -> DnsReply {
    let answers: Vec<DnsAnswer> = chain
        .dns
        .iter()
        .filter(|record| record.name == question.name && record.record_type == question.record_type)
        .map(|record| DnsAnswer {
            name: record.name.clone(),
            record_type: record.record_type,
            value: if stale && record.record_type == DnsRecordType::A {
                "127.0.200.1".to_owned()
            } else {
                record.value.clone()
            },
            ttl: 5,
        })
        .collect();
    let rcode = if answers.is_empty() {
        DnsRcode::NxDomain
    } else {
        DnsRcode::NoError
    };
    DnsReply::Answered {
        rcode,
        truncated: false,
        answers,
    }
}

#[rstest]
fn the_dns_tab_shows_each_pods_answers(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = demo_app(size.0, size.1);
    open_service(&mut state, "shop/web");
    press(&mut state, KeyCode::Char('3'));
    let catalog = state.shown().expect("a model").clone();
    let chain = catalog.model.service("shop", "web").expect("web");
    let lookups = lookups(chain, &catalog.model);
    let asked = questions(&lookups);
    let server = ClusterDns {
        namespace: "kube-system".to_owned(),
        name: "kube-dns".to_owned(),
        cluster_ips: vec![std::net::IpAddr::from([127, 0, 9, 10])],
        found_by: FoundBy::Label,
        pods: vec![pod("coredns-a", 2), pod("coredns-b", 3)],
    };
    let replies: Vec<PodReplies> = server
        .pods
        .iter()
        .map(|dns_pod| PodReplies {
            pod: dns_pod.clone(),
            replies: asked
                .iter()
                .map(|question| {
                    let stale = dns_pod.name == "coredns-b";
                    (question.clone(), reply(chain, question, stale))
                })
                .collect::<BTreeMap<_, _>>(),
        })
        .collect();
    let check = compare(&server, &lookups, &replies);
    apply(
        &mut state,
        AppEvent::Dns {
            service: ServiceKey {
                namespace: "shop".to_owned(),
                name: "web".to_owned(),
            },
            check: Box::new(check),
        },
    );
    let terminal = render(&state);
    let text = screen_text(&terminal);
    // The record's own line says so at every size (the findings may need scrolling).
    assert!(text.contains("✗ stale 127.0.200.1"), "{text}");
    assert_snapshot!(
        format!("dns_tab_with_answers_{}x{}", size.0, size.1),
        terminal.backend()
    );
}

/// A check of shop/web whose second pod answers an old cluster IP, landed in `state`.
fn land_stale_check(state: &mut kubehop::app::state::AppState) {
    let catalog = state.shown().expect("a model").clone();
    let chain = catalog.model.service("shop", "web").expect("web");
    let lookups = lookups(chain, &catalog.model);
    let asked = questions(&lookups);
    let server = ClusterDns {
        namespace: "kube-system".to_owned(),
        name: "kube-dns".to_owned(),
        cluster_ips: vec![std::net::IpAddr::from([127, 0, 9, 10])],
        found_by: FoundBy::Label,
        pods: vec![pod("coredns-a", 2), pod("coredns-b", 3)],
    };
    let replies: Vec<PodReplies> = server
        .pods
        .iter()
        .map(|dns_pod| PodReplies {
            pod: dns_pod.clone(),
            replies: asked
                .iter()
                .map(|question| {
                    let stale = dns_pod.name == "coredns-b";
                    (question.clone(), reply(chain, question, stale))
                })
                .collect::<BTreeMap<_, _>>(),
        })
        .collect();
    let check = compare(&server, &lookups, &replies);
    apply(
        state,
        AppEvent::Dns {
            service: ServiceKey {
                namespace: "shop".to_owned(),
                name: "web".to_owned(),
            },
            check: Box::new(check),
        },
    );
}

/// The header's count of broken Services (`✗ N`).
fn broken_count(text: &str) -> usize {
    let header = text.lines().next().expect("a header");
    let after = header.split("✗ ").nth(1).expect("a count");
    after
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

/// The same DNS finding reaches the Diagnostics tab, the Service's mark in the list and the
/// header's count, not only the DNS tab.
#[rstest]
fn a_dns_finding_is_a_probe_finding_everywhere(#[values((80, 24), (120, 40))] size: (u16, u16)) {
    let mut state = demo_app(size.0, size.1);
    open_service(&mut state, "shop/web");
    press(&mut state, KeyCode::Char('2'));
    let before = screen_text(&render(&state));
    assert!(before.contains("✓ shop/web"), "{before}");
    land_stale_check(&mut state);
    let terminal = render(&state);
    let text = screen_text(&terminal);
    assert!(text.contains("dns-stale-answer"), "{text}");
    assert!(text.contains("✗ shop/web"), "{text}");
    assert_eq!(broken_count(&text), broken_count(&before) + 1, "{text}");
    assert_snapshot!(
        format!("diagnostics_with_dns_finding_{}x{}", size.0, size.1),
        terminal.backend()
    );
}

/// A DNS finding is judged against the records of its time: once shop/web's records change
/// (a new cluster IP), it turns stale, still shown but no longer counted (rule F10).
#[test]
fn a_dns_finding_turns_stale_when_the_records_change() {
    let mut state = demo_app(120, 40);
    open_service(&mut state, "shop/web");
    let before = state.list.scope_errors;
    land_stale_check(&mut state);
    assert_eq!(state.list.scope_errors, before + 1);
    let mut snapshot = demo_snapshot();
    for service in &mut snapshot.services {
        if service.metadata.namespace.as_deref() == Some("shop")
            && service.metadata.name.as_deref() == Some("web")
        {
            let mut edited = (**service).clone();
            let spec = edited.spec.as_mut().expect("a spec");
            spec.cluster_ip = Some("127.10.9.9".to_owned());
            spec.cluster_ips = Some(vec!["127.10.9.9".to_owned()]);
            *service = std::sync::Arc::new(edited);
        }
    }
    snapshot.generation += 1;
    apply(
        &mut state,
        AppEvent::Snapshot(std::sync::Arc::new(snapshot)),
    );
    assert_eq!(
        state.list.scope_errors, before,
        "the stale finding no longer counts"
    );
    let web = ServiceKey {
        namespace: "shop".to_owned(),
        name: "web".to_owned(),
    };
    let kept = state.probe.findings_for(&web);
    assert!(
        kept.iter()
            .any(|finding| finding.code.as_str() == "dns-stale-answer" && finding.stale),
        "{kept:?}"
    );
}
