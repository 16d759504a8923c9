//! `pods/{name}/exec` over WebSocket (`v5.channel.k8s.io` / `v4.channel.k8s.io`, what
//! kubectl and kube-rs speak): stdout on channel 1, stderr on 2, and the end on channel 3
//! as a `Status` (`Success`, or `Failure` with reason `NonZeroExitCode` and the exit code).
//! The older channel protocols (v3, v2, `channel.k8s.io`, or no subprotocol at all, as the
//! kubelet accepts) get only a failure's message on channel 3.
//!
//! Sandbox pods run no processes, so exec answers only what the sandbox knows truthfully
//! from the pod's spec and status ([`super::pod_files`]):
//! - `hostname`;
//! - `env`, `printenv [NAME]`: the variables the kubelet sets (see
//!   [`environment`](super::pod_files::environment)); variables from ConfigMaps, Secrets or
//!   resources are named on stderr instead of shown;
//! - `cat` of `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`.
//!
//! Anything else writes why on stderr and ends with exit code 127 (command not found).
//! Stdin is read and ignored.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::json;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::super::ApiContext;
use super::super::path::{Params, ResourceTarget};
use super::super::status::ApiError;
use super::logs::{choose_container, stored_pod};
use super::pod_files;
use crate::store::Store;

/// The channel protocols, newest first. v4 and v5 end with a `Status` on the error channel;
/// the older ones (and a WebSocket without a subprotocol, which the kubelet takes as the first
/// `channel.k8s.io`) carry only a failure's message there.
const PROTOCOLS: [&str; 5] = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
/// How long the client may take to answer the closing handshake.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Exit code of a command that does not exist.
pub(crate) const NOT_FOUND: i32 = 127;

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// What a command may read: the pod, its container, and the cluster around it.
pub(crate) struct Context<'a> {
    pub pod: &'a Pod,
    pub container: &'a str,
    pub services: &'a [Service],
    /// The cluster DNS Service's address (kube-system/kube-dns), if there is one.
    pub cluster_dns: Option<String>,
    /// The node's (this machine's) resolv.conf, for pods not using cluster DNS.
    pub node_resolv: String,
}

const SERVED: &str =
    "hostname, env, printenv [NAME], cat /etc/hostname|/etc/hosts|/etc/resolv.conf";

fn file(context: &Context<'_>, path: &str) -> Option<String> {
    Some(match path {
        "/etc/hostname" => format!("{}\n", pod_files::hostname(context.pod)),
        "/etc/hosts" => pod_files::hosts(context.pod),
        "/etc/resolv.conf" => pod_files::resolv_conf(
            context.pod,
            context.cluster_dns.as_deref(),
            &context.node_resolv,
        ),
        _ => return None,
    })
}

fn environment(context: &Context<'_>) -> (Vec<(String, String)>, String) {
    let spec = context.pod.spec.clone().unwrap_or_default();
    let container = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == context.container)
        .cloned()
        .unwrap_or_default();
    let (vars, unknown) = pod_files::environment(context.pod, &container, context.services);
    let stderr = unknown
        .iter()
        .map(|name| {
            format!("kubehop sandbox: {name} comes from a ConfigMap, Secret or resource field; not shown\n")
        })
        .collect();
    (vars, stderr)
}

/// Runs one of the commands the sandbox serves.
pub(crate) fn run(command: &[String], context: &Context<'_>) -> Output {
    let args: Vec<&str> = command.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["hostname"] => Output {
            stdout: format!("{}\n", pod_files::hostname(context.pod)),
            ..Output::default()
        },
        ["env"] | ["printenv"] => {
            let (vars, stderr) = environment(context);
            let stdout = vars.iter().map(|(n, v)| format!("{n}={v}\n")).collect();
            Output {
                stdout,
                stderr,
                code: 0,
            }
        }
        ["printenv", name] => {
            let (vars, stderr) = environment(context);
            match vars.iter().find(|(n, _)| n == name) {
                Some((_, value)) => Output {
                    stdout: format!("{value}\n"),
                    stderr,
                    code: 0,
                },
                None => Output {
                    stdout: String::new(),
                    stderr,
                    code: 1,
                },
            }
        }
        ["cat", paths @ ..] if !paths.is_empty() => {
            let mut output = Output::default();
            for path in paths {
                match file(context, path) {
                    Some(text) => output.stdout.push_str(&text),
                    None => {
                        output.stderr.push_str(&format!(
                            "kubehop sandbox: cat: {path}: the sandbox knows only /etc/hostname, /etc/hosts and /etc/resolv.conf of a pod\n"
                        ));
                        output.code = 1;
                    }
                }
            }
            output
        }
        _ => Output {
            stdout: String::new(),
            stderr: format!(
                "kubehop sandbox: pod {} runs no processes, so {:?} cannot run; exec answers only: {SERVED}\n",
                context.pod.metadata.name.as_deref().unwrap_or(""),
                command.join(" ")
            ),
            code: NOT_FOUND,
        },
    }
}

/// The error channel's `Status` for an exit code.
pub(crate) fn exit_status(command: &[String], code: i32) -> serde_json::Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// The exec query: command words, container, and which streams the client wants.
struct ExecQuery {
    command: Vec<String>,
    container: Option<String>,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

impl ExecQuery {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let command: Vec<String> = params.all("command").map(str::to_string).collect();
        if command.is_empty() {
            return Err(ApiError::bad_request("you must specify at least 1 command"));
        }
        Ok(ExecQuery {
            command,
            container: params
                .get("container")
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            stdout: params.flag("stdout"),
            stderr: params.flag("stderr"),
            tty: params.flag("tty"),
        })
    }
}

fn cluster_dns(store: &Store) -> Option<String> {
    let service: Service = store.get("kube-system", "kube-dns").ok().flatten()?;
    service
        .spec?
        .cluster_ip
        .filter(|ip| !ip.is_empty() && ip != "None")
}

/// Checks that the container can be exec'd into (on a node, running).
fn check_running(pod: &Pod, container: &str) -> Result<(), ApiError> {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let on_node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    if !on_node {
        return Err(ApiError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let status = pod.status.clone().unwrap_or_default();
    let running = [status.container_statuses, status.init_container_statuses]
        .into_iter()
        .flatten()
        .flatten()
        .any(|s| s.name == container && s.state.is_some_and(|st| st.running.is_some()));
    if running {
        Ok(())
    } else {
        Err(ApiError::internal(format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        )))
    }
}

pub(crate) fn exec(
    context: &Arc<ApiContext>,
    request: Request,
    target: &ResourceTarget,
    params: &Params,
) -> Result<Response, ApiError> {
    let store = &context.shared.store;
    let pod = stored_pod(store, target)?;
    let query = ExecQuery::parse(params)?;
    let container = choose_container(&pod, query.container.as_deref())?;
    check_running(&pod, &container)?;
    let (mut parts, _body) = request.into_parts();
    let (accept, protocol) = handshake(&parts.headers)?;
    let on_upgrade = parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| ApiError::bad_request("this connection cannot be upgraded"))?;
    let services: Vec<Service> = store.list(None).unwrap_or_default();
    let exec_context = Context {
        pod: &pod,
        container: &container,
        services: &services,
        cluster_dns: cluster_dns(store),
        node_resolv: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    };
    let output = run(&query.command, &exec_context);
    let status = match protocol {
        Some("v5.channel.k8s.io" | "v4.channel.k8s.io") => {
            exit_status(&query.command, output.code).to_string()
        }
        _ => exit_status(&query.command, output.code)["message"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    };
    let cancel = context.cancel.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = answer(socket, &query, output, status) => {}
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    if let Some(protocol) = protocol {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
    }
    Ok(response)
}

/// Writes the output, the status, closes, and waits (bounded) for the client's close.
async fn answer<S>(
    mut socket: WebSocketStream<S>,
    query: &ExecQuery,
    output: Output,
    status: String,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let frame = |channel: u8, text: &str| {
        let mut data = Vec::with_capacity(text.len() + 1);
        data.push(channel);
        data.extend_from_slice(text.as_bytes());
        Message::binary(data)
    };
    let mut frames = Vec::new();
    if query.tty {
        let merged = format!("{}{}", output.stdout, output.stderr).replace('\n', "\r\n");
        if query.stdout && !merged.is_empty() {
            frames.push(frame(STDOUT, &merged));
        }
    } else {
        if query.stdout && !output.stdout.is_empty() {
            frames.push(frame(STDOUT, &output.stdout));
        }
        if query.stderr && !output.stderr.is_empty() {
            frames.push(frame(STDERR, &output.stderr));
        }
    }
    if !status.is_empty() {
        frames.push(frame(ERROR, &status));
    }
    for message in frames {
        if socket.send(message).await.is_err() {
            return;
        }
    }
    // A normal closure: client-go's readers take it as the end of every stream.
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    if socket.close(Some(normal)).await.is_err() {
        return;
    }
    let drain = async { while let Some(Ok(_)) = socket.next().await {} };
    if tokio::time::timeout(CLOSE_WAIT, drain).await.is_err() {
        tracing::debug!("exec: the client did not close its side");
    }
}

/// Checks a WebSocket upgrade; returns Sec-WebSocket-Accept and the channel protocol (none
/// when the client offered none).
fn handshake(headers: &HeaderMap) -> Result<(HeaderValue, Option<&'static str>), ApiError> {
    let text = |name: header::HeaderName| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let has = |list: &str, word: &str| list.split(',').any(|w| w.trim().eq_ignore_ascii_case(word));
    if !has(&text(header::UPGRADE), "websocket") || !has(&text(header::CONNECTION), "upgrade") {
        return Err(ApiError::bad_request(
            "Upgrade request required: the sandbox serves exec over WebSocket (v5.channel.k8s.io down to channel.k8s.io)",
        ));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| ApiError::bad_request("missing Sec-WebSocket-Key"))?;
    let offered = text(header::SEC_WEBSOCKET_PROTOCOL);
    let protocol = if offered.trim().is_empty() {
        None
    } else {
        Some(PROTOCOLS.into_iter().find(|p| has(&offered, p)).ok_or_else(|| {
            ApiError::bad_request(format!(
                "none of the offered WebSocket subprotocols ({offered}) is served; the sandbox speaks {}",
                PROTOCOLS.join(", ")
            ))
        })?)
    };
    let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| ApiError::internal("cannot answer the WebSocket handshake"))?;
    Ok((accept, protocol))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context_for(pod: &Pod) -> Context<'_> {
        Context {
            pod,
            container: "app",
            services: &[],
            cluster_dns: Some("127.96.0.10".into()),
            node_resolv: String::new(),
        }
    }

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn served_commands_answer_from_the_pod() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "default"},
            "spec": {"containers": [{"name": "app", "env": [{"name": "MODE", "value": "x"}]}]}
        }))
        .expect("pod");
        let context = context_for(&pod);
        assert_eq!(run(&words("hostname"), &context).stdout, "web-1\n");
        assert_eq!(run(&words("printenv MODE"), &context).stdout, "x\n");
        assert_eq!(run(&words("printenv NOPE"), &context).code, 1);
        assert!(
            run(&words("cat /etc/resolv.conf"), &context)
                .stdout
                .contains("nameserver 127.96.0.10\n")
        );
        let missing = run(&words("cat /etc/passwd"), &context);
        assert_eq!(missing.code, 1);
        assert!(missing.stderr.contains("/etc/passwd"), "{}", missing.stderr);
        let shell = run(&words("sh -c ls"), &context);
        assert_eq!(shell.code, NOT_FOUND);
        assert!(
            shell.stderr.contains("runs no processes"),
            "{}",
            shell.stderr
        );
    }

    #[test]
    fn the_handshake_picks_the_newest_offered_protocol_or_none() {
        let headers = |protocols: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            headers.insert(
                header::SEC_WEBSOCKET_KEY,
                HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
            );
            if !protocols.is_empty() {
                headers.insert(
                    header::SEC_WEBSOCKET_PROTOCOL,
                    HeaderValue::from_str(protocols).expect("header"),
                );
            }
            headers
        };
        let picked = |protocols: &str| handshake(&headers(protocols)).map(|(_, p)| p);
        assert_eq!(
            picked("v4.channel.k8s.io, v5.channel.k8s.io").ok(),
            Some(Some("v5.channel.k8s.io"))
        );
        assert_eq!(picked("channel.k8s.io").ok(), Some(Some("channel.k8s.io")));
        assert_eq!(picked("").ok(), Some(None));
        assert!(picked("SPDY/3.1+portforward.k8s.io").is_err());
        let (accept, _) = handshake(&headers("")).expect("accepted");
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn the_exit_status_carries_the_code() {
        assert_eq!(exit_status(&words("hostname"), 0)["status"], "Success");
        let failed = exit_status(&words("sh"), 127);
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0]["message"], "127");
    }
}
