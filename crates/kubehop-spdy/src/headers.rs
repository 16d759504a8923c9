//! SPDY/3 header blocks: a count of name/value pairs, each name and value prefixed by its
//! 32-bit length (several values of one name joined by NUL bytes), compressed with zlib.
//! Each direction of a connection is one zlib stream, flushed (SYNC_FLUSH) after every
//! block and primed with the dictionary the SPDY/3 specification gives, so blocks must be
//! compressed and inflated in the order their frames travel.

use std::sync::OnceLock;

use bytes::{Buf, BufMut, Bytes};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The header names and values the dictionary lists, each prefixed with its length.
const DICTIONARY_WORDS: [&str; 65] = [
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's tail: status codes and phrases, dates, common values, as one run.
const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417",
    "502504505203 Non-Authoritative Information204 No Content301 Moved Permanently",
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error",
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct ",
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,",
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,",
    "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The SPDY/3 zlib dictionary (1,423 bytes).
pub fn dictionary() -> &'static [u8] {
    static DICTIONARY: OnceLock<Vec<u8>> = OnceLock::new();
    DICTIONARY.get_or_init(|| {
        let mut bytes = Vec::with_capacity(1423);
        for word in DICTIONARY_WORDS {
            bytes.extend_from_slice(&(word.len() as u32).to_be_bytes());
            bytes.extend_from_slice(word.as_bytes());
        }
        bytes.extend_from_slice(DICTIONARY_TAIL.as_bytes());
        bytes
    })
}

/// The most a header block may inflate to (a peer's headers are a few short strings).
const MAX_INFLATED: usize = 256 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("header block does not inflate: {0}")]
    Inflate(String),
    #[error("header block inflates to more than {MAX_INFLATED} bytes")]
    TooLarge,
    #[error("malformed header block")]
    Malformed,
}

/// A stream's headers: lowercase names, in the order they came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// Headers from `(name, value)` pairs.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        )
    }

    /// The first value of `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The uncompressed block: names lowercased, values of one name joined by NUL.
    fn encode(&self) -> Vec<u8> {
        let mut merged: Vec<(String, Vec<&str>)> = Vec::new();
        for (name, value) in &self.0 {
            let name = name.to_ascii_lowercase();
            match merged.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values.push(value),
                None => merged.push((name, vec![value])),
            }
        }
        let mut block = Vec::new();
        block.put_u32(merged.len() as u32);
        for (name, values) in merged {
            let value = values.join("\0");
            block.put_u32(name.len() as u32);
            block.put_slice(name.as_bytes());
            block.put_u32(value.len() as u32);
            block.put_slice(value.as_bytes());
        }
        block
    }

    fn decode(mut block: &[u8]) -> Result<Self, HeaderError> {
        fn string(block: &mut &[u8]) -> Result<String, HeaderError> {
            if block.remaining() < 4 {
                return Err(HeaderError::Malformed);
            }
            let length = block.get_u32() as usize;
            if block.remaining() < length {
                return Err(HeaderError::Malformed);
            }
            let text = String::from_utf8_lossy(&block[..length]).into_owned();
            block.advance(length);
            Ok(text)
        }
        if block.remaining() < 4 {
            return Err(HeaderError::Malformed);
        }
        let count = block.get_u32() as usize;
        let mut pairs = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let name = string(&mut block)?.to_ascii_lowercase();
            let value = string(&mut block)?;
            pairs.extend(value.split('\0').map(|v| (name.clone(), v.to_string())));
        }
        if block.has_remaining() {
            return Err(HeaderError::Malformed);
        }
        Ok(Self(pairs))
    }
}

/// Compresses the header blocks one side sends.
pub struct Deflater(Compress);

impl Default for Deflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Deflater {
    pub fn new() -> Self {
        let mut compress = Compress::new(Compression::default(), true);
        compress
            .set_dictionary(dictionary())
            .expect("a fresh zlib stream takes a dictionary");
        Self(compress)
    }

    pub fn compress(&mut self, headers: &Headers) -> Bytes {
        let block = headers.encode();
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut consumed = 0;
        loop {
            let before = self.0.total_in();
            self.0
                .compress_vec(&block[consumed..], &mut out, FlushCompress::Sync)
                .expect("deflate of an in-memory buffer");
            consumed += (self.0.total_in() - before) as usize;
            // Done once all input is in and the flush left room to spare in `out`.
            if consumed == block.len() && out.len() < out.capacity() {
                return Bytes::from(out);
            }
            out.reserve(out.capacity().max(64));
        }
    }
}

/// Inflates the header blocks one side receives.
pub struct Inflater(Decompress);

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    pub fn new() -> Self {
        Self(Decompress::new(true))
    }

    pub fn decompress(&mut self, compressed: &[u8]) -> Result<Headers, HeaderError> {
        let mut out = Vec::with_capacity(compressed.len() * 4 + 256);
        let mut consumed = 0;
        loop {
            let (before_in, before_out) = (self.0.total_in(), self.0.total_out());
            let result =
                self.0
                    .decompress_vec(&compressed[consumed..], &mut out, FlushDecompress::Sync);
            consumed += (self.0.total_in() - before_in) as usize;
            let progressed = self.0.total_in() > before_in || self.0.total_out() > before_out;
            match result {
                Ok(Status::StreamEnd) => break,
                Ok(_) if consumed == compressed.len() && out.len() < out.capacity() => break,
                Ok(_) if !progressed && out.len() < out.capacity() => {
                    return Err(HeaderError::Inflate("truncated block".into()));
                }
                Ok(_) => {}
                Err(error) => match error.needs_dictionary() {
                    Some(id) if id == adler32(dictionary()) => {
                        self.0
                            .set_dictionary(dictionary())
                            .map_err(|e| HeaderError::Inflate(e.to_string()))?;
                    }
                    _ => return Err(HeaderError::Inflate(error.to_string())),
                },
            }
            if out.len() == out.capacity() {
                if out.len() >= MAX_INFLATED {
                    return Err(HeaderError::TooLarge);
                }
                out.reserve(out.len());
            }
        }
        Headers::decode(&out)
    }
}

/// The zlib checksum that names a dictionary in a stream's header.
fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in bytes.chunks(5552) {
        for byte in chunk {
            a += u32::from(*byte);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    b << 16 | a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers::new(
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn the_dictionary_is_the_specs() {
        assert_eq!(dictionary().len(), 1423);
        // The id zlib writes for it (FDICT), which peers check.
        assert_eq!(adler32(dictionary()), 0xE3C6_A7C2);
        assert!(dictionary().starts_with(b"\x00\x00\x00\x07options\x00\x00\x00\x04head"));
    }

    #[test]
    fn blocks_round_trip_through_one_zlib_stream_each_way() {
        let mut deflater = Deflater::new();
        let mut inflater = Inflater::new();
        let blocks = [
            headers(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]),
            headers(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]),
            headers(&[]),
            headers(&[
                ("X-Mixed-Case", "v"),
                ("set-cookie", "a"),
                ("set-cookie", "b"),
            ]),
        ];
        for block in &blocks {
            let compressed = deflater.compress(block);
            let back = inflater.decompress(&compressed).expect("inflates");
            let lowered: Vec<(String, String)> = block
                .0
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect();
            assert_eq!(back, Headers::new(lowered));
        }
        // Later blocks reuse what the stream saw: the second is smaller than the first.
        let mut fresh = Deflater::new();
        let first = fresh.compress(&blocks[0]).len();
        let again = fresh.compress(&blocks[0]).len();
        assert!(again < first, "{again} < {first}");
    }

    #[test]
    fn the_first_block_names_the_dictionary() {
        let compressed = Deflater::new().compress(&headers(&[("port", "80")]));
        // zlib header with FDICT set, then the dictionary's id.
        assert_eq!(compressed[1] & 0x20, 0x20);
        assert_eq!(&compressed[2..6], &0xE3C6_A7C2u32.to_be_bytes());
        // Without the dictionary it does not inflate.
        let mut plain = Decompress::new(true);
        let mut out = Vec::with_capacity(1024);
        let result = plain.decompress_vec(&compressed, &mut out, FlushDecompress::Sync);
        assert!(result.is_err_and(|e| e.needs_dictionary().is_some()));
    }

    #[test]
    fn garbage_and_bombs_are_errors() {
        assert!(Inflater::new().decompress(b"not zlib at all").is_err());
        let huge = headers(&[("x", &"a".repeat(MAX_INFLATED * 2))]);
        let compressed = Deflater::new().compress(&huge);
        assert_eq!(
            Inflater::new().decompress(&compressed),
            Err(HeaderError::TooLarge)
        );
        assert_eq!(
            Headers::decode(b"\x00\x00\x00\x01\x00\x00\x00\x09ab"),
            Err(HeaderError::Malformed)
        );
    }
}
