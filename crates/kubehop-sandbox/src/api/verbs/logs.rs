//! `GET pods/{name}/log`: the pod's access log ([`crate::access_log`]) with the API server's
//! query parameters (`container`, `follow`, `tailLines`, `sinceSeconds`, `sinceTime`,
//! `timestamps`, `limitBytes`, `previous`) and the API server's and kubelet's errors.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, watch};

use super::super::ApiContext;
use super::super::path::{Params, ResourceTarget};
use super::super::status::ApiError;
use crate::access_log::{AccessLogs, LogLine, PodLog, Ring};
use crate::resources::ResourceId;
use crate::store::{Store, StoreError};

/// What a log request asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<i64>,
    pub since_seconds: Option<i64>,
    pub since_time: Option<Timestamp>,
    pub limit_bytes: Option<i64>,
}

fn integer(params: &Params, key: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(key)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "{key}: strconv.ParseInt: parsing {v:?}: invalid syntax"
                ))
            })
        })
        .transpose()
}

impl LogOptions {
    /// Parses and validates the query (`pod` names the pod in the errors).
    pub(crate) fn parse(params: &Params, pod: &str) -> Result<Self, ApiError> {
        let since_time = match params.get("sinceTime").filter(|v| !v.is_empty()) {
            None => None,
            Some(text) => Some(text.parse::<Timestamp>().map_err(|_| {
                ApiError::bad_request(format!(
                    "sinceTime: parsing time {text:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse"
                ))
            })?),
        };
        let options = LogOptions {
            container: params
                .get("container")
                .filter(|c| !c.is_empty())
                .map(str::to_string),
            follow: params.flag("follow"),
            previous: params.flag("previous"),
            timestamps: params.flag("timestamps"),
            tail_lines: integer(params, "tailLines")?,
            since_seconds: integer(params, "sinceSeconds")?,
            since_time,
            limit_bytes: integer(params, "limitBytes")?,
        };
        let mut problems = Vec::new();
        if let Some(n) = options.tail_lines.filter(|n| *n < 0) {
            problems.push(format!(
                "tailLines: Invalid value: {n}: must be greater than or equal to 0"
            ));
        }
        if let Some(n) = options.limit_bytes.filter(|n| *n < 1) {
            problems.push(format!(
                "limitBytes: Invalid value: {n}: must be greater than 0"
            ));
        }
        match (options.since_seconds, options.since_time) {
            (Some(_), Some(_)) => problems.push(
                "<nil>: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
                    .to_string(),
            ),
            (Some(n), None) if n < 1 => problems.push(format!(
                "sinceSeconds: Invalid value: {n}: must be greater than 0"
            )),
            _ => {}
        }
        match problems.as_slice() {
            [] => Ok(options),
            [one] => Err(ApiError::invalid(format!(
                "PodLogOptions \"{pod}\" is invalid: {one}"
            ))),
            many => Err(ApiError::invalid(format!(
                "PodLogOptions \"{pod}\" is invalid: [{}]",
                many.join(", ")
            ))),
        }
    }

    /// The oldest time a line may have (`sinceSeconds` / `sinceTime`).
    fn since(&self, now: Timestamp) -> Option<Timestamp> {
        self.since_time.or_else(|| {
            self.since_seconds
                .and_then(|s| now.checked_sub(SignedDuration::from_secs(s)).ok())
        })
    }
}

/// The stored pod `namespace/name`, decoded (404 `pods "name" not found` without it).
pub(crate) fn stored_pod(store: &Store, target: &ResourceTarget) -> Result<Pod, ApiError> {
    let name = target.name.as_deref().unwrap_or("");
    let namespace = target.namespace.as_deref().unwrap_or("");
    let not_found = || StoreError::NotFound {
        resource: ResourceId::Pods,
        name: name.to_string(),
    };
    let object = store
        .get_object(ResourceId::Pods, namespace, name)
        .ok_or_else(not_found)?;
    object
        .decode::<Pod>()
        .map_err(|e| ApiError::internal(format!("the stored pod does not decode: {e}")))
}

fn names<'a>(
    containers: impl IntoIterator<Item = &'a k8s_openapi::api::core::v1::Container>,
) -> String {
    containers
        .into_iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The container a log or exec request means, with the API server's errors.
pub(crate) fn choose_container(pod: &Pod, requested: Option<&str>) -> Result<String, ApiError> {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let spec = pod.spec.clone().unwrap_or_default();
    match requested {
        Some(container) => {
            let known = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .any(|c| c.name == container)
                || spec
                    .ephemeral_containers
                    .iter()
                    .flatten()
                    .any(|c| c.name == container);
            if known {
                Ok(container.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {container} is not valid for pod {name}"
                )))
            }
        }
        None => match spec.containers.as_slice() {
            [only] => Ok(only.name.clone()),
            [] => Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}"
            ))),
            many => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names(many)
                );
                let init = spec.init_containers.as_deref().unwrap_or_default();
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        names(init)
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        },
    }
}

/// Whether `container` has logs to read, as the kubelet decides; `Ok(false)` for a pod not
/// yet on a node (the API server answers an empty log).
fn container_readable(pod: &Pod, container: &str, previous: bool) -> Result<bool, ApiError> {
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let on_node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    if !on_node {
        return Ok(false);
    }
    let status = pod.status.clone().unwrap_or_default();
    let found = [
        status.container_statuses,
        status.init_container_statuses,
        status.ephemeral_container_statuses,
    ]
    .into_iter()
    .flatten()
    .flatten()
    .find(|s| s.name == container);
    let fail = |what: &str| {
        Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" {what}"
        )))
    };
    let Some(found) = found else {
        // The sandbox's kubelet reports containers once they run: before, they are created.
        return fail("is waiting to start: ContainerCreating");
    };
    let last_terminated = found
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref());
    if previous {
        if last_terminated.is_none() {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        return Ok(true);
    }
    let state = found.state.unwrap_or_default();
    if state.running.is_some() || state.terminated.is_some() || last_terminated.is_some() {
        return Ok(true);
    }
    match state.waiting.and_then(|w| w.reason) {
        Some(reason) if reason == "ErrImagePull" => {
            fail("is waiting to start: image can't be pulled")
        }
        Some(reason) if reason == "ImagePullBackOff" => {
            fail("is waiting to start: trying and failing to pull image")
        }
        Some(reason) => fail(&format!("is waiting to start: {reason}")),
        None => fail("is waiting to start - no logs yet"),
    }
}

/// One line as the response carries it.
fn render(line: &LogLine, timestamps: bool) -> String {
    if timestamps {
        format!("{} {}\n", line.at, line.text)
    } else {
        format!("{}\n", line.text)
    }
}

/// The lines a request gets now (since, then tail), and the next sequence number.
pub(crate) fn select(ring: &Ring, options: &LogOptions, now: Timestamp) -> (Vec<LogLine>, u64) {
    let since = options.since(now);
    let mut lines: Vec<LogLine> = ring
        .from(0)
        .filter(|l| since.is_none_or(|since| l.at >= since))
        .cloned()
        .collect();
    if let Some(tail) = options.tail_lines.and_then(|t| usize::try_from(t).ok()) {
        let skip = lines.len().saturating_sub(tail);
        lines.drain(..skip);
    }
    (lines, ring.next_seq())
}

/// `limitBytes`: how many bytes may still be sent.
#[derive(Debug)]
pub(crate) struct Limit(Option<u64>);

impl Limit {
    /// `text` cut to what may still be sent; `None` once nothing may.
    pub(crate) fn take(&mut self, text: String) -> Option<String> {
        let Some(left) = self.0.as_mut() else {
            return Some(text);
        };
        if *left == 0 {
            return None;
        }
        let mut bytes = text.into_bytes();
        bytes.truncate(usize::try_from(*left).unwrap_or(usize::MAX));
        *left -= bytes.len() as u64;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn exhausted(&self) -> bool {
        self.0 == Some(0)
    }
}

pub(crate) fn log(
    context: &Arc<ApiContext>,
    target: &ResourceTarget,
    params: &Params,
) -> Result<Response, ApiError> {
    let shared = &context.shared;
    let pod = stored_pod(&shared.store, target)?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let options = LogOptions::parse(params, &name)?;
    let container = choose_container(&pod, options.container.as_deref())?;
    if !container_readable(&pod, &container, options.previous)? || options.previous {
        // Not on a node yet, or a previous container (whose lines the sandbox does not keep
        // apart): nothing to read.
        return Ok(text_response(Body::empty()));
    }
    // Logs of deleted pods go here too when no data plane runs to forget them.
    shared.access.prune();
    let log = shared.access.pod(&pod);
    // Subscribed before reading: a line written in between still wakes the follower.
    let written = log.subscribe();
    let (lines, next) = log.read(&container, |ring| select(ring, &options, Timestamp::now()));
    let mut limit = Limit(options.limit_bytes.and_then(|n| u64::try_from(n).ok()));
    let text: String = lines
        .iter()
        .map(|l| render(l, options.timestamps))
        .collect();
    let first = limit.take(text).unwrap_or_default();
    if !options.follow || limit.exhausted() {
        return Ok(text_response(Body::from(first)));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    if !first.is_empty() && tx.try_send(Bytes::from(first)).is_err() {
        return Err(ApiError::internal("cannot start the log stream"));
    }
    let follower = Follower {
        store: shared.store.clone(),
        access: shared.access.clone(),
        pod,
        container,
        timestamps: options.timestamps,
        limit,
    };
    tokio::spawn(follower.run((log, written), next, tx, context.cancel.clone()));
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok(text_response(Body::from_stream(stream)))
}

fn text_response(body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// A `follow=true` stream: new lines until the pod is gone or ends, the client leaves,
/// `limitBytes` is reached or the API server stops.
struct Follower {
    store: Store,
    access: AccessLogs,
    pod: Pod,
    container: String,
    timestamps: bool,
    limit: Limit,
}

impl Follower {
    /// Whether the pod is still there (same uid) and its containers have not ended.
    fn pod_lives(&self) -> bool {
        let uid = self.pod.metadata.uid.as_deref().unwrap_or("");
        let namespace = self.pod.metadata.namespace.as_deref().unwrap_or("");
        let name = self.pod.metadata.name.as_deref().unwrap_or("");
        self.store
            .get_object(ResourceId::Pods, namespace, name)
            .is_some_and(|object| {
                object.uid() == uid
                    && !matches!(object.field("status.phase"), "Succeeded" | "Failed")
            })
    }

    async fn run(
        mut self,
        (mut log, mut written): (Arc<PodLog>, watch::Receiver<u64>),
        mut next: u64,
        tx: mpsc::Sender<Bytes>,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        let mut changes = self.store.changes();
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tx.closed() => return,
                changed = written.changed() => if changed.is_err() { return },
                changed = changes.changed() => {
                    if changed.is_err() || !self.pod_lives() {
                        // Whatever was written last still goes out.
                        self.send_new(&log, &mut next, &tx).await;
                        return;
                    }
                    // The data plane may have started the pod's log afresh.
                    let current = self.access.pod(&self.pod);
                    if !Arc::ptr_eq(&current, &log) {
                        log = current;
                        written = log.subscribe();
                        next = 0;
                    }
                    continue;
                }
            }
            if !self.send_new(&log, &mut next, &tx).await {
                return;
            }
        }
    }

    /// Sends the lines from `next` on; `false` when the stream is over.
    async fn send_new(&mut self, log: &PodLog, next: &mut u64, tx: &mpsc::Sender<Bytes>) -> bool {
        let (text, after) = log.read(&self.container, |ring| {
            let text: String = ring
                .from(*next)
                .map(|l| render(l, self.timestamps))
                .collect();
            (text, ring.next_seq())
        });
        *next = after;
        if text.is_empty() {
            return true;
        }
        match self.limit.take(text) {
            Some(text) => tx.send(Bytes::from(text)).await.is_ok() && !self.limit.exhausted(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(query: &str) -> Result<LogOptions, String> {
        LogOptions::parse(&Params::parse(query), "web-1").map_err(|e| e.message)
    }

    #[test]
    fn parameters_parse_as_the_api_server_reads_them() {
        let options =
            parse("container=app&follow=true&tailLines=10&timestamps=true&limitBytes=500")
                .expect("valid");
        assert_eq!(options.container.as_deref(), Some("app"));
        assert!(options.follow && options.timestamps && !options.previous);
        assert_eq!(options.tail_lines, Some(10));
        assert_eq!(options.limit_bytes, Some(500));
        let since = parse("sinceTime=2026-12-06T10:00:00Z").expect("valid");
        assert_eq!(
            since.since_time.map(|t| t.to_string()).as_deref(),
            Some("2026-12-06T10:00:00Z")
        );
    }

    #[test]
    fn invalid_parameters_are_answered_as_the_api_server_words_them() {
        assert_eq!(
            parse("tailLines=-1").expect_err("negative"),
            "PodLogOptions \"web-1\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(
            parse("sinceSeconds=5&sinceTime=2026-12-06T10:00:00Z").expect_err("both"),
            "PodLogOptions \"web-1\" is invalid: <nil>: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
        );
        assert!(
            parse("limitBytes=0&sinceSeconds=0")
                .expect_err("two")
                .contains("[limitBytes")
        );
        assert!(
            parse("tailLines=ten")
                .expect_err("text")
                .starts_with("tailLines: ")
        );
    }

    fn ring() -> Ring {
        let mut ring = Ring::default();
        for i in 0..5 {
            ring.push(
                Timestamp::from_second(1000 + i).expect("t"),
                format!("l{i}"),
            );
        }
        ring
    }

    #[test]
    fn tail_and_since_select_lines() {
        let now = Timestamp::from_second(1010).expect("t");
        let texts = |query: &str| {
            let (lines, next) = select(&ring(), &parse(query).expect("valid"), now);
            assert_eq!(next, 5);
            lines.into_iter().map(|l| l.text).collect::<Vec<_>>()
        };
        assert_eq!(texts(""), ["l0", "l1", "l2", "l3", "l4"]);
        assert_eq!(texts("tailLines=2"), ["l3", "l4"]);
        assert_eq!(texts("tailLines=0"), Vec::<String>::new());
        assert_eq!(texts("sinceSeconds=8"), ["l2", "l3", "l4"]);
        assert_eq!(texts("sinceSeconds=8&tailLines=1"), ["l4"]);
    }

    #[test]
    fn the_fuzz_harness_answers_logs_and_skips_followed_ones() {
        let mut harness = crate::api::fuzzing::RequestHarness::new();
        let log = "/api/v1/namespaces/shop/pods/nope/log";
        assert!(
            harness
                .handle("GET", &format!("{log}?follow=true"), "", Vec::new())
                .is_none()
        );
        let answer = harness
            .handle("GET", log, "", Vec::new())
            .expect("answered");
        assert_eq!(answer.status, 404);
    }

    #[test]
    fn limit_bytes_cuts_the_stream() {
        let mut limit = Limit(Some(5));
        assert_eq!(limit.take("abc\n".into()).as_deref(), Some("abc\n"));
        assert_eq!(limit.take("defg\n".into()).as_deref(), Some("d"));
        assert!(limit.exhausted());
        assert_eq!(limit.take("x".into()), None);
    }

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).expect("pod")
    }

    #[test]
    fn containers_are_chosen_with_the_api_servers_errors() {
        let two = pod(json!({"metadata": {"name": "web-1"}, "spec": {
            "containers": [{"name": "app"}, {"name": "proxy"}],
            "initContainers": [{"name": "init"}]}}));
        assert_eq!(
            choose_container(&two, None).expect_err("two").message,
            "a container name must be specified for pod web-1, choose one of: [app proxy] or one of the init containers: [init]"
        );
        assert_eq!(choose_container(&two, Some("init")).expect("init"), "init");
        assert_eq!(
            choose_container(&two, Some("nope"))
                .expect_err("unknown")
                .message,
            "container nope is not valid for pod web-1"
        );
    }

    #[test]
    fn a_pending_container_is_waiting_to_start() {
        let pending = pod(json!({"metadata": {"name": "web-1"},
            "spec": {"nodeName": "node-a", "containers": [{"name": "app"}]},
            "status": {"phase": "Pending"}}));
        assert_eq!(
            container_readable(&pending, "app", false)
                .expect_err("pending")
                .message,
            "container \"app\" in pod \"web-1\" is waiting to start: ContainerCreating"
        );
        let running = pod(json!({"metadata": {"name": "web-1"},
            "spec": {"nodeName": "node-a", "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true,
                "restartCount": 0, "image": "i", "imageID": "", "state": {"running": {}}}]}}));
        assert_eq!(container_readable(&running, "app", false).ok(), Some(true));
        assert_eq!(
            container_readable(&running, "app", true)
                .expect_err("no previous")
                .message,
            "previous terminated container \"app\" in pod \"web-1\" not found"
        );
        let unscheduled = pod(json!({"metadata": {"name": "web-1"},
            "spec": {"containers": [{"name": "app"}]}}));
        assert_eq!(
            container_readable(&unscheduled, "app", false).ok(),
            Some(false)
        );
    }
}
