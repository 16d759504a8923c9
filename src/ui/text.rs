//! Fitting text into cells: display width, truncation with an ellipsis, padding, word wrap.
//! Nothing ever wraps into a neighbouring pane: every string is cut to its column first.
//! Also the small line builders the panes share (marks, plurals, wrapped paragraphs).

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Display width in terminal cells.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Cuts `text` to at most `max` cells, ending in `…` when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Truncates, then pads with spaces to exactly `cells` cells.
pub fn pad(text: &str, cells: usize) -> String {
    let mut out = truncate(text, cells);
    let used = width(&out);
    out.extend(std::iter::repeat_n(' ', cells.saturating_sub(used)));
    out
}

/// Truncates, then right-aligns in `cells` cells.
pub fn pad_left(text: &str, cells: usize) -> String {
    let cut = truncate(text, cells);
    let used = width(&cut);
    let mut out: String = std::iter::repeat_n(' ', cells.saturating_sub(used)).collect();
    out.push_str(&cut);
    out
}

/// Word-wraps `text` into lines of at most `max` cells; words longer than a line are split.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in text.split(' ') {
        let word_width = width(word);
        let needed = if line.is_empty() {
            word_width
        } else {
            used + 1 + word_width
        };
        if needed <= max {
            if !line.is_empty() {
                line.push(' ');
                used += 1;
            }
            line.push_str(word);
            used += word_width;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            used = 0;
        }
        // The word alone may still be too long: split it by cells.
        for c in word.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > max {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            line.push(c);
            used += w;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `1 pod`, `2 pods`.
pub fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("{count} {one}")
    } else {
        format!("{count} {many}")
    }
}

/// Cuts a line of spans to `max` cells, the last kept span ending in `…`.
pub fn fit_line(line: Line<'static>, max: usize) -> Line<'static> {
    let total: usize = line.spans.iter().map(|span| width(&span.content)).sum();
    if total <= max {
        return line;
    }
    let mut used = 0;
    let mut spans = Vec::new();
    for span in line.spans {
        let span_width = width(&span.content);
        if used + span_width < max {
            used += span_width;
            spans.push(span);
            continue;
        }
        let cut = truncate(&span.content, max - used);
        spans.push(Span::styled(cut, span.style));
        break;
    }
    Line::from(spans).style(line.style)
}

/// A mark (✓ ✗ ! i) and the space after it.
pub fn mark_span(mark: &str, style: Style) -> Span<'static> {
    Span::styled(format!("{mark} "), style)
}

/// Appends `text` word-wrapped to `width`, every line indented by `indent` cells.
pub fn push_wrapped(
    lines: &mut Vec<Line<'static>>,
    text: &str,
    indent: usize,
    width: usize,
    style: Style,
) {
    let pad_text = " ".repeat(indent);
    // Text built from cluster objects: never a raw control character on the terminal.
    let text = crate::printable::escape_lines(text);
    for part in wrap(&text, width.saturating_sub(indent).max(10)) {
        lines.push(Line::styled(format!("{pad_text}{part}"), style));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn wrapped_text_never_carries_a_control_character() {
        let mut lines = Vec::new();
        let hostile = "pod web\u{1b}]52;c;ZXZpbA==\u{7}\u{1b}[2J allowed by shop/\u{202e}evil";
        push_wrapped(&mut lines, hostile, 2, 40, Style::default());
        let shown: String = lines
            .iter()
            .flat_map(|line| line.spans.iter())
            .map(|span| span.content.as_ref())
            .collect();
        assert!(
            !shown.chars().any(crate::printable::needs_escape),
            "{shown:?}"
        );
        assert!(shown.contains("\\u{1b}]52;c;"), "{shown:?}");
    }

    #[rstest]
    #[case("mynodeportservice", 8, "mynodep…")]
    #[case("web", 8, "web")]
    #[case("web", 3, "web")]
    #[case("webs", 3, "we…")]
    #[case("x", 0, "")]
    fn truncates_with_an_ellipsis(#[case] text: &str, #[case] max: usize, #[case] expected: &str) {
        assert_eq!(truncate(text, max), expected);
        assert!(width(&truncate(text, max)) <= max);
    }

    #[test]
    fn pads_to_exact_width() {
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(pad("abcdef", 4), "abc…");
        assert_eq!(pad_left("7/9", 5), "  7/9");
    }

    #[test]
    fn wraps_words_and_splits_long_ones() {
        assert_eq!(
            wrap("a connection to the pod", 10),
            vec!["a", "connection", "to the pod"]
        );
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), vec![""]);
        for line in wrap(
            "The pod sees a node address as the client, not the real client.",
            12,
        ) {
            assert!(width(&line) <= 12, "{line:?}");
        }
    }
}
