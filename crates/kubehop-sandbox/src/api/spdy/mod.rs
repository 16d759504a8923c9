//! SPDY/3.1, the server side, as the kubelet and API server speak it for port-forward (and
//! exec/attach): on a connection upgraded with `Upgrade: SPDY/3.1`, or tunnelled in the
//! binary messages of a WebSocket. The peer opens streams with headers; the session's owner
//! takes them from [`Session::accept`], answers each ([`Stream::reply`]) and then reads and
//! writes its halves. Framing and header blocks come from the shared `kubehop-spdy` crate
//! (kubehop's client session uses the same); flow control is the session's.

mod dispatch;
pub(crate) use kubehop_spdy::{frame, headers};
mod session;
mod stream;
use kubehop_spdy::transport;

pub(crate) use frame::rst;
pub(crate) use session::Session;
pub(crate) use stream::{Received, Stream, StreamReader, StreamWriter};
pub(crate) use transport::Transport;

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
