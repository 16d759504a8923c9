//! The tasks behind [`super::Command::Inspect`]: each reads what its request names through the
//! [`Inspector`] and reports back; a log stream reports its lines in batches until it ends or
//! its page closes (the loop aborts the task).

use std::sync::Arc;
use std::time::SystemTime;

use futures::StreamExt;

use super::drill::{InspectRequest, Inspected};
use crate::cluster::inspect::{Inspector, ObjectKind, ObjectRef};

/// Log lines sent together at most.
const LOG_BATCH: usize = 256;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Reads what `request` names; `send` returns `false` once nobody listens.
pub async fn run(
    inspector: Inspector,
    request: InspectRequest,
    send: impl Fn(Inspected) -> bool + Send + 'static,
) {
    match request {
        InspectRequest::Pod(target) => {
            let namespace = target.namespace.clone().unwrap_or_default();
            let (pod, events) = futures::join!(
                inspector.pod(&namespace, &target.name),
                inspector.events(&target)
            );
            send(Inspected::Pod {
                pod: pod.map(Arc::new),
                events,
                at: now(),
            });
        }
        InspectRequest::Service {
            target,
            owners,
            not_ready,
        } => {
            let namespace = target.namespace.clone().unwrap_or_default();
            let (events, workloads) = futures::join!(
                inspector.events(&target),
                inspector.workloads(&namespace, &owners)
            );
            let mut pods = Vec::new();
            for name in not_ready {
                let pod = ObjectRef {
                    kind: ObjectKind::Pod,
                    namespace: Some(namespace.clone()),
                    name: name.clone(),
                };
                pods.push((name, inspector.events(&pod).await));
            }
            send(Inspected::Service {
                events,
                workloads,
                pods,
                at: now(),
            });
        }
        InspectRequest::PodEvents(target) => {
            send(Inspected::PodEvents(inspector.events(&target).await));
        }
        InspectRequest::Yaml(target) => {
            send(Inspected::Yaml(inspector.yaml(&target).await));
        }
        InspectRequest::Logs(request) => stream_logs(&inspector, &request, send).await,
    }
}

/// Streams a log in batches until it ends, fails, or nobody listens.
async fn stream_logs(
    inspector: &Inspector,
    request: &crate::cluster::inspect::LogRequest,
    send: impl Fn(Inspected) -> bool,
) {
    let mut lines = match inspector.logs(request).await {
        Ok(lines) => lines.ready_chunks(LOG_BATCH),
        Err(error) => {
            send(Inspected::LogEnded(Some(format!("no log: {error}"))));
            return;
        }
    };
    while let Some(batch) = lines.next().await {
        let mut good = Vec::with_capacity(batch.len());
        let mut failed = None;
        for line in batch {
            match line {
                Ok(line) => good.push(line),
                Err(error) => failed = Some(error),
            }
        }
        if !good.is_empty() && !send(Inspected::LogLines(good)) {
            return;
        }
        if let Some(error) = failed {
            send(Inspected::LogEnded(Some(format!(
                "the log stream failed: {error}"
            ))));
            return;
        }
    }
    let why = if request.follow {
        "the log stream ended (the container stopped, or the server closed it)"
    } else {
        "end of the log"
    };
    send(Inspected::LogEnded(Some(why.to_owned())));
}
