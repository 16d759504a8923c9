//! `pods/{name}/portforward`, in the protocols real clients speak, as a kubelet serves them:
//! - the WebSocket channel protocol kube-rs's `Api::<Pod>::portforward` speaks
//!   (`v5.channel.k8s.io` / `v4.channel.k8s.io`, or no subprotocol named: the kubelet's
//!   unnamed binary protocol, v4's framing): port i uses channel 2i for data and 2i+1 for
//!   errors; the first frame on every channel is the port number, little-endian;
//! - SPDY/3.1, tunnelled in a WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl's default)
//!   or on the upgraded connection (`Upgrade: SPDY/3.1`): [`over_spdy`].
//!
//! Each port is bridged by TCP to `status.podIP:port`, loopback only.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;

use super::ApiContext;
use super::path::{Params, ResourceTarget};
use super::spdy::Transport;
use super::status::ApiError;
use crate::faults::PortForwardFault;
use crate::resources::ResourceId;
use crate::store::StoreError;

mod over_spdy;

/// Where a payload starts in its frame buffer: the kernel copies into it, and copies into
/// unaligned destinations are slow on some CPUs.
const PAYLOAD_ALIGN: usize = 64;

/// Puts `channel` into `buffer` (empty) so that the payload after it starts 64-byte aligned,
/// with room for `payload` bytes. (kubehop's port-forward client lays its frames out the same
/// way; the two sides of the protocol keep their own copies.)
fn start_frame(buffer: &mut BytesMut, channel: u8, payload: usize) {
    debug_assert!(buffer.is_empty());
    buffer.reserve(PAYLOAD_ALIGN + payload);
    let channel_at = buffer.as_ptr() as usize + 1;
    let pad = (PAYLOAD_ALIGN - channel_at % PAYLOAD_ALIGN) % PAYLOAD_ALIGN;
    buffer.put_bytes(0, pad);
    buffer.advance(pad);
    buffer.put_u8(channel);
}

pub(super) async fn portforward(
    context: &Arc<ApiContext>,
    request: Request,
    target: &ResourceTarget,
    params: &Params,
) -> Result<Response, ApiError> {
    let shared = &context.shared;
    let name = target.name.as_deref().unwrap_or("");
    let namespace = target.namespace.as_deref().unwrap_or("");
    let pod = shared
        .store
        .get_object(ResourceId::Pods, namespace, name)
        .ok_or_else(|| StoreError::NotFound {
            resource: ResourceId::Pods,
            name: name.to_string(),
        })?;
    let fault = shared.faults.portforward();
    if let Some(PortForwardFault::RejectUpgrade(message)) = &fault {
        return Err(ApiError::internal(message.clone()));
    }
    let (mut parts, _body) = request.into_parts();
    let (protocol, answer) = match negotiate(&parts.headers) {
        Ok(negotiated) => negotiated,
        Err(refusal) => return Ok(*refusal),
    };
    if fault == Some(PortForwardFault::NoSpdy) && !matches!(protocol, Protocol::Channel { .. }) {
        return Err(ApiError::bad_request(
            "unable to upgrade: this server serves port-forward over the WebSocket channel protocols only",
        ));
    }
    // The channel protocols name their ports in the URL; over SPDY each stream names its own.
    let ports = match protocol {
        Protocol::Channel { .. } => parse_ports(params)?,
        Protocol::SpdyTunnel | Protocol::Spdy => Vec::new(),
    };
    let on_upgrade = parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| ApiError::bad_request("this connection cannot be upgraded"))?;
    let target = Target {
        pod: name.to_string(),
        ip: pod
            .value()
            .pointer("/status/podIP")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<IpAddr>().ok()),
        store: shared.store.clone(),
        error_message: match fault {
            Some(PortForwardFault::ErrorChannel(message)) => Some(message),
            _ => None,
        },
    };
    let cancel = context.cancel.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => serve(TokioIo::new(upgraded), protocol, target, ports, cancel).await,
            Err(err) => tracing::debug!("port-forward upgrade failed: {err}"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.headers_mut() = answer;
    Ok(response)
}

type Io = TokioIo<hyper::upgrade::Upgraded>;

/// Serves the upgraded connection in the protocol negotiated.
async fn serve(
    io: Io,
    protocol: Protocol,
    target: Target,
    ports: Vec<u16>,
    cancel: CancellationToken,
) {
    match protocol {
        Protocol::Channel { close_signal, .. } => {
            let socket = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            bridge(socket, target, ports, close_signal, cancel).await;
        }
        Protocol::SpdyTunnel => {
            let socket = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
            over_spdy::serve(Transport::WebSocket(Box::new(socket)), target, cancel).await;
        }
        Protocol::Spdy => over_spdy::serve(Transport::Raw(io), target, cancel).await,
    }
}

/// The WebSocket channel protocols, in the order the sandbox prefers them. A WebSocket that
/// names none of them (no `Sec-WebSocket-Protocol` at all) gets the binary channel protocol
/// without a name, as the kubelet answers: the same framing as v4.
const CHANNEL_PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// SPDY/3.1 tunnelled in a WebSocket's binary messages (kubectl's first choice since 1.31).
const TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The `Upgrade` token of plain SPDY.
const SPDY_UPGRADE: &str = "SPDY/3.1";
/// The stream protocol over SPDY (`X-Stream-Protocol-Version`).
const SPDY_STREAM_PROTOCOL: &str = "portforward.k8s.io";
const STREAM_PROTOCOL_HEADER: &str = "x-stream-protocol-version";
const ACCEPTED_PROTOCOLS_HEADER: &str = "x-accepted-stream-protocol-versions";
/// The v5 protocol's "close this channel" signal channel.
const CLOSE_CHANNEL: u8 = 255;

/// How a port-forward request asked to talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// The WebSocket channel protocol: `name` as negotiated (`None`: the client named none);
    /// only v5 has the close signal.
    Channel {
        name: Option<&'static str>,
        close_signal: bool,
    },
    /// SPDY/3.1 in a WebSocket.
    SpdyTunnel,
    /// SPDY/3.1 on the upgraded connection.
    Spdy,
}

/// The WebSocket channel protocol or SPDY/3.1 (plain or tunnelled), and the headers of the
/// `101 Switching Protocols` answer.
fn negotiate(headers: &HeaderMap) -> Result<(Protocol, HeaderMap), Box<Response>> {
    let has = |name: header::HeaderName, token: &str| {
        list(headers, name)
            .iter()
            .any(|t| t.eq_ignore_ascii_case(token))
    };
    if !has(header::CONNECTION, "upgrade") {
        return Err(ApiError::bad_request(
            "unable to upgrade: missing upgrade headers in request (port-forward takes a WebSocket or SPDY/3.1 upgrade)",
        )
        .into_response()
        .into());
    }
    let mut answer = HeaderMap::new();
    answer.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if has(header::UPGRADE, "websocket") {
        let key = headers.get(header::SEC_WEBSOCKET_KEY).ok_or_else(|| {
            Box::new(ApiError::bad_request("missing Sec-WebSocket-Key").into_response())
        })?;
        let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes())).map_err(|_| {
            Box::new(ApiError::bad_request("invalid Sec-WebSocket-Key").into_response())
        })?;
        let protocol = websocket_protocol(&list(headers, header::SEC_WEBSOCKET_PROTOCOL))
            .map_err(|error| Box::new(error.into_response()))?;
        answer.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        answer.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        let name = match protocol {
            Protocol::Channel { name, .. } => name,
            Protocol::SpdyTunnel => Some(TUNNEL_PROTOCOL),
            Protocol::Spdy => None,
        };
        if let Some(name) = name {
            answer.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(name),
            );
        }
        return Ok((protocol, answer));
    }
    if has(header::UPGRADE, SPDY_UPGRADE) {
        spdy_stream_protocol(headers)?;
        answer.insert(header::UPGRADE, HeaderValue::from_static(SPDY_UPGRADE));
        answer.insert(
            STREAM_PROTOCOL_HEADER,
            HeaderValue::from_static(SPDY_STREAM_PROTOCOL),
        );
        return Ok((Protocol::Spdy, answer));
    }
    Err(ApiError::bad_request(format!(
        "unable to upgrade: port-forward takes Upgrade: websocket or {SPDY_UPGRADE}"
    ))
    .into_response()
    .into())
}

/// The comma-separated tokens of every `name` header, trimmed.
fn list(headers: &HeaderMap, name: header::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The subprotocol for a WebSocket offering `offered`, as an API server picks it: SPDY
/// tunnelling first, then the channel protocols; none offered is the unnamed channel
/// protocol, anything else a 400.
fn websocket_protocol(offered: &[String]) -> Result<Protocol, ApiError> {
    if offered.iter().any(|o| o == TUNNEL_PROTOCOL) {
        return Ok(Protocol::SpdyTunnel);
    }
    if offered.is_empty() {
        return Ok(Protocol::Channel {
            name: None,
            close_signal: false,
        });
    }
    CHANNEL_PROTOCOLS
        .iter()
        .copied()
        .find(|p| offered.iter().any(|o| o == p))
        .map(|name| Protocol::Channel {
            name: Some(name),
            close_signal: name == CHANNEL_PROTOCOLS[0],
        })
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "requested protocol(s) are not supported: {offered:?}; supports {}, {TUNNEL_PROTOCOL} or none",
                CHANNEL_PROTOCOLS.join(", ")
            ))
        })
}

/// Checks `X-Stream-Protocol-Version` of a SPDY upgrade names the port-forward protocol.
fn spdy_stream_protocol(headers: &HeaderMap) -> Result<(), Box<Response>> {
    let offered = list(
        headers,
        header::HeaderName::from_static(STREAM_PROTOCOL_HEADER),
    );
    if offered.is_empty() {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade: header {STREAM_PROTOCOL_HEADER} does not exist in request"
        ))
        .into_response()
        .into());
    }
    if offered.iter().any(|o| o == SPDY_STREAM_PROTOCOL) {
        return Ok(());
    }
    let message = format!(
        "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts [\"{SPDY_STREAM_PROTOCOL}\"]"
    );
    let mut response = ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message).into_response();
    response.headers_mut().insert(
        ACCEPTED_PROTOCOLS_HEADER,
        HeaderValue::from_static(SPDY_STREAM_PROTOCOL),
    );
    Err(Box::new(response))
}

fn parse_ports(params: &Params) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for value in params.all("ports") {
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let port: u16 = part
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| ApiError::bad_request(format!("invalid port: {part}")))?;
            if ports.contains(&port) {
                return Err(ApiError::bad_request(format!("duplicate port: {port}")));
            }
            ports.push(port);
        }
    }
    if ports.is_empty() {
        return Err(ApiError::bad_request("at least one port must be specified"));
    }
    if ports.len() > 128 {
        return Err(ApiError::bad_request("at most 128 ports may be forwarded"));
    }
    Ok(ports)
}

/// The most pod bytes one WebSocket frame carries.
const MAX_FRAME: usize = 64 * 1024;

fn frame(channel: u8, payload: &[u8]) -> Message {
    let mut data = Vec::with_capacity(payload.len() + 1);
    data.push(channel);
    data.extend_from_slice(payload);
    Message::Binary(Bytes::from(data))
}

type Socket = WebSocketStream<Io>;

/// Ends the WebSocket: close handshake (answering the client's Close, or sending ours and
/// waiting briefly for the answer), then a clean TLS/TCP shutdown.
async fn finish(mut socket: Socket, client_closed: bool) {
    if !client_closed {
        let _ = socket.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(Ok(message)) = socket.next().await {
                if message.is_close() {
                    break;
                }
            }
        })
        .await;
    }
    // Sends the queued answer to the client's Close.
    let _ = socket.flush().await;
    let _ = socket.get_mut().shutdown().await;
}

/// The pod a port-forward goes to.
struct Target {
    pod: String,
    ip: Option<IpAddr>,
    /// For why a port has no listener (the Nodes' unbound annotation).
    store: crate::store::Store,
    /// The fault that fails every port with this message on its error channel or stream.
    error_message: Option<String>,
}

impl Target {
    /// A connection to the pod's `port`, or the message for the port's error channel.
    async fn connect(&self, port: u16) -> Result<TcpStream, String> {
        if let Some(message) = &self.error_message {
            return Err(message.clone());
        }
        connect(&self.pod, self.ip, port).await.map_err(|error| {
            let hint = self
                .ip
                .map(|ip| unbound_hint(&self.store, SocketAddr::new(ip, port)))
                .unwrap_or_default();
            format!("{error}{hint}")
        })
    }
}

/// Why the data plane has no listener on `address`, when it could not open one.
fn unbound_hint(store: &crate::store::Store, address: SocketAddr) -> String {
    let (nodes, _) = store.list_objects(ResourceId::Nodes, None);
    let nodes: Vec<k8s_openapi::api::core::v1::Node> =
        nodes.iter().filter_map(|node| node.decode().ok()).collect();
    match kubehop_engine::unbound::Unbound::from_nodes(&nodes).reason(address) {
        Some(reason) => format!(" ({})", reason.explain()),
        None => String::new(),
    }
}

async fn connect(pod: &str, pod_ip: Option<IpAddr>, port: u16) -> Result<TcpStream, String> {
    let Some(ip) = pod_ip else {
        return Err(format!(
            "error forwarding port {port} to pod {pod}: the pod has no IP address"
        ));
    };
    let loopback = matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 127);
    if !loopback {
        return Err(format!(
            "error forwarding port {port} to pod {pod}: refusing to connect to {ip}: the sandbox only connects inside 127.0.0.0/8"
        ));
    }
    let stream = TcpStream::connect(SocketAddr::new(ip, port))
        .await
        .map_err(|e| {
            format!("error forwarding port {port} to pod {pod}, uid : failed to connect to {ip}:{port}: {e}")
        })?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn bridge(
    socket: Socket,
    target: Target,
    ports: Vec<u16>,
    close_signal: bool,
    cancel: CancellationToken,
) {
    let (mut sink, mut stream) = socket.split();
    // Frames from the pod sides, in order per port; a few are enough to keep the WebSocket
    // busy (more only wait here while the CPU caches forget them).
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(4);
    // The first frame on every channel names its port.
    for (i, port) in ports.iter().enumerate() {
        let bytes = port.to_le_bytes();
        for channel in [2 * i as u8, 2 * i as u8 + 1] {
            if sink.send(frame(channel, &bytes)).await.is_err() {
                return;
            }
        }
    }
    let mut writers: Vec<Option<OwnedWriteHalf>> = Vec::with_capacity(ports.len());
    let mut readers = tokio::task::JoinSet::new();
    for (i, port) in ports.iter().enumerate() {
        let data_channel = 2 * i as u8;
        match target.connect(*port).await {
            Err(message) => {
                if sink
                    .send(frame(data_channel + 1, message.as_bytes()))
                    .await
                    .is_err()
                {
                    return;
                }
                writers.push(None);
            }
            Ok(connection) => {
                let (reader, writer) = connection.into_split();
                writers.push(Some(writer));
                readers.spawn(pod_to_client(reader, data_channel, out_tx.clone()));
            }
        }
    }
    drop(out_tx);
    // Both directions at once: a pod that is slow to read must not hold up what it sends.
    // Like a kubelet, the forward ends once every port's pod connection ended (the pod
    // closed, or the port could not be connected): what the pod sent is delivered, then the
    // WebSocket closes, so the client sees the pod's close as the end of its stream. A
    // client that closes its sending side (the v5 close signal) only shuts down the pod's
    // receiving side: the pod's answer still comes back.
    let client_closed = tokio::select! {
        closed = client_to_pod(&mut stream, &mut writers, close_signal) => closed,
        () = send_frames(&mut sink, &mut out_rx) => false,
        () = cancel.cancelled() => false,
    };
    drop(writers);
    // A pod side still reading has no one to deliver to.
    readers.abort_all();
    if let Ok(socket) = stream.reunite(sink) {
        finish(socket, client_closed).await;
    }
}

/// One pod connection's bytes → frames on `channel`, each read straight behind its channel
/// byte (no copy) and aligned ([`start_frame`]).
async fn pod_to_client(mut reader: OwnedReadHalf, channel: u8, out: mpsc::Sender<Message>) {
    // Space for the next frame is reclaimed once the WebSocket copied the previous ones out.
    let mut buffer = BytesMut::new();
    loop {
        start_frame(&mut buffer, channel, MAX_FRAME);
        match reader.read_buf(&mut (&mut buffer).limit(MAX_FRAME)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if out
                    .send(Message::Binary(buffer.split().freeze()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// Sends the pod sides' frames, one flush for whatever is queued; returns once every pod
/// side ended and its frames are out, or when the WebSocket fails.
async fn send_frames(sink: &mut SplitSink<Socket, Message>, out: &mut mpsc::Receiver<Message>) {
    while let Some(message) = out.recv().await {
        if sink.feed(message).await.is_err() {
            return;
        }
        while let Ok(message) = out.try_recv() {
            if sink.feed(message).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// Client frames → the pod connections, until the client closes (`true`) or the WebSocket
/// fails.
async fn client_to_pod(
    stream: &mut SplitStream<Socket>,
    writers: &mut [Option<OwnedWriteHalf>],
    close_signal: bool,
) -> bool {
    loop {
        match stream.next().await {
            Some(Ok(Message::Binary(data))) => {
                let Some((&channel, payload)) = data.split_first() else {
                    continue;
                };
                if close_signal && channel == CLOSE_CHANNEL {
                    // v5: the client closed its side of a channel.
                    if let Some(&closed) = payload.first()
                        && closed % 2 == 0
                        && let Some(Some(writer)) = writers.get_mut(usize::from(closed / 2))
                    {
                        let _ = writer.shutdown().await;
                    }
                    continue;
                }
                if channel % 2 != 0 || payload.is_empty() {
                    continue;
                }
                let index = usize::from(channel / 2);
                if let Some(slot) = writers.get_mut(index)
                    && let Some(writer) = slot
                    && writer.write_all(payload).await.is_err()
                {
                    *slot = None;
                }
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
            Some(Ok(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_comma_separated_or_repeated() {
        assert_eq!(
            parse_ports(&Params::parse("ports=80,8080&ports=9000")).expect("valid"),
            vec![80, 8080, 9000]
        );
        assert!(parse_ports(&Params::parse("ports=80,80")).is_err());
        assert!(parse_ports(&Params::parse("ports=0")).is_err());
        assert!(parse_ports(&Params::parse("")).is_err());
    }

    fn upgrade(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    fn websocket(protocols: Option<&str>) -> HeaderMap {
        let mut pairs = vec![
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        pairs.extend(protocols.map(|p| ("sec-websocket-protocol", p)));
        upgrade(&pairs)
    }

    #[test]
    fn websockets_get_tunnelled_spdy_first_then_channels_then_the_unnamed_channel() {
        let (protocol, answer) = negotiate(&websocket(Some(
            "SPDY/3.1+portforward.k8s.io, v4.channel.k8s.io",
        )))
        .expect("tunnel");
        assert_eq!(protocol, Protocol::SpdyTunnel);
        assert_eq!(
            answer[header::SEC_WEBSOCKET_PROTOCOL],
            "SPDY/3.1+portforward.k8s.io"
        );
        assert_eq!(
            answer[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let (protocol, _) =
            negotiate(&websocket(Some("v4.channel.k8s.io,v5.channel.k8s.io"))).expect("v5");
        assert_eq!(
            protocol,
            Protocol::Channel {
                name: Some("v5.channel.k8s.io"),
                close_signal: true
            }
        );
        // No subprotocol at all: the kubelet's unnamed binary channel protocol.
        let (protocol, answer) = negotiate(&websocket(None)).expect("unnamed");
        assert_eq!(
            protocol,
            Protocol::Channel {
                name: None,
                close_signal: false
            }
        );
        assert!(!answer.contains_key(header::SEC_WEBSOCKET_PROTOCOL));
        let refused = negotiate(&websocket(Some("base64.channel.k8s.io"))).expect_err("unknown");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn spdy_upgrades_negotiate_the_portforward_protocol() {
        let spdy = |version: Option<&str>| {
            let mut pairs = vec![("connection", "Upgrade"), ("upgrade", "SPDY/3.1")];
            pairs.extend(version.map(|v| ("x-stream-protocol-version", v)));
            negotiate(&upgrade(&pairs))
        };
        let (protocol, answer) = spdy(Some("portforward.k8s.io")).expect("SPDY");
        assert_eq!(protocol, Protocol::Spdy);
        assert_eq!(answer[header::UPGRADE], "SPDY/3.1");
        assert_eq!(answer[STREAM_PROTOCOL_HEADER], "portforward.k8s.io");
        let refused = spdy(Some("channel.k8s.io")).expect_err("other protocol");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            refused.headers()[ACCEPTED_PROTOCOLS_HEADER],
            "portforward.k8s.io"
        );
        let refused = spdy(None).expect_err("no protocol");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let refused = negotiate(&upgrade(&[("upgrade", "SPDY/3.1")])).expect_err("no Connection");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn refuses_addresses_outside_loopback() {
        let err = connect("web", Some("10.0.0.1".parse().expect("ip")), 80)
            .await
            .expect_err("refused");
        assert!(err.contains("only connects inside 127.0.0.0/8"), "{err}");
        let err = connect("web", None, 80).await.expect_err("no ip");
        assert!(err.contains("no IP address"), "{err}");
    }
}
