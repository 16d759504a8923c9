//! What a hop says beyond its address: the HTTP request a port that looks like HTTP gets, and
//! the other ports of an endpoint's pod to try when its targetPort refuses (rule M5).

use serde::Serialize;

use crate::model::{PortChain, PortEndpoint, Protocol, ServiceChain, TargetPort};

/// The one HTTP/1.1 request a hop gets when its port looks like HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HttpRequest {
    /// The Host header (`None`: the target address).
    pub host: Option<String>,
    pub path: String,
    /// HTTPS: a TLS handshake first (appProtocol `https`/`wss`, a port name `https...`).
    pub tls: bool,
    /// Why this hop speaks HTTP (`appProtocol http`, `port name "http"`, `Ingress rule`).
    pub because: String,
}

/// Another port of an endpoint's pod to try when its targetPort refuses (the fix suggestion).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FallbackPort {
    pub port: u16,
    pub name: Option<String>,
    pub container: Option<String>,
    /// False for the Service's own `port` number, tried although no container declares it.
    pub declared: bool,
}

/// Whether a port name says HTTP (`http`, `http-metrics`, `web`, `webhook`...).
pub fn looks_like_http_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("http") || name.starts_with("web")
}

/// Whether an appProtocol says HTTP (`http`, `https`, `h2c`, `kubernetes.io/h2c`,
/// `kubernetes.io/ws`...).
pub fn looks_like_http_protocol(app_protocol: &str) -> bool {
    let value = app_protocol.to_ascii_lowercase();
    let bare = value.strip_prefix("kubernetes.io/").unwrap_or(&value);
    matches!(
        bare,
        "http" | "https" | "h2c" | "ws" | "wss" | "http2" | "grpc-web"
    )
}

/// Whether an appProtocol says TLS (`https`, `wss`, `kubernetes.io/wss`).
pub fn looks_like_tls_protocol(app_protocol: &str) -> bool {
    let value = app_protocol.to_ascii_lowercase();
    let bare = value.strip_prefix("kubernetes.io/").unwrap_or(&value);
    matches!(bare, "https" | "wss")
}

/// Whether a port name says HTTPS (`https`, `https-web`).
pub fn looks_like_tls_name(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with("https")
}

/// The HTTP request a Service port gets, from its appProtocol or name.
pub(crate) fn http_for_port(port: &PortChain) -> Option<HttpRequest> {
    if let Some(app) = &port.app_protocol
        && looks_like_http_protocol(app)
    {
        return Some(HttpRequest {
            host: None,
            path: "/".to_owned(),
            tls: looks_like_tls_protocol(app),
            because: format!("appProtocol {app}"),
        });
    }
    if let Some(name) = &port.name
        && looks_like_http_name(name)
    {
        return Some(HttpRequest {
            host: None,
            path: "/".to_owned(),
            tls: looks_like_tls_name(name),
            because: format!("port name {name:?}"),
        });
    }
    if let TargetPort::Name(name) = &port.target_port
        && looks_like_http_name(name)
    {
        return Some(HttpRequest {
            host: None,
            path: "/".to_owned(),
            tls: looks_like_tls_name(name),
            because: format!("targetPort name {name:?}"),
        });
    }
    None
}

/// An endpoint's extras: the HTTP request its containerPort name implies when the Service
/// port says nothing (`http` stays as given otherwise), and the pod's other declared ports,
/// then the Service's own port number, to try when the targetPort refuses (rule M5).
pub(crate) fn endpoint_extras(
    chain: &ServiceChain,
    port: &PortChain,
    endpoint: &PortEndpoint,
    http: &mut Option<HttpRequest>,
) -> Vec<FallbackPort> {
    let info = &endpoint.info;
    let declared = declared_ports(chain, info.pod.as_deref(), port.protocol);
    if http.is_none()
        && let Some((_, name, _)) = declared
            .iter()
            .find(|(number, _, _)| *number == endpoint.port)
        && let Some(name) = name
        && looks_like_http_name(name)
    {
        *http = Some(HttpRequest {
            host: None,
            path: "/".to_owned(),
            tls: looks_like_tls_name(name),
            because: format!("containerPort name {name:?}"),
        });
    }
    let mut fallbacks: Vec<FallbackPort> = Vec::new();
    for (number, name, container) in declared {
        if number == endpoint.port {
            continue;
        }
        let Ok(number) = u16::try_from(number) else {
            continue;
        };
        if fallbacks.iter().any(|fallback| fallback.port == number) {
            continue;
        }
        fallbacks.push(FallbackPort {
            port: number,
            name,
            container: Some(container),
            declared: true,
        });
    }
    if port.port != endpoint.port
        && let Ok(number) = u16::try_from(port.port)
        && !fallbacks.iter().any(|fallback| fallback.port == number)
        && info.pod.is_some()
    {
        fallbacks.push(FallbackPort {
            port: number,
            name: None,
            container: None,
            declared: false,
        });
    }
    fallbacks
}

/// The TCP-compatible ports a pod declares: (containerPort, name, container).
fn declared_ports(
    chain: &ServiceChain,
    pod: Option<&str>,
    protocol: Protocol,
) -> Vec<(i32, Option<String>, String)> {
    let Some(pod) = pod else {
        return Vec::new();
    };
    let Some(object) = chain
        .details
        .selected_pods
        .iter()
        .find(|candidate| candidate.name.as_deref() == Some(pod))
    else {
        return Vec::new();
    };
    object
        .containers
        .iter()
        .filter(|container| !container.init || container.is_sidecar())
        .flat_map(|container| {
            container
                .ports
                .iter()
                .filter(move |declared| {
                    let declared_protocol = declared
                        .protocol
                        .as_deref()
                        .filter(|value| !value.is_empty())
                        .and_then(Protocol::parse)
                        .unwrap_or(Protocol::Tcp);
                    declared_protocol == protocol
                })
                .map(move |declared| {
                    (
                        declared.container_port,
                        declared.name.as_deref().map(str::to_owned),
                        container.name.to_string(),
                    )
                })
        })
        .collect()
}
