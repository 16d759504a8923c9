//! Parsing one input into entries, and the one-line error messages for input that does not
//! parse: the position, the object (found by a second, lenient read) and the field.

use super::*;

/// Parses every document of one input. `None` stands for an empty (`null`) document.
pub(super) fn parse(
    name: &str,
    text: &str,
    format: Format,
) -> Result<Vec<Option<Vec<Entry>>>, DumpError> {
    decode::reset_position();
    let result = match format {
        Format::Json => parse_json(text).map_err(|error| {
            let (line, column) = (error.line(), error.column());
            Failure {
                line: (line > 0).then_some(line as u64),
                column: (line > 0 && column > 0).then_some(column as u64),
                message: json_message(&error),
            }
        }),
        Format::Yaml => parse_yaml(text).map_err(|error| {
            let location = error.location();
            Failure {
                line: location.map(|l| l.line()).filter(|&line| line > 0),
                column: location.map(|l| l.column()).filter(|&column| column > 0),
                message: yaml_message(&error, text),
            }
        }),
    };
    let position = decode::take_position();
    result.map_err(|failure| {
        let located = locate_object(text, format, &position);
        // Errors raised after a value was buffered (or by kubehop itself) carry no location
        // from the parser: point at the start of the object instead.
        let (line, column) = match failure.line {
            Some(line) => (Some(line), failure.column),
            None => (located.line, located.column),
        };
        DumpError::Parse(Box::new(ParseError {
            name: name.to_owned(),
            line,
            column,
            field: position
                .kind
                .as_deref()
                .zip(located.object.as_ref())
                .and_then(|(kind, object)| decode::field_path(kind, object)),
            object: describe_object(&position, located.identity),
            message: failure.message,
        }))
    })
}

pub(super) struct Failure {
    line: Option<u64>,
    column: Option<u64>,
    message: String,
}

pub(super) fn parse_json(text: &str) -> Result<Vec<Option<Vec<Entry>>>, serde_json::Error> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<decode::Document>()
        .map(|document| document.map(|document| document.0))
        .collect()
}

pub(super) fn parse_yaml(text: &str) -> Result<Vec<Option<Vec<Entry>>>, serde_saphyr::Error> {
    let documents: Vec<decode::Document> =
        serde_saphyr::from_multiple_with_options(text, yaml_options(text.len()))?;
    Ok(documents.into_iter().map(|document| document.0).collect())
}

/// Budgets for one YAML input of `len` bytes: see the module documentation.
pub(super) fn yaml_options(len: usize) -> serde_saphyr::Options {
    // Every event, node and document takes at least one byte of input; aliases are capped
    // separately. Bounding these by the input size stops amplification, not honest size.
    let bound = len.saturating_add(1024);
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: bound,
            max_nodes: bound,
            max_documents: bound,
            max_total_scalar_bytes: bound,
            max_depth: MAX_DEPTH,
        },
        with_snippet: false,
    }
}

/// serde_json's message without its " at line L column C" suffix (the location is printed
/// first).
pub(super) fn json_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    one_line(message.strip_suffix(&suffix).unwrap_or(&message))
}

/// serde-saphyr's message, without location (printed first) and without advice about its
/// own options. Type mismatches name what was found, like serde_json does.
pub(super) fn yaml_message(error: &serde_saphyr::Error, text: &str) -> String {
    match error.without_snippet() {
        serde_saphyr::Error::InvalidScalar { ty, location } => {
            if let Some(found) = found_at(text, location.line(), location.column()) {
                return one_line(&format!("invalid value: {found}, expected {ty}"));
            }
        }
        serde_saphyr::Error::Unexpected { expected, location } => {
            let expected = match *expected {
                "mapping start" => Some("a mapping"),
                "sequence start" => Some("a sequence"),
                "string scalar" => Some("a string"),
                "scalar" => Some("a single value"),
                _ => None,
            };
            if let Some(expected) = expected
                && let Some(found) = found_at(text, location.line(), location.column())
            {
                return one_line(&format!("invalid type: {found}, expected {expected}"));
            }
        }
        _ => {}
    }
    let mut message = error.to_string();
    if let Some(location) = error.location() {
        for suffix in [
            format!(" at line {}, column {}", location.line(), location.column()),
            format!(" at line {} column {}", location.line(), location.column()),
        ] {
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
    }
    if let Some(stripped) =
        message.strip_suffix(", set DuplicateKeyPolicy in Options if acceptable")
    {
        message = stripped.to_owned();
    }
    one_line(&message)
}

/// What the YAML node at a 1-based line and column is: `a sequence`, `a mapping`, or the
/// scalar quoted (`"http"`). Judged from the text, for messages only.
pub(super) fn found_at(text: &str, line: u64, column: u64) -> Option<String> {
    let index = usize::try_from(line.checked_sub(1)?).ok()?;
    let line_text = text.lines().nth(index)?;
    let start = usize::try_from(column.checked_sub(1)?).ok()?;
    let rest: String = line_text.chars().skip(start).collect();
    let rest = rest.trim();
    if rest.starts_with('[') || rest == "-" || rest.starts_with("- ") {
        return Some("a sequence".to_owned());
    }
    if rest.starts_with('{') {
        return Some("a mapping".to_owned());
    }
    for quote in ['"', '\''] {
        if let Some(inner) = rest.strip_prefix(quote) {
            let scalar = inner.split(quote).next().unwrap_or(inner);
            return Some(format!("{:?}", scalar.chars().take(80).collect::<String>()));
        }
    }
    if rest.ends_with(':') || rest.contains(": ") {
        return Some("a mapping".to_owned());
    }
    if rest.is_empty() {
        // A block collection starting on the next line.
        let next = text
            .lines()
            .skip(index + 1)
            .map(str::trim)
            .find(|l| !l.is_empty())?;
        let kind = if next.starts_with('-') {
            "a sequence"
        } else {
            "a mapping"
        };
        return Some(kind.to_owned());
    }
    let scalar = rest.split(" #").next().unwrap_or(rest).trim_end();
    Some(format!("{:?}", scalar.chars().take(80).collect::<String>()))
}

/// Error messages may quote input; keep them on one line and of a sane length.
pub(super) fn one_line(message: &str) -> String {
    clean(message, 300)
}

/// Text from the input (kinds, names, messages quoting it) as one line of at most `max`
/// characters: control characters (newlines) become spaces.
pub(super) fn clean(text: &str, max: usize) -> String {
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().nth(max).is_some() {
        line.push('…');
    }
    line
}

/// Names the object that failed, e.g. `items[12] (Pod default/web-1)`.
pub(super) fn describe_object(position: &Position, identity: Option<String>) -> Option<String> {
    let document_index = position.documents.checked_sub(1)?;
    let mut parts: Vec<String> = Vec::new();
    if document_index > 0 {
        parts.push(format!("document {}", document_index + 1));
    }
    let kind = position.kind.as_deref().map(|kind| clean(kind, 100));
    let identity = identity.map(|identity| clean(&identity, 200));
    let kind_and_name = match (kind, identity) {
        (Some(kind), Some(identity)) => Some(format!("{kind} {identity}")),
        (Some(kind), None) => Some(kind),
        (None, Some(identity)) => Some(identity),
        (None, None) => None,
    };
    match (position.item, kind_and_name) {
        (Some(item), Some(what)) => parts.push(format!("{item} ({what})")),
        (Some(item), None) => parts.push(item.to_string()),
        (None, Some(what)) => parts.push(what),
        (None, None) => {}
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}

/// What a second, lenient read of the failed document tells about the failed object.
#[derive(Default)]
pub(super) struct Located {
    /// `namespace/name` or `name`.
    identity: Option<String>,
    /// Where the object starts (YAML only; serde_json always reports a position).
    line: Option<u64>,
    column: Option<u64>,
    /// The object as a plain value, to find the failing field.
    object: Option<Value>,
}

#[derive(serde::Deserialize)]
pub(super) struct LocatedList {
    #[serde(default)]
    items: Vec<serde_saphyr::Spanned<Value>>,
}

/// Reads the failed document again as plain values (error path only) to find the failed
/// object's name and start. Finds nothing when the document is not well-formed.
pub(super) fn locate_object(text: &str, format: Format, position: &Position) -> Located {
    let Some(document_index) = position.documents.checked_sub(1) else {
        return Located::default();
    };
    match format {
        Format::Json => {
            let document = serde_json::Deserializer::from_str(text)
                .into_iter::<Value>()
                .nth(document_index)
                .and_then(Result::ok);
            let object = document.and_then(|mut document| match position.item {
                Some(Item::ListItem(index)) => {
                    Some(document.get_mut("items")?.get_mut(index)?.take())
                }
                Some(Item::SequenceItem(index)) => Some(document.get_mut(index)?.take()),
                None => Some(document),
            });
            Located {
                identity: object.as_ref().and_then(identity),
                object,
                ..Located::default()
            }
        }
        Format::Yaml => {
            let spanned = match position.item {
                Some(Item::ListItem(index)) => {
                    nth_yaml_document::<LocatedList>(text, document_index)
                        .and_then(|list| list.items.into_iter().nth(index))
                }
                Some(Item::SequenceItem(index)) => {
                    nth_yaml_document::<Vec<serde_saphyr::Spanned<Value>>>(text, document_index)
                        .and_then(|items| items.into_iter().nth(index))
                }
                None => nth_yaml_document::<serde_saphyr::Spanned<Value>>(text, document_index),
            };
            match spanned {
                Some(spanned) => Located {
                    identity: identity(&spanned.value),
                    line: Some(spanned.referenced.line()).filter(|&line| line > 0),
                    column: Some(spanned.referenced.column()).filter(|&column| column > 0),
                    object: Some(spanned.value),
                },
                None => Located::default(),
            }
        }
    }
}

pub(super) fn nth_yaml_document<T: serde::de::DeserializeOwned>(
    text: &str,
    index: usize,
) -> Option<T> {
    let mut bytes = text.as_bytes();
    serde_saphyr::read_with_options(&mut bytes, yaml_options(text.len()))
        .nth(index)
        .and_then(Result::ok)
}

pub(super) fn identity(object: &Value) -> Option<String> {
    let metadata = object.get("metadata")?;
    let name = metadata.get("name")?.as_str()?;
    Some(match metadata.get("namespace").and_then(Value::as_str) {
        Some(namespace) if !namespace.is_empty() => format!("{namespace}/{name}"),
        _ => name.to_owned(),
    })
}
