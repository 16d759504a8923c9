//! Bytes to text: byte-order marks, UTF-16 (PowerShell redirects), binary detection, and the
//! choice between the JSON and YAML readers.

/// Which reader a text goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// Starts with `{` or `[`: what `kubectl get -o json` prints (a List, one object, or a
    /// stream of objects).
    Json,
    /// Everything else: `kubectl get -o yaml`, multi-document manifests.
    Yaml,
}

/// Why bytes are not text we can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NotText {
    /// 1-based line and column (in characters) of the first offending byte.
    pub line: u64,
    pub column: u64,
    pub detail: &'static str,
}

/// Turns raw input into text. Strips a UTF-8 byte-order mark and decodes UTF-16 with a
/// byte-order mark (what `kubectl ... > file` writes in Windows PowerShell 5).
pub(super) fn decode_text(bytes: Vec<u8>) -> Result<String, NotText> {
    let text = match bytes.as_slice() {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest.to_vec())?,
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes)?,
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes)?,
        _ => utf8(bytes)?,
    };
    // Text files do not contain NUL; a YAML or JSON parser would only say "invalid character".
    if let Some(at) = text.find('\0') {
        return Err(not_text(&text[..at], BINARY_NUL));
    }
    Ok(text)
}

/// How many bytes of an input are checked by [`check_head`] before the rest is read.
pub(super) const HEAD_BYTES: u64 = 8 * 1024;

/// Rejects input whose first bytes already show it is not text (bytes that are not UTF-8, or
/// a NUL), with the error [`decode_text`] would give for them, so a binary file or a device
/// like `/dev/zero` is refused after [`HEAD_BYTES`] instead of after the whole size limit. A
/// UTF-8 sequence cut at the end of `head` is fine; UTF-16 (with its byte-order mark) is left
/// to [`decode_text`].
pub(super) fn check_head(head: &[u8]) -> Result<(), NotText> {
    let body = match head {
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => return Ok(()),
        [0xEF, 0xBB, 0xBF, rest @ ..] => rest,
        _ => head,
    };
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(error) => {
            let valid = std::str::from_utf8(&body[..error.valid_up_to()]).unwrap_or_default();
            if error.error_len().is_some() {
                return Err(not_text(valid, BINARY_UTF8));
            }
            valid
        }
    };
    match text.find('\0') {
        Some(at) => Err(not_text(&text[..at], BINARY_NUL)),
        None => Ok(()),
    }
}

const BINARY_NUL: &str =
    "a NUL byte: this looks like a binary file, not `kubectl get -o yaml|json` output";
const BINARY_UTF8: &str =
    "invalid UTF-8: this looks like a binary file, not `kubectl get -o yaml|json` output";

fn utf8(bytes: Vec<u8>) -> Result<String, NotText> {
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        // The prefix is valid UTF-8 by construction.
        let prefix = std::str::from_utf8(valid).unwrap_or_default();
        not_text(prefix, BINARY_UTF8)
    })
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, NotText> {
    let pairs = bytes.chunks_exact(2);
    let odd = !pairs.remainder().is_empty();
    let units = pairs.map(|pair| unit([pair[0], pair[1]]));
    let mut text = String::with_capacity(bytes.len() / 2);
    for decoded in char::decode_utf16(units) {
        match decoded {
            Ok(c) => text.push(c),
            Err(_) => return Err(not_text(&text, "invalid UTF-16 (an unpaired surrogate)")),
        }
    }
    if odd {
        return Err(not_text(
            &text,
            "UTF-16 text with an odd number of bytes (truncated?)",
        ));
    }
    Ok(text)
}

fn not_text(prefix: &str, detail: &'static str) -> NotText {
    let (line, column) = line_column(prefix);
    NotText {
        line,
        column,
        detail,
    }
}

/// 1-based line and column of the position just after `prefix`.
pub(super) fn line_column(prefix: &str) -> (u64, u64) {
    let line = prefix.bytes().filter(|&b| b == b'\n').count() as u64 + 1;
    let last_line = prefix.rsplit('\n').next().unwrap_or_default();
    (line, last_line.chars().count() as u64 + 1)
}

/// JSON if the first character that is not white space is `{` or `[`, else YAML.
///
/// YAML flow collections start with the same characters; kubectl never writes those, and a
/// YAML file in flow style is read as JSON (and fails with a JSON position if it is not JSON).
pub(super) fn sniff(text: &str) -> Format {
    match text.trim_start().as_bytes().first() {
        Some(b'{' | b'[') => Format::Json,
        _ => Format::Yaml,
    }
}

/// Whether the text has no content at all: only white space, YAML comments and document
/// markers.
pub(super) fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain(b"kind: Pod\n".to_vec(), "kind: Pod\n")]
    #[case::utf8_bom(b"\xEF\xBB\xBFkind: Pod\n".to_vec(), "kind: Pod\n")]
    #[case::utf16_le(b"\xFF\xFEk\0i\0n\0d\0".to_vec(), "kind")]
    #[case::utf16_be(b"\xFE\xFF\0k\0i\0n\0d".to_vec(), "kind")]
    fn decodes_text(#[case] bytes: Vec<u8>, #[case] expected: &str) {
        assert_eq!(decode_text(bytes).as_deref(), Ok(expected));
    }

    #[rstest]
    #[case::invalid_utf8(b"a: b\nc: \xC3\x28".to_vec(), 2, 4)]
    #[case::nul(b"a: b\n\0\0\0".to_vec(), 2, 1)]
    #[case::odd_utf16(b"\xFF\xFEa\0b".to_vec(), 1, 2)]
    #[case::lone_surrogate(b"\xFF\xFEa\0\x00\xD8".to_vec(), 1, 2)]
    fn rejects_binary(#[case] bytes: Vec<u8>, #[case] line: u64, #[case] column: u64) {
        let error = decode_text(bytes).expect_err("not text");
        assert_eq!((error.line, error.column), (line, column), "{error:?}");
    }

    #[rstest]
    #[case::text(b"kind: Pod\n".to_vec(), None)]
    #[case::cut_sequence(b"name: caf\xC3".to_vec(), None)]
    #[case::utf16(b"\xFF\xFEk\0i\0".to_vec(), None)]
    #[case::zeros(vec![0; 8192], Some((1, 1, BINARY_NUL)))]
    #[case::nul_after_bom(b"\xEF\xBB\xBFab\n\0".to_vec(), Some((2, 1, BINARY_NUL)))]
    #[case::invalid(b"a: \xFF\xFE".to_vec(), Some((1, 4, BINARY_UTF8)))]
    fn checks_the_head(#[case] head: Vec<u8>, #[case] expected: Option<(u64, u64, &str)>) {
        let found = check_head(&head)
            .err()
            .map(|error| (error.line, error.column, error.detail));
        assert_eq!(found, expected);
        // The same verdict as reading the whole input.
        if let Some(expected) = expected {
            let whole = decode_text(head).expect_err("not text");
            assert_eq!((whole.line, whole.column, whole.detail), expected);
        }
    }

    #[rstest]
    #[case("{\"kind\": \"List\"}", Format::Json)]
    #[case("\n  [ {} ]", Format::Json)]
    #[case("apiVersion: v1", Format::Yaml)]
    #[case("# {json?}\nkind: Pod", Format::Yaml)]
    #[case("", Format::Yaml)]
    fn sniffs_format(#[case] text: &str, #[case] format: Format) {
        assert_eq!(sniff(text), format);
    }

    #[rstest]
    #[case("", true)]
    #[case("\n\n  \n", true)]
    #[case("# only a comment\n---\n...\n", true)]
    #[case("kind: Pod", false)]
    #[case("null", false)]
    fn blank(#[case] text: &str, #[case] expected: bool) {
        assert_eq!(is_blank(text), expected);
    }
}
