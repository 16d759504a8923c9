//! The client for port-forward streams (`kubehop forward`, probes): kube-rs's stack with a
//! read buffer below TLS.
//!
//! rustls reads its socket 4 KiB at a time, so a stream of bytes from the API server costs
//! a `recv` per 4 KiB; with a 64 KiB buffer below it, one per 64 KiB (the sandbox's API server
//! does the same on its side). Otherwise the stack is kube-rs's own (`ClientBuilder` for a
//! `Config` without a proxy): rustls from the kubeconfig's TLS settings, connect and write
//! timeouts (no read timeout: port-forward streams may idle), the base URI, authentication
//! (tokens, exec plugins, client certificates) and the kubeconfig's extra headers; plus
//! TCP_NODELAY, since port-forward frames are small writes that must not wait for an
//! acknowledgement. A `Config` with a proxy gets kube-rs's client (also without a read timeout).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube::client::ConfigExt;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tower::ServiceBuilder;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bytes read from the API server's socket at once.
pub const READ_BUFFER: usize = 64 * 1024;

/// A client for `config` whose connections read through [`READ_BUFFER`], without a read
/// timeout: a forwarded connection may stay idle for long (a database session).
pub fn streaming_client(mut config: kube::Config) -> Result<kube::Client, kube::Error> {
    config.read_timeout = None;
    if config.proxy_url.is_some() {
        return kube::Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = config.rustls_https_connector_with_connector(Buffered(http))?;
    let mut connector = hyper_timeout::TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let client: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new()).build(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(client);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// Streaming clients that follow the source: the client for `config` now, and a new one each
/// time `changes` publishes a new API configuration (a kubeconfig rewritten for a re-created
/// cluster, see `live::follow`), so probes and forwards started later use the new server, CA and
/// credentials. Without `changes` the first client stays.
pub fn following_clients(
    config: kube::Config,
    changes: Option<tokio::sync::watch::Receiver<kube::Config>>,
) -> Result<tokio::sync::watch::Receiver<kube::Client>, kube::Error> {
    let (clients, receiver) = tokio::sync::watch::channel(streaming_client(config)?);
    if let Some(mut changes) = changes {
        tokio::spawn(async move {
            while !clients.is_closed() && changes.changed().await.is_ok() {
                let config = changes.borrow_and_update().clone();
                match streaming_client(config) {
                    Ok(client) => clients.send_replace(client),
                    // The switch itself checked the configuration; keep the previous client.
                    Err(error) => {
                        tracing::warn!("no client for the new API configuration: {error}");
                        continue;
                    }
                };
            }
        });
    }
    Ok(receiver)
}

/// Connects like [`HttpConnector`]; the stream reads through a [`READ_BUFFER`] buffer.
#[derive(Clone)]
struct Buffered(HttpConnector);

impl tower::Service<Uri> for Buffered {
    type Response = BufferedStream;
    type Error = <HttpConnector as tower::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<BufferedStream, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let stream = connecting.await?.into_inner();
            Ok(BufferedStream(TokioIo::new(BufReader::with_capacity(
                READ_BUFFER,
                stream,
            ))))
        })
    }
}

/// A TCP stream with a read buffer, as hyper's IO.
struct BufferedStream(TokioIo<BufReader<TcpStream>>);

impl Connection for BufferedStream {
    fn connected(&self) -> Connected {
        self.0.inner().get_ref().connected()
    }
}

impl hyper::rt::Read for BufferedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for BufferedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
