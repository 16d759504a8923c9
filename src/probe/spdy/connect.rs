//! Opening a session: `pods/{name}/portforward` upgraded to SPDY/3.1, either tunnelled in a
//! WebSocket (subprotocol `SPDY/3.1+portforward.k8s.io`, what kubectl asks first since 1.31)
//! or on the connection itself (`Upgrade: SPDY/3.1` with `X-Stream-Protocol-Version:
//! portforward.k8s.io`, what every API server serves and kubectl falls back to). Both go
//! through kube-rs's client stack (TLS, authentication, the kubeconfig's headers).

use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};
use tokio_tungstenite::tungstenite::protocol::Role;

use super::session::Session;
use super::transport::Transport;

/// The WebSocket subprotocol that carries SPDY for port-forward.
pub const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The `Upgrade` token of plain SPDY.
const SPDY_UPGRADE: &str = "SPDY/3.1";
/// The stream protocol spoken inside the session.
const STREAM_PROTOCOL: &str = "portforward.k8s.io";

/// How a session is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// SPDY in a WebSocket's binary messages.
    Tunnel,
    /// SPDY on the upgraded connection.
    Spdy,
}

/// Why no session was opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The server does not speak this upgrade (an older API server, a proxy in between).
    #[error("the server does not take {0:?}: {1}")]
    Unsupported(Upgrade, String),
    /// The request failed (forbidden, no such pod, the server unreachable, ...).
    #[error(transparent)]
    Failed(kube::Error),
}

/// Opens a session to `pod` in `namespace` carried by `upgrade`.
pub async fn connect(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    upgrade: Upgrade,
) -> Result<Session, OpenError> {
    let path = format!("{}/{pod}/portforward", Pod::url_path(&(), Some(namespace)));
    let key = generate_key();
    let request = http::Request::builder()
        .uri(path)
        .header(CONNECTION, "Upgrade");
    let request = match upgrade {
        Upgrade::Tunnel => request
            .method(Method::GET)
            .header(UPGRADE, "websocket")
            .header(SEC_WEBSOCKET_VERSION, "13")
            .header(SEC_WEBSOCKET_KEY, &key)
            .header(SEC_WEBSOCKET_PROTOCOL, TUNNEL_PROTOCOL),
        Upgrade::Spdy => request
            .method(Method::POST)
            .header(UPGRADE, SPDY_UPGRADE)
            .header("X-Stream-Protocol-Version", STREAM_PROTOCOL),
    };
    let request = request
        .body(kube::client::Body::empty())
        .map_err(|error| OpenError::Failed(kube::Error::HttpError(error)))?;
    let response = client.send(request).await.map_err(OpenError::Failed)?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(refused(upgrade, response).await);
    }
    check_answer(upgrade, response.headers(), &key)?;
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|error| OpenError::Failed(kube::Error::HyperError(error)))?;
    let io = TokioIo::new(upgraded);
    let transport = match upgrade {
        Upgrade::Tunnel => Transport::WebSocket(Box::new(
            WebSocketStream::from_raw_socket(io, Role::Client, None).await,
        )),
        Upgrade::Spdy => Transport::Raw(io),
    };
    Ok(Session::start(transport))
}

/// A `101` that is not the upgrade asked for: the server speaks something else.
fn check_answer(upgrade: Upgrade, headers: &http::HeaderMap, key: &str) -> Result<(), OpenError> {
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let problem = match upgrade {
        Upgrade::Tunnel => {
            if header(SEC_WEBSOCKET_ACCEPT) != Some(derive_accept_key(key.as_bytes()).as_str()) {
                Some("a wrong Sec-WebSocket-Accept".to_owned())
            } else if header(SEC_WEBSOCKET_PROTOCOL) != Some(TUNNEL_PROTOCOL) {
                Some(format!(
                    "it chose subprotocol {:?}",
                    header(SEC_WEBSOCKET_PROTOCOL).unwrap_or("")
                ))
            } else {
                None
            }
        }
        Upgrade::Spdy => (!header(UPGRADE).is_some_and(|u| u.eq_ignore_ascii_case(SPDY_UPGRADE)))
            .then(|| format!("it upgraded to {:?}", header(UPGRADE).unwrap_or(""))),
    };
    match problem {
        Some(problem) => Err(OpenError::Unsupported(upgrade, problem)),
        None => Ok(()),
    }
}

/// The error for an answer other than `101`: a refused upgrade (400, 405, 426, ...) means the
/// server does not take it; authentication, permissions, a missing pod and server errors are
/// errors of the request.
async fn refused(upgrade: Upgrade, response: http::Response<kube::client::Body>) -> OpenError {
    let code = response.status();
    let body = response
        .into_body()
        .collect_bytes()
        .await
        .unwrap_or_default();
    let status = serde_json::from_slice::<kube::core::Status>(&body).unwrap_or_else(|_| {
        kube::core::Status::failure(String::from_utf8_lossy(&body).trim(), "")
            .with_code(code.as_u16())
    });
    let status = if status.code == 0 {
        status.with_code(code.as_u16())
    } else {
        status
    };
    let declined = code.is_client_error()
        && !matches!(
            code,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        );
    if declined {
        OpenError::Unsupported(upgrade, format!("{code}: {}", status.message))
    } else {
        OpenError::Failed(kube::Error::Api(status.boxed()))
    }
}
