//! One stream of a SPDY session, as its owner sees it: the headers the peer opened it with,
//! a reader (DATA until the peer's FIN, or a reset) and a writer (DATA within the peer's
//! windows, then FIN; or RST_STREAM).

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::frame::rst;
use super::headers::Headers;
use super::session::{RECEIVE_WINDOW, Shared};

pub(super) enum Inbound {
    Data(Bytes),
    Fin,
}

/// What a stream's reader gets next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Received {
    Data(Bytes),
    /// The peer will send no more (FIN).
    Fin,
    /// The peer reset the stream, or the session ended before its FIN.
    Reset,
}

pub(crate) struct Stream {
    id: u32,
    headers: Headers,
    reader: StreamReader,
    writer: StreamWriter,
}

impl Stream {
    pub(super) fn new(
        id: u32,
        headers: Headers,
        shared: Arc<Shared>,
        inbound: mpsc::UnboundedReceiver<Inbound>,
        room: Arc<Semaphore>,
        reset: CancellationToken,
        unidirectional: bool,
    ) -> Self {
        Stream {
            id,
            headers,
            reader: StreamReader {
                id,
                shared: shared.clone(),
                inbound,
                room,
                reset,
            },
            writer: StreamWriter {
                id,
                shared,
                done: unidirectional,
            },
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The first value of header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Accepts the stream: SYN_REPLY with no headers (what a kubelet answers).
    pub(crate) fn reply(&self) {
        self.writer.shared.reply(self.id, &Headers::default());
    }

    /// Refuses or abandons the stream with RST_STREAM `status`.
    pub(crate) fn reset(mut self, status: u32) {
        self.writer.reset(status);
    }

    pub(crate) fn into_split(self) -> (StreamReader, StreamWriter) {
        (self.reader, self.writer)
    }
}

pub(crate) struct StreamReader {
    id: u32,
    shared: Arc<Shared>,
    inbound: mpsc::UnboundedReceiver<Inbound>,
    room: Arc<Semaphore>,
    reset: CancellationToken,
}

impl StreamReader {
    pub(crate) async fn recv(&mut self) -> Received {
        let next = tokio::select! {
            biased;
            () = self.reset.cancelled() => return Received::Reset,
            next = self.inbound.recv() => next,
        };
        match next {
            Some(Inbound::Data(data)) => {
                self.room
                    .add_permits(data.len().min(RECEIVE_WINDOW as usize));
                self.shared.consumed(self.id, data.len());
                Received::Data(data)
            }
            Some(Inbound::Fin) => Received::Fin,
            None => Received::Reset,
        }
    }
}

impl StreamReader {
    /// Resolves when the peer resets the stream (also after its FIN).
    pub(crate) fn reset_signal(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.reset.clone().cancelled_owned()
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        self.shared.reader_gone(self.id);
    }
}

pub(crate) struct StreamWriter {
    id: u32,
    shared: Arc<Shared>,
    /// FIN or RST sent (or the peer made the stream unidirectional).
    done: bool,
}

impl StreamWriter {
    /// Sends `data`, in frames the peer's windows allow.
    pub(crate) async fn write(&mut self, mut data: Bytes) -> io::Result<()> {
        if self.done {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        while !data.is_empty() {
            let granted = self.shared.reserve(self.id, data.len()).await?;
            let chunk = data.split_to(granted);
            self.shared.send_data(self.id, false, chunk).await?;
        }
        Ok(())
    }

    /// Sends FIN: this side sends no more on the stream.
    pub(crate) async fn finish(&mut self) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        self.shared.send_data(self.id, true, Bytes::new()).await?;
        self.shared.local_done(self.id, None);
        Ok(())
    }

    /// Sends RST_STREAM `status`.
    pub(crate) fn reset(&mut self, status: u32) {
        if !self.done {
            self.done = true;
            self.shared.local_done(self.id, Some(status));
        }
    }
}

impl Drop for StreamWriter {
    /// A writer dropped before FIN abandons the stream.
    fn drop(&mut self) {
        self.reset(rst::CANCEL);
    }
}
