//! Gateway API in the sandbox: the GatewayClass [`GATEWAY_CLASS`] whose controller
//! ([`CONTROLLER_NAME`]) is the sandbox's. Gateways of that class get an address on loopback
//! (from the LoadBalancer pool, [`crate::control`]) and their listeners are opened by the data
//! plane ([`crate::dataplane::gateway`]); Gateways and routes get the status a conformant
//! implementation writes ([`status`]), from the attachment rules in [`attach`].
//!
//! The objects are custom resources: the Gateway API CRDs must be installed (the sandbox
//! installs them with [`crate::SandboxBuilder::gateway_api`], or a user applies them); without
//! them the controller and the data plane have nothing to read and stay idle.

pub mod attach;
pub mod objects;
pub mod status;

use serde_json::json;

use crate::resources::ResourceId;
use crate::store::{Store, StoreError, WriteOptions};

/// The Gateway API group.
pub const GROUP: &str = "gateway.networking.k8s.io";
/// The `spec.controllerName` of the GatewayClasses the sandbox controls.
pub const CONTROLLER_NAME: &str = "sandbox.kubehop.dev/gateway-controller";
/// The GatewayClass the sandbox creates for its controller.
pub const GATEWAY_CLASS: &str = "sandbox";

/// The route kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteKind {
    Http,
    Grpc,
    Tls,
    Tcp,
    Udp,
}

impl RouteKind {
    pub const ALL: [RouteKind; 5] = [
        RouteKind::Http,
        RouteKind::Grpc,
        RouteKind::Tls,
        RouteKind::Tcp,
        RouteKind::Udp,
    ];

    /// The kind as the API spells it (`HTTPRoute`).
    pub fn kind(self) -> &'static str {
        match self {
            RouteKind::Http => "HTTPRoute",
            RouteKind::Grpc => "GRPCRoute",
            RouteKind::Tls => "TLSRoute",
            RouteKind::Tcp => "TCPRoute",
            RouteKind::Udp => "UDPRoute",
        }
    }

    /// Whether the kind has `spec.hostnames`.
    pub fn has_hostnames(self) -> bool {
        matches!(self, RouteKind::Http | RouteKind::Grpc | RouteKind::Tls)
    }
}

/// The Gateway API CustomResourceDefinitions, generated from `kubehop_gateway_api`'s types,
/// as JSON objects (what `kubectl apply` of them sends).
pub fn crds() -> Vec<serde_json::Value> {
    kubehop_gateway_api::crds()
        .iter()
        .filter_map(|crd| {
            let mut value = serde_json::to_value(crd).ok()?;
            value["apiVersion"] = json!("apiextensions.k8s.io/v1");
            value["kind"] = json!("CustomResourceDefinition");
            Some(value)
        })
        .collect()
}

/// Stores the Gateway API CRDs ([`crds`]) that are not stored yet; what could not be stored,
/// in words.
pub fn install_crds(store: &Store) -> Vec<String> {
    let mut problems = Vec::new();
    for crd in crds() {
        let name = crd["metadata"]["name"].as_str().unwrap_or("").to_owned();
        if store
            .get_object(ResourceId::CustomResourceDefinitions, "", &name)
            .is_some()
        {
            continue;
        }
        match store.create_object(
            ResourceId::CustomResourceDefinitions,
            crd,
            WriteOptions::controller(),
        ) {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(err) => problems.push(format!("cannot install the CRD {name}: {err}")),
        }
    }
    problems
}

/// Creates the sandbox's GatewayClass ([`GATEWAY_CLASS`]) unless one of that name exists.
/// Fails with `NotServed` when the Gateway API CRDs are not installed.
pub fn install_class(store: &Store) -> Result<(), StoreError> {
    let Some(id) = objects::resources(store).get("GatewayClass").copied() else {
        return Err(StoreError::NotServed(format!(
            "{GROUP} GatewayClass (the Gateway API CRDs are not installed)"
        )));
    };
    if store.get_object(id, "", GATEWAY_CLASS).is_some() {
        return Ok(());
    }
    let class = json!({
        "apiVersion": id.info().api_version(),
        "kind": "GatewayClass",
        "metadata": {
            "name": GATEWAY_CLASS,
            "labels": {"app.kubernetes.io/managed-by": "kubehop-sandbox"},
        },
        "spec": {
            "controllerName": CONTROLLER_NAME,
            "description": "Gateways on loopback, served by the kubehop sandbox's data plane",
        },
    });
    match store.create_object(id, class, WriteOptions::controller()) {
        Ok(_) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
pub(crate) mod tests;
