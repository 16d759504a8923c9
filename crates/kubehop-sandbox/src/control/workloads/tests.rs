use super::*;
use rstest::rstest;

#[rstest]
#[case(json!({"matchLabels": {"app": "web"}}), json!({"app": "web", "x": "y"}), true)]
#[case(json!({"matchLabels": {"app": "web"}}), json!({"app": "api"}), false)]
#[case(json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}), json!({"tier": "b"}), true)]
#[case(json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}), json!({}), true)]
#[case(json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}), json!({}), false)]
#[case(json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}), json!({}), true)]
#[case(json!({"matchExpressions": [{"key": "tier", "operator": "Bogus"}]}), json!({"tier": "a"}), false)]
fn label_selectors(#[case] selector: Value, #[case] labels: Value, #[case] expected: bool) {
    assert_eq!(selector_matches(&selector, labels.as_object()), expected);
}

#[rstest]
#[case(None, 3, true, 1)]
#[case(None, 3, false, 0)]
#[case(Some(json!("50%")), 3, true, 2)]
#[case(Some(json!("50%")), 3, false, 1)]
#[case(Some(json!(2)), 3, false, 2)]
#[case(Some(json!("2")), 3, false, 2)]
fn surge_and_unavailable(
    #[case] value: Option<Value>,
    #[case] replicas: i64,
    #[case] round_up: bool,
    #[case] expected: i64,
) {
    assert_eq!(resolve(value.as_ref(), replicas, round_up, 25), expected);
}

#[test]
fn owners_of_pods() {
    let pod = json!({"metadata": {"namespace": "shop", "ownerReferences": [
        {"kind": "ReplicaSet", "name": "web-abc12", "controller": true}]}});
    assert_eq!(
        owners_of(&pod),
        [
            (ResourceId::ReplicaSets, ("shop".into(), "web-abc12".into())),
            (ResourceId::Deployments, ("shop".into(), "web".into()))
        ]
    );
    let pod = json!({"metadata": {"namespace": "data", "ownerReferences": [
        {"kind": "StatefulSet", "name": "mongodb", "controller": true}]}});
    assert_eq!(
        owners_of(&pod),
        [(ResourceId::StatefulSets, ("data".into(), "mongodb".into()))]
    );
    assert!(owners_of(&json!({"metadata": {}})).is_empty());
}

#[test]
fn deletion_prefers_unready_then_newest() {
    let pod = |name: &str, ready: bool, created: &str| {
        json!({"metadata": {"name": name, "creationTimestamp": created},
               "spec": {"nodeName": "n"}, "status": {"podIP": "127.0.0.1",
               "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}})
    };
    let mut pods = vec![
        pod("a", true, "2025-01-01T00:00:00Z"),
        pod("b", true, "2025-01-02T00:00:00Z"),
        pod("c", false, "2025-01-01T00:00:00Z"),
    ];
    deletion_order(&mut pods);
    let names: Vec<&str> = pods.iter().map(|p| text(p, "/metadata/name")).collect();
    assert_eq!(names, ["c", "b", "a"]);
}

#[test]
fn template_hashes_are_stable_safe_and_change_with_the_template() {
    let template = json!({"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}});
    let hash = template_hash(&template);
    assert_eq!(hash, template_hash(&template.clone()));
    assert!(!hash.is_empty() && hash.len() <= 10, "{hash}");
    assert!(
        hash.bytes()
            .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b)),
        "{hash}"
    );
    let mut changed = template.clone();
    changed["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    assert_ne!(template_hash(&changed), hash);
}
