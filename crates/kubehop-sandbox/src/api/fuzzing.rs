//! A request straight into the API server's handler, without a socket or TLS, for the fuzz
//! target `fuzz/fuzz_targets/sandbox_request.rs`: paths, query parameters (label and field
//! selectors, paging, resource versions, options), content types and bodies (objects, the
//! three patch formats, delete options) all go through the real parsing and store.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use tokio_util::sync::CancellationToken;

use super::path::{self, Params};
use super::{ApiContext, Shared, entry};
use crate::faults::Faults;
use crate::request_log::{RequestLog, Verb};
use crate::store::Store;

/// The bearer token every harness request carries.
const TOKEN: &str = "fuzz-token";

/// An API server handler over a store of the built-in scenario, on a current-thread runtime.
pub struct RequestHarness {
    runtime: tokio::runtime::Runtime,
    context: Arc<ApiContext>,
    requests: u32,
}

/// What the handler answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Requests served before the store is loaded afresh (creates would otherwise pile up).
const REQUESTS_PER_STORE: u32 = 2_000;

fn context() -> Arc<ApiContext> {
    let store = Store::new(100);
    if let Ok(objects) = crate::scenario::builtin() {
        store.load_objects(objects);
    }
    Arc::new(ApiContext {
        shared: Arc::new(Shared {
            access: crate::access_log::AccessLogs::new(store.clone()),
            store,
            log: RequestLog::default(),
            faults: Faults::default(),
            token: TOKEN.to_owned(),
            bookmark_interval: crate::DEFAULT_BOOKMARK_INTERVAL,
            server_address: "127.0.0.1:6443".to_owned(),
            limits: crate::server::ServerLimits::default(),
        }),
        cancel: CancellationToken::new(),
    })
}

impl RequestHarness {
    /// A handler over a fresh store.
    ///
    /// # Panics
    /// When a tokio runtime cannot be built (out of resources).
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        Self {
            runtime,
            context: context(),
            requests: 0,
        }
    }

    /// Serves one request (`uri` is the path with its query); `None` for a method or URI that
    /// HTTP itself rejects and for watches, port-forwards and followed logs (they stream until
    /// the client leaves).
    pub fn handle(
        &mut self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Option<Answer> {
        let method = Method::from_bytes(method.as_bytes()).ok()?;
        let uri: axum::http::Uri = uri.parse().ok()?;
        let target = path::parse(uri.path());
        let params = Params::parse(uri.query().unwrap_or(""));
        let follows_a_log = params.flag("follow")
            && matches!(&target, path::Target::Resource(r) if r.subresource.as_deref() == Some("log"));
        if follows_a_log
            || matches!(
                path::verb(&method, &target, &params),
                Verb::Watch | Verb::PortForward
            )
        {
            return None;
        }
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        if !content_type.is_empty() {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Body::from(body)).ok()?;
        self.requests += 1;
        if self.requests > REQUESTS_PER_STORE {
            self.requests = 0;
            self.context = context();
        }
        let context = self.context.clone();
        self.runtime.block_on(async move {
            let response = entry(State(context), request).await;
            let status = response.status().as_u16();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let body = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
                .await
                .map(|bytes| bytes.to_vec())
                .unwrap_or_default();
            Some(Answer {
                status,
                content_type,
                body,
            })
        })
    }
}

impl Default for RequestHarness {
    fn default() -> Self {
        Self::new()
    }
}
