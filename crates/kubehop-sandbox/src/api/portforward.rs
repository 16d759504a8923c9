//! `pods/{name}/portforward` over WebSocket, with the channel protocol kube-rs's
//! `Api::<Pod>::portforward` speaks (`v5.channel.k8s.io` / `v4.channel.k8s.io`): port i uses
//! channel 2i for data and 2i+1 for errors; the first frame on every channel is the port
//! number, little-endian. Each port is bridged by TCP to `status.podIP:port`, loopback only.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
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
use super::status::ApiError;
use crate::faults::PortForwardFault;
use crate::resources::ResourceId;
use crate::store::StoreError;

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

const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// The v5 protocol's "close this channel" signal channel.
const CLOSE_CHANNEL: u8 = 255;

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
    let (accept, protocol) = websocket_handshake(&parts.headers)?;
    let ports = parse_ports(params)?;
    let on_upgrade = parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| ApiError::bad_request("this connection cannot be upgraded"))?;
    let pod_ip = pod
        .value()
        .pointer("/status/podIP")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<IpAddr>().ok());
    let error_message = match fault {
        Some(PortForwardFault::ErrorChannel(message)) => Some(message),
        _ => None,
    };
    let cancel = context.cancel.clone();
    let pod_name = name.to_string();
    let store = shared.store.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                let target = Target {
                    pod: pod_name,
                    ip: pod_ip,
                    store,
                };
                bridge(socket, target, ports, error_message, cancel).await;
            }
            Err(err) => tracing::debug!("port-forward upgrade failed: {err}"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    headers.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol),
    );
    Ok(response)
}

/// Checks a WebSocket upgrade request; returns the Sec-WebSocket-Accept value and the
/// channel protocol chosen.
fn websocket_handshake(headers: &HeaderMap) -> Result<(HeaderValue, &'static str), ApiError> {
    let text = |name: header::HeaderName| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let upgrade = text(header::UPGRADE);
    let connection = text(header::CONNECTION);
    let is_websocket = upgrade
        .split(',')
        .any(|u| u.trim().eq_ignore_ascii_case("websocket"))
        && connection
            .split(',')
            .any(|c| c.trim().eq_ignore_ascii_case("upgrade"));
    let key = headers.get(header::SEC_WEBSOCKET_KEY);
    let (true, Some(key)) = (is_websocket, key) else {
        return Err(ApiError::bad_request(
            "the sandbox serves port-forward over WebSocket only (v5.channel.k8s.io or v4.channel.k8s.io); SPDY is not supported",
        ));
    };
    let offered = text(header::SEC_WEBSOCKET_PROTOCOL);
    let protocol = PROTOCOLS
        .iter()
        .copied()
        .find(|p| offered.split(',').any(|o| o.trim() == *p))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unsupported streaming protocol; supported: {}",
                PROTOCOLS.join(", ")
            ))
        })?;
    let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| ApiError::bad_request("invalid Sec-WebSocket-Key"))?;
    Ok((accept, protocol))
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

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

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
    error_message: Option<String>,
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
        let outcome = match &error_message {
            Some(message) => Err(message.clone()),
            None => connect(&target.pod, target.ip, *port)
                .await
                .map_err(|error| {
                    let hint = target
                        .ip
                        .map(|ip| unbound_hint(&target.store, SocketAddr::new(ip, *port)))
                        .unwrap_or_default();
                    format!("{error}{hint}")
                }),
        };
        match outcome {
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
        closed = client_to_pod(&mut stream, &mut writers) => closed,
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
) -> bool {
    loop {
        match stream.next().await {
            Some(Ok(Message::Binary(data))) => {
                let Some((&channel, payload)) = data.split_first() else {
                    continue;
                };
                if channel == CLOSE_CHANNEL {
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
