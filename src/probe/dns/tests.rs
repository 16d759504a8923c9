//! The DNS probe against fake DNS pods: real DNS messages over an in-memory stream, each pod
//! answering from its own zone, or failing in its own way.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;
use crate::engine::dns::DnsRecordType;
use crate::engine::dnscheck::{DnsFindingCode, FoundBy, LookupForm};

/// How a fake pod behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Answers from the zone (NXDOMAIN for names it does not know).
    Zone(&'static [(&'static str, &'static str)]),
    /// SERVFAIL to everything.
    ServFail,
    /// Reads the query and never answers.
    Silent,
    /// Sets the TC bit and leaves the answers out.
    Truncates,
}

struct FakeDns {
    pods: BTreeMap<String, Behaviour>,
    opened: AtomicUsize,
}

impl DnsTransport for FakeDns {
    fn open<'a>(
        &'a self,
        pod: &'a DnsPod,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<dyn ProbeStream>, String>> {
        Box::pin(async move {
            self.opened.fetch_add(1, Ordering::Relaxed);
            let behaviour = *self.pods.get(&pod.name).ok_or("no such pod")?;
            let (client, server) = tokio::io::duplex(64 * 1024);
            tokio::spawn(serve(server, behaviour));
            Ok(Box::new(client) as Box<dyn ProbeStream>)
        })
    }
}

async fn serve(mut stream: tokio::io::DuplexStream, behaviour: Behaviour) {
    while let Ok(bytes) = wire::read_framed(&mut stream).await {
        let Ok(query) = Message::from_vec(&bytes) else {
            return;
        };
        let Some(answer) = respond(&query, behaviour) else {
            continue;
        };
        if wire::write_framed(&mut stream, &answer).await.is_err() {
            return;
        }
    }
}

fn respond(query: &Message, behaviour: Behaviour) -> Option<Vec<u8>> {
    let mut response = Message::response(query.metadata.id, OpCode::Query);
    response.add_queries(query.queries.iter().cloned());
    let question = query.queries.first()?;
    let name = question.name().to_ascii();
    let name = name.trim_end_matches('.');
    match behaviour {
        Behaviour::Silent => return None,
        Behaviour::ServFail => response.metadata.response_code = ResponseCode::ServFail,
        Behaviour::Truncates => response.metadata.truncation = true,
        Behaviour::Zone(zone) => {
            let records: Vec<&str> = zone
                .iter()
                .filter(|(owner, _)| *owner == name)
                .map(|(_, value)| *value)
                .collect();
            if records.is_empty() {
                response.metadata.response_code = ResponseCode::NXDomain;
            }
            for value in records {
                if let Some(data) = rdata(question.query_type(), value) {
                    response.add_answer(Record::from_rdata(question.name().clone(), 5, data));
                }
            }
        }
    }
    response.to_vec().ok()
}

fn rdata(kind: RecordType, value: &str) -> Option<RData> {
    match kind {
        RecordType::A => Some(RData::A(A(value.parse().ok()?))),
        RecordType::SRV => {
            let (port, target) = value.split_once(' ')?;
            let target = Name::from_ascii(format!("{target}.")).ok()?;
            Some(RData::SRV(SRV::new(0, 100, port.parse().ok()?, target)))
        }
        _ => None,
    }
}

const GOOD: &[(&str, &str)] = &[
    ("web.shop.svc.cluster.local", "10.96.0.20"),
    (
        "_http._tcp.web.shop.svc.cluster.local",
        "80 web.shop.svc.cluster.local",
    ),
];
const STALE: &[(&str, &str)] = &[
    ("web.shop.svc.cluster.local", "10.96.0.99"),
    (
        "_http._tcp.web.shop.svc.cluster.local",
        "80 web.shop.svc.cluster.local",
    ),
];

fn pod(name: &str, last: u8) -> DnsPod {
    DnsPod {
        namespace: "kube-system".to_owned(),
        name: name.to_owned(),
        ip: IpAddr::from([127, 0, 0, last]),
        port: 53,
    }
}

fn lookups() -> Vec<DnsLookup> {
    let record = |asked: &str, kind, expected: &str| DnsLookup {
        asked: asked.to_owned(),
        record_type: kind,
        form: LookupForm::Record,
        tries: vec![asked.to_owned()],
        answers_as: asked.to_owned(),
        expected: vec![expected.to_owned()],
    };
    vec![
        record("web.shop.svc.cluster.local", DnsRecordType::A, "10.96.0.20"),
        record(
            "_http._tcp.web.shop.svc.cluster.local",
            DnsRecordType::SRV,
            "80 web.shop.svc.cluster.local",
        ),
    ]
}

async fn run(pods: &[(&str, Behaviour)]) -> (DnsCheck, usize) {
    let server = ClusterDns {
        namespace: "kube-system".to_owned(),
        name: "kube-dns".to_owned(),
        cluster_ips: Vec::new(),
        found_by: FoundBy::Label,
        pods: pods
            .iter()
            .enumerate()
            .map(|(index, (name, _))| pod(name, u8::try_from(index + 2).unwrap_or(2)))
            .collect(),
    };
    let fake = FakeDns {
        pods: pods
            .iter()
            .map(|(name, behaviour)| ((*name).to_owned(), *behaviour))
            .collect(),
        opened: AtomicUsize::new(0),
    };
    let options = DnsOptions {
        timeout: Duration::from_millis(500),
        recheck_cap: Duration::from_millis(10),
    };
    let check = check(&server, &lookups(), &fake, &options).await;
    (check, fake.opened.load(Ordering::Relaxed))
}

fn codes(check: &DnsCheck) -> Vec<&'static str> {
    check
        .findings
        .iter()
        .map(|finding| finding.code.as_str())
        .collect()
}

#[tokio::test]
async fn every_answer_matches_over_one_stream_per_pod() {
    let (check, opened) = run(&[
        ("dns-a", Behaviour::Zone(GOOD)),
        ("dns-b", Behaviour::Zone(GOOD)),
    ])
    .await;
    assert!(check.findings.is_empty(), "{:#?}", check.findings);
    assert!(check.results.iter().all(|result| result.all_matched()));
    assert_eq!(opened, 2);
}

#[tokio::test(start_paused = true)]
async fn a_silent_pod_times_out_while_its_sibling_answers() {
    let (check, opened) = run(&[
        ("dns-a", Behaviour::Zone(GOOD)),
        ("dns-b", Behaviour::Silent),
    ])
    .await;
    assert_eq!(codes(&check), ["dns-pod-unhealthy"]);
    assert!(
        check.findings[0]
            .message
            .contains("no answer in time to 2 of 2"),
        "{}",
        check.findings[0].message
    );
    assert_eq!(check.results[0].statuses[1], LookupStatus::TimedOut);
    // A stream that timed out is not reused: one more for the second question.
    assert_eq!(opened, 3);
}

#[tokio::test]
async fn servfail_is_named_per_pod() {
    let (check, _) = run(&[
        ("dns-a", Behaviour::ServFail),
        ("dns-b", Behaviour::Zone(GOOD)),
    ])
    .await;
    assert_eq!(codes(&check), ["dns-pod-unhealthy"]);
    assert!(check.findings[0].subject.contains("dns-a"));
    assert!(
        check.findings[0]
            .message
            .contains("SERVFAIL to 2 of 2 questions")
    );
    assert_eq!(
        check.results[0].statuses[0],
        LookupStatus::ServerError {
            rcode: DnsRcode::ServFail
        }
    );
}

#[tokio::test]
async fn a_truncated_answer_says_so() {
    let (check, _) = run(&[("dns-a", Behaviour::Truncates)]).await;
    assert_eq!(codes(&check), ["dns-truncated", "dns-truncated"]);
    assert!(check.findings[0].message.contains("TC bit"));
}

#[tokio::test]
async fn the_pod_that_differs_from_its_siblings_is_named_after_a_second_look() {
    let (check, opened) = run(&[
        ("dns-a", Behaviour::Zone(GOOD)),
        ("dns-b", Behaviour::Zone(STALE)),
        ("dns-c", Behaviour::Zone(GOOD)),
    ])
    .await;
    assert_eq!(codes(&check), ["dns-stale-answer"]);
    let finding = &check.findings[0];
    assert_eq!(finding.code, DnsFindingCode::StaleAnswer);
    assert!(
        finding.message.contains("dns-b: answers 10.96.0.99"),
        "{}",
        finding.message
    );
    assert!(
        finding
            .message
            .contains("dns-a, dns-c answer(s) as expected"),
        "{}",
        finding.message
    );
    // The wrong answer was asked again (a second stream per pod).
    assert_eq!(opened, 6);
}

#[tokio::test]
async fn a_pod_that_cannot_be_reached_is_no_verdict() {
    let server = ClusterDns {
        namespace: "kube-system".to_owned(),
        name: "kube-dns".to_owned(),
        cluster_ips: Vec::new(),
        found_by: FoundBy::Label,
        pods: vec![pod("gone", 9)],
    };
    let fake = FakeDns {
        pods: BTreeMap::new(),
        opened: AtomicUsize::new(0),
    };
    let check = check(&server, &lookups(), &fake, &DnsOptions::default()).await;
    assert_eq!(codes(&check), ["dns-pod-unreachable"]);
    assert!(check.findings[0].message.contains("no such pod"));
}
