//! SPDY/3.1 as Kubernetes speaks it for port-forward (and exec/attach), the part both ends
//! share: [`frame`] (the wire format of every frame), [`headers`] (header blocks, zlib with the
//! SPDY/3 dictionary, one compression stream per direction) and [`window`] (flow-control
//! bookkeeping). Pure: no I/O and no async runtime; the sandbox's server session and kubehop's
//! client session each run their own loops on top. The `tokio` feature adds [`transport`], the
//! byte stream both sessions run on (raw upgraded connection or WebSocket tunnel).
//!
//! No maintained SPDY crate fits: the one SPDY/3.1 multiplexer on crates.io (`spdy-mux`) is
//! GPL-3.0-only (kubehop is Apache-2.0), client-only over WebSocket, and needs a newer Rust.

pub mod frame;
pub mod headers;
#[cfg(feature = "tokio")]
pub mod transport;
pub mod window;

pub use frame::{Frame, FrameError, Setting};
pub use headers::{Deflater, HeaderError, Headers, Inflater};
pub use window::{ReceiveWindow, SendWindow};
