//! A tower layer on the live source's client that reports every successful response per kind.
//!
//! kube-runtime's watcher resumes a broken watch silently: after an API server restart it starts
//! a new watch from the last resourceVersion and yields nothing until an object changes. To turn
//! the connection status back to connected at the moment the server answers again, the client
//! itself tells the live source which kind's list or watch request just succeeded.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tokio::sync::mpsc::UnboundedSender;

use super::Signal;
use crate::cluster::ResourceKind;

/// The kind a collection path (`/api/v1/namespaces/shop/pods`, `/apis/discovery.k8s.io/v1/
/// endpointslices`) lists or watches. Only the last segment matters: the seven plural names are
/// distinct and kubehop requests nothing else besides `/version`.
pub(crate) fn kind_of_path(path: &str) -> Option<ResourceKind> {
    let last = path.trim_end_matches('/').rsplit('/').next()?;
    ResourceKind::WATCHED
        .into_iter()
        .chain(ResourceKind::GATEWAY_API)
        .find(|kind| kind.plural() == last)
}

/// Wraps a client service; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct ObserveLayer {
    signals: UnboundedSender<Signal>,
}

impl ObserveLayer {
    pub(crate) fn new(signals: UnboundedSender<Signal>) -> Self {
        ObserveLayer { signals }
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            signals: self.signals.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Observe<S> {
    inner: S,
    signals: UnboundedSender<Signal>,
}

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>> for Observe<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let kind = kind_of_path(request.uri().path());
        let response = self.inner.call(request);
        let signals = self.signals.clone();
        Box::pin(async move {
            let response = response.await;
            if let (Some(kind), Ok(answer)) = (kind, &response)
                && answer.status().is_success()
            {
                // The live source may be gone already; nothing to report then.
                let _ = signals.send(Signal::Reachable(kind));
            }
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("/api/v1/pods", Some(ResourceKind::Pod))]
    #[case("/api/v1/namespaces/shop/pods", Some(ResourceKind::Pod))]
    #[case("/api/v1/namespaces", Some(ResourceKind::Namespace))]
    #[case("/api/v1/nodes", Some(ResourceKind::Node))]
    #[case("/api/v1/namespaces/shop/services", Some(ResourceKind::Service))]
    #[case(
        "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices",
        Some(ResourceKind::EndpointSlice)
    )]
    #[case("/apis/networking.k8s.io/v1/ingresses", Some(ResourceKind::Ingress))]
    #[case(
        "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes",
        Some(ResourceKind::HttpRoute)
    )]
    #[case("/apis/gateway.networking.k8s.io/v1", None)]
    #[case("/version", None)]
    #[case("/api/v1/namespaces/shop", None)]
    fn paths_map_to_kinds(#[case] path: &str, #[case] kind: Option<ResourceKind>) {
        assert_eq!(kind_of_path(path), kind);
    }
}
