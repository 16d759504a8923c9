//! SPDY/3.1 frames on the wire: decoding from a byte buffer and encoding into one.
//!
//! Every frame has an 8-byte header. A control frame: the control bit, a 15-bit version (3),
//! a 16-bit type, 8 bits of flags and a 24-bit length. A data frame: a clear control bit, a
//! 31-bit stream id, 8 bits of flags and a 24-bit length. Header blocks stay compressed here
//! ([`super::headers`] inflates them, in order, with the connection's one zlib stream).

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub const VERSION: u16 = 3;
/// The last frame the sender sends on the stream.
pub const FLAG_FIN: u8 = 0x01;
/// SYN_STREAM: the recipient may not send on the stream.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// SETTINGS: forget persisted settings.
const FLAG_CLEAR_SETTINGS: u8 = 0x01;
/// The length field's bits.
pub const MAX_LENGTH: usize = 0x00FF_FFFF;
const ID_MASK: u32 = 0x7FFF_FFFF;
pub const HEADER_LEN: usize = 8;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const SETTINGS: u16 = 4;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
const WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status codes.
pub mod rst {
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const INVALID_STREAM: u32 = 2;
    pub const REFUSED_STREAM: u32 = 3;
    pub const CANCEL: u32 = 5;
    pub const STREAM_IN_USE: u32 = 8;
}

/// GOAWAY status codes.
pub mod goaway {
    pub const OK: u32 = 0;
    pub const PROTOCOL_ERROR: u32 = 1;
}

/// SETTINGS ids.
pub mod setting {
    pub const INITIAL_WINDOW_SIZE: u32 = 7;
}

/// One id/value pair of a SETTINGS frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub flags: u8,
    pub id: u32,
    pub value: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream: u32,
        fin: bool,
        data: Bytes,
    },
    SynStream {
        stream: u32,
        associated: u32,
        priority: u8,
        fin: bool,
        unidirectional: bool,
        /// The compressed header block.
        headers: Bytes,
    },
    SynReply {
        stream: u32,
        fin: bool,
        headers: Bytes,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Settings {
        clear: bool,
        entries: Vec<Setting>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream: u32,
        fin: bool,
        headers: Bytes,
    },
    WindowUpdate {
        stream: u32,
        delta: u32,
    },
    /// A control frame of a type SPDY/3.1 does not define: the spec says to ignore it.
    Unknown {
        kind: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    #[error("a {length}-byte frame is larger than the {limit} bytes accepted")]
    TooLarge { length: usize, limit: usize },
    #[error("malformed {0} frame")]
    Malformed(&'static str),
}

/// Takes one whole frame off the front of `buffer`; `None` until one is complete. Frames
/// longer than `limit` are refused before their payload arrives.
pub fn decode(buffer: &mut BytesMut, limit: usize) -> Result<Option<Frame>, FrameError> {
    if buffer.len() < HEADER_LEN {
        return Ok(None);
    }
    let first = u32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]);
    let flags = buffer[4];
    let length =
        usize::from(buffer[5]) << 16 | usize::from(buffer[6]) << 8 | usize::from(buffer[7]);
    if length > limit {
        return Err(FrameError::TooLarge { length, limit });
    }
    let control = first & 0x8000_0000 != 0;
    if control {
        let version = ((first >> 16) & 0x7FFF) as u16;
        if version != VERSION {
            return Err(FrameError::Version(version));
        }
    }
    if buffer.len() < HEADER_LEN + length {
        buffer.reserve(HEADER_LEN + length - buffer.len());
        return Ok(None);
    }
    buffer.advance(HEADER_LEN);
    let payload = buffer.split_to(length).freeze();
    let frame = if control {
        decode_control((first & 0xFFFF) as u16, flags, payload)?
    } else {
        Frame::Data {
            stream: first & ID_MASK,
            fin: flags & FLAG_FIN != 0,
            data: payload,
        }
    };
    Ok(Some(frame))
}

fn decode_control(kind: u16, flags: u8, mut p: Bytes) -> Result<Frame, FrameError> {
    let fin = flags & FLAG_FIN != 0;
    let need = |p: &Bytes, n: usize, name: &'static str| {
        if p.len() < n {
            Err(FrameError::Malformed(name))
        } else {
            Ok(())
        }
    };
    let exactly = |p: &Bytes, n: usize, name: &'static str| {
        if p.len() == n {
            Ok(())
        } else {
            Err(FrameError::Malformed(name))
        }
    };
    Ok(match kind {
        SYN_STREAM => {
            need(&p, 10, "SYN_STREAM")?;
            let stream = p.get_u32() & ID_MASK;
            let associated = p.get_u32() & ID_MASK;
            let priority = p.get_u8() >> 5;
            p.advance(1); // slot
            Frame::SynStream {
                stream,
                associated,
                priority,
                fin,
                unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                headers: p,
            }
        }
        SYN_REPLY => {
            need(&p, 4, "SYN_REPLY")?;
            let stream = p.get_u32() & ID_MASK;
            Frame::SynReply {
                stream,
                fin,
                headers: p,
            }
        }
        HEADERS => {
            need(&p, 4, "HEADERS")?;
            let stream = p.get_u32() & ID_MASK;
            Frame::Headers {
                stream,
                fin,
                headers: p,
            }
        }
        RST_STREAM => {
            exactly(&p, 8, "RST_STREAM")?;
            Frame::RstStream {
                stream: p.get_u32() & ID_MASK,
                status: p.get_u32(),
            }
        }
        SETTINGS => decode_settings(flags, p)?,
        PING => {
            exactly(&p, 4, "PING")?;
            Frame::Ping { id: p.get_u32() }
        }
        GOAWAY => {
            exactly(&p, 8, "GOAWAY")?;
            Frame::GoAway {
                last_good: p.get_u32() & ID_MASK,
                status: p.get_u32(),
            }
        }
        WINDOW_UPDATE => {
            exactly(&p, 8, "WINDOW_UPDATE")?;
            Frame::WindowUpdate {
                stream: p.get_u32() & ID_MASK,
                delta: p.get_u32() & ID_MASK,
            }
        }
        kind => Frame::Unknown { kind },
    })
}

fn decode_settings(flags: u8, mut p: Bytes) -> Result<Frame, FrameError> {
    if p.len() < 4 {
        return Err(FrameError::Malformed("SETTINGS"));
    }
    let count = p.get_u32() as usize;
    if p.len() != count.saturating_mul(8) {
        return Err(FrameError::Malformed("SETTINGS"));
    }
    let entries = (0..count)
        .map(|_| {
            let word = p.get_u32();
            Setting {
                flags: (word >> 24) as u8,
                id: word & 0x00FF_FFFF,
                value: p.get_u32(),
            }
        })
        .collect();
    Ok(Frame::Settings {
        clear: flags & FLAG_CLEAR_SETTINGS != 0,
        entries,
    })
}

fn control_header(out: &mut BytesMut, kind: u16, flags: u8, length: usize) {
    debug_assert!(length <= MAX_LENGTH);
    out.put_u16(0x8000 | VERSION);
    out.put_u16(kind);
    out.put_u32(u32::from(flags) << 24 | length as u32);
}

/// The header of a data frame carrying `length` bytes on `stream`.
pub fn data_header(out: &mut BytesMut, stream: u32, fin: bool, length: usize) {
    debug_assert!(length <= MAX_LENGTH);
    out.put_u32(stream & ID_MASK);
    out.put_u32(u32::from(if fin { FLAG_FIN } else { 0 }) << 24 | length as u32);
}

/// Appends `frame` to `out`.
pub fn encode(frame: &Frame, out: &mut BytesMut) {
    let fin_flag = |fin: bool| if fin { FLAG_FIN } else { 0 };
    match frame {
        Frame::Data { stream, fin, data } => {
            data_header(out, *stream, *fin, data.len());
            out.put_slice(data);
        }
        Frame::SynStream {
            stream,
            associated,
            priority,
            fin,
            unidirectional,
            headers,
        } => {
            let flags = fin_flag(*fin)
                | if *unidirectional {
                    FLAG_UNIDIRECTIONAL
                } else {
                    0
                };
            control_header(out, SYN_STREAM, flags, 10 + headers.len());
            out.put_u32(stream & ID_MASK);
            out.put_u32(associated & ID_MASK);
            out.put_u8(priority << 5);
            out.put_u8(0);
            out.put_slice(headers);
        }
        Frame::SynReply {
            stream,
            fin,
            headers,
        }
        | Frame::Headers {
            stream,
            fin,
            headers,
        } => {
            let kind = if matches!(frame, Frame::SynReply { .. }) {
                SYN_REPLY
            } else {
                HEADERS
            };
            control_header(out, kind, fin_flag(*fin), 4 + headers.len());
            out.put_u32(stream & ID_MASK);
            out.put_slice(headers);
        }
        Frame::RstStream { stream, status } => {
            two_words(out, RST_STREAM, *stream & ID_MASK, *status)
        }
        Frame::Settings { clear, entries } => {
            let flags = if *clear { FLAG_CLEAR_SETTINGS } else { 0 };
            control_header(out, SETTINGS, flags, 4 + 8 * entries.len());
            out.put_u32(entries.len() as u32);
            for entry in entries {
                out.put_u32(u32::from(entry.flags) << 24 | (entry.id & 0x00FF_FFFF));
                out.put_u32(entry.value);
            }
        }
        Frame::Ping { id } => {
            control_header(out, PING, 0, 4);
            out.put_u32(*id);
        }
        Frame::GoAway { last_good, status } => {
            two_words(out, GOAWAY, *last_good & ID_MASK, *status);
        }
        Frame::WindowUpdate { stream, delta } => {
            two_words(out, WINDOW_UPDATE, *stream & ID_MASK, *delta & ID_MASK);
        }
        Frame::Unknown { kind } => control_header(out, *kind, 0, 0),
    }
}

fn two_words(out: &mut BytesMut, kind: u16, first: u32, second: u32) {
    control_header(out, kind, 0, 8);
    out.put_u32(first);
    out.put_u32(second);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: Frame) {
        let mut wire = BytesMut::new();
        encode(&frame, &mut wire);
        // Byte by byte: nothing comes out before the frame is whole.
        let mut buffer = BytesMut::new();
        for (i, byte) in wire.iter().enumerate() {
            buffer.put_u8(*byte);
            let decoded = decode(&mut buffer, MAX_LENGTH).expect("decodes");
            if i + 1 < wire.len() {
                assert_eq!(decoded, None, "{frame:?} complete after {} bytes", i + 1);
            } else {
                assert_eq!(decoded.as_ref(), Some(&frame));
            }
        }
        assert!(buffer.is_empty());
    }

    #[test]
    fn every_frame_type_round_trips() {
        for frame in [
            Frame::Data {
                stream: 5,
                fin: true,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Data {
                stream: 0x7FFF_FFFF,
                fin: false,
                data: Bytes::new(),
            },
            Frame::SynStream {
                stream: 3,
                associated: 1,
                priority: 7,
                fin: false,
                unidirectional: true,
                headers: Bytes::from_static(b"\x78\x01zz"),
            },
            Frame::SynReply {
                stream: 3,
                fin: true,
                headers: Bytes::from_static(b"abc"),
            },
            Frame::Headers {
                stream: 9,
                fin: false,
                headers: Bytes::new(),
            },
            Frame::RstStream {
                stream: 7,
                status: rst::CANCEL,
            },
            Frame::Settings {
                clear: true,
                entries: vec![Setting {
                    flags: 1,
                    id: setting::INITIAL_WINDOW_SIZE,
                    value: 1 << 20,
                }],
            },
            Frame::Ping { id: 0xFFFF_FFFF },
            Frame::GoAway {
                last_good: 11,
                status: goaway::PROTOCOL_ERROR,
            },
            Frame::WindowUpdate {
                stream: 0,
                delta: 65536,
            },
            Frame::Unknown { kind: 10 },
        ] {
            round_trip(frame);
        }
    }

    #[test]
    fn the_wire_layout_is_the_specs() {
        let mut wire = BytesMut::new();
        encode(&Frame::Ping { id: 1 }, &mut wire);
        assert_eq!(
            &wire[..],
            b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01"
        );
        wire.clear();
        encode(
            &Frame::Data {
                stream: 1,
                fin: true,
                data: Bytes::from_static(b"x"),
            },
            &mut wire,
        );
        assert_eq!(&wire[..], b"\x00\x00\x00\x01\x01\x00\x00\x01x");
        wire.clear();
        encode(
            &Frame::WindowUpdate {
                stream: 3,
                delta: 0x10000,
            },
            &mut wire,
        );
        assert_eq!(
            &wire[..],
            b"\x80\x03\x00\x09\x00\x00\x00\x08\x00\x00\x00\x03\x00\x01\x00\x00"
        );
    }

    #[test]
    fn arbitrary_bytes_decode_to_frames_or_errors_never_a_panic() {
        let mut state = 0x2545_F491_u32;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..20_000 {
            let length = (random() % 40) as usize;
            let mut bytes: Vec<u8> = (0..length).map(|_| random() as u8).collect();
            // Half of them look like SPDY/3 control frames, so the payload parsers run.
            if length >= 8 && random() % 2 == 0 {
                bytes[0] = 0x80;
                bytes[1] = 0x03;
                bytes[2] = 0;
                bytes[3] = (random() % 12) as u8;
                bytes[5] = 0;
                bytes[6] = 0;
                bytes[7] = (length - 8) as u8;
            }
            let mut buffer = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = decode(&mut buffer, 1024) {}
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut wrong_version =
            BytesMut::from(&b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01"[..]);
        assert_eq!(
            decode(&mut wrong_version, MAX_LENGTH),
            Err(FrameError::Version(2))
        );
        let mut big = BytesMut::from(&b"\x00\x00\x00\x01\x00\x10\x00\x00"[..]);
        assert!(matches!(
            decode(&mut big, 1024),
            Err(FrameError::TooLarge { .. })
        ));
        let mut short_ping = BytesMut::from(&b"\x80\x03\x00\x06\x00\x00\x00\x02\x00\x01"[..]);
        assert_eq!(
            decode(&mut short_ping, MAX_LENGTH),
            Err(FrameError::Malformed("PING"))
        );
        let mut lying_settings =
            BytesMut::from(&b"\x80\x03\x00\x04\x00\x00\x00\x04\x00\x00\x00\x02"[..]);
        assert_eq!(
            decode(&mut lying_settings, MAX_LENGTH),
            Err(FrameError::Malformed("SETTINGS"))
        );
    }
}
