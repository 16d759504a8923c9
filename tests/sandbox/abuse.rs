//! The API server under abuse: connections that never finish their handshake or headers are
//! closed after the timeout, bodies over the limit get 413, and parse errors are plain words.
//! Loopback only.

use std::time::{Duration, Instant};

use kubehop::sandbox::Sandbox;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::sandbox::{sandbox, start};
use crate::support::wait::within;

/// Short enough for a test, long enough for a loaded machine to send a real request.
const TIMEOUT: Duration = Duration::from_millis(200);

/// Reads until the server closes the connection; how long that took.
async fn closed_after(mut stream: TcpStream) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    within("the server to close the connection", async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    started.elapsed()
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_handshake_timeout() {
    let sandbox = sandbox(
        Sandbox::builder()
            .handshake_timeout(TIMEOUT)
            .header_read_timeout(TIMEOUT),
    )
    .await;
    let stream = TcpStream::connect(sandbox.addr()).await.expect("connect");
    let took = closed_after(stream).await;
    assert!(took >= TIMEOUT / 2, "closed after {took:?}");
}

#[tokio::test]
async fn a_half_sent_header_is_closed_after_the_header_timeout() {
    let sandbox = sandbox(
        Sandbox::builder()
            .plain_http(true)
            .header_read_timeout(TIMEOUT),
    )
    .await;
    // Nothing at all, then half a request head.
    for sent in [&b""[..], b"GET /version HTTP/1.1\r\nHost: x\r\nX-Slow: "] {
        let mut stream = TcpStream::connect(sandbox.addr()).await.expect("connect");
        stream.write_all(sent).await.expect("send");
        let took = closed_after(stream).await;
        assert!(took >= TIMEOUT / 2, "closed after {took:?}");
    }
}

#[tokio::test]
async fn the_connection_cap_queues_connections_instead_of_refusing_them() {
    let sandbox = sandbox(
        Sandbox::builder()
            .plain_http(true)
            .max_connections(1)
            .header_read_timeout(TIMEOUT),
    )
    .await;
    // The first holds the only slot until its header timeout; the second is then served.
    let _idle = TcpStream::connect(sandbox.addr()).await.expect("connect");
    let mut stream = TcpStream::connect(sandbox.addr()).await.expect("connect");
    stream
        .write_all(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    within("an answer", stream.read_to_end(&mut answer))
        .await
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
}

fn api_error(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let (_sandbox, client) = start().await;
    let body = format!(
        "{{\"metadata\": {{\"name\": \"big\", \"annotations\": {{\"x\": \"{}\"}}}}}}",
        "a".repeat(3 * 1024 * 1024 + 1)
    );
    let request = http::Request::post("/api/v1/namespaces/default/services")
        .header("content-type", "application/json")
        .body(body.into_bytes())
        .expect("request");
    let err = api_error(client.request_text(request).await.expect_err("413"));
    assert_eq!(
        (err.code, err.reason.as_str()),
        (413, "RequestEntityTooLarge")
    );
    assert!(err.message.contains("too large"), "{}", err.message);
}

#[tokio::test]
async fn yaml_errors_are_plain_words() {
    let (_sandbox, client) = start().await;
    // Deeper than the YAML parser's nesting budget.
    let deep = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: deep}}\nspec: {{x: {}{}}}\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let long_key = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: key\n  annotations:\n    {}: v\n",
        "k".repeat(2000)
    );
    for body in [deep, long_key] {
        let request = http::Request::post("/api/v1/namespaces/default/services")
            .header("content-type", "application/yaml")
            .body(body.into_bytes())
            .expect("request");
        let err = api_error(client.request_text(request).await.expect_err("400"));
        assert_eq!(err.code, 400, "{}", err.message);
        assert!(!err.message.contains('\n'), "one line: {}", err.message);
        for debug in ["{", "}", "Depth", "budget", "expected a mapping"] {
            assert!(!err.message.contains(debug), "{}", err.message);
        }
    }
}
