use hickory_proto::op::Query;

use super::*;
use kubehop_engine::{EngineConfig, build, dump};

const CLUSTER: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec:
    clusterIP: 10.96.0.20
    ports: [{name: http, port: 80}]
- apiVersion: v1
  kind: Service
  metadata: {name: docs, namespace: shop}
  spec: {type: ExternalName, externalName: docs.example.com}
"#;

fn zone() -> Zone {
    let load = dump::load_str("test", CLUSTER).expect("valid");
    Zone::from_model(&build(&load.snapshot, &EngineConfig::default()))
}

fn ask(zone: &Zone, name: &str, kind: RecordType) -> Message {
    let mut query = Message::query();
    query.add_query(Query::query(Name::from_ascii(name).expect("name"), kind));
    zone.answer(&query.to_vec().expect("encodes"))
        .expect("answered")
}

fn values(message: &Message) -> Vec<String> {
    message
        .answers
        .iter()
        .map(|record| record.data.to_string())
        .collect()
}

#[test]
fn the_engines_records_are_served() {
    let zone = zone();
    let a = ask(&zone, "web.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert_eq!(values(&a), ["10.96.0.20"]);
    let srv = ask(
        &zone,
        "_http._tcp.web.shop.svc.cluster.local.",
        RecordType::SRV,
    );
    assert_eq!(values(&srv), ["0 100 80 web.shop.svc.cluster.local."]);
    let alias = ask(&zone, "docs.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(values(&alias), ["docs.example.com."]);
}

#[test]
fn unknown_names_are_nxdomain_and_their_parents_exist() {
    let zone = zone();
    let missing = ask(&zone, "nope.shop.svc.cluster.local.", RecordType::A);
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    let parent = ask(&zone, "shop.svc.cluster.local.", RecordType::A);
    assert_eq!(parent.metadata.response_code, ResponseCode::NoError);
    assert!(parent.answers.is_empty());
    let outside = ask(&zone, "example.com.", RecordType::A);
    assert_eq!(outside.metadata.response_code, ResponseCode::NXDomain);
}
