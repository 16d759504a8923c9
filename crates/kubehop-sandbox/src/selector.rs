//! `labelSelector` and `fieldSelector` query parameters: parsing and matching, with the
//! syntax of apimachinery's `labels.Parse` and `fields.ParseSelector`.

use std::collections::BTreeMap;

/// A parse error, worded like the API server's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector: all requirements must hold. Empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for part in split_top_level(input) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            requirements.push(parse_requirement(part)?);
        }
        Ok(LabelSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            LabelRequirement::Equals(k, v) => labels.get(k) == Some(v),
            LabelRequirement::NotEquals(k, v) => labels.get(k) != Some(v),
            LabelRequirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            LabelRequirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            LabelRequirement::Exists(k) => labels.contains_key(k),
            LabelRequirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(input: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

fn parse_requirement(part: &str) -> Result<LabelRequirement, SelectorError> {
    let err = |why: &str| SelectorError(format!("unable to parse requirement: {why}"));
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(LabelRequirement::DoesNotExist(key.to_string()));
    }
    // Set-based: `key in (a,b)` / `key notin (a,b)`.
    if let Some(open) = part.find('(') {
        let head = part[..open].trim();
        let close = part
            .rfind(')')
            .filter(|close| *close > open)
            .ok_or_else(|| err("found '(', expected: ')'"))?;
        if !part[close + 1..].trim().is_empty() {
            return Err(err("unexpected text after ')'"));
        }
        let values: Vec<String> = part[open + 1..close]
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        for value in &values {
            check_value(value)?;
        }
        let mut words = head.split_whitespace();
        let (Some(key), Some(op), None) = (words.next(), words.next(), words.next()) else {
            return Err(err("expected: key in (values) or key notin (values)"));
        };
        check_key(key)?;
        return match op {
            "in" => Ok(LabelRequirement::In(key.to_string(), values)),
            "notin" => Ok(LabelRequirement::NotIn(key.to_string(), values)),
            other => Err(err(&format!(
                "found '{other}', expected: in, notin, =, ==, !="
            ))),
        };
    }
    for (op, build) in [
        (
            "!=",
            LabelRequirement::NotEquals as fn(String, String) -> LabelRequirement,
        ),
        ("==", LabelRequirement::Equals),
        ("=", LabelRequirement::Equals),
    ] {
        if let Some((key, value)) = part.split_once(op) {
            let (key, value) = (key.trim(), value.trim());
            check_key(key)?;
            check_value(value)?;
            return Ok(build(key.to_string(), value.to_string()));
        }
    }
    let key = part.trim();
    if key.contains(char::is_whitespace) {
        return Err(err(&format!("found '{key}', expected: key")));
    }
    check_key(key)?;
    Ok(LabelRequirement::Exists(key.to_string()))
}

fn check_key(key: &str) -> Result<(), SelectorError> {
    if crate::admission::is_qualified_name(key) {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "unable to parse requirement: invalid label key \"{key}\": name part must consist of \
             alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric \
             character"
        )))
    }
}

fn check_value(value: &str) -> Result<(), SelectorError> {
    if crate::admission::is_label_value(value) {
        Ok(())
    } else {
        Err(SelectorError(format!(
            "unable to parse requirement: invalid label value: \"{value}\": a valid label must be \
             an empty string or consist of alphanumeric characters, '-', '_' or '.', and must \
             start and end with an alphanumeric character"
        )))
    }
}

/// One requirement of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    pub equals: bool,
}

/// A parsed field selector. Fields are looked up through a closure so the store can answer
/// from its index without decoding objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for part in split_unescaped(input, ',') {
            if part.trim().is_empty() {
                continue;
            }
            let (field, value, equals) = if let Some((f, v)) = split_once_unescaped(&part, "!=") {
                (f, v, false)
            } else if let Some((f, v)) = split_once_unescaped(&part, "==") {
                (f, v, true)
            } else if let Some((f, v)) = split_once_unescaped(&part, "=") {
                (f, v, true)
            } else {
                return Err(SelectorError(format!(
                    "invalid selector: '{input}'; can't understand '{part}'"
                )));
            };
            requirements.push(FieldRequirement {
                field: field.trim().to_string(),
                value: unescape(value.trim()),
                equals,
            });
        }
        Ok(FieldSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The first field label not in `allowed`, if any.
    pub fn unsupported_field(&self, allowed: impl Fn(&str) -> bool) -> Option<&str> {
        self.requirements
            .iter()
            .map(|r| r.field.as_str())
            .find(|f| !allowed(f))
    }

    /// `field(label)` gives the object's value for a field label ("" when absent).
    pub fn matches<'a>(&self, field: impl Fn(&str) -> &'a str) -> bool {
        self.requirements
            .iter()
            .all(|r| (field(&r.field) == r.value) == r.equals)
    }

    /// The value required by `field=value`, if the selector has one (used to narrow scans).
    pub fn required_value(&self, label: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.equals && r.field == label)
            .map(|r| r.value.as_str())
    }
}

fn split_unescaped(input: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in input.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

fn split_once_unescaped<'a>(input: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let mut escaped = false;
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if input[i..].starts_with(op) {
            return Some((&input[..i], &input[i + op.len()..]));
        }
    }
    None
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[rstest]
    #[case("", true)]
    #[case("app=web", true)]
    #[case("app==web", true)]
    #[case("app!=web", false)]
    #[case("app=api", false)]
    #[case("app in (api, web)", true)]
    #[case("app notin (api,web)", false)]
    #[case("tier notin (db)", true)]
    #[case("app", true)]
    #[case("!app", false)]
    #[case("!tier", true)]
    #[case("app=web,zone in (a,b)", true)]
    #[case("app=web, zone in (c)", false)]
    #[case("example.com/role=front", true)]
    fn label_selectors(#[case] selector: &str, #[case] expected: bool) {
        let pod = labels(&[("app", "web"), ("zone", "a"), ("example.com/role", "front")]);
        let parsed = LabelSelector::parse(selector).expect("parses");
        assert_eq!(parsed.matches(&pod), expected, "{selector}");
    }

    #[rstest]
    #[case("app in (a", "unable to parse requirement")]
    #[case("app is web", "unable to parse requirement")]
    #[case("a b=c", "invalid label key")]
    #[case("app=bad value!", "invalid label value")]
    fn bad_label_selectors(#[case] selector: &str, #[case] message: &str) {
        let err = LabelSelector::parse(selector).expect_err("rejected");
        assert!(err.0.contains(message), "{}", err.0);
    }

    #[rstest]
    #[case("metadata.name=web", true)]
    #[case("metadata.name==web,metadata.namespace=default", true)]
    #[case("metadata.name!=web", false)]
    #[case("spec.nodeName=", false)]
    #[case("spec.nodeName=node-a", true)]
    fn field_selectors(#[case] selector: &str, #[case] expected: bool) {
        let parsed = FieldSelector::parse(selector).expect("parses");
        let lookup = |f: &str| match f {
            "metadata.name" => "web",
            "metadata.namespace" => "default",
            "spec.nodeName" => "node-a",
            _ => "",
        };
        assert_eq!(parsed.matches(lookup), expected, "{selector}");
    }

    #[test]
    fn odd_input_is_an_error_not_a_panic() {
        assert!(LabelSelector::parse("a notin )x(").is_err());
        assert!(LabelSelector::parse("é=1").is_err());
        let parsed = FieldSelector::parse("metadata.name=é!=x").expect("parses");
        assert_eq!(parsed.requirements[0].value, "x");
        assert!(!parsed.requirements[0].equals);
        assert_eq!(
            FieldSelector::parse("ü=ö").expect("parses").requirements[0].value,
            "ö"
        );
    }

    #[test]
    fn field_selector_needs_an_operator() {
        assert!(FieldSelector::parse("metadata.name").is_err());
        let escaped = FieldSelector::parse(r"reason=a\,b").expect("parses");
        assert_eq!(escaped.requirements[0].value, "a,b");
    }
}
