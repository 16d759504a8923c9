//! The `/` filter of the Services list and the `b` broken-only toggle.
//!
//! Terms are separated by whitespace and all must match:
//!
//! - `web`: a case-insensitive regular expression (or, if it is not one, a substring) on
//!   `namespace/name`;
//! - `app=web`: a label of the Service or a pair of its selector;
//! - `-l SELECTOR`: a kubectl label selector on the Service's labels or selector
//!   (`app=web,tier!=db,canary,!legacy`);
//! - `!ok`: Services whose health is not ok (broken or with warnings);
//! - `!TERM`: any other term, inverted (`!web`, `!app=web`).

use regex::{Regex, RegexBuilder};

use super::catalog::Health;
use crate::engine::model::ServiceChain;

/// One filter term.
#[derive(Debug, Clone)]
pub enum FilterTerm {
    /// Case-insensitive match on `namespace/name`: a regex, or a substring when the term is
    /// not a valid regex.
    Text {
        needle: String,
        regex: Option<Regex>,
    },
    /// `key=value` on the Service's labels or its selector.
    Label { key: String, value: String },
    /// One requirement of a `-l` selector.
    Selector(Requirement),
    /// `!ok`: the Service's health is not ok.
    NotOk,
    /// `!TERM`.
    Not(Box<FilterTerm>),
}

impl PartialEq for FilterTerm {
    fn eq(&self, other: &Self) -> bool {
        format!("{self:?}") == format!("{other:?}")
    }
}

impl Eq for FilterTerm {}

/// A requirement of a kubectl label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

/// The `/` filter (its terms, all of which must match) and the broken-only toggle.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub text: String,
    pub terms: Vec<FilterTerm>,
    /// `b`: only broken Services.
    pub broken_only: bool,
}

impl Filter {
    pub fn parse(text: &str) -> Filter {
        let mut terms = Vec::new();
        let mut words = text.split_whitespace();
        while let Some(word) = words.next() {
            if word == "-l" {
                if let Some(selector) = words.next() {
                    terms.extend(parse_selector(selector).map(FilterTerm::Selector));
                }
                continue;
            }
            terms.push(parse_term(word));
        }
        Filter {
            text: text.to_owned(),
            terms,
            broken_only: false,
        }
    }

    /// The same filter text, keeping the toggle.
    pub fn reparse(&self, text: &str) -> Filter {
        Filter {
            broken_only: self.broken_only,
            ..Filter::parse(text)
        }
    }

    pub fn is_active(&self) -> bool {
        !self.terms.is_empty() || self.broken_only
    }

    pub fn matches(&self, chain: &ServiceChain, health: Health) -> bool {
        (!self.broken_only || health == Health::Broken)
            && self.terms.iter().all(|term| term.matches(chain, health))
    }
}

fn parse_term(word: &str) -> FilterTerm {
    if word == "!ok" {
        return FilterTerm::NotOk;
    }
    if let Some(rest) = word.strip_prefix('!').filter(|rest| !rest.is_empty()) {
        return FilterTerm::Not(Box::new(parse_term(rest)));
    }
    match word.split_once('=') {
        Some((key, value)) if !key.is_empty() => FilterTerm::Label {
            key: key.to_owned(),
            value: value.to_owned(),
        },
        _ => FilterTerm::Text {
            needle: word.to_lowercase(),
            regex: RegexBuilder::new(word)
                .case_insensitive(true)
                .size_limit(1 << 16)
                .build()
                .ok(),
        },
    }
}

/// `app=web,tier!=db,canary,!legacy`; `==` is `=`.
fn parse_selector(selector: &str) -> impl Iterator<Item = Requirement> + '_ {
    selector
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| {
            if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.to_owned(), value.to_owned())
            } else if let Some((key, value)) = part.split_once('=') {
                let value = value.strip_prefix('=').unwrap_or(value);
                Requirement::Equals(key.to_owned(), value.to_owned())
            } else if let Some(key) = part.strip_prefix('!') {
                Requirement::Absent(key.to_owned())
            } else {
                Requirement::Exists(part.to_owned())
            }
        })
}

impl FilterTerm {
    fn matches(&self, chain: &ServiceChain, health: Health) -> bool {
        match self {
            FilterTerm::Text { needle, regex } => {
                let full = format!("{}/{}", chain.namespace, chain.name);
                match regex {
                    Some(regex) => regex.is_match(&full),
                    None => full.to_lowercase().contains(needle.as_str()),
                }
            }
            FilterTerm::Label { key, value } => {
                label(chain, key).is_some_and(|found| found == value)
                    || selector(chain, key).is_some_and(|found| found == value)
            }
            FilterTerm::Selector(requirement) => {
                let labels = [
                    label(chain, requirement.key()),
                    selector(chain, requirement.key()),
                ];
                match requirement {
                    Requirement::Equals(_, value) => labels.contains(&Some(value.as_str())),
                    Requirement::NotEquals(_, value) => !labels.contains(&Some(value.as_str())),
                    Requirement::Exists(_) => labels.iter().any(Option::is_some),
                    Requirement::Absent(_) => labels.iter().all(Option::is_none),
                }
            }
            FilterTerm::NotOk => health != Health::Ok,
            FilterTerm::Not(term) => !term.matches(chain, health),
        }
    }
}

impl Requirement {
    fn key(&self) -> &str {
        match self {
            Requirement::Equals(key, _)
            | Requirement::NotEquals(key, _)
            | Requirement::Exists(key)
            | Requirement::Absent(key) => key,
        }
    }
}

fn label<'c>(chain: &'c ServiceChain, key: &str) -> Option<&'c str> {
    chain
        .details
        .service
        .as_ref()
        .and_then(|service| service.metadata.labels.as_ref())
        .and_then(|labels| labels.get(key))
        .map(String::as_str)
}

fn selector<'c>(chain: &'c ServiceChain, key: &str) -> Option<&'c str> {
    chain
        .selector
        .as_ref()
        .and_then(|selector| selector.get(key))
        .map(String::as_str)
}
