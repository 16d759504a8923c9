use super::*;
use rstest::rstest;

#[rstest]
#[case(0, "0s")]
#[case(119, "119s")]
#[case(120, "2m")]
#[case(200, "3m20s")]
#[case(11 * 60, "11m")]
#[case(5 * 3600 + 60, "5h1m")]
#[case(30 * 3600, "30h")]
#[case(3 * 86400 + 3600, "3d1h")]
#[case(40 * 86400, "40d")]
#[case(3 * 365 * 86400 + 86400, "3y1d")]
fn human_durations(#[case] seconds: i64, #[case] expected: &str) {
    assert_eq!(human_duration(SignedDuration::from_secs(seconds)), expected);
}

fn now() -> Timestamp {
    "2025-01-01T00:10:00Z".parse().expect("timestamp")
}

#[test]
fn service_rows_match_kubectl() {
    let service = json!({
        "metadata": {"name": "web", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"type": "LoadBalancer", "clusterIP": "127.96.0.10", "selector": {"app": "web"},
                 "ports": [{"port": 80, "protocol": "TCP", "nodePort": 31852}, {"port": 53, "protocol": "UDP"}]},
        "status": {"loadBalancer": {}}
    });
    assert_eq!(
        cells(ResourceId::Services, &service, now()),
        vec![
            json!("web"),
            json!("LoadBalancer"),
            json!("127.96.0.10"),
            json!("<pending>"),
            json!("80:31852/TCP,53/UDP"),
            json!("10m"),
            json!("app=web"),
        ]
    );
}

#[test]
fn pod_rows_show_readiness_and_terminating() {
    let pod = json!({
        "metadata": {"name": "web-1", "creationTimestamp": "2025-01-01T00:09:00Z", "deletionTimestamp": "2025-01-01T00:10:30Z"},
        "spec": {"nodeName": "node-a", "containers": [{"name": "a"}, {"name": "b"}]},
        "status": {"phase": "Running", "podIP": "127.1.0.5", "containerStatuses": [
            {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 0, "state": {"running": {}}}
        ]}
    });
    let row = cells(ResourceId::Pods, &pod, now());
    assert_eq!(row[1], json!("1/2"));
    assert_eq!(row[2], json!("Terminating"));
    assert_eq!(row[3], json!("2"));
    assert_eq!(row[4], json!("60s"));
    assert_eq!(row[5], json!("127.1.0.5"));
    assert_eq!(row[6], json!("node-a"));
}

#[test]
fn every_kind_has_one_cell_per_column() {
    let empty = json!({"metadata": {"name": "x"}});
    for id in ResourceId::ALL {
        assert_eq!(cells(id, &empty, now()).len(), columns(id).len(), "{id}");
    }
}

#[test]
fn selectors_print_like_kubectl() {
    let selector = json!({"matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]});
    assert_eq!(selector_string(Some(&selector)), "a=1,b=2,tier in (x,y)");
}
