//! Port-forward over SPDY/3.1, the client side, as kubectl speaks it: one session per pod,
//! a stream pair per forwarded connection ([`SessionDialer`]). A new connection then costs two
//! SYN_STREAM frames on a session that is already up, where the WebSocket channel protocol
//! ([`super::portforward`]) needs a request of its own (a TLS connection and an HTTP upgrade
//! through the API server and the kubelet) because its ports are fixed when it opens.
//!
//! - [`connect`]: the upgrade (SPDY tunnelled in a WebSocket, else plain SPDY);
//! - [`session`]: the session's tasks, stream pairs and flow control;
//! - [`stream`]: a connection's data stream as `AsyncRead + AsyncWrite`;
//! - [`dialer`]: the sessions per pod, and the fallback to one WebSocket per connection.
//!
//! Frames, header blocks and window bookkeeping are the `kubehop-spdy` crate's, shared with
//! the sandbox's server side.

pub mod connect;
pub mod dialer;
mod dispatch;
pub mod session;
pub mod stream;
pub use kubehop_spdy::transport;

pub use connect::{OpenError, Upgrade};
pub use dialer::SessionDialer;
pub use session::{Pair, Session};
pub use stream::SpdyStream;
pub use transport::Transport;

#[cfg(test)]
mod tests;
