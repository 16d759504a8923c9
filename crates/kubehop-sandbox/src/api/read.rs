//! get, list and watch, with the API server's resourceVersion semantics.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::path::{Params, ResourceTarget};
use super::status::ApiError;
use super::{ApiContext, Presentation, Shared, json_response, rendered, rendered_value};
use crate::resources::ResourceId;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{
    ContinueToken, EventType, ListPage, ListQuery, StoreError, StoreEvent, StoredObject,
};
use crate::table;

/// The watch timeout when the client names none (the API server's minimum request timeout).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// The annotation on the bookmark that ends a streaming list's initial events.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

pub(super) fn get(
    shared: &Shared,
    target: &ResourceTarget,
    presentation: &Presentation,
) -> Result<Response, ApiError> {
    let name = target.name.as_deref().unwrap_or("");
    let namespace = target.namespace.as_deref().unwrap_or("");
    let object = shared
        .store
        .get_object(target.resource.info().storage, namespace, name)
        .ok_or_else(|| StoreError::NotFound {
            resource: target.resource,
            name: name.to_string(),
        })?;
    if target.subresource.as_deref() == Some("scale") {
        return Ok(json_response(
            StatusCode::OK,
            super::write::scale_of(target.resource, &object.value()).to_string(),
        ));
    }
    let body = match presentation {
        Presentation::Object => rendered(target.resource, &object),
        Presentation::Table(include) => {
            let value = rendered_value(target.resource, &object);
            let list_meta = json!({"resourceVersion": object.resource_version().to_string()});
            Bytes::from(
                table::table(
                    target.resource,
                    &[value],
                    *include,
                    list_meta,
                    true,
                    shared.store.now(),
                )
                .to_string(),
            )
        }
        Presentation::PartialMetadata => {
            Bytes::from(table::partial_object_metadata(&object.value()).to_string())
        }
    };
    Ok(json_response(StatusCode::OK, body))
}

fn selectors(
    resource: ResourceId,
    params: &Params,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(params.get("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.0))?;
    let fields = FieldSelector::parse(params.get("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.0))?;
    if let Some(field) = fields.unsupported_field(|f| resource.info().field_selectable(f)) {
        return Err(ApiError::bad_request(format!(
            "field label not supported: {field}"
        )));
    }
    Ok((labels, fields))
}

/// A `resourceVersion` query parameter: absent/"" → None.
fn parse_resource_version(params: &Params) -> Result<Option<u64>, ApiError> {
    match params.get("resourceVersion") {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {text}"))),
    }
}

pub(super) fn list(
    shared: &Shared,
    target: &ResourceTarget,
    params: &Params,
    presentation: &Presentation,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    let (labels, fields) = selectors(resource, params)?;
    let (limit, continue_from) = paging(params)?;
    let current = shared.store.resource_version();
    if let Some(requested) = parse_resource_version(params)? {
        if requested > current {
            return Err(StoreError::TooLargeResourceVersion { requested, current }.into());
        }
        if params.get("resourceVersionMatch") == Some("Exact") && requested != current {
            return Err(StoreError::Expired {
                requested,
                oldest: current,
            }
            .into());
        }
    }
    let query = ListQuery {
        namespace: target.namespace.clone(),
        labels,
        fields,
        limit,
        continue_from,
    };
    let page = shared.store.list_page(resource.info().storage, &query);
    let mut list_meta = json!({"resourceVersion": page.resource_version.to_string()});
    if let Some(token) = &page.continue_token {
        list_meta["continue"] = json!(token.encode());
    }
    let body = page_body(shared, resource, presentation, &page, list_meta);
    Ok(json_response(StatusCode::OK, body))
}

/// `limit` and `continue` of a list request (a continue token with a resourceVersion is a
/// 400, as on the API server).
fn paging(params: &Params) -> Result<(Option<usize>, Option<ContinueToken>), ApiError> {
    let limit = match params.get("limit") {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit: {text}")))?,
        ),
    };
    let continue_from = match params.get("continue") {
        None | Some("") => None,
        Some(token) => {
            if parse_resource_version(params)?.is_some_and(|rv| rv != 0) {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            Some(ContinueToken::decode(token).ok_or_else(|| {
                ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
            })?)
        }
    };
    Ok((limit, continue_from))
}

/// The list body in the requested presentation: the kind's List, PartialObjectMetadataList or
/// a Table.
fn page_body(
    shared: &Shared,
    resource: ResourceId,
    presentation: &Presentation,
    page: &ListPage,
    list_meta: Value,
) -> Bytes {
    match presentation {
        Presentation::Object => {
            let info = resource.info();
            list_body(
                (&info.list_kind(), &info.api_version()),
                &list_meta,
                &page.items,
                |o| rendered(resource, o),
            )
        }
        Presentation::PartialMetadata => list_body(
            ("PartialObjectMetadataList", "meta.k8s.io/v1"),
            &list_meta,
            &page.items,
            |o| Bytes::from(table::partial_object_metadata(&o.value()).to_string()),
        ),
        Presentation::Table(include) => {
            let values: Vec<Value> = page
                .items
                .iter()
                .map(|o| rendered_value(resource, o))
                .collect();
            Bytes::from(
                table::table(
                    resource,
                    &values,
                    *include,
                    list_meta,
                    true,
                    shared.store.now(),
                )
                .to_string(),
            )
        }
    }
}

/// `{"kind":"PodList","apiVersion":"v1","metadata":{..},"items":[..]}` built from stored bytes.
fn list_body(
    (kind, api_version): (&str, &str),
    list_meta: &Value,
    items: &[Arc<StoredObject>],
    item: impl Fn(&StoredObject) -> Bytes,
) -> Bytes {
    let head = json!({
        "kind": kind,
        "apiVersion": api_version,
        "metadata": list_meta,
    })
    .to_string();
    let rendered: Vec<Bytes> = items.iter().map(|o| item(o)).collect();
    let size = head.len() + rendered.iter().map(|b| b.len() + 1).sum::<usize>() + 16;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    out.extend_from_slice(b",\"items\":[");
    for (i, bytes) in rendered.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

/// Where a watch starts.
enum Start {
    /// Send the current state as ADDED events first (resourceVersion unset or "0", or a
    /// streaming list).
    CurrentState,
    /// Replay events after this resourceVersion.
    After(u64),
}

struct WatchSpec {
    /// The resource whose stored objects and events are watched.
    resource: ResourceId,
    /// The resource (version) the client watches.
    served: ResourceId,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    start: Start,
    bookmarks: bool,
    initial_events_end: bool,
    deadline: Instant,
    presentation: Presentation,
    cut_after: Option<usize>,
}

/// `timeoutSeconds` of a watch (the default when unset).
fn watch_timeout(params: &Params) -> Result<Duration, ApiError> {
    Ok(match params.get("timeoutSeconds") {
        None | Some("") => DEFAULT_WATCH_TIMEOUT,
        Some(text) => Duration::from_secs(
            text.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {text}")))?,
        ),
    })
}

/// `sendInitialEvents`, which needs resourceVersionMatch NotOlderThan and bookmarks.
fn initial_events(params: &Params, bookmarks: bool) -> Result<bool, ApiError> {
    let send_initial_events = params.flag("sendInitialEvents");
    if send_initial_events {
        if params.get("resourceVersionMatch") != Some("NotOlderThan") {
            return Err(ApiError::invalid(
                "sendInitialEvents is only supported with resourceVersionMatch set to NotOlderThan",
            ));
        }
        if !bookmarks {
            return Err(ApiError::invalid(
                "sendInitialEvents requires allowWatchBookmarks to be true",
            ));
        }
    }
    Ok(send_initial_events)
}

pub(super) fn watch(
    context: &Arc<ApiContext>,
    target: &ResourceTarget,
    params: &Params,
    presentation: Presentation,
) -> Result<Response, ApiError> {
    let shared = &context.shared;
    let served = target.resource;
    let (labels, fields) = selectors(served, params)?;
    let resource = served.info().storage;
    let timeout = watch_timeout(params)?;
    let bookmarks = params.flag("allowWatchBookmarks");
    let send_initial_events = initial_events(params, bookmarks)?;
    let requested = parse_resource_version(params)?;
    let current = shared.store.resource_version();
    if let Some(rv) = requested
        && rv > current
    {
        return Err(StoreError::TooLargeResourceVersion {
            requested: rv,
            current,
        }
        .into());
    }
    let start = match requested {
        _ if send_initial_events => Start::CurrentState,
        None | Some(0) => Start::CurrentState,
        Some(rv) => Start::After(rv),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, Infallible>(line), rx))
    }));
    let response = json_response(StatusCode::OK, body);

    // A forced or real "too old": HTTP 200 with one ERROR event (an HTTP 410 would make
    // kube-rs retry the stale version instead of re-listing).
    let expired = match start {
        Start::After(rv) if shared.faults.take_expiry(resource) => Some((rv, current)),
        Start::After(rv) if rv < shared.store.oldest_replayable_for(resource) => {
            Some((rv, shared.store.oldest_replayable_for(resource)))
        }
        Start::CurrentState if shared.faults.take_expiry(resource) => Some((current, current)),
        _ => None,
    };
    if let Some((requested, oldest)) = expired {
        let line = expired_event(requested, oldest);
        tokio::spawn(async move {
            let _ = tx.send(line).await;
        });
        return Ok(response);
    }
    let spec = WatchSpec {
        resource,
        served,
        namespace: target.namespace.clone(),
        labels,
        fields,
        start,
        bookmarks,
        initial_events_end: send_initial_events,
        deadline: Instant::now() + timeout,
        presentation,
        cut_after: shared.faults.watch_cut(),
    };
    tokio::spawn(run_watch(context.clone(), spec, tx));
    Ok(response)
}

fn expired_event(requested: u64, oldest: u64) -> Bytes {
    let status = ApiError::new(
        StatusCode::GONE,
        "Expired",
        format!("too old resource version: {requested} ({oldest})"),
    )
    .status();
    Bytes::from(format!("{}\n", json!({"type": "ERROR", "object": status})))
}

/// Streams one watch until its deadline, a fault cut, the client leaving or the listener
/// stopping.
/// The ADDED events of the current state (and the initial-events-end bookmark when asked);
/// the revision they reflect, or `None` when the client went away.
async fn send_current_state(
    writer: &mut EventWriter<'_>,
    store: &crate::store::Store,
    spec: &WatchSpec,
) -> Option<u64> {
    let (objects, revision) = store.select_objects(
        spec.resource,
        spec.namespace.as_deref(),
        &spec.labels,
        &spec.fields,
    );
    for object in &objects {
        if !writer.event(EventType::Added, object).await {
            return None;
        }
    }
    if spec.initial_events_end && !writer.bookmark(revision, true).await {
        return None;
    }
    Some(revision)
}

async fn run_watch(context: Arc<ApiContext>, spec: WatchSpec, tx: mpsc::Sender<Bytes>) {
    let store = &context.shared.store;
    let mut changes = store.changes();
    changes.borrow_and_update();
    let mut writer = EventWriter {
        tx: &tx,
        store,
        resource: spec.served,
        presentation: spec.presentation,
        sent: 0,
        cut_after: spec.cut_after,
        columns_sent: false,
    };
    let mut position = match spec.start {
        Start::CurrentState => match send_current_state(&mut writer, store, &spec).await {
            Some(revision) => revision,
            None => return,
        },
        Start::After(rv) => rv,
    };
    let interval = context
        .shared
        .bookmark_interval
        .max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    loop {
        changes.borrow_and_update();
        match store.resource_events_since(spec.resource, position) {
            Err(StoreError::Expired { requested, oldest }) => {
                let _ = tx.send(expired_event(requested, oldest)).await;
                return;
            }
            Err(_) => return,
            Ok((events, revision)) => {
                for event in &events {
                    position = event.resource_version();
                    if let Some((event_type, object)) = view(event, &spec)
                        && !writer.event(event_type, object).await
                    {
                        return;
                    }
                }
                // Every event of this resource up to `revision` has been seen.
                position = position.max(revision);
            }
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(spec.deadline) => {
                if spec.bookmarks {
                    writer.bookmark(position, false).await;
                }
                return;
            }
            _ = ticker.tick(), if spec.bookmarks => {
                if !writer.bookmark(position, false).await {
                    return;
                }
            }
            _ = tx.closed() => return,
            _ = context.cancel.cancelled() => return,
        }
    }
}

/// How a store event looks to this watch: selector transitions turn into ADDED / DELETED.
fn view<'a>(event: &'a StoreEvent, spec: &WatchSpec) -> Option<(EventType, &'a Arc<StoredObject>)> {
    if event.resource() != spec.resource {
        return None;
    }
    let visible = |object: &StoredObject| {
        spec.namespace
            .as_deref()
            .is_none_or(|ns| !spec.resource.info().namespaced || object.namespace() == ns)
            && object.matches(&spec.labels, &spec.fields)
    };
    match event.event_type {
        EventType::Added => visible(&event.object).then_some((EventType::Added, &event.object)),
        EventType::Deleted => visible(&event.object).then_some((EventType::Deleted, &event.object)),
        EventType::Modified => {
            let before = event.previous.as_deref().is_some_and(visible);
            let after = visible(&event.object);
            match (before, after) {
                (true, true) => Some((EventType::Modified, &event.object)),
                (false, true) => Some((EventType::Added, &event.object)),
                (true, false) => Some((EventType::Deleted, &event.object)),
                (false, false) => None,
            }
        }
    }
}

struct EventWriter<'a> {
    tx: &'a mpsc::Sender<Bytes>,
    /// For the Tables' AGE column (the store's clock).
    store: &'a crate::store::Store,
    resource: ResourceId,
    presentation: Presentation,
    sent: usize,
    cut_after: Option<usize>,
    columns_sent: bool,
}

impl EventWriter<'_> {
    /// Sends one event; false when the stream must end (client gone, or the fault cut).
    async fn event(&mut self, event_type: EventType, object: &StoredObject) -> bool {
        if self.cut_after.is_some_and(|n| self.sent >= n) {
            return false;
        }
        let kind = match event_type {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        };
        let body: Bytes = match self.presentation {
            Presentation::Object => rendered(self.resource, object),
            Presentation::PartialMetadata => {
                Bytes::from(table::partial_object_metadata(&object.value()).to_string())
            }
            Presentation::Table(include) => {
                let list_meta = json!({"resourceVersion": object.resource_version().to_string()});
                let rendered = table::table(
                    self.resource,
                    &[rendered_value(self.resource, object)],
                    include,
                    list_meta,
                    !self.columns_sent,
                    self.store.now(),
                );
                self.columns_sent = true;
                Bytes::from(rendered.to_string())
            }
        };
        let mut line = Vec::with_capacity(body.len() + 32);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(kind.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        line.extend_from_slice(&body);
        line.extend_from_slice(b"}\n");
        if self.tx.send(Bytes::from(line)).await.is_err() {
            return false;
        }
        self.sent += 1;
        self.cut_after.is_none_or(|n| self.sent < n)
    }

    async fn bookmark(&mut self, resource_version: u64, initial_events_end: bool) -> bool {
        let info = self.resource.info();
        let mut metadata = json!({"resourceVersion": resource_version.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({INITIAL_EVENTS_END: "true"});
        }
        let line = json!({
            "type": "BOOKMARK",
            "object": {"kind": info.kind, "apiVersion": info.api_version(), "metadata": metadata},
        });
        self.tx.send(Bytes::from(format!("{line}\n"))).await.is_ok()
    }
}
