//! Text from cluster objects, dumps and servers made safe for a terminal: control characters
//! are shown as escapes (`\u{1b}`, `\u{7}`, `\r`, `\t`), so a name or an Ingress path cannot
//! set the window title, clear the screen, move the cursor or ring the bell of whoever prints
//! it. Bidirectional-text overrides are shown the same way, so text cannot appear reordered.
//!
//! One sanitizer for every printed form: [`escape`] for one string, [`escape_lines`] for text
//! that keeps its line breaks, and [`PrintableWriter`] for a whole text output stream
//! (`chain`, `route` and `probe` in text form, and every message on standard error). JSON and
//! YAML are never passed through it: they are exact, and their encoders escape control
//! characters themselves.

use std::borrow::Cow;
use std::io::{self, Write};

/// Whether `c` must not reach a terminal as itself: C0 and C1 control characters, DEL, and
/// the invisible bidirectional formatting characters.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        _ => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
    }
}

/// `text` on one line with every control character escaped, newlines included.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_with(text, false, false)
}

/// `text` with every control character escaped except the newlines between its lines.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_with(text, true, false)
}

/// The length of an SGR colour sequence (`ESC [ n m`, one or two digits) at the start of
/// `text`, as [`crate::output::style::Style`] writes them; 0 when there is none.
fn colour_sequence(text: &str) -> usize {
    let bytes = text.as_bytes();
    let digits = bytes
        .iter()
        .skip(2)
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let well_formed = bytes.starts_with(b"\x1b[")
        && (1..=2).contains(&digits)
        && bytes.get(2 + digits) == Some(&b'm');
    if well_formed { 3 + digits } else { 0 }
}

/// Escapes `text`; `keep_newlines` leaves `\n` as is, `colour` leaves SGR colour sequences
/// (`ESC [ n m`) as they are.
fn escape_with(text: &str, keep_newlines: bool, colour: bool) -> Cow<'_, str> {
    let keep = |c: char| !needs_escape(c) || (keep_newlines && c == '\n');
    if text.chars().all(keep) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let sequence = if colour { colour_sequence(rest) } else { 0 };
        if sequence > 0 {
            out.push_str(&rest[..sequence]);
            rest = &rest[sequence..];
            continue;
        }
        if keep(c) {
            out.push(c);
        } else {
            push_escaped(&mut out, c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// A text output stream whose control characters are escaped on the way to `inner`, line by
/// line. Newlines pass through; so do the colour sequences the text forms write themselves
/// when `colour` is on (a hostile name could still change the colour of the text after it,
/// which is all an SGR sequence can do). Call [`Write::flush`] at the end: the last line
/// without a newline is only written then (or when the writer is dropped).
pub struct PrintableWriter<W: Write> {
    inner: W,
    colour: bool,
    pending: Vec<u8>,
}

impl<W: Write> PrintableWriter<W> {
    pub fn new(inner: W, colour: bool) -> Self {
        Self {
            inner,
            colour,
            pending: Vec::new(),
        }
    }

    /// Writes `bytes` (whole lines, or the rest at a flush) escaped.
    fn write_escaped(&mut self, bytes: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(bytes);
        let escaped = escape_with(&text, true, self.colour);
        self.inner.write_all(escaped.as_bytes())
    }

    /// Writes everything pending except an incomplete UTF-8 character at its end.
    fn write_pending(&mut self) -> io::Result<()> {
        let complete = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let pending = std::mem::take(&mut self.pending);
        self.write_escaped(&pending[..complete])?;
        self.pending = pending[complete..].to_vec();
        Ok(())
    }
}

impl<W: Write> Write for PrintableWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            let rest = self.pending.split_off(last + 1);
            let lines = std::mem::replace(&mut self.pending, rest);
            self.write_escaped(&lines)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for PrintableWriter<W> {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            // Best effort, as `BufWriter` does: an error here has nowhere to go.
            let _ = self.write_pending();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("web", "web")]
    #[case("/x\u{1b}]0;pwned\u{7}\u{1b}[2J", "/x\\u{1b}]0;pwned\\u{7}\\u{1b}[2J")]
    #[case("a\r\nb\tc", "a\\r\\nb\\tc")]
    #[case("c1\u{9b}31m", "c1\\u{9b}31m")]
    #[case("del\u{7f}", "del\\u{7f}")]
    #[case("rtl\u{202e}txt", "rtl\\u{202e}txt")]
    #[case("ünïcode ✓ 名前", "ünïcode ✓ 名前")]
    fn escapes_control_characters(#[case] text: &str, #[case] expected: &str) {
        assert_eq!(escape(text), expected);
    }

    #[test]
    fn keeps_line_breaks_when_asked() {
        assert_eq!(escape_lines("a\nb\u{7}\n"), "a\nb\\u{7}\n");
        assert!(matches!(escape_lines("plain\ntext"), Cow::Borrowed(_)));
    }

    fn through_writer(pieces: &[&[u8]], colour: bool) -> String {
        let mut out = Vec::new();
        {
            let mut writer = PrintableWriter::new(&mut out, colour);
            for piece in pieces {
                writer.write_all(piece).expect("in memory");
            }
            writer.flush().expect("in memory");
        }
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn the_writer_escapes_across_writes_and_keeps_newlines() {
        let text = "svc \u{1b}]0;pwned\u{7} ✓\nnext\u{9b}\n";
        let bytes = text.as_bytes();
        // Split inside the multi-byte ✓ and inside the C1 character.
        let cut = text.find('✓').expect("present") + 1;
        let pieces = [
            &bytes[..cut],
            &bytes[cut..bytes.len() - 2],
            &bytes[bytes.len() - 2..],
        ];
        let printed = through_writer(&pieces, false);
        assert_eq!(printed, "svc \\u{1b}]0;pwned\\u{7} ✓\nnext\\u{9b}\n");
    }

    #[test]
    fn colour_sequences_pass_only_when_colour_is_on() {
        let line = "\u{1b}[31m✗\u{1b}[0m name\u{1b}[2J\u{1b}]0;t\u{7}";
        let coloured = through_writer(&[line.as_bytes()], true);
        assert_eq!(
            coloured,
            "\u{1b}[31m✗\u{1b}[0m name\\u{1b}[2J\\u{1b}]0;t\\u{7}"
        );
        let plain = through_writer(&[line.as_bytes()], false);
        assert!(!plain.contains('\u{1b}'), "{plain}");
    }

    #[test]
    fn the_last_line_is_written_on_drop() {
        let mut out = Vec::new();
        {
            let mut writer = PrintableWriter::new(&mut out, false);
            writer.write_all(b"no newline\x07").expect("in memory");
        }
        assert_eq!(out, b"no newline\\u{7}");
    }
}
