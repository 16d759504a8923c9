//! Every kind: a multi-kind manifest (built-in kinds of many groups, a CRD and its custom
//! resources) through plain `kubectl apply -f`, `kubectl get` of each kind and of `all`,
//! printer columns of a custom resource, `kubectl explain` from the OpenAPI the sandbox
//! derives from k8s-openapi, unknown kinds answered as a real cluster answers them, and custom
//! resources served generically to kube-rs (watch, patches, subresources, selectors).

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::core::GroupVersionKind;
use kube::runtime::watcher;
use serde_json::json;

use crate::kubectl::{Harness, rows};
use crate::support::sandbox::{start, test_client};
use crate::support::wait::within;

/// A CRD with printer columns, status and scale subresources.
const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.kinds.example.com
spec:
  group: kinds.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.size, statusReplicasPath: .status.size}
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              color: {type: string, description: The color of the widget.}
              size: {type: integer}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#;

/// Objects of many groups; the CRD's custom resources come right after it.
const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: kinds-demo}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: shop-sa, namespace: kinds-demo}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: shop-config, namespace: kinds-demo}
data: {mode: demo}
---
apiVersion: v1
kind: Secret
metadata: {name: shop-secret, namespace: kinds-demo}
stringData: {password: not-a-real-one}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: kinds-demo}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: kinds-demo}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects:
- {kind: ServiceAccount, name: shop-sa, namespace: kinds-demo}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: shop-watcher}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [watch]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: kinds-demo}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: shop-pdb, namespace: kinds-demo}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: shop}}
---
CRD
---
apiVersion: kinds.example.com/v1
kind: Widget
metadata: {name: red, namespace: kinds-demo}
spec: {color: red, size: 3}
---
apiVersion: kinds.example.com/v1
kind: Widget
metadata: {name: blue, namespace: kinds-demo}
spec: {color: blue, size: 5}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.kinds.example.com}
spec:
  group: metrics.kinds.example.com
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {name: metrics, namespace: kinds-demo}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: shop-webhook}
webhooks:
- name: check.kinds.example.com
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig:
    service: {name: webhook, namespace: kinds-demo}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: shop, namespace: kinds-demo}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: shop}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: kinds-demo}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: job, image: busybox:1}]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: shop-leader, namespace: kinds-demo}
spec: {holderIdentity: shop-0}
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: shop-high}
value: 1000
"#;

/// (resource for `kubectl get`, namespaced, the object's line in `kubectl apply`'s output).
const APPLIED: &[(&str, bool, &str)] = &[
    ("namespaces", false, "namespace/kinds-demo"),
    ("serviceaccounts", true, "serviceaccount/shop-sa"),
    ("configmaps", true, "configmap/shop-config"),
    ("secrets", true, "secret/shop-secret"),
    ("roles", true, "role.rbac.authorization.k8s.io/reader"),
    (
        "rolebindings",
        true,
        "rolebinding.rbac.authorization.k8s.io/reader",
    ),
    (
        "clusterroles",
        false,
        "clusterrole.rbac.authorization.k8s.io/shop-watcher",
    ),
    (
        "networkpolicies",
        true,
        "networkpolicy.networking.k8s.io/deny-all",
    ),
    (
        "poddisruptionbudgets",
        true,
        "poddisruptionbudget.policy/shop-pdb",
    ),
    (
        "customresourcedefinitions",
        false,
        "customresourcedefinition.apiextensions.k8s.io/widgets.kinds.example.com",
    ),
    (
        "apiservices",
        false,
        "apiservice.apiregistration.k8s.io/v1beta1.metrics.kinds.example.com",
    ),
    (
        "validatingwebhookconfigurations",
        false,
        "validatingwebhookconfiguration.admissionregistration.k8s.io/shop-webhook",
    ),
    (
        "horizontalpodautoscalers",
        true,
        "horizontalpodautoscaler.autoscaling/shop",
    ),
    ("cronjobs", true, "cronjob.batch/nightly"),
    ("leases", true, "lease.coordination.k8s.io/shop-leader"),
    (
        "priorityclasses",
        false,
        "priorityclass.scheduling.k8s.io/shop-high",
    ),
];

fn manifest() -> String {
    MANIFEST.replace("\nCRD\n", CRD)
}

#[tokio::test]
async fn a_multi_kind_manifest_with_a_crd_applies_like_on_a_real_cluster() {
    let Some(h) = Harness::start("kinds-apply").await else {
        return;
    };
    let path = h.write("app.yaml", &manifest());
    let file = path.to_str().expect("utf-8");
    // First apply: kubectl maps every object before it applies any, so the custom resources
    // of a CRD in the same file are not known yet (as on a real cluster): they fail with
    // `no matches for kind`, everything else is created.
    let (success, stdout, stderr) = h.run(&["apply", "-f", file]).await;
    assert!(!success, "{stdout}\n{stderr}");
    for (_, _, line) in APPLIED {
        assert!(
            rows(&stdout).contains(&format!("{line} created")),
            "{line} in:\n{stdout}\n{stderr}"
        );
    }
    assert!(
        stderr.contains(r#"no matches for kind "Widget" in version "kinds.example.com/v1""#),
        "{stderr}"
    );
    // Second apply: the CRD is established, so its objects are created; the rest is unchanged.
    let stdout = h.ok(&["apply", "-f", file]).await;
    let lines = rows(&stdout);
    for widget in ["red", "blue"] {
        assert!(
            lines.contains(&format!("widget.kinds.example.com/{widget} created")),
            "{stdout}"
        );
    }
    assert!(
        lines.contains(&"configmap/shop-config unchanged".to_string()),
        "{stdout}"
    );

    // Every kind is listed by `kubectl get`, and stored as the API server stores it.
    for (resource, namespaced, line) in APPLIED {
        let name = line.rsplit('/').next().expect("name");
        let mut args = vec!["get", resource, "-o", "name"];
        if *namespaced {
            args.extend(["-n", "kinds-demo"]);
        }
        let out = h.ok(&args).await;
        assert!(
            out.lines().any(|l| l.ends_with(&format!("/{name}"))),
            "{resource}: {out}"
        );
    }
    let secret: Secret = h
        .sandbox
        .store()
        .get("kinds-demo", "shop-secret")
        .expect("decodes")
        .expect("stored");
    assert_eq!(secret.type_.as_deref(), Some("Opaque"));
    assert!(secret.data.is_some_and(|d| d.contains_key("password")));

    // Printer columns of the custom resource, by its short name.
    let out = h.ok(&["get", "wdg", "-n", "kinds-demo"]).await;
    assert_eq!(
        rows(&out),
        ["NAME COLOR SIZE", "blue blue 5", "red red 3"],
        "{out}"
    );
    let crd: CustomResourceDefinition = h
        .sandbox
        .store()
        .get("", "widgets.kinds.example.com")
        .expect("decodes")
        .expect("stored");
    let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    for kind in ["NamesAccepted", "Established"] {
        assert!(
            conditions
                .iter()
                .any(|c| c.type_ == kind && c.status == "True"),
            "{kind}: {conditions:?}"
        );
    }

    // `kubectl get all -A`: the small world's workloads and the new kinds in `all`.
    let all = h.ok(&["get", "all", "-A"]).await;
    for expected in [
        "pod/web-1",
        "service/web",
        "cronjob.batch/nightly",
        "horizontalpodautoscaler.autoscaling/shop",
    ] {
        assert!(all.contains(expected), "{expected} in:\n{all}");
    }
    assert!(!all.contains("configmap/"), "{all}");

    // Deleting the CRD deletes its objects.
    h.ok(&["delete", "crd", "widgets.kinds.example.com"]).await;
    let (success, _, stderr) = h.run(&["get", "widgets", "-A"]).await;
    assert!(!success, "{stderr}");
    assert!(h.sandbox.store().custom_resources().is_empty());
}

#[tokio::test]
async fn an_unknown_kind_fails_alone_and_the_rest_is_applied() {
    let Some(h) = Harness::start("kinds-unknown").await else {
        return;
    };
    let path = h.write(
        "mixed.yaml",
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: before}
---
apiVersion: example.com/v1
kind: Gizmo
metadata: {name: mystery}
spec: {}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: after}
"#,
    );
    let (success, stdout, stderr) = h.run(&["apply", "-f", path.to_str().expect("utf-8")]).await;
    assert!(!success);
    assert_eq!(
        rows(&stdout),
        ["configmap/before created", "configmap/after created"],
        "{stderr}"
    );
    assert!(
        stderr.contains(r#"no matches for kind "Gizmo" in version "example.com/v1""#),
        "{stderr}"
    );
    for name in ["before", "after"] {
        let stored: Option<ConfigMap> = h.sandbox.store().get("default", name).expect("decodes");
        assert!(stored.is_some(), "{name}");
    }
}

#[tokio::test]
async fn explain_prints_the_field_documentation() {
    let Some(h) = Harness::start("kinds-explain").await else {
        return;
    };
    let out = h.ok(&["explain", "service"]).await;
    assert!(out.contains("KIND:       Service"), "{out}");
    assert!(
        out.contains("Service is a named abstraction of software service"),
        "{out}"
    );
    assert!(out.contains("spec\t<ServiceSpec>"), "{out}");
    let out = h.ok(&["explain", "deployment.spec.replicas"]).await;
    assert!(out.contains("FIELD: replicas <integer>"), "{out}");
    assert!(out.contains("Number of desired pods."), "{out}");

    // A custom resource's fields come from its CRD's schema.
    let crd = h.write("crd.yaml", CRD);
    h.ok(&["apply", "-f", crd.to_str().expect("utf-8")]).await;
    let out = h.ok(&["explain", "widget.spec.color"]).await;
    assert!(out.contains("The color of the widget."), "{out}");
}

/// The Widget resource, as kube-rs addresses it.
fn widgets(client: kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("kinds.example.com", "v1", "Widget");
    Api::namespaced_with(client, "default", &ApiResource::from_gvk(&gvk))
}

fn widget(name: &str, color: &str, size: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "kinds.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "labels": {"color": color}},
        "spec": {"color": color, "size": size},
    }))
    .expect("a widget")
}

#[tokio::test]
async fn custom_resources_are_served_generically_to_kube_rs() {
    let (sandbox, client) = start().await;
    let crd: CustomResourceDefinition = serde_saphyr::from_str(CRD).expect("the CRD parses");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("the CRD is created");
    let api = widgets(test_client(&sandbox).await);

    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    within("the watch to start", async {
        while !matches!(
            events.try_next().await.expect("watch").expect("open"),
            watcher::Event::InitDone
        ) {}
    })
    .await;
    api.create(&PostParams::default(), &widget("red", "red", 3))
        .await
        .expect("created");
    within("the watch to see the widget", async {
        loop {
            if let watcher::Event::Apply(seen) =
                events.try_next().await.expect("watch").expect("open")
            {
                assert_eq!(seen.metadata.name.as_deref(), Some("red"));
                break;
            }
        }
    })
    .await;
    api.create(&PostParams::default(), &widget("blue", "blue", 5))
        .await
        .expect("created");

    // Update (PUT); a spec change bumps the generation.
    let mut blue = api.get("blue").await.expect("read");
    blue.data["spec"]["size"] = json!(6);
    let replaced = api
        .replace("blue", &PostParams::default(), &blue)
        .await
        .expect("replaced");
    assert_eq!(replaced.data["spec"]["size"], 6);
    assert_eq!(replaced.metadata.generation, Some(2));

    // Merge and JSON patches; /status and /scale subresources.
    let patched = api
        .patch(
            "red",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 4}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(patched.data["spec"]["size"], 4);
    let patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/color", "value": "pink"}]))
            .expect("patch");
    let patched = api
        .patch("red", &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
        .expect("json patch");
    assert_eq!(patched.data["spec"]["color"], "pink");
    let status = api
        .patch_status(
            "red",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"size": 4}})),
        )
        .await
        .expect("status patch");
    assert_eq!(status.data["status"]["size"], 4);
    let scale = api.get_scale("red").await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(4));
    assert_eq!(scale.status.map(|s| s.replicas), Some(4));

    // Label and field selectors.
    let blue = api
        .list(&ListParams::default().labels("color=blue"))
        .await
        .expect("list");
    assert_eq!(blue.items.len(), 1);
    let named = api
        .list(&ListParams::default().fields("metadata.name=red"))
        .await
        .expect("list");
    assert_eq!(named.items[0].data["spec"]["color"], "pink");

    // Delete one (the watch sees it), then the collection.
    api.delete("red", &DeleteParams::default())
        .await
        .expect("deleted");
    within("the watch to see the deletion", async {
        loop {
            if let watcher::Event::Delete(gone) =
                events.try_next().await.expect("watch").expect("open")
            {
                assert_eq!(gone.metadata.name.as_deref(), Some("red"));
                break;
            }
        }
    })
    .await;
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .expect("deletecollection");
    assert!(
        api.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn every_served_version_of_a_crd_shows_the_same_objects() {
    let (sandbox, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let definition = |versions: serde_json::Value| -> CustomResourceDefinition {
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "gears.kinds.example.com"},
            "spec": {
                "group": "kinds.example.com",
                "scope": "Cluster",
                "names": {"plural": "gears", "kind": "Gear"},
                "versions": versions,
            },
        }))
        .expect("a CRD")
    };
    // A definition that serves nothing is refused.
    let err = crds
        .create(
            &PostParams::default(),
            &definition(json!([{"name": "v1", "served": false, "storage": true}])),
        )
        .await
        .expect_err("422");
    assert!(
        matches!(err, kube::Error::Api(ref status) if status.code == 422),
        "{err}"
    );
    crds.create(
        &PostParams::default(),
        &definition(json!([
            {"name": "v1alpha1", "served": true, "storage": false},
            {"name": "v1", "served": true, "storage": true},
        ])),
    )
    .await
    .expect("created");
    let api = |version: &str| -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk("kinds.example.com", version, "Gear");
        Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk))
    };
    let old: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kinds.example.com/v1alpha1", "kind": "Gear",
        "metadata": {"name": "cog"}, "spec": {"teeth": 12},
    }))
    .expect("a gear");
    api("v1alpha1")
        .create(&PostParams::default(), &old)
        .await
        .expect("created through v1alpha1");
    let current = api("v1").get("cog").await.expect("read through v1");
    assert_eq!(
        current.types.map(|t| t.api_version).as_deref(),
        Some("kinds.example.com/v1")
    );
    assert_eq!(current.data["spec"]["teeth"], 12);
    let listed = api("v1alpha1")
        .list(&ListParams::default())
        .await
        .expect("list");
    assert_eq!(
        listed.items[0]
            .types
            .as_ref()
            .map(|t| t.api_version.as_str()),
        Some("kinds.example.com/v1alpha1")
    );
    // Both versions are in discovery, the GA one preferred.
    let group = kube::discovery::group(&test_client(&sandbox).await, "kinds.example.com")
        .await
        .expect("discovered");
    assert_eq!(group.versions().collect::<Vec<_>>(), ["v1", "v1alpha1"]);
}

#[tokio::test]
async fn core_and_events_k8s_io_events_are_the_same_objects() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event;
    let (_sandbox, client) = start().await;
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), "default");
    let event: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "web-1.started"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"},
        "reason": "Started", "message": "Started container web", "type": "Normal",
    }))
    .expect("an event");
    core.create(&PostParams::default(), &event)
        .await
        .expect("created");
    let events: Api<Event> = Api::namespaced(client, "default");
    let seen = events
        .get("web-1.started")
        .await
        .expect("read as events.k8s.io/v1");
    assert_eq!(seen.note.as_deref(), Some("Started container web"));
    assert_eq!(
        seen.regarding.and_then(|r| r.name).as_deref(),
        Some("web-1")
    );
}
