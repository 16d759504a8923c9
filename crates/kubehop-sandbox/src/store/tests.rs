use super::*;
use crate::admission::{AdmissionHook, AdmissionRequest, DeletionPolicy, FieldCause};
use k8s_openapi::api::core::v1::{Pod, Service};

fn pod(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}
    })
}

#[test]
fn create_sets_server_metadata_and_one_counter() {
    let store = Store::default();
    let start = store.resource_version();
    let created = store
        .create_object(
            ResourceId::Pods,
            pod("a", json!({})),
            WriteOptions::api(false),
        )
        .expect("created");
    assert_eq!(created.resource_version(), start + 1);
    let value = created.value();
    assert!(value.pointer("/metadata/uid").is_some());
    assert!(value.pointer("/metadata/creationTimestamp").is_some());
    assert_eq!(value.pointer("/metadata/generation"), Some(&json!(1)));
    assert_eq!(value.pointer("/status/phase"), Some(&json!("Pending")));
    assert_eq!(value.pointer("/spec/restartPolicy"), Some(&json!("Always")));
    let again = store.create_object(
        ResourceId::Pods,
        pod("a", json!({})),
        WriteOptions::api(false),
    );
    assert!(matches!(again, Err(StoreError::AlreadyExists { .. })));
}

#[test]
fn update_with_stale_resource_version_conflicts() {
    let store = Store::default();
    let created = store
        .create_object(
            ResourceId::Pods,
            pod("a", json!({})),
            WriteOptions::api(false),
        )
        .expect("created");
    let mut stale = created.value();
    stale["metadata"]["labels"] = json!({"x": "1"});
    store
        .update_object(
            ResourceId::Pods,
            stale.clone(),
            Part::Whole,
            WriteOptions::api(false),
        )
        .expect("first update wins");
    let err = store
        .update_object(
            ResourceId::Pods,
            stale,
            Part::Whole,
            WriteOptions::api(false),
        )
        .expect_err("second one conflicts");
    assert!(
        err.to_string()
            .starts_with("Operation cannot be fulfilled on pods \"a\"")
    );
}

#[test]
fn no_op_update_keeps_resource_version() {
    let store = Store::default();
    let created = store
        .create_object(
            ResourceId::Pods,
            pod("a", json!({"app": "x"})),
            WriteOptions::api(false),
        )
        .expect("created");
    let same = store
        .update_object(
            ResourceId::Pods,
            created.value(),
            Part::Whole,
            WriteOptions::api(false),
        )
        .expect("updated");
    assert_eq!(same.resource_version(), created.resource_version());
}

#[test]
fn namespace_must_exist_for_api_writes_but_load_creates_it() {
    let store = Store::default();
    let mut object = pod("a", json!({}));
    object["metadata"]["namespace"] = json!("team");
    let err = store
        .create_object(ResourceId::Pods, object.clone(), WriteOptions::api(false))
        .expect_err("no such namespace");
    assert_eq!(err.to_string(), "namespaces \"team\" not found");
    let report = store.load_objects(vec![object]);
    assert_eq!(report.loaded, 1, "{:?}", report.skipped);
    assert!(
        store
            .get_object(ResourceId::Namespaces, "", "team")
            .is_some()
    );
}

#[test]
fn load_keeps_status_and_flattens_lists() {
    let store = Store::default();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
         "spec": {"containers": []}, "status": {"phase": "Running", "podIP": "127.1.0.5"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "c"}},
    ]});
    let report = store.load_objects(vec![list]);
    assert_eq!(report.loaded, 1);
    assert_eq!(
        report.skipped,
        vec!["example.com/v1 Widget c: not served".to_string()]
    );
    let pod: Pod = store.get("default", "p").expect("decodes").expect("exists");
    assert_eq!(
        pod.status.and_then(|s| s.pod_ip).as_deref(),
        Some("127.1.0.5")
    );
}

#[test]
fn endpoints_follow_slices() {
    let store = Store::default();
    let service = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    store
        .create_object(ResourceId::Services, service, WriteOptions::api(false))
        .expect("service");
    let endpoints = store
        .get_object(ResourceId::Endpoints, "default", "web")
        .expect("empty Endpoints for a selector Service");
    assert!(endpoints.value().get("subsets").is_none());
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "namespace": "default", "labels": {SERVICE_NAME_LABEL: "web"}},
        "addressType": "IPv4",
        "ports": [{"port": 8080}],
        "endpoints": [{"addresses": ["127.1.0.9"], "conditions": {"ready": true}}]});
    store
        .create_object(
            ResourceId::EndpointSlices,
            slice,
            WriteOptions::controller(),
        )
        .expect("slice");
    let endpoints = store
        .get_object(ResourceId::Endpoints, "default", "web")
        .expect("endpoints");
    assert_eq!(
        endpoints.value()["subsets"][0]["addresses"][0]["ip"],
        json!("127.1.0.9")
    );
    store
        .delete::<Service>("default", "web", &DeleteOptions::default())
        .expect("deleted");
    assert!(
        store
            .get_object(ResourceId::Endpoints, "default", "web")
            .is_none()
    );
    let err = store.delete_object(
        ResourceId::Endpoints,
        "default",
        "web",
        &DeleteOptions::default(),
    );
    assert!(matches!(err, Err(StoreError::ReadOnly(_))));
}

#[test]
fn history_window_expires_old_versions() {
    let store = Store::new(3);
    let start = store.resource_version();
    for i in 0..5 {
        store
            .create_object(
                ResourceId::Pods,
                pod(&format!("p{i}"), json!({})),
                WriteOptions::api(false),
            )
            .expect("created");
    }
    assert!(matches!(
        store.events_since(start),
        Err(StoreError::Expired { .. })
    ));
    let recent = store
        .events_since(store.resource_version() - 2)
        .expect("kept");
    assert_eq!(recent.len(), 2);
}

#[test]
fn each_resource_keeps_its_own_replay_window() {
    let store = Store::new(3);
    store
        .create_object(
            ResourceId::Pods,
            pod("p", json!({})),
            WriteOptions::api(false),
        )
        .expect("created");
    let after_pod = store.resource_version();
    for i in 0..5 {
        store
            .create_object(
                ResourceId::Nodes,
                json!({"metadata": {"name": format!("n{i}")}}),
                WriteOptions::api(false),
            )
            .expect("node");
    }
    // Node churn expired the global window but not the pods' one.
    assert!(store.events_since(after_pod).is_err());
    let (pod_events, revision) = store
        .resource_events_since(ResourceId::Pods, after_pod)
        .expect("pods still replayable");
    assert!(pod_events.is_empty());
    assert_eq!(revision, store.resource_version());
    assert!(
        store
            .resource_events_since(ResourceId::Nodes, after_pod)
            .is_err()
    );
}

#[test]
fn owner_deletion_cascades_unless_orphaned() {
    let store = Store::default();
    let owner = store
        .create_object(
            ResourceId::Services,
            json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
            WriteOptions::api(false),
        )
        .expect("owner");
    for name in ["s1", "s2"] {
        store
            .create_object(
                ResourceId::EndpointSlices,
                json!({"metadata": {"name": name, "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": owner.uid()}]},
                       "addressType": "IPv4", "endpoints": []}),
                WriteOptions::controller(),
            )
            .expect("slice");
    }
    store
        .delete_object(
            ResourceId::Services,
            "default",
            "web",
            &DeleteOptions::default(),
        )
        .expect("deleted");
    assert!(
        store
            .list_objects(ResourceId::EndpointSlices, None)
            .0
            .is_empty()
    );
}

#[tokio::test]
async fn subscription_sees_changes_in_order() {
    let store = Store::default();
    let mut subscription = store.subscribe();
    store
        .create_object(
            ResourceId::Pods,
            pod("a", json!({})),
            WriteOptions::api(false),
        )
        .expect("created");
    store
        .delete_object(ResourceId::Pods, "default", "a", &DeleteOptions::default())
        .expect("deleted");
    let first = subscription.next().await.expect("event");
    let second = subscription.next().await.expect("event");
    assert_eq!(first.event_type, EventType::Added);
    assert_eq!(second.event_type, EventType::Deleted);
    assert!(second.resource_version() > first.resource_version());
}

#[test]
fn paging_walks_every_object_once() {
    let store = Store::default();
    for i in 0..25 {
        store
            .create_object(
                ResourceId::Pods,
                pod(&format!("p{i:02}"), json!({"n": i.to_string()})),
                WriteOptions::api(false),
            )
            .expect("created");
    }
    let mut query = ListQuery {
        namespace: Some("default".into()),
        limit: Some(10),
        ..ListQuery::default()
    };
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.list_page(ResourceId::Pods, &query);
        pages += 1;
        names.extend(page.items.iter().map(|o| o.name().to_string()));
        match page.continue_token {
            Some(token) => query.continue_from = Some(token),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 25);
    assert_eq!(names[0], "p00");
    assert_eq!(names[24], "p24");
}

#[test]
fn unknown_fields_are_found_by_round_trip() {
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"a": "b"}, "creationTimestamp": null},
        "spec": {"replica": 3, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}});
    assert_eq!(
        unknown_fields(ResourceId::Deployments, &deployment),
        vec![
            "spec.replica".to_string(),
            "spec.template.spec.containers[0].imagee".to_string()
        ]
    );
}

struct GracefulPods;

impl DeletionPolicy for GracefulPods {
    fn decide(
        &self,
        resource: ResourceId,
        _object: &Value,
        requested: Option<i64>,
    ) -> admission::Deletion {
        match resource {
            ResourceId::Pods => admission::Deletion::Graceful {
                grace_period_seconds: requested.unwrap_or(30),
            },
            _ => admission::Deletion::Immediate,
        }
    }
}

#[test]
fn graceful_deletion_keeps_the_pod_terminating_until_grace_zero() {
    let store = Store::default();
    store.set_deletion_policy(Arc::new(GracefulPods));
    store
        .create_object(
            ResourceId::Pods,
            pod("a", json!({})),
            WriteOptions::api(false),
        )
        .expect("created");
    let outcome = store
        .delete_object(ResourceId::Pods, "default", "a", &DeleteOptions::default())
        .expect("deleting");
    let DeleteOutcome::Pending(terminating) = outcome else {
        panic!("expected a pending deletion");
    };
    assert!(terminating.is_terminating());
    let value = terminating.value();
    assert_eq!(value["metadata"]["deletionGracePeriodSeconds"], json!(30));
    // Deleting again changes nothing; grace 0 (the kubelet's final delete) removes it.
    let again = store
        .delete_object(ResourceId::Pods, "default", "a", &DeleteOptions::default())
        .expect("still deleting");
    assert_eq!(
        again.object().resource_version(),
        terminating.resource_version()
    );
    let gone = store
        .delete_object(
            ResourceId::Pods,
            "default",
            "a",
            &DeleteOptions {
                grace_period_seconds: Some(0),
                ..DeleteOptions::default()
            },
        )
        .expect("deleted");
    assert!(matches!(gone, DeleteOutcome::Deleted(_)));
    assert!(store.get_object(ResourceId::Pods, "default", "a").is_none());
}

#[test]
fn finalizers_hold_deletion_until_removed() {
    let store = Store::default();
    let mut object = pod("a", json!({}));
    object["metadata"]["finalizers"] = json!(["example.com/hold"]);
    store
        .create_object(ResourceId::Pods, object, WriteOptions::api(false))
        .expect("created");
    let outcome = store
        .delete_object(ResourceId::Pods, "default", "a", &DeleteOptions::default())
        .expect("deleting");
    assert!(matches!(outcome, DeleteOutcome::Pending(_)));
    let mut subscription = store.subscribe();
    store
        .modify_object(
            ResourceId::Pods,
            "default",
            "a",
            Part::Whole,
            WriteOptions::controller(),
            |v| {
                v["metadata"]["finalizers"] = json!([]);
                Ok(())
            },
        )
        .expect("finalizer removed");
    assert!(store.get_object(ResourceId::Pods, "default", "a").is_none());
    let events: Vec<EventType> = std::iter::from_fn(|| subscription.try_next().expect("events"))
        .map(|e| e.event_type)
        .collect();
    assert_eq!(events, [EventType::Modified, EventType::Deleted]);
}

#[test]
fn deleting_a_namespace_deletes_its_objects() {
    let store = Store::default();
    let mut object = pod("a", json!({}));
    object["metadata"]["namespace"] = json!("team");
    store.load_objects(vec![object]);
    store
        .delete_object(
            ResourceId::Namespaces,
            "",
            "team",
            &DeleteOptions::default(),
        )
        .expect("deleted");
    assert!(store.get_object(ResourceId::Pods, "team", "a").is_none());
    assert!(store.get_object(ResourceId::Pods, "default", "a").is_none());
}

/// A toy allocator: the shape of the control plane's ClusterIP allocation hook.
struct Allocator;

impl AdmissionHook for Allocator {
    fn admit(&self, request: AdmissionRequest<'_>) -> Result<(), Vec<FieldCause>> {
        if request.resource != ResourceId::Services {
            return Ok(());
        }
        let taken = request.view.list(ResourceId::Services, None).count();
        let spec = &mut request.object["spec"];
        if spec["clusterIP"].as_str().unwrap_or("").is_empty() {
            let ip = format!("127.96.0.{}", 10 + taken);
            spec["clusterIP"] = json!(ip);
            spec["clusterIPs"] = json!([ip]);
        }
        match spec.pointer("/ports/0/nodePort").and_then(Value::as_i64) {
            Some(port) if !(30000..=32767).contains(&port) => Err(vec![FieldCause::invalid(
                "spec.ports[0].nodePort",
                &json!(port),
                "provided port is not in the valid range. The range of valid ports is 30000-32767",
            )]),
            _ => Ok(()),
        }
    }
}

#[test]
fn admission_hooks_allocate_and_reject() {
    let store = Store::default();
    store.add_admission_hook(Arc::new(Allocator));
    let created = store
        .create_object(
            ResourceId::Services,
            json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}}),
            WriteOptions::api(false),
        )
        .expect("created");
    assert_eq!(created.value()["spec"]["clusterIP"], json!("127.96.0.10"));
    let err = store
        .create_object(
            ResourceId::Services,
            json!({"metadata": {"name": "b"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}}),
            WriteOptions::api(false),
        )
        .expect_err("rejected");
    assert_eq!(
        err.to_string(),
        "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
}

#[test]
fn cluster_snapshot_decodes_every_kind() {
    let store = Store::default();
    store.load_objects(vec![
        pod("a", json!({"app": "x"})),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "default"},
               "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}),
    ]);
    let snapshot = store.cluster_snapshot(7).expect("snapshot");
    assert_eq!(snapshot.generation, 7);
    assert_eq!(snapshot.pods.len(), 1);
    assert_eq!(snapshot.services.len(), 1);
    assert_eq!(snapshot.namespaces.len(), INITIAL_NAMESPACES.len());
}

#[test]
fn continue_tokens_round_trip() {
    let token = ContinueToken {
        resource_version: 42,
        namespace: "default".into(),
        name: "web".into(),
    };
    assert_eq!(ContinueToken::decode(&token.encode()), Some(token));
    assert_eq!(ContinueToken::decode("garbage"), None);
}

fn sprockets(versions: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "sprockets.store.example.com"},
        "spec": {"group": "store.example.com", "scope": "Namespaced",
                 "names": {"plural": "sprockets", "kind": "Sprocket"}, "versions": versions},
    })
}

#[test]
fn custom_resources_follow_their_crd() {
    let store = Store::default();
    store
        .create_object(
            ResourceId::CustomResourceDefinitions,
            sprockets(json!([{"name": "v1", "served": true, "storage": true}])),
            WriteOptions::api(false),
        )
        .expect("CRD created");
    let v1 = store
        .resource_at("store.example.com", "v1", "sprockets")
        .expect("served");
    let sprocket = json!({"apiVersion": "store.example.com/v1", "kind": "Sprocket",
        "metadata": {"name": "s", "namespace": "default"}, "spec": {"teeth": 9}});
    store
        .create_object(v1, sprocket, WriteOptions::api(false))
        .expect("created");
    // A new storage version: the object moves to it, the old version is still served.
    let updated = sprockets(json!([
        {"name": "v1", "served": true, "storage": false},
        {"name": "v2", "served": true, "storage": true},
    ]));
    store
        .modify_object(
            ResourceId::CustomResourceDefinitions,
            "",
            "sprockets.store.example.com",
            Part::Whole,
            WriteOptions::api(false),
            |crd| {
                crd["spec"] = updated["spec"].clone();
                Ok(())
            },
        )
        .expect("CRD updated");
    let v2 = store
        .resource_at("store.example.com", "v2", "sprockets")
        .expect("served");
    assert_eq!(v1.info().storage, v2);
    let moved = store.get_object(v2, "default", "s").expect("moved");
    assert_eq!(moved.value()["apiVersion"], "store.example.com/v2");
    assert_eq!(moved.value()["spec"]["teeth"], 9);
    let crd = store
        .get_object(
            ResourceId::CustomResourceDefinitions,
            "",
            "sprockets.store.example.com",
        )
        .expect("stored")
        .value();
    assert_eq!(crd["status"]["storedVersions"], json!(["v1", "v2"]));
    // Deleting the namespace deletes the custom resources in it; deleting the CRD stops serving.
    store
        .delete_object(
            ResourceId::Namespaces,
            "",
            "default",
            &DeleteOptions::default(),
        )
        .expect("namespace deleted");
    assert!(store.get_object(v2, "default", "s").is_none());
    store
        .delete_object(
            ResourceId::CustomResourceDefinitions,
            "",
            "sprockets.store.example.com",
            &DeleteOptions::default(),
        )
        .expect("CRD deleted");
    assert!(
        store
            .resource_at("store.example.com", "v2", "sprockets")
            .is_none()
    );
    assert!(store.custom_resources().is_empty());
}
