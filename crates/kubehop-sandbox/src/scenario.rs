//! Scenario files: plain Kubernetes YAML or JSON (what `kubectl apply -f` takes, or what
//! `kubectl get -o yaml` prints), read with the dump loader's parser
//! ([`kubehop_engine::dump::read_object_paths`]). Objects that carry status keep it (a dump of
//! a real cluster replays as-is); objects without status go through the control plane.
//!
//! The built-in scenario ([`BUILTIN`], `crates/kubehop-sandbox/scenarios/builtin.yaml`) is the seed world as
//! manifests: 3 nodes in 2 zones, `shop/web` (Deployment, ClusterIP Service, Ingress and a
//! LoadBalancer), `data/mongodb` (StatefulSet with a metrics sidecar, two-port Service,
//! headless `mongodb-headless`), `default/mynodeportservice` (nodePort 31852) and the broken
//! Services of `assets/scenarios` under the same namespaces and names as `demo-all.yaml`; a
//! NetworkPolicy namespace `vault` (a default-deny, an allow rule the NodePort's SNAT misses, a
//! named port one pod version does not declare); at the end, Gateway API objects (a Gateway of
//! the sandbox's class with a healthy HTTPRoute, a cross-namespace route without its
//! ReferenceGrant and a route naming a listener the Gateway does not have), for which the
//! sandbox installs the Gateway API CRDs
//! ([`SandboxBuilder::gateway_api`](crate::SandboxBuilder::gateway_api)).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use kubehop_engine::dump::{self, DumpError};

/// The built-in scenario's text.
pub const BUILTIN: &str = include_str!("../scenarios/builtin.yaml");
/// How the built-in scenario is named in messages.
pub const BUILTIN_NAME: &str = "built-in scenario";

/// The built-in scenario's objects.
pub fn builtin() -> Result<Vec<Value>, DumpError> {
    dump::read_objects(BUILTIN_NAME, BUILTIN.as_bytes().to_vec())
}

/// The objects of scenario files (`-` reads standard input, a directory its YAML/JSON files).
pub fn load(paths: &[PathBuf]) -> Result<Vec<Value>, DumpError> {
    dump::read_object_paths(paths)
}

/// Objects per kind (Lists counted by their items), for the startup message.
pub fn summary(objects: &[Value]) -> BTreeMap<String, usize> {
    fn count(object: &Value, out: &mut BTreeMap<String, usize>) {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        match object.get("items").and_then(Value::as_array) {
            Some(items) if kind.ends_with("List") => {
                for item in items {
                    count(item, out);
                }
            }
            _ => *out.entry(kind.to_string()).or_default() += 1,
        }
    }
    let mut out = BTreeMap::new();
    for object in objects {
        count(object, &mut out);
    }
    out
}
