//! The client session's read loop: what it does with each frame the server sends.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kubehop_spdy::Inflater;
use kubehop_spdy::frame::{self, Frame, rst};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{STREAM_WINDOW, Shared};
use super::stream::Inbound;
use super::transport::Source;

/// Reads frames until the server closes, the transport fails or the session ends.
pub(super) async fn read_loop<Io>(mut source: Source<Io>, shared: Arc<Shared>)
where
    Io: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = BytesMut::with_capacity(64 * 1024);
    let mut inflater = Inflater::new();
    loop {
        match frame::decode(&mut buffer, frame::MAX_LENGTH) {
            Ok(Some(frame)) => {
                if let Err(error) = dispatch(&shared, &mut inflater, frame).await {
                    tracing::debug!("SPDY port-forward session: {error}");
                    break;
                }
                continue;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!("SPDY port-forward session: {error}");
                break;
            }
        }
        let read = tokio::select! {
            read = source.read(&mut buffer) => read,
            () = shared.ended.cancelled() => break,
        };
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                tracing::debug!("SPDY port-forward session transport: {error}");
                break;
            }
        }
    }
    shared.end();
}

async fn dispatch(
    shared: &Shared,
    inflater: &mut Inflater,
    frame: Frame,
) -> Result<(), kubehop_spdy::HeaderError> {
    match frame {
        Frame::Data { stream, fin, data } => deliver(shared, stream, fin, data).await,
        // Nothing here reads their headers, but the zlib stream must see every block.
        Frame::SynReply { headers, .. } | Frame::Headers { headers, .. } => {
            inflater.decompress(&headers)?;
        }
        Frame::SynStream {
            stream, headers, ..
        } => {
            inflater.decompress(&headers)?;
            // A port-forward server opens no streams.
            shared.send(&Frame::RstStream {
                stream,
                status: rst::REFUSED_STREAM,
            });
        }
        Frame::RstStream { stream, .. } => shared.reset(stream),
        Frame::Settings { entries, .. } => shared.settings(&entries),
        // Even ids are the server's pings, answered with the same frame.
        Frame::Ping { id } if id % 2 == 0 => shared.send(&Frame::Ping { id }),
        Frame::GoAway { .. } => shared.go_away_received(),
        Frame::WindowUpdate { stream, delta } => shared.window_update(stream, delta),
        // Odd ids: the answers to this side's pings.
        Frame::Ping { id } => shared
            .answered
            .store(id, std::sync::atomic::Ordering::Relaxed),
        Frame::Unknown { .. } => {}
    }
    Ok(())
}

/// DATA to its stream's reader, waiting while the reader's buffer is full (a server beyond
/// its window: the session reads no further meanwhile).
async fn deliver(shared: &Shared, stream: u32, fin: bool, data: Bytes) {
    let length = data.len();
    let Some((inbound, room)) = shared.data_target(stream, fin, &data) else {
        return;
    };
    let mut delivered = length == 0;
    if length > 0 {
        let wanted = u32::try_from(length.min(STREAM_WINDOW as usize)).unwrap_or(STREAM_WINDOW);
        let got_room = tokio::select! {
            permit = room.acquire_many(wanted) => permit.map(|p| p.forget()).is_ok(),
            () = inbound.closed() => false,
            () = shared.ended.cancelled() => false,
        };
        delivered = got_room && inbound.send(Inbound::Data(data)).is_ok();
    }
    if !delivered {
        shared.undelivered(length);
    }
    if fin {
        // The reader may be gone: then nobody needs to hear the end.
        let _gone = inbound.send(Inbound::Fin);
    }
}
