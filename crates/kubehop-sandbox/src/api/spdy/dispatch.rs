//! What the session does with each frame the peer sends.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::frame::{Frame, rst};
use super::headers::Inflater;
use super::session::{RECEIVE_WINDOW, Shared};
use super::stream::{Inbound, Stream};

/// A frame the session cannot go on after (its header compression state is lost).
#[derive(Debug)]
pub(super) struct SessionError;

pub(super) struct Dispatch {
    shared: Arc<Shared>,
    accept: mpsc::Sender<Stream>,
    /// The peer's header blocks, one zlib stream.
    inflater: Inflater,
}

impl Dispatch {
    pub(super) fn new(shared: Arc<Shared>, accept: mpsc::Sender<Stream>) -> Self {
        Self {
            shared,
            accept,
            inflater: Inflater::new(),
        }
    }

    pub(super) async fn frame(&mut self, frame: Frame) -> Result<(), SessionError> {
        match frame {
            Frame::Data { stream, fin, data } => self.data(stream, fin, data).await?,
            Frame::SynStream {
                stream,
                fin,
                unidirectional,
                headers,
                ..
            } => {
                let headers = self.inflater.decompress(&headers).map_err(|error| {
                    tracing::debug!("SPDY SYN_STREAM {stream}: {error}");
                    SessionError
                })?;
                match self.shared.open(stream, fin, unidirectional, headers) {
                    Ok(opened) => {
                        if let Err(refused) = self.accept.send(opened).await {
                            refused.0.reset(rst::REFUSED_STREAM);
                        }
                    }
                    Err(status) => self.shared.send(Frame::RstStream { stream, status }),
                }
            }
            Frame::SynReply { headers, .. } | Frame::Headers { headers, .. } => {
                // Nothing here uses them, but the zlib stream must see every block.
                self.inflater.decompress(&headers).map_err(|error| {
                    tracing::debug!("SPDY header block: {error}");
                    SessionError
                })?;
            }
            Frame::RstStream { stream, .. } => self.shared.peer_reset(stream),
            Frame::Settings { entries, .. } => self.shared.settings(&entries),
            // Odd ids are the client's pings, answered with the same frame; even ones would
            // be answers to this side's, which sends none.
            Frame::Ping { id } if id % 2 == 1 => self.shared.send(Frame::Ping { id }),
            Frame::Ping { .. } | Frame::GoAway { .. } | Frame::Unknown { .. } => {}
            Frame::WindowUpdate { stream, delta } => self.shared.window_update(stream, delta),
        }
        Ok(())
    }

    /// DATA: to the stream's reader, waiting while its buffer is full (a peer beyond its
    /// window); bytes no one reads are acknowledged at once.
    async fn data(&mut self, stream: u32, fin: bool, data: Bytes) -> Result<(), SessionError> {
        let length = data.len();
        let target = {
            let state = self.shared.lock();
            match state.streams.get(&stream) {
                Some(entry) => entry
                    .inbound
                    .clone()
                    .map(|inbound| (inbound, entry.room.clone())),
                None => None,
            }
        };
        if target.is_none() && stream > self.shared.last_accepted() {
            self.shared.send(Frame::RstStream {
                stream,
                status: rst::INVALID_STREAM,
            });
        }
        let mut delivered = false;
        if let Some((inbound, room)) = target
            && length > 0
        {
            let wanted =
                u32::try_from(length.min(RECEIVE_WINDOW as usize)).unwrap_or(RECEIVE_WINDOW);
            let got_room = tokio::select! {
                permit = room.acquire_many(wanted) => permit.map(|p| p.forget()).is_ok(),
                () = inbound.closed() => false,
                () = self.shared.ended.cancelled() => false,
            };
            delivered = got_room && inbound.send(Inbound::Data(data)).is_ok();
        }
        if !delivered && length > 0 {
            let mut state = self.shared.lock();
            self.shared
                .consumed_by_session(&mut state, u32::try_from(length).unwrap_or(u32::MAX));
        }
        if fin {
            self.shared.peer_fin(stream);
        }
        Ok(())
    }
}
