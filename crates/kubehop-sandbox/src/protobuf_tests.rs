use prost::Message as _;
use prost_reflect::{DynamicMessage, Value as Proto};
use serde_json::json;

use super::*;

fn message(name: &str) -> DynamicMessage {
    let descriptor = SCHEMA
        .pool
        .get_message_by_name(name)
        .unwrap_or_else(|| panic!("no message {name}"));
    DynamicMessage::new(descriptor)
}

fn set(message: &mut DynamicMessage, field: &str, value: Proto) {
    message
        .try_set_field_by_name(field, value)
        .unwrap_or_else(|e| panic!("{field}: {e}"));
}

fn text(s: &str) -> Proto {
    Proto::String(s.into())
}

/// The wire body kubectl sends for `object` of `kind` in `api_version`.
fn body(api_version: &str, kind: &str, object: &DynamicMessage) -> Vec<u8> {
    let mut type_meta = message("k8s.io.apimachinery.pkg.runtime.TypeMeta");
    set(&mut type_meta, "apiVersion", text(api_version));
    set(&mut type_meta, "kind", text(kind));
    let mut unknown = message(UNKNOWN);
    set(&mut unknown, "typeMeta", Proto::Message(type_meta));
    set(
        &mut unknown,
        "raw",
        Proto::Bytes(object.encode_to_vec().into()),
    );
    set(&mut unknown, "contentEncoding", text(""));
    set(&mut unknown, "contentType", text(""));
    let mut bytes = MAGIC.to_vec();
    bytes.extend(unknown.encode_to_vec());
    bytes
}

fn int_or_string(value: Proto) -> DynamicMessage {
    let mut m = message("k8s.io.apimachinery.pkg.util.intstr.IntOrString");
    match value {
        Proto::String(s) => {
            set(&mut m, "type", Proto::I64(1));
            set(&mut m, "intVal", Proto::I32(0));
            set(&mut m, "strVal", Proto::String(s));
        }
        other => {
            set(&mut m, "type", Proto::I64(0));
            set(&mut m, "intVal", other);
            set(&mut m, "strVal", text(""));
        }
    }
    m
}

fn service() -> DynamicMessage {
    let mut meta = message(&format!("{META}.ObjectMeta"));
    set(&mut meta, "name", text("web"));
    set(&mut meta, "generateName", text(""));
    set(
        &mut meta,
        "creationTimestamp",
        Proto::Message(message(&format!("{META}.Time"))),
    );
    let mut port = message("k8s.io.api.core.v1.ServicePort");
    set(&mut port, "name", text(""));
    set(&mut port, "protocol", text("TCP"));
    set(&mut port, "port", Proto::I32(80));
    set(
        &mut port,
        "targetPort",
        Proto::Message(int_or_string(text("http"))),
    );
    set(&mut port, "nodePort", Proto::I32(0));
    let mut spec = message("k8s.io.api.core.v1.ServiceSpec");
    set(&mut spec, "ports", Proto::List(vec![Proto::Message(port)]));
    set(&mut spec, "clusterIP", text(""));
    set(&mut spec, "publishNotReadyAddresses", Proto::Bool(false));
    set(
        &mut spec,
        "allocateLoadBalancerNodePorts",
        Proto::Bool(false),
    );
    let mut selector = std::collections::HashMap::new();
    selector.insert(MapKey::String("app".into()), text("web"));
    set(&mut spec, "selector", Proto::Map(selector));
    let mut service = message("k8s.io.api.core.v1.Service");
    set(&mut service, "metadata", Proto::Message(meta));
    set(&mut service, "spec", Proto::Message(spec));
    set(
        &mut service,
        "status",
        Proto::Message(message("k8s.io.api.core.v1.ServiceStatus")),
    );
    service
}

#[test]
fn a_service_decodes_to_the_json_go_writes() {
    let decoded = decode(&body("v1", "Service", &service())).expect("decodes");
    assert_eq!(
        decoded,
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            // generateName "" is omitempty; a zero creationTimestamp is omitzero.
            "metadata": {"name": "web"},
            "spec": {
                // nodePort 0 and name "" dropped; targetPort is a string IntOrString.
                "ports": [{"protocol": "TCP", "port": 80, "targetPort": "http"}],
                "selector": {"app": "web"},
                // A false *bool is kept, a false plain bool is not.
                "allocateLoadBalancerNodePorts": false,
            },
            "status": {},
        })
    );
}

#[test]
fn inline_fields_quantities_bytes_and_times_take_their_json_forms() {
    // Volume embeds VolumeSource; ConfigMapVolumeSource embeds LocalObjectReference.
    let mut reference = message("k8s.io.api.core.v1.LocalObjectReference");
    set(&mut reference, "name", text("settings"));
    let mut config_map = message("k8s.io.api.core.v1.ConfigMapVolumeSource");
    set(
        &mut config_map,
        "localObjectReference",
        Proto::Message(reference),
    );
    set(&mut config_map, "defaultMode", Proto::I32(0));
    let mut source = message("k8s.io.api.core.v1.VolumeSource");
    set(&mut source, "configMap", Proto::Message(config_map));
    let mut volume = message("k8s.io.api.core.v1.Volume");
    set(&mut volume, "name", text("config"));
    set(&mut volume, "volumeSource", Proto::Message(source));
    let json = SCHEMA.message_json(&volume);
    assert_eq!(
        json,
        json!({"name": "config", "configMap": {"name": "settings", "defaultMode": 0}})
    );

    let mut quantity = message("k8s.io.apimachinery.pkg.api.resource.Quantity");
    set(&mut quantity, "string", text("250m"));
    assert_eq!(SCHEMA.message_json(&quantity), json!("250m"));

    let mut secret = message("k8s.io.api.core.v1.Secret");
    let mut data = std::collections::HashMap::new();
    data.insert(
        MapKey::String("token".into()),
        Proto::Bytes(b"s3cret".as_slice().into()),
    );
    data.insert(
        MapKey::String("empty".into()),
        Proto::Bytes(Vec::new().into()),
    );
    set(&mut secret, "data", Proto::Map(data));
    set(&mut secret, "type", text("Opaque"));
    assert_eq!(
        SCHEMA.message_json(&secret),
        json!({"data": {"token": "czNjcmV0", "empty": ""}, "type": "Opaque"})
    );

    let mut time = message(&format!("{META}.Time"));
    set(&mut time, "seconds", Proto::I64(1_700_000_000));
    set(&mut time, "nanos", Proto::I32(0));
    assert_eq!(SCHEMA.message_json(&time), json!("2023-11-14T22:13:20Z"));
    let mut micro = message(&format!("{META}.MicroTime"));
    set(&mut micro, "seconds", Proto::I64(1_700_000_000));
    set(&mut micro, "nanos", Proto::I32(123_456_000));
    assert_eq!(
        SCHEMA.message_json(&micro),
        json!("2023-11-14T22:13:20.123456Z")
    );
}

#[test]
fn wrappers_raw_json_and_renamed_fields() {
    let mut verbs = message(&format!("{META}.Verbs"));
    set(
        &mut verbs,
        "items",
        Proto::List(vec![text("get"), text("list")]),
    );
    assert_eq!(SCHEMA.message_json(&verbs), json!(["get", "list"]));

    let mut raw = message("k8s.io.apimachinery.pkg.runtime.RawExtension");
    set(
        &mut raw,
        "raw",
        Proto::Bytes(br#"{"a":1}"#.as_slice().into()),
    );
    assert_eq!(SCHEMA.message_json(&raw), json!({"a": 1}));

    let mut props = message(&format!("{EXTENSIONS}.JSONSchemaProps"));
    set(&mut props, "type", text("object"));
    set(
        &mut props,
        "xKubernetesPreserveUnknownFields",
        Proto::Bool(true),
    );
    assert_eq!(
        SCHEMA.message_json(&props),
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    );
}

#[test]
fn every_built_in_group_finds_its_messages() {
    let pool = &SCHEMA.pool;
    for (api_version, kind) in [
        ("v1", "Namespace"),
        ("v1", "ConfigMap"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("networking.k8s.io/v1", "Ingress"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("apiregistration.k8s.io/v1", "APIService"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("v1", "DeleteOptions"),
    ] {
        assert!(
            message_for(pool, api_version, kind).is_some(),
            "{api_version} {kind}"
        );
    }
    assert!(message_for(pool, "example.com/v1", "Widget").is_none());
}

#[test]
fn bad_bodies_are_errors_not_panics() {
    assert!(matches!(decode(b"{}"), Err(ProtoError::Malformed(_))));
    assert!(matches!(decode(b"k8s\0"), Err(ProtoError::Malformed(_))));
    assert!(matches!(
        decode(b"k8s\0\xff\xff"),
        Err(ProtoError::Malformed(_))
    ));
    let widget = body(
        "example.com/v1",
        "Widget",
        &message(&format!("{META}.Status")),
    );
    assert!(matches!(decode(&widget), Err(ProtoError::UnknownKind(_))));
}

#[test]
fn go_durations() {
    assert_eq!(go_duration(0), "0s");
    assert_eq!(go_duration(1_500_000_000), "1.5s");
    assert_eq!(go_duration(300_000_000), "300ms");
    assert_eq!(go_duration(3_723_000_000_000), "1h2m3s");
    assert_eq!(go_duration(90_000_000_000), "1m30s");
    assert_eq!(go_duration(-2_000), "-2µs");
}

/// Arbitrary bytes after the magic, and every truncation of a real body, are errors or
/// objects, never a panic.
#[test]
fn garbage_and_truncated_bodies_never_panic() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut refused = 0;
    for _ in 0..5_000 {
        let len = (next() % 64) as usize;
        let mut bytes = MAGIC.to_vec();
        bytes.extend((0..len).map(|_| next() as u8));
        refused += usize::from(decode(&bytes).is_err());
    }
    assert!(refused > 4_000, "garbage is refused ({refused} of 5000)");
    let real = body("v1", "Service", &service());
    assert!(decode(&real).is_ok());
    let truncated = (0..real.len())
        .filter(|end| decode(&real[..*end]).is_err())
        .count();
    assert!(truncated > real.len() / 2, "{truncated} of {}", real.len());
    // A body whose raw bytes are garbage for the kind.
    let mut unknown = message(UNKNOWN);
    let mut type_meta = message("k8s.io.apimachinery.pkg.runtime.TypeMeta");
    set(&mut type_meta, "apiVersion", text("apps/v1"));
    set(&mut type_meta, "kind", text("Deployment"));
    set(&mut unknown, "typeMeta", Proto::Message(type_meta));
    let mut decoded = 0;
    for _ in 0..2_000 {
        let raw: Vec<u8> = (0..(next() % 48)).map(|_| next() as u8).collect();
        set(&mut unknown, "raw", Proto::Bytes(raw.into()));
        let mut bytes = MAGIC.to_vec();
        bytes.extend(unknown.encode_to_vec());
        decoded += usize::from(decode(&bytes).is_ok());
    }
    assert!(decoded < 2_000, "some garbage Deployments are refused");
}

#[test]
fn a_zero_pointer_field_is_kept() {
    // `replicas` is a *int32: zero means zero, not "unset".
    let mut spec = message("k8s.io.api.apps.v1.DeploymentSpec");
    set(&mut spec, "replicas", Proto::I32(0));
    set(&mut spec, "minReadySeconds", Proto::I32(0));
    set(&mut spec, "paused", Proto::Bool(false));
    assert_eq!(SCHEMA.message_json(&spec), json!({"replicas": 0}));
}
