use serde_json::json;

use super::*;

const NOW: &str = "2026-01-01T00:00:00Z";

fn apply(manager: &str, force: bool) -> Apply<'_> {
    Apply {
        resource: ResourceId::Deployments,
        manager,
        force,
        now: NOW,
    }
}

fn deployment(replicas: i64, image: &str, env: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": image,
                    "ports": [{"containerPort": 8080}],
                    "env": env,
                }]},
            },
        },
    })
}

#[test]
fn a_first_apply_owns_what_it_sets_in_fields_v1() {
    let created = create(
        &apply("mgr", false),
        &deployment(2, "nginx:1", json!([{"name": "A", "value": "1"}])),
    );
    let entry = &created["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], "mgr");
    assert_eq!(entry["operation"], "Apply");
    assert_eq!(entry["apiVersion"], "apps/v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    let container = &entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
    assert_eq!(container["."], json!({}));
    assert_eq!(container["f:image"], json!({}));
    assert_eq!(
        container["f:ports"]["k:{\"containerPort\":8080,\"protocol\":\"TCP\"}"]["f:containerPort"],
        json!({})
    );
    assert_eq!(
        container["f:env"]["k:{\"name\":\"A\"}"]["f:value"],
        json!({})
    );
    assert_eq!(
        entry["fieldsV1"]["f:spec"]["f:selector"],
        json!({}),
        "an atomic selector"
    );
    assert_eq!(entry["fieldsV1"]["f:metadata"]["f:labels"]["."], json!({}));
    assert!(entry["fieldsV1"]["f:metadata"].get("f:name").is_none());
    assert!(entry["fieldsV1"].get("f:apiVersion").is_none());
}

#[test]
fn applying_again_changes_fields_and_removes_the_ones_left_out() {
    let config = deployment(
        2,
        "nginx:1",
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
    );
    let mut live = create(&apply("mgr", false), &config);
    // Defaulted and other writers' fields are kept.
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    live["metadata"]["annotations"] = json!({"note": "by hand"});
    let mut second = deployment(3, "nginx:2", json!([{"name": "A", "value": "1"}]));
    second["metadata"]["labels"] = json!({"app": "web", "tier": "front"});
    apply_to(&apply("mgr", false), &mut live, &second).expect("applies");
    let container = &live["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(live["spec"]["replicas"], 3);
    assert_eq!(container["image"], "nginx:2");
    assert_eq!(container["env"], json!([{"name": "A", "value": "1"}]));
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
    assert_eq!(live["metadata"]["annotations"], json!({"note": "by hand"}));
    assert_eq!(
        live["metadata"]["labels"],
        json!({"app": "web", "tier": "front"})
    );
    assert_eq!(
        live["metadata"]["managedFields"].as_array().map(Vec::len),
        Some(1)
    );

    // Leaving out the whole env list removes it.
    let mut third = second.clone();
    third["spec"]["template"]["spec"]["containers"][0]
        .as_object_mut()
        .expect("container")
        .remove("env");
    apply_to(&apply("mgr", false), &mut live, &third).expect("applies");
    assert!(
        live["spec"]["template"]["spec"]["containers"][0]
            .get("env")
            .is_none()
    );
}

#[test]
fn another_manager_conflicts_unless_forced_and_shared_values_do_not() {
    let mut live = create(&apply("first", false), &deployment(2, "nginx:1", json!([])));
    // The same value is shared ownership, not a conflict.
    let same = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}});
    apply_to(&apply("second", false), &mut live, &same).expect("no conflict");
    let mut changed = same.clone();
    changed["spec"]["replicas"] = json!(5);
    changed["spec"]["template"] =
        json!({"spec": {"containers": [{"name": "web", "image": "nginx:9"}]}});
    let err = apply_to(&apply("third", false), &mut live, &changed).expect_err("conflicts");
    let ApplyError::Conflicts(conflicts) = err;
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 3 conflicts: conflicts with \"first\": .spec.replicas, .spec.template.spec.containers[name=\"web\"].image; conflicts with \"second\": .spec.replicas"
    );
    assert_eq!(live["spec"]["replicas"], 2, "nothing changed");

    apply_to(&apply("third", true), &mut live, &changed).expect("forced");
    assert_eq!(live["spec"]["replicas"], 5);
    let first = entries(&live)
        .into_iter()
        .find(|e| e.text("manager") == "first")
        .expect("first");
    assert!(
        !first
            .paths
            .contains(&vec!["f:spec".to_string(), "f:replicas".to_string()])
    );
    // "second" owned only replicas: its entry is gone.
    assert!(entries(&live).iter().all(|e| e.text("manager") != "second"));
}

#[test]
fn update_managers_are_named_with_their_version() {
    let conflict = Conflict {
        manager: Entry {
            json: json!({"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            paths: PathSet::new(),
        }
        .display(),
        field: ".spec.replicas".into(),
    };
    assert_eq!(
        conflict_message(&[conflict]),
        "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn service_ports_merge_by_port_and_protocol_and_sets_unite() {
    let service = |ports: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "finalizers": ["a"]}, "spec": {"ports": ports}});
    let svc = Apply {
        resource: ResourceId::Services,
        manager: "m",
        force: false,
        now: NOW,
    };
    let mut live = create(
        &svc,
        &service(json!([{"port": 80, "targetPort": 8080}, {"port": 53, "protocol": "UDP"}])),
    );
    live["metadata"]["finalizers"] = json!(["a", "b"]);
    apply_to(
        &svc,
        &mut live,
        &service(json!([{"port": 80, "protocol": "TCP", "targetPort": 9090}])),
    )
    .expect("applies");
    assert_eq!(
        live["spec"]["ports"],
        json!([{"port": 80, "targetPort": 9090, "protocol": "TCP"}])
    );
    assert_eq!(live["metadata"]["finalizers"], json!(["a", "b"]));
    assert_eq!(
        path_string(&[
            "f:spec".into(),
            "f:ports".into(),
            "k:{\"port\":80,\"protocol\":\"TCP\"}".into()
        ]),
        ".spec.ports[port=80,protocol=\"TCP\"]"
    );
}

#[test]
fn fields_v1_round_trips() {
    let paths = owned_paths(
        ResourceId::Deployments,
        &deployment(1, "x", json!([{"name": "A"}])),
    );
    let mut back = PathSet::new();
    from_tree(&to_tree(&paths), &mut Vec::new(), &mut back);
    assert_eq!(back, paths);
}

#[test]
fn a_plain_write_takes_the_fields_it_changes() {
    let mut live = create(
        &apply("mgr", false),
        &deployment(2, "nginx:1", json!([{"name": "A", "value": "1"}])),
    );
    let before = live.clone();
    live["spec"]["replicas"] = json!(4);
    live["metadata"]["labels"]["extra"] = json!("yes");
    record_update(
        ResourceId::Deployments,
        "kubectl-edit",
        NOW,
        &before,
        &mut live,
    );
    let all = entries(&live);
    let editor = all
        .iter()
        .find(|e| e.text("manager") == "kubectl-edit")
        .expect("an Update entry");
    assert_eq!(editor.text("operation"), "Update");
    let replicas = vec!["f:spec".to_string(), "f:replicas".to_string()];
    assert!(editor.paths.contains(&replicas));
    assert!(editor.paths.contains(&vec![
        "f:metadata".into(),
        "f:labels".into(),
        "f:extra".into()
    ]));
    let applier = all
        .iter()
        .find(|e| e.text("manager") == "mgr")
        .expect("the applier");
    assert!(!applier.paths.contains(&replicas));
    // Now the applier conflicts with the editor.
    let err = apply_to(
        &apply("mgr", false),
        &mut live,
        &deployment(2, "nginx:1", json!([])),
    )
    .expect_err("conflict");
    let ApplyError::Conflicts(conflicts) = err;
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
    );

    // An untracked object stays untracked.
    let plain = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let mut after = plain.clone();
    after["data"] = json!({"k": "v"});
    record_update(ResourceId::Services, "x", NOW, &plain, &mut after);
    assert!(after["metadata"].get("managedFields").is_none());
}
