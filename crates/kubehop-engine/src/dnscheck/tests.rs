use std::collections::BTreeMap;

use super::*;
use crate::{EngineConfig, Severity, build, dump};

const CLUSTER: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
  spec:
    clusterIP: 10.96.0.10
    selector: {k8s-app: kube-dns}
    ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
- apiVersion: v1
  kind: Service
  metadata: {name: kubernetes, namespace: default}
  spec:
    clusterIP: 10.96.0.1
    ports: [{name: https, port: 443, targetPort: 6443}]
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec:
    clusterIP: 10.96.0.20
    selector: {app: web}
    ports: [{name: http, port: 80, targetPort: 8080}]
- apiVersion: v1
  kind: Pod
  metadata: {name: dns-a, namespace: kube-system, labels: {k8s-app: kube-dns}}
  spec: {nodeName: n1, containers: [{name: c, image: i}]}
  status:
    phase: Running
    podIP: 10.0.0.2
    conditions: [{type: Ready, status: "True"}]
- apiVersion: v1
  kind: Pod
  metadata: {name: dns-b, namespace: kube-system, labels: {k8s-app: kube-dns}}
  spec: {nodeName: n1, containers: [{name: c, image: i}]}
  status:
    phase: Running
    podIP: 10.0.0.3
    conditions: [{type: Ready, status: "True"}]
"#;

fn model() -> ProxyModel {
    let load = dump::load_str("test", CLUSTER).expect("valid");
    build(&load.snapshot, &EngineConfig::default())
}

fn answered(rcode: DnsRcode, answers: &[(&str, DnsRecordType, &str)]) -> DnsReply {
    DnsReply::Answered {
        rcode,
        truncated: false,
        answers: answers
            .iter()
            .map(|(name, record_type, value)| DnsAnswer {
                name: (*name).to_owned(),
                record_type: *record_type,
                value: (*value).to_owned(),
                ttl: 5,
            })
            .collect(),
    }
}

/// A server that answers from `zone` (name, type → values): NXDOMAIN for unknown names.
fn server(
    zone: &[(&str, DnsRecordType, &str)],
    questions: &[DnsQuestion],
) -> BTreeMap<DnsQuestion, DnsReply> {
    questions
        .iter()
        .map(|question| {
            let records: Vec<(&str, DnsRecordType, &str)> = zone
                .iter()
                .filter(|(name, kind, _)| *name == question.name && *kind == question.record_type)
                .copied()
                .collect();
            let known = zone.iter().any(|(name, _, _)| *name == question.name);
            let rcode = if known {
                DnsRcode::NoError
            } else {
                DnsRcode::NxDomain
            };
            (question.clone(), answered(rcode, &records))
        })
        .collect()
}

const GOOD: [(&str, DnsRecordType, &str); 3] = [
    ("web.shop.svc.cluster.local", DnsRecordType::A, "10.96.0.20"),
    (
        "_http._tcp.web.shop.svc.cluster.local",
        DnsRecordType::SRV,
        "80 web.shop.svc.cluster.local",
    ),
    (
        "kubernetes.default.svc.cluster.local",
        DnsRecordType::A,
        "10.96.0.1",
    ),
];

fn pod_replies(pod: &DnsPod, replies: BTreeMap<DnsQuestion, DnsReply>) -> PodReplies {
    PodReplies {
        pod: pod.clone(),
        replies,
    }
}

#[test]
fn the_cluster_dns_is_found_by_its_label_with_its_ready_pods() {
    let model = model();
    let dns = find_cluster_dns(&model, None).expect("found");
    assert_eq!(
        (dns.namespace.as_str(), dns.name.as_str()),
        ("kube-system", "kube-dns")
    );
    assert_eq!(dns.found_by, FoundBy::Label);
    let pods: Vec<&str> = dns.pods.iter().map(|pod| pod.name.as_str()).collect();
    assert_eq!(pods, ["dns-a", "dns-b"]);
    assert!(dns.pods.iter().all(|pod| pod.port == 53));
    let by_ip = find_cluster_dns(&model, "10.96.0.20".parse().ok()).expect("found");
    assert_eq!(
        (by_ip.name.as_str(), by_ip.found_by),
        ("web", FoundBy::Nameserver)
    );
}

#[test]
fn the_search_path_follows_ndots_5() {
    assert_eq!(
        search_expansion("web.shop", "shop", "cluster.local"),
        [
            "web.shop.shop.svc.cluster.local",
            "web.shop.svc.cluster.local",
            "web.shop.cluster.local",
            "web.shop",
        ]
    );
    assert_eq!(search_expansion("a.b.c.d.e.f", "x", "z")[0], "a.b.c.d.e.f");
    assert_eq!(search_expansion("web.shop.", "x", "z"), ["web.shop"]);
}

#[test]
fn lookups_cover_records_short_forms_and_kubernetes_default() {
    let model = model();
    let web = model.service("shop", "web").expect("web");
    let lookups = lookups(web, &model);
    let asked: Vec<(&str, LookupForm)> = lookups
        .iter()
        .map(|lookup| (lookup.asked.as_str(), lookup.form))
        .collect();
    assert_eq!(
        asked,
        [
            ("web.shop.svc.cluster.local", LookupForm::Record),
            ("_http._tcp.web.shop.svc.cluster.local", LookupForm::Record),
            ("web", LookupForm::Short),
            ("web.shop", LookupForm::Short),
            ("web.shop.svc", LookupForm::Short),
            ("web.shop.svc.cluster.local", LookupForm::Short),
            ("kubernetes.default", LookupForm::Kubernetes),
        ]
    );
    assert_eq!(lookups[0].expected, ["10.96.0.20"]);
    assert_eq!(lookups[1].expected, ["80 web.shop.svc.cluster.local"]);
}

fn check_with(pods: Vec<(usize, BTreeMap<DnsQuestion, DnsReply>)>) -> DnsCheck {
    let model = model();
    let dns = find_cluster_dns(&model, None).expect("found");
    let lookups = lookups(model.service("shop", "web").expect("web"), &model);
    let replies: Vec<PodReplies> = pods
        .into_iter()
        .map(|(index, replies)| pod_replies(&dns.pods[index], replies))
        .collect();
    compare(&dns, &lookups, &replies)
}

fn all_questions() -> Vec<DnsQuestion> {
    let model = model();
    questions(&lookups(model.service("shop", "web").expect("web"), &model))
}

#[test]
fn a_healthy_dns_matches_everything_and_finds_nothing() {
    let questions = all_questions();
    let check = check_with(vec![
        (0, server(&GOOD, &questions)),
        (1, server(&GOOD, &questions)),
    ]);
    assert!(check.findings.is_empty(), "{:#?}", check.findings);
    assert!(check.results.iter().all(LookupResult::all_matched));
}

#[test]
fn a_pod_with_an_old_cluster_ip_is_named_while_its_sibling_is_right() {
    let questions = all_questions();
    let mut stale = GOOD;
    stale[0].2 = "10.96.0.99";
    let check = check_with(vec![
        (0, server(&GOOD, &questions)),
        (1, server(&stale, &questions)),
    ]);
    let codes: Vec<&str> = check.findings.iter().map(|f| f.code.as_str()).collect();
    // One finding for the record; the short forms point at the same root and stay quiet.
    assert_eq!(codes, ["dns-stale-answer"]);
    let finding = &check.findings[0];
    assert_eq!(finding.severity, Severity::Error);
    assert!(
        finding
            .message
            .contains("dns-b: answers 10.96.0.99 where the current records are 10.96.0.20"),
        "{}",
        finding.message
    );
    assert!(
        finding.message.contains("dns-a answer(s) as expected"),
        "{}",
        finding.message
    );
}

#[test]
fn nxdomain_for_an_expected_name_is_missing() {
    let questions = all_questions();
    let check = check_with(vec![(0, server(&GOOD[1..], &questions))]);
    assert_eq!(check.findings[0].code, DnsFindingCode::NameMissing);
    assert_eq!(check.results[0].statuses, [LookupStatus::NxDomain]);
}

#[test]
fn servfail_and_timeouts_make_the_pod_unhealthy_a_warning_while_a_sibling_answers() {
    let questions = all_questions();
    let sick: BTreeMap<DnsQuestion, DnsReply> = questions
        .iter()
        .enumerate()
        .map(|(index, question)| {
            let reply = if index % 2 == 0 {
                answered(DnsRcode::ServFail, &[])
            } else {
                DnsReply::TimedOut
            };
            (question.clone(), reply)
        })
        .collect();
    let check = check_with(vec![(0, server(&GOOD, &questions)), (1, sick.clone())]);
    let codes: Vec<(&str, Severity)> = check
        .findings
        .iter()
        .map(|f| (f.code.as_str(), f.severity))
        .collect();
    assert_eq!(codes, [("dns-pod-unhealthy", Severity::Warning)]);
    assert!(check.findings[0].subject.contains("dns-b"));
    assert!(
        check.findings[0].message.contains("SERVFAIL to"),
        "{}",
        check.findings[0].message
    );
    let alone = check_with(vec![(1, sick)]);
    assert_eq!(alone.findings[0].severity, Severity::Error);
}

#[test]
fn the_tc_bit_is_reported() {
    let questions = all_questions();
    let mut replies = server(&GOOD, &questions);
    let first = questions[0].clone();
    replies.insert(
        first,
        DnsReply::Answered {
            rcode: DnsRcode::NoError,
            truncated: true,
            answers: Vec::new(),
        },
    );
    let check = check_with(vec![(0, replies)]);
    assert_eq!(check.findings[0].code, DnsFindingCode::Truncated);
    assert!(
        check.findings[0].message.contains("TC bit"),
        "{}",
        check.findings[0].message
    );
}

#[test]
fn a_short_form_answered_by_another_name_first_is_shadowed() {
    let questions = all_questions();
    let mut zone = GOOD.to_vec();
    zone.push((
        "web.shop.shop.svc.cluster.local",
        DnsRecordType::A,
        "10.96.7.7",
    ));
    let check = check_with(vec![(0, server(&zone, &questions))]);
    let codes: Vec<&str> = check.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["dns-search-path-shadowed"]);
    assert_eq!(check.findings[0].subject, "DNS web.shop A");
}

#[test]
fn an_unreachable_pod_is_no_verdict_on_dns() {
    let questions = all_questions();
    let failed = questions
        .iter()
        .map(|question| {
            (
                question.clone(),
                DnsReply::Failed {
                    reason: "forbidden".to_owned(),
                },
            )
        })
        .collect();
    let check = check_with(vec![(0, failed)]);
    let codes: Vec<&str> = check.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["dns-pod-unreachable"]);
}

#[test]
fn a_dns_finding_is_the_same_object_as_a_probe_finding() {
    let questions = all_questions();
    let mut stale = GOOD;
    stale[0].2 = "10.96.0.99";
    let check = check_with(vec![
        (0, server(&GOOD, &questions)),
        (1, server(&stale, &questions)),
    ]);
    let probed = check.probe_findings();
    assert_eq!(probed.len(), check.findings.len());
    let (dns, probe) = (&check.findings[0], &probed[0]);
    assert_eq!(probe.code, crate::verdict::ProbeFindingCode::Dns(dns.code));
    assert_eq!(probe.code.as_str(), "dns-stale-answer");
    assert_eq!(
        (probe.severity, &probe.subject, &probe.message),
        (dns.severity, &dns.subject, &dns.message)
    );
    assert!(!probe.stale && probe.fix.is_none());
    let json = serde_json::to_value(probe).expect("serialises");
    assert_eq!(json["code"], "dns-stale-answer");
    // The A lookups (the record and the short forms that reach it) disagree, the SRV agrees.
    assert!(0 < check.matched() && check.matched() < check.results.len());
}
