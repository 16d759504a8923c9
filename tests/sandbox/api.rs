//! kube-rs against the sandbox API server, over real sockets on loopback.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use kubehop::sandbox::{PortForwardFault, ResourceId, Sandbox, Verb};
use rstest::rstest;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::fixtures::manifest::{Edit, pod, service, slice, small_world};
use crate::support::sandbox::{scale_to, start, start_with, table_request};
use crate::support::wait::within;

fn api_error(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn names<K: kube::Resource>(items: &[K]) -> Vec<String> {
    items
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn list_pages_with_limit_and_continue_across_many_objects() {
    let (sandbox, client) = start().await;
    let objects = (0..1234)
        .map(|i| {
            pod(&format!("p-{i:04}"), "127.1.0.9", "node-a").labels(json!({"n": i.to_string()}))
        })
        .collect();
    let report = sandbox.store().load_objects(objects);
    assert_eq!(report.loaded, 1234, "{:?}", report.skipped);

    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut seen = Vec::new();
    let mut params = ListParams::default().limit(500);
    let mut pages = 0;
    let mut list_version = None;
    loop {
        let page = pods.list(&params).await.expect("list");
        pages += 1;
        let version = page
            .metadata
            .resource_version
            .clone()
            .expect("list resourceVersion");
        assert!(!version.is_empty());
        list_version.get_or_insert(version.clone());
        assert_eq!(
            list_version.as_deref(),
            Some(version.as_str()),
            "continued pages keep the first page's version"
        );
        seen.extend(names(&page.items));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 1234);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        1234,
        "no duplicates"
    );
    assert_eq!(seen.first().map(String::as_str), Some("p-0000"));
    assert_eq!(seen.last().map(String::as_str), Some("p-1233"));
}

#[tokio::test]
async fn get_returns_objects_and_not_found_statuses() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let web = services.get("web").await.expect("get");
    assert_eq!(
        web.spec.as_ref().and_then(|s| s.type_.as_deref()),
        Some("ClusterIP")
    );
    assert!(web.metadata.uid.is_some());

    let err = api_error(services.get("nope").await.expect_err("missing"));
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "services \"nope\" not found");

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let metadata = pods.get_metadata("web-1").await.expect("metadata");
    assert_eq!(
        metadata
            .metadata
            .labels
            .and_then(|l| l.get("app").cloned())
            .as_deref(),
        Some("web")
    );
    let listed = pods
        .list_metadata(&ListParams::default().labels("app=web"))
        .await
        .expect("metadata list");
    assert_eq!(listed.items.len(), 2);
    assert!(
        listed
            .metadata
            .resource_version
            .is_some_and(|v| !v.is_empty())
    );

    let nodes: Api<Node> = Api::all(client.clone());
    assert_eq!(
        names(
            &nodes
                .list(&ListParams::default())
                .await
                .expect("nodes")
                .items
        ),
        ["node-a", "node-b"]
    );
    let namespaces: Api<Namespace> = Api::all(client);
    let default = namespaces.get("default").await.expect("namespace");
    assert_eq!(
        default.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );
}

#[rstest]
#[case::equality("app=web", "", &["web-1", "web-2"])]
#[case::double_equals("app==db", "", &["db-1"])]
#[case::inequality("app!=web", "", &["db-1"])]
#[case::set_in("app in (db, web),tier", "", &["web-1", "web-2"])]
#[case::set_notin("app notin (web)", "", &["db-1"])]
#[case::exists("tier", "", &["web-1", "web-2"])]
#[case::does_not_exist("!tier", "", &["db-1"])]
#[case::name_field("", "metadata.name=web-2", &["web-2"])]
#[case::namespace_field("", "metadata.namespace=default,metadata.name!=web-1", &["db-1", "web-2"])]
#[case::node_field("app=web", "spec.nodeName=node-b", &["web-2"])]
#[tokio::test]
async fn label_and_field_selectors(
    #[case] labels: &str,
    #[case] fields: &str,
    #[case] expected: &[&str],
) {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let pods: Api<Pod> = Api::all(client);
    let mut params = ListParams::default();
    if !labels.is_empty() {
        params = params.labels(labels);
    }
    if !fields.is_empty() {
        params = params.fields(fields);
    }
    let found = pods.list(&params).await.expect("list");
    assert_eq!(names(&found.items), expected);
}

#[tokio::test]
async fn unsupported_field_selectors_and_bad_label_selectors_are_400() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let pods: Api<Pod> = Api::all(client);
    let err = api_error(
        pods.list(&ListParams::default().fields("spec.foo=bar"))
            .await
            .expect_err("400"),
    );
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    assert_eq!(err.message, "field label not supported: spec.foo");
    let err = api_error(
        pods.list(&ListParams::default().labels("app in (web"))
            .await
            .expect_err("400"),
    );
    assert_eq!(err.code, 400);
}

#[tokio::test]
async fn watcher_sees_create_update_and_delete() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut events = watcher(pods.clone(), watcher::Config::default()).boxed();
    let mut initial = BTreeSet::new();
    within("initial list", async {
        loop {
            match events.try_next().await.expect("watch").expect("open") {
                watcher::Event::InitApply(p) => {
                    initial.insert(p.metadata.name.unwrap_or_default());
                }
                watcher::Event::InitDone => break,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(initial, ["db-1", "web-1", "web-2"].map(String::from).into());

    let new: Pod =
        serde_json::from_value(pod("new", "127.1.0.20", "node-a").labels(json!({"app": "new"})))
            .expect("pod");
    pods.create(&PostParams::default(), &new)
        .await
        .expect("create");
    let added = within("the created pod", async {
        loop {
            if let watcher::Event::Apply(p) = events.try_next().await.expect("watch").expect("open")
            {
                break p;
            }
        }
    })
    .await;
    assert_eq!(added.metadata.name.as_deref(), Some("new"));
    assert_eq!(
        added.status.and_then(|s| s.phase).as_deref(),
        Some("Pending"),
        "API creates start from the initial status"
    );

    pods.patch(
        "new",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"stage": "two"}}})),
    )
    .await
    .expect("patch");
    let updated = within("the updated pod", async {
        loop {
            if let watcher::Event::Apply(p) = events.try_next().await.expect("watch").expect("open")
            {
                break p;
            }
        }
    })
    .await;
    assert_eq!(
        updated
            .metadata
            .labels
            .and_then(|l| l.get("stage").cloned())
            .as_deref(),
        Some("two")
    );

    pods.delete("new", &DeleteParams::default())
        .await
        .expect("delete");
    let deleted = within("the deleted pod", async {
        loop {
            if let watcher::Event::Delete(p) =
                events.try_next().await.expect("watch").expect("open")
            {
                break p;
            }
        }
    })
    .await;
    assert_eq!(deleted.metadata.name.as_deref(), Some("new"));
}

#[tokio::test]
async fn watch_resumes_from_a_resource_version() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let list = pods.list(&ListParams::default()).await.expect("list");
    let version = list.metadata.resource_version.expect("version");
    // Changes after the list: only these may be replayed.
    pods.patch(
        "web-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
    )
    .await
    .expect("patch");
    pods.delete("db-1", &DeleteParams::default())
        .await
        .expect("delete");

    let mut stream = pods
        .watch(&WatchParams::default(), &version)
        .await
        .expect("watch")
        .boxed();
    let mut replayed = Vec::new();
    within("two replayed events", async {
        while replayed.len() < 2 {
            match stream.try_next().await.expect("event").expect("open") {
                WatchEvent::Modified(p) => {
                    replayed.push(format!("MODIFIED {}", p.metadata.name.unwrap_or_default()))
                }
                WatchEvent::Deleted(p) => {
                    replayed.push(format!("DELETED {}", p.metadata.name.unwrap_or_default()))
                }
                WatchEvent::Added(p) => {
                    replayed.push(format!("ADDED {}", p.metadata.name.unwrap_or_default()))
                }
                WatchEvent::Bookmark(_) => {}
                WatchEvent::Error(e) => panic!("unexpected error {e:?}"),
            }
        }
    })
    .await;
    assert_eq!(replayed, ["MODIFIED web-1", "DELETED db-1"]);
}

#[tokio::test]
async fn selector_watches_see_objects_enter_and_leave() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let version = sandbox.store().resource_version().to_string();
    let mut stream = pods
        .watch(&WatchParams::default().labels("app=web"), &version)
        .await
        .expect("watch")
        .boxed();
    let relabel = |app: &'static str| Patch::Merge(json!({"metadata": {"labels": {"app": app}}}));
    pods.patch("web-1", &PatchParams::default(), &relabel("other"))
        .await
        .expect("leave");
    pods.patch("db-1", &PatchParams::default(), &relabel("web"))
        .await
        .expect("enter");
    pods.patch("web-1", &PatchParams::default(), &relabel("other2"))
        .await
        .expect("outside");
    pods.patch(
        "db-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
    )
    .await
    .expect("inside");
    let mut seen = Vec::new();
    within("three selector events", async {
        while seen.len() < 3 {
            match stream.try_next().await.expect("event").expect("open") {
                WatchEvent::Added(p) => {
                    seen.push(format!("ADDED {}", p.metadata.name.unwrap_or_default()))
                }
                WatchEvent::Modified(p) => {
                    seen.push(format!("MODIFIED {}", p.metadata.name.unwrap_or_default()))
                }
                WatchEvent::Deleted(p) => {
                    seen.push(format!("DELETED {}", p.metadata.name.unwrap_or_default()))
                }
                WatchEvent::Bookmark(_) => {}
                WatchEvent::Error(e) => panic!("{e:?}"),
            }
        }
    })
    .await;
    assert_eq!(seen, ["DELETED web-1", "ADDED db-1", "MODIFIED db-1"]);
}

#[tokio::test]
async fn delete_collection_removes_the_selected_objects() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let deleted = pods
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app=web"),
        )
        .await
        .expect("deletecollection");
    let names = deleted
        .left()
        .map(|list| names(&list.items))
        .unwrap_or_default();
    assert_eq!(names, ["web-1", "web-2"]);
    assert_eq!(names_of(&pods).await, ["db-1"]);
}

async fn names_of(pods: &Api<Pod>) -> Vec<String> {
    names(&pods.list(&ListParams::default()).await.expect("list").items)
}

#[tokio::test]
async fn too_old_resource_version_is_an_expired_error_event() {
    let (sandbox, client) = start_with(Sandbox::builder().watch_history(4)).await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let version = pods
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    // More pod events than the pods' replay window holds.
    sandbox.store().load_objects(
        (0..6)
            .map(|i| pod(&format!("p{i}"), "127.1.0.60", "node-a").labels(json!({})))
            .collect(),
    );
    let mut stream = pods
        .watch(&WatchParams::default(), &version)
        .await
        .expect("HTTP 200")
        .boxed();
    let first = within("the error event", stream.try_next())
        .await
        .expect("event")
        .expect("one event");
    match first {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            assert!(
                status
                    .message
                    .starts_with(&format!("too old resource version: {version} ("))
            );
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert!(
        within("the end of the stream", stream.next())
            .await
            .is_none()
    );
}

#[tokio::test]
async fn forced_expiry_makes_the_watcher_relist_and_converge() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    sandbox.faults().expire_next_watch(Some(ResourceId::Pods));
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut events = watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut init_done = 0;
    let mut errors = 0;
    within("a relist after the 410", async {
        while init_done < 2 {
            match events.next().await.expect("open") {
                Ok(watcher::Event::InitDone) => init_done += 1,
                Err(_) => errors += 1,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert_eq!(errors, 1, "the expired watch surfaces once");
    // After relisting, the watcher keeps following changes.
    sandbox
        .store()
        .load_objects(vec![pod("late", "127.1.0.30", "node-a").labels(json!({}))]);
    let late = within("the pod created after the relist", async {
        loop {
            if let Ok(watcher::Event::Apply(p)) = events.next().await.expect("open") {
                break p;
            }
        }
    })
    .await;
    assert_eq!(late.metadata.name.as_deref(), Some("late"));
    let lists = sandbox
        .request_log()
        .entries()
        .iter()
        .filter(|r| r.verb == Verb::List && r.resource.as_deref() == Some("pods"))
        .count();
    assert_eq!(lists, 2);
}

#[tokio::test]
async fn cut_watch_streams_are_resumed_by_the_watcher() {
    let (sandbox, client) = start().await;
    sandbox.faults().cut_watches_after(Some(1));
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut events = watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    within("init", async {
        while !matches!(
            events.next().await.expect("open"),
            Ok(watcher::Event::InitDone)
        ) {}
    })
    .await;
    for i in 0..3 {
        sandbox.store().load_objects(vec![
            pod(&format!("p{i}"), "127.1.0.40", "node-a").labels(json!({})),
        ]);
    }
    let mut applied = BTreeSet::new();
    within("three pods over cut streams", async {
        while applied.len() < 3 {
            if let Ok(watcher::Event::Apply(p)) = events.next().await.expect("open") {
                applied.insert(p.metadata.name.unwrap_or_default());
            }
        }
    })
    .await;
    let watches = sandbox
        .request_log()
        .entries()
        .iter()
        .filter(|r| r.verb == Verb::Watch)
        .count();
    assert!(
        watches >= 3,
        "each cut stream is re-watched ({watches} watches)"
    );
}

#[tokio::test]
async fn bookmarks_carry_the_resource_version() {
    let (sandbox, client) =
        start_with(Sandbox::builder().bookmark_interval(Duration::from_millis(50))).await;
    sandbox.store().load_objects(small_world());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut stream = pods
        .watch(&WatchParams::default(), "0")
        .await
        .expect("watch")
        .boxed();
    let mut added = 0;
    let bookmark = within("a bookmark", async {
        loop {
            match stream.try_next().await.expect("event").expect("open") {
                WatchEvent::Added(_) => added += 1,
                WatchEvent::Bookmark(b) => break b,
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(added, 3, "resourceVersion 0 starts with the current state");
    assert_eq!(bookmark.types.kind, "Pod");
    assert_eq!(bookmark.types.api_version, "v1");
    assert_eq!(
        bookmark.metadata.resource_version,
        sandbox.store().resource_version().to_string()
    );
}

#[tokio::test]
async fn streaming_lists_end_with_the_initial_events_bookmark() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut stream = pods
        .watch(&WatchParams::streaming_lists(), "")
        .await
        .expect("watch")
        .boxed();
    let mut added = 0;
    let bookmark = within("the initial-events-end bookmark", async {
        loop {
            match stream.try_next().await.expect("event").expect("open") {
                WatchEvent::Added(_) => added += 1,
                WatchEvent::Bookmark(b) => break b,
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(added, 3);
    assert_eq!(
        bookmark
            .metadata
            .annotations
            .get("k8s.io/initial-events-end")
            .map(String::as_str),
        Some("true")
    );
    // kube-runtime's streaming-list watcher converges on the same objects.
    let mut events = watcher(pods, watcher::Config::default().streaming_lists()).boxed();
    let mut initial = 0;
    within("streaming list init", async {
        loop {
            match events.try_next().await.expect("watch").expect("open") {
                watcher::Event::InitApply(_) => initial += 1,
                watcher::Event::InitDone => break,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(initial, 3);
}

#[tokio::test]
async fn watch_timeout_seconds_is_honoured() {
    let (_sandbox, client) = start().await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut stream = pods
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .expect("watch")
        .boxed();
    let mut last = None;
    within("the watch to end at its timeout", async {
        while let Some(event) = stream.try_next().await.expect("event") {
            last = Some(event);
        }
    })
    .await;
    assert!(
        matches!(last, Some(WatchEvent::Bookmark(_))),
        "a bookmark closes a timed-out watch"
    );
}

#[tokio::test]
async fn writes_create_update_patch_and_delete() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let mut created = services
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                service("default", "api", 80)
                    .cluster_ip("")
                    .port("metrics", 9090, None),
            )
            .expect("svc"),
        )
        .await
        .expect("create");
    let spec = created.spec.clone().expect("spec");
    assert_eq!(
        spec.ports.as_ref().map(|p| p[1].target_port.clone()),
        Some(Some(
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9090)
        )),
        "targetPort defaults to port"
    );
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    assert_eq!(spec.ip_families, Some(vec!["IPv4".to_string()]));

    // Already exists.
    let err = api_error(
        services
            .create(&PostParams::default(), &created)
            .await
            .expect_err("409"),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));

    // Update, then a stale update conflicts.
    let stale = created.clone();
    created.metadata.labels = Some([("team".to_string(), "a".to_string())].into());
    let updated = services
        .replace("api", &PostParams::default(), &created)
        .await
        .expect("replace");
    assert_ne!(
        updated.metadata.resource_version,
        stale.metadata.resource_version
    );
    let err = api_error(
        services
            .replace("api", &PostParams::default(), &stale)
            .await
            .expect_err("conflict"),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );

    // Strategic merge: ports merge by port number.
    let patched = services
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"ports": [{"port": 80, "targetPort": 8081}]}})),
        )
        .await
        .expect("strategic patch");
    let ports = patched.spec.and_then(|s| s.ports).expect("ports");
    assert_eq!(ports.len(), 2);
    assert_eq!(
        ports[0].target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8081))
    );
    assert_eq!(ports[1].name.as_deref(), Some("metrics"));

    // JSON merge patch: lists are replaced, null deletes.
    let patched = services
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": null, "tier": "x"}}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(
        patched.metadata.labels,
        Some([("tier".to_string(), "x".to_string())].into())
    );

    // JSON patch.
    let operations: json_patch::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/ports/1/port", "value": 9091}
    ]))
    .expect("patch");
    let patched = services
        .patch(
            "api",
            &PatchParams::default(),
            &Patch::Json::<()>(operations),
        )
        .await
        .expect("json patch");
    assert_eq!(
        patched.spec.and_then(|s| s.ports).map(|p| p[1].port),
        Some(9091)
    );

    // Dry run changes nothing.
    let before = sandbox.store().resource_version();
    services
        .patch(
            "api",
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"metadata": {"labels": {"dry": "run"}}})),
        )
        .await
        .expect("dry-run patch");
    assert_eq!(sandbox.store().resource_version(), before);

    services
        .delete("api", &DeleteParams::default())
        .await
        .expect("delete");
    let err = api_error(services.get("api").await.expect_err("gone"));
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn deployments_scale_through_the_scale_subresource_and_rollout_restart_patches() {
    let (_sandbox, client) = start().await;
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}}
    }))
    .expect("deployment");
    let created = deployments
        .create(&PostParams::default(), &deployment)
        .await
        .expect("create");
    assert_eq!(created.spec.replicas, Some(1));
    assert_eq!(created.metadata.generation, Some(1));

    let scale = deployments.get_scale("web").await.expect("scale");
    assert_eq!(
        scale.status.and_then(|s| s.selector).as_deref(),
        Some("app=web")
    );
    let scaled = scale_to(&deployments, "web", 4).await.expect("patch scale");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(4));
    let current = deployments.get("web").await.expect("get");
    assert_eq!(current.spec.replicas, Some(4));
    assert_eq!(
        current.metadata.generation,
        Some(2),
        "a spec change bumps the generation"
    );

    let err = api_error(
        scale_to(&deployments, "web", -1)
            .await
            .expect_err("negative"),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));

    // What `kubectl rollout restart` sends.
    let restarted = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}}}})),
        )
        .await
        .expect("restart");
    let template = restarted.spec.template;
    assert!(
        template
            .metadata
            .and_then(|m| m.annotations)
            .is_some_and(|a| a.contains_key("kubectl.kubernetes.io/restartedAt"))
    );
    assert_eq!(
        template.spec.map(|s| s.containers.len()),
        Some(1),
        "containers kept"
    );
}

#[tokio::test]
async fn status_subresource_is_separate_from_the_object() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    // A main-resource patch cannot change status...
    let patched = pods
        .patch(
            "web-1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Failed"}, "metadata": {"labels": {"p": "1"}}}),
            ),
        )
        .await
        .expect("patch");
    assert_eq!(
        patched.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Running")
    );
    // ...the status subresource can, and only status.
    let patched = pods
        .patch_status(
            "web-1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Failed"}, "metadata": {"labels": {"s": "1"}}}),
            ),
        )
        .await
        .expect("patch status");
    assert_eq!(
        patched.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Failed")
    );
    let labels = patched.metadata.labels.expect("labels");
    assert!(labels.contains_key("p") && !labels.contains_key("s"));
}

#[tokio::test]
async fn invalid_objects_are_422_and_bad_bodies_400() {
    let (_sandbox, client) = start().await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let bad: Service = serde_json::from_value(
        json!({"metadata": {"name": "Bad_Name"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .expect("svc");
    let err = api_error(
        services
            .create(&PostParams::default(), &bad)
            .await
            .expect_err("422"),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(err.message.starts_with("Service \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a DNS-1035 label"), "{}", err.message);
    let causes = err.details.expect("details").causes;
    assert_eq!(causes[0].field, "metadata.name");
    assert_eq!(causes[0].reason, "FieldValueInvalid");

    let request = http::Request::post("/api/v1/namespaces/default/services")
        .header("content-type", "application/json")
        .body(b"{not json".to_vec())
        .expect("request");
    let err = api_error(client.request_text(request).await.expect_err("400"));
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));

    let request = http::Request::post("/api/v1/namespaces/default/services")
        .header("content-type", "application/json")
        .body(br#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": "eighty"}}"#.to_vec())
        .expect("request");
    let err = api_error(client.request_text(request).await.expect_err("400"));
    assert_eq!(err.code, 400);
    assert!(
        err.message
            .starts_with("Service in version \"v1\" cannot be handled as a Service"),
        "{}",
        err.message
    );

    let request = http::Request::post("/api/v1/namespaces/nowhere/services")
        .header("content-type", "application/json")
        .body(br#"{"metadata": {"name": "x"}, "spec": {"ports": [{"port": 1}]}}"#.to_vec())
        .expect("request");
    let err = api_error(client.request_text(request).await.expect_err("404"));
    assert_eq!(
        (err.code, err.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
}

#[rstest]
#[case::unknown_group("GET", "/apis/example.com/v1/widgets", "", 404, "NotFound")]
#[case::unknown_resource("GET", "/api/v1/widgets", "", 404, "NotFound")]
#[case::unknown_subresource(
    "GET",
    "/api/v1/namespaces/default/pods/web-1/attach",
    "",
    404,
    "NotFound"
)]
#[case::exec_without_a_command(
    "GET",
    "/api/v1/namespaces/default/pods/web-1/exec",
    "",
    400,
    "BadRequest"
)]
#[case::log_of_a_missing_pod(
    "GET",
    "/api/v1/namespaces/default/pods/nope/log",
    "",
    404,
    "NotFound"
)]
#[case::put_on_collection(
    "PUT",
    "/api/v1/namespaces/default/pods",
    "{}",
    405,
    "MethodNotAllowed"
)]
#[case::write_derived_endpoints(
    "POST",
    "/api/v1/namespaces/default/endpoints",
    r#"{"metadata":{"name":"x"}}"#,
    405,
    "MethodNotAllowed"
)]
#[case::unknown_patch_type(
    "PATCH",
    "/api/v1/namespaces/default/pods/web-1",
    "{}",
    415,
    "UnsupportedMediaType"
)]
#[case::protobuf_without_kind("POST", "/api/v1/namespaces", "k8s\0", 400, "BadRequest")]
#[case::unknown_body_format("POST", "/api/v1/namespaces", "{}", 415, "UnsupportedMediaType")]
#[case::bad_resource_version("GET", "/api/v1/pods?resourceVersion=abc", "", 400, "BadRequest")]
#[case::future_resource_version("GET", "/api/v1/pods?resourceVersion=99999999", "", 504, "Timeout")]
#[case::future_watch_version(
    "GET",
    "/api/v1/pods?watch=true&resourceVersion=99999999",
    "",
    504,
    "Timeout"
)]
#[case::bad_continue("GET", "/api/v1/pods?limit=1&continue=garbage", "", 400, "BadRequest")]
#[tokio::test]
async fn bad_requests_get_status_errors(
    #[case] method: &str,
    #[case] path: &str,
    #[case] body: &str,
    #[case] code: u16,
    #[case] reason: &str,
) {
    let (sandbox, _) = start().await;
    sandbox.store().load_objects(small_world());
    // kube-rs retries 504s by itself; this test wants to see the first answer.
    let mut config = sandbox.config().await.expect("config");
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("client");
    let content_type = if body.starts_with("k8s") {
        "application/vnd.kubernetes.protobuf"
    } else {
        "text/plain"
    };
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(body.as_bytes().to_vec())
        .expect("request");
    let err = api_error(
        client
            .request_text(request)
            .await
            .expect_err("error status"),
    );
    assert_eq!(
        (err.code, err.reason.as_str()),
        (code, reason),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn requests_without_the_token_are_401() {
    let (sandbox, _client) = start().await;
    let path = std::env::temp_dir().join(format!(
        "kubehop-sandbox-test-{}-wrong-token",
        std::process::id()
    ));
    kubehop::sandbox::kubeconfig::write(&path, sandbox.url(), sandbox.ca_pem(), "not-the-token")
        .expect("kubeconfig");
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).expect("read");
    let _ = std::fs::remove_file(&path);
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(config).expect("client");
    let pods: Api<Pod> = Api::all(client);
    let err = api_error(pods.list(&ListParams::default()).await.expect_err("401"));
    assert_eq!((err.code, err.reason.as_str()), (401, "Unauthorized"));
}

#[tokio::test]
async fn forbidden_resources_are_403_until_allowed() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    sandbox.faults().forbid("nodes");
    let nodes: Api<Node> = Api::all(client.clone());
    let err = api_error(nodes.list(&ListParams::default()).await.expect_err("403"));
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        err.message,
        "nodes is forbidden: User \"kubehop-sandbox\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
    );
    let err = api_error(nodes.get("node-a").await.expect_err("403"));
    assert_eq!(err.code, 403);
    // Other resources are unaffected.
    let pods: Api<Pod> = Api::all(client);
    assert_eq!(
        pods.list(&ListParams::default())
            .await
            .expect("pods")
            .items
            .len(),
        3
    );
    sandbox.faults().allow("nodes");
    assert_eq!(
        nodes
            .list(&ListParams::default())
            .await
            .expect("nodes")
            .items
            .len(),
        2
    );
}

#[tokio::test]
async fn portforward_bridges_to_the_pod_listener() {
    let (sandbox, client) = start().await;
    // The pod's "container": an echo server on a loopback address used as its pod IP.
    let listener = tokio::net::TcpListener::bind("127.0.0.7:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut connection, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = connection.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
            });
        }
    });
    let mut echo = pod("echo", "127.0.0.7", "node-a").labels(json!({"app": "echo"}));
    echo["spec"]["containers"][0]["ports"] = json!([{"containerPort": port}]);
    sandbox.store().load_objects(vec![echo]);

    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut forwarder = pods.portforward("echo", &[port]).await.expect("upgrade");
    let mut stream = forwarder.take_stream(port).expect("stream");
    within("an echo round trip", async {
        stream
            .write_all(b"hello through the sandbox")
            .await
            .expect("write");
        let mut buffer = [0u8; 25];
        stream.read_exact(&mut buffer).await.expect("read");
        assert_eq!(&buffer, b"hello through the sandbox");
    })
    .await;
    drop(stream);
    within("the forwarder to finish", forwarder.join())
        .await
        .expect("clean close");

    let log = sandbox.request_log().entries();
    let record = log
        .iter()
        .find(|r| r.verb == Verb::PortForward)
        .expect("logged");
    assert_eq!(record.status, 101);
    assert_eq!(
        record.query.trim_start_matches('&'),
        format!("ports={port}")
    );
}

#[tokio::test]
async fn portforward_refuses_addresses_outside_loopback_and_faults() {
    let (sandbox, client) = start().await;
    sandbox
        .store()
        .load_objects(vec![pod("remote", "10.1.2.3", "node-a").labels(json!({}))]);
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut forwarder = pods.portforward("remote", &[8080]).await.expect("upgrade");
    let error = within(
        "the error channel",
        forwarder.take_error(8080).expect("error future"),
    )
    .await;
    let message = error.expect("an error message");
    assert!(
        message.contains("only connects inside 127.0.0.0/8"),
        "{message}"
    );

    sandbox
        .faults()
        .fail_portforward(Some(PortForwardFault::ErrorChannel(
            "injected failure".into(),
        )));
    let mut forwarder = pods.portforward("remote", &[8080]).await.expect("upgrade");
    let error = within(
        "the injected error",
        forwarder.take_error(8080).expect("error future"),
    )
    .await;
    assert_eq!(error.as_deref(), Some("injected failure"));

    sandbox
        .faults()
        .fail_portforward(Some(PortForwardFault::RejectUpgrade(
            "no tunnels today".into(),
        )));
    let err = pods
        .portforward("remote", &[8080])
        .await
        .err()
        .expect("rejected");
    let status = api_error(err);
    assert_eq!(
        (status.code, status.message.as_str()),
        (500, "no tunnels today")
    );

    sandbox.faults().fail_portforward(None);
    let err = api_error(
        pods.portforward("missing", &[8080])
            .await
            .err()
            .expect("404"),
    );
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn the_request_log_shows_that_readers_only_read() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let services: Api<Service> = Api::all(client.clone());
    services.list(&ListParams::default()).await.expect("list");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    slices.get("web-abcde").await.expect("get");
    assert!(sandbox.request_log().writes().is_empty());

    let entries = sandbox.request_log().entries();
    let list = entries
        .iter()
        .find(|r| r.verb == Verb::List)
        .expect("a list");
    assert_eq!(list.method, "GET");
    assert_eq!(list.path, "/api/v1/services");
    assert_eq!(list.resource.as_deref(), Some("services"));
    assert_eq!(list.namespace, None);
    assert_eq!(list.status, 200);
    let get = entries.iter().find(|r| r.verb == Verb::Get).expect("a get");
    assert_eq!(
        get.path,
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-abcde"
    );
    assert_eq!(
        (get.namespace.as_deref(), get.name.as_deref()),
        (Some("default"), Some("web-abcde"))
    );

    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.delete("db-1", &DeleteParams::default())
        .await
        .expect("delete");
    let writes = sandbox.request_log().writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].verb, writes[0].name.as_deref()),
        (Verb::Delete, Some("db-1"))
    );
}

#[tokio::test]
async fn endpoints_are_derived_from_endpoint_slices() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let web = endpoints.get("web").await.expect("derived");
    let subset = &web.subsets.expect("subsets")[0];
    assert_eq!(
        subset.addresses.as_ref().map(|a| a[0].ip.as_str()),
        Some("127.1.0.2")
    );
    assert_eq!(subset.ports.as_ref().map(|p| p[0].port), Some(8080));

    // A new slice shows up in the Endpoints.
    let slices: Api<EndpointSlice> = Api::namespaced(client, "default");
    let extra: EndpointSlice =
        serde_json::from_value(slice("web", "web-fghij", "127.1.0.3", "node-b")).expect("slice");
    slices
        .create(&PostParams::default(), &extra)
        .await
        .expect("create slice");
    let web = endpoints.get("web").await.expect("derived");
    let addresses: Vec<String> = web.subsets.expect("subsets")[0]
        .addresses
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.ip)
        .collect();
    assert_eq!(addresses, ["127.1.0.2", "127.1.0.3"]);
}

#[tokio::test]
async fn kubectl_tables_have_the_usual_columns() {
    let (sandbox, client) = start().await;
    sandbox.store().load_objects(small_world());
    let request = table_request("/api/v1/namespaces/default/services");
    let table: Value = client.request(request).await.expect("table");
    insta::assert_json_snapshot!("services_table", table, {
        ".metadata.resourceVersion" => "[rv]",
        ".rows[].cells[5]" => "[age]",
        ".rows[].object.metadata.uid" => "[uid]",
        ".rows[].object.metadata.creationTimestamp" => "[time]",
        ".rows[].object.metadata.resourceVersion" => "[rv]",
    });
}

#[tokio::test]
async fn the_listener_restarts_on_the_same_port_and_watchers_reconnect() {
    let (sandbox, client) = start().await;
    let port = sandbox.addr().port();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let mut events = watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    within("init", async {
        while !matches!(
            events.next().await.expect("open"),
            Ok(watcher::Event::InitDone)
        ) {}
    })
    .await;
    sandbox.stop_listener().await;
    sandbox.restart_listener().await.expect("restart");
    assert_eq!(sandbox.addr().port(), port);
    sandbox.store().load_objects(vec![
        pod("after-restart", "127.1.0.50", "node-a").labels(json!({})),
    ]);
    let seen = within("the pod created after the restart", async {
        loop {
            if let Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) =
                events.next().await.expect("open")
            {
                break p;
            }
        }
    })
    .await;
    assert_eq!(seen.metadata.name.as_deref(), Some("after-restart"));
}

#[tokio::test]
async fn latency_is_added_to_responses() {
    let (sandbox, client) = start().await;
    sandbox.faults().set_latency(Duration::from_millis(300));
    let pods: Api<Pod> = Api::all(client);
    // No timing assertion: a request still succeeds, and a client timeout shorter than the
    // latency fails.
    pods.list(&ListParams::default()).await.expect("slow list");
    let quick =
        tokio::time::timeout(Duration::from_millis(20), pods.list(&ListParams::default())).await;
    assert!(quick.is_err(), "the injected latency delays the answer");
}

#[rstest]
#[case("0.0.0.0:0")]
#[case("10.1.2.3:6443")]
#[case("[::1]:0")]
#[tokio::test]
async fn the_sandbox_listens_only_inside_loopback(#[case] addr: &str) {
    let result = Sandbox::builder()
        .listen(addr.parse().expect("socket address"))
        .start()
        .await;
    let err = result.expect_err("refused before binding");
    assert!(
        err.to_string().contains("only listens inside 127.0.0.0/8"),
        "{err}"
    );
}

#[tokio::test]
async fn the_kubeconfig_names_the_sandbox_and_is_private() {
    let (sandbox, _client) = start().await;
    let text = std::fs::read_to_string(sandbox.kubeconfig_path()).expect("kubeconfig");
    assert!(text.contains(&format!("server: \"{}\"", sandbox.url())));
    assert!(text.contains("current-context: kubehop-sandbox"));
    assert!(text.contains("namespace: default"));
    assert!(sandbox.url().starts_with("https://127.0.0.1:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sandbox.kubeconfig_path())
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the token is readable by its owner only");
        let folder = sandbox.kubeconfig_path().parent().expect("a folder");
        let mode = std::fs::symlink_metadata(folder)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "a private folder of its own");
    }
    let path = sandbox.kubeconfig_path().to_path_buf();
    sandbox.shutdown().await;
    assert!(
        !path.exists(),
        "a temporary kubeconfig is removed on shutdown"
    );
}
