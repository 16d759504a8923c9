use super::*;
use rstest::rstest;

#[rstest]
#[case("web", true)]
#[case("web-1", true)]
#[case("1web", false)]
#[case("Web", false)]
#[case("web_1", false)]
#[case("-web", false)]
fn service_names_are_dns1035_labels(#[case] name: &str, #[case] ok: bool) {
    let service = json!({"metadata": {"name": name}, "spec": {}});
    let causes = validate_metadata(ResourceId::Services, &service);
    assert_eq!(causes.is_empty(), ok, "{causes:?}");
}

#[test]
fn missing_name_is_required() {
    let causes = validate_metadata(ResourceId::Pods, &json!({"metadata": {}}));
    assert_eq!(
        causes[0].to_string(),
        "metadata.name: Required value: name or generateName is required"
    );
}

#[test]
fn bad_label_value_is_reported_like_the_api_server() {
    let pod = json!({"metadata": {"name": "p", "labels": {"app": "bad value"}}});
    let causes = validate_metadata(ResourceId::Pods, &pod);
    assert_eq!(causes.len(), 1);
    assert!(
        causes[0]
            .to_string()
            .starts_with("metadata.labels: Invalid value: \"bad value\": a valid label")
    );
}

#[test]
fn service_defaults_follow_the_api_server() {
    let mut service = json!({
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}
    });
    apply_defaults(ResourceId::Services, &mut service);
    let spec = &service["spec"];
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert_eq!(spec["ports"][1]["targetPort"], "https");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["externalTrafficPolicy"], "Cluster");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert!(spec.get("allocateLoadBalancerNodePorts").is_none());
}

#[test]
fn external_name_services_get_no_ip_defaults() {
    let mut service = json!({
        "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "example.com"}
    });
    apply_defaults(ResourceId::Services, &mut service);
    assert!(service["spec"].get("ipFamilies").is_none());
    assert!(service["spec"].get("internalTrafficPolicy").is_none());
    assert_eq!(service["spec"]["sessionAffinity"], "None");
}

#[rstest]
// NodePort -> ClusterIP, nodePort left as it was: dropped.
#[case(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}),
       json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30001}]}),
       json!({"type": "ClusterIP", "ports": [{"port": 80}]}))]
// The client changed the nodePort on purpose: kept (validation rejects it).
#[case(json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30001}]}),
       json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30002}]}),
       json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30002}]}))]
// LoadBalancer + Local -> NodePort: healthCheckNodePort and allocateLoadBalancerNodePorts go.
#[case(json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000, "allocateLoadBalancerNodePorts": true}),
       json!({"type": "NodePort", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000, "allocateLoadBalancerNodePorts": true}),
       json!({"type": "NodePort", "externalTrafficPolicy": "Local"}))]
// -> ExternalName: the ClusterIP and the IP families go.
#[case(json!({"type": "ClusterIP", "clusterIP": "127.33.0.1", "clusterIPs": ["127.33.0.1"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}),
       json!({"type": "ExternalName", "externalName": "x.example", "clusterIP": "127.33.0.1", "clusterIPs": ["127.33.0.1"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}),
       json!({"type": "ExternalName", "externalName": "x.example"}))]
fn a_type_change_drops_what_the_new_type_cannot_carry(
    #[case] old: Value,
    #[case] new: Value,
    #[case] expected: Value,
) {
    let previous = json!({"spec": old});
    let mut object = json!({"spec": new});
    prepare_update(ResourceId::Services, &mut object, &previous);
    assert_eq!(object["spec"], expected);
}

#[test]
fn cluster_ip_and_cluster_ips_mirror_each_other() {
    let mut service = json!({"metadata": {"name": "a"}, "spec": {"clusterIP": "127.96.0.10"}});
    apply_defaults(ResourceId::Services, &mut service);
    assert_eq!(service["spec"]["clusterIPs"], json!(["127.96.0.10"]));
    let mut headless = json!({"metadata": {"name": "b"}, "spec": {"clusterIPs": ["None"]}});
    apply_defaults(ResourceId::Services, &mut headless);
    assert_eq!(headless["spec"]["clusterIP"], "None");
}

#[test]
fn pod_templates_get_probe_and_container_defaults() {
    let mut deployment = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "nginx",
            "readinessProbe": {"httpGet": {"port": 80}},
            "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5}}],
        "volumes": [{"name": "scratch"}, {"name": "conf", "configMap": {"name": "c"}}]}}}});
    apply_defaults(ResourceId::Deployments, &mut deployment);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["readinessProbe"],
        json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
               "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(
        container["livenessProbe"]["periodSeconds"], 5,
        "given values stay"
    );
    assert_eq!(
        container["imagePullPolicy"], "Always",
        "no tag means latest"
    );
    let volumes = &deployment["spec"]["template"]["spec"]["volumes"];
    assert_eq!(volumes[0]["emptyDir"], json!({}));
    assert_eq!(volumes[1]["configMap"]["defaultMode"], 420);
    assert_eq!(
        deployment["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    // Templates get no admission additions.
    assert!(
        deployment["spec"]["template"]["spec"]
            .get("serviceAccountName")
            .is_none()
    );
}

#[test]
fn pods_get_admission_defaults_and_jobs_a_selector_on_their_uid() {
    let mut pod = json!({"spec": {"containers": [{"name": "app", "image": "app:1"}]}});
    apply_defaults(ResourceId::Pods, &mut pod);
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    assert_eq!(
        pod["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    let tolerations = pod["spec"]["tolerations"].as_array().expect("tolerations");
    assert_eq!(tolerations.len(), 2);
    assert_eq!(tolerations[0]["tolerationSeconds"], 300);

    let mut job = json!({"metadata": {"name": "migrate", "uid": "u-1"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "m:1"}]}}}});
    apply_defaults(ResourceId::Jobs, &mut job);
    assert_eq!(
        job["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
    );
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"]["job-name"],
        "migrate"
    );
    assert_eq!(
        (
            job["spec"]["completions"].clone(),
            job["spec"]["backoffLimit"].clone()
        ),
        (json!(1), json!(6))
    );
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
}
