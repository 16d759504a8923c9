//! The repository explains itself, and its documents stay true:
//! - every Kubernetes rule id cited in a Rust comment resolves in docs/rules.md;
//! - no source, crate or test file cites a document outside the repository or a tracker number;
//! - README.md stays a front door (at most 300 lines) whose keys table is the keymap's;
//! - every relative link in README.md and docs/*.md points at a file that exists (and at a
//!   heading, when it names an anchor in a markdown file).
//!
//! `KUBEHOP_BLESS=1 cargo test --test docs` rewrites README.md's keys table from the keymap.
//!
//! How a rule id is recognised (see docs/rules.md, "How the code cites these rules"): a word
//! `A1`…`G17`, `M1`…, `N1`…, `V1`… (one capital of A–G, M, N or V, then one or two digits), or
//! `GW1`… (the Gateway API series) in the comment
//! part of a line (after `//`, outside a string literal), not inside a `code span`, and not a
//! path segment (`IpAddr::V4`) or a call (`V4(`). Key names such as `F1` are written as code
//! (`` `F1` ``) and so are not read as rules.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const README_LINE_LIMIT: usize = 300;
const KEYS_BEGIN: &str = "<!-- keys:begin -->";
const KEYS_END: &str = "<!-- keys:end -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (recursively), skipping `target`, hidden folders and snapshots'
/// binary neighbours; a missing `dir` (no `crates/` yet) is empty.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn rust_files(dirs: &[&str]) -> Vec<PathBuf> {
    dirs.iter()
        .flat_map(|dir| files_under(&root().join(dir)))
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect()
}

/// The comment part of a line: after the first `//` that is not inside a string literal
/// (an even number of `"` before it), or nothing.
fn comment_of(line: &str) -> Option<&str> {
    let mut search = 0;
    while let Some(found) = line[search..].find("//") {
        let at = search + found;
        let quotes = line[..at].matches('"').count() - line[..at].matches("\\\"").count();
        if quotes.is_multiple_of(2) {
            return Some(&line[at + 2..]);
        }
        search = at + 2;
    }
    None
}

/// `text` with every `code span` blanked out.
fn without_code_spans(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(index, part)| if index.is_multiple_of(2) { part } else { " " })
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_rule_id(word: &str) -> bool {
    // The Gateway API series: GW1, GW2, ...
    if let Some(digits) = word.strip_prefix("GW") {
        return (1..=2).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0');
    }
    let mut chars = word.chars();
    let Some(series) = chars.next() else {
        return false;
    };
    let digits: String = chars.collect();
    matches!(series, 'A'..='G' | 'K' | 'M' | 'N' | 'V')
        && (1..=2).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// The rule ids cited in one comment.
fn rule_ids_in(comment: &str) -> Vec<String> {
    let text = without_code_spans(comment);
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut ids = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (is_word(c), start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                let word = &text[from..at];
                let path_segment = text[..from].ends_with("::") || text[at..].starts_with("::");
                let call = text[at..].starts_with('(');
                if is_rule_id(word) && !path_segment && !call {
                    ids.push(word.to_owned());
                }
                start = None;
            }
            _ => {}
        }
    }
    ids
}

/// The ids docs/rules.md defines: a heading that is the id (`#### A1`).
fn rules_defined() -> BTreeSet<String> {
    let rules = fs::read_to_string(root().join("docs/rules.md")).expect("docs/rules.md");
    rules
        .lines()
        .filter_map(|line| line.strip_prefix("#### "))
        .map(|id| id.trim().to_owned())
        .filter(|id| is_rule_id(id))
        .collect()
}

#[test]
fn the_rule_id_reader_skips_code_paths_and_calls() {
    assert_eq!(
        rule_ids_in(" endpoint conditions (rule A4, spec V4)."),
        ["A4", "V4"]
    );
    assert_eq!(
        rule_ids_in(" `IpAddr::V4(v4)` and IpAddr::V4 here"),
        Vec::<String>::new()
    );
    assert_eq!(
        rule_ids_in(" V4(addr) is a call; press `F1`"),
        Vec::<String>::new()
    );
    assert_eq!(
        rule_ids_in(" G1-G17, C2/V4; A10."),
        ["G1", "G17", "C2", "V4", "A10"]
    );
    assert_eq!(
        rule_ids_in(" H1, A100, A0, X509, ipv4"),
        Vec::<String>::new()
    );
    assert_eq!(comment_of(r#"let url = "http://x"; // B7"#), Some(" B7"));
    assert_eq!(comment_of(r#"let url = "http://x";"#), None);
}

#[test]
fn every_rule_id_cited_in_code_is_in_docs_rules() {
    let defined = rules_defined();
    assert!(defined.len() > 50, "docs/rules.md defines only {defined:?}");
    let mut missing = Vec::new();
    for path in rust_files(&["src", "crates", "tests", "benches"]) {
        let text = fs::read_to_string(&path).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            let Some(comment) = comment_of(line) else {
                continue;
            };
            for id in rule_ids_in(comment) {
                if !defined.contains(&id) {
                    missing.push(format!("{}:{}: {id}", path.display(), number + 1));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "rule ids cited in comments but not defined in docs/rules.md (a `#### ID` heading):\n{}",
        missing.join("\n")
    );
}

/// Whether `text` names a tracker entry: the word "issue" (any case), optional spaces and `#`,
/// then a digit.
fn cites_tracker_number(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let word = "issue";
    lower.match_indices(word).any(|(at, _)| {
        let starts_word = !lower[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let rest = lower[at + word.len()..].trim_start_matches([' ', '#']);
        starts_word && rest.starts_with(|c: char| c.is_ascii_digit())
    })
}

#[test]
fn no_file_cites_documents_outside_the_repository() {
    // Spelled in pieces so that this file does not cite them itself.
    let design = ["DESIGN", ".md"].concat();
    let shared = ["shared", "/"].concat();
    assert!(cites_tracker_number(&["see Issue", " #12"].concat()));
    assert!(!cites_tracker_number(
        &["tiss", "ue 5, issues are tracked"].concat()
    ));
    let mut found = Vec::new();
    for dir in ["src", "crates", "tests"] {
        for path in files_under(&root().join(dir)) {
            let Ok(text) = fs::read_to_string(&path) else {
                continue; // not text
            };
            for (number, line) in text.lines().enumerate() {
                if line.contains(&design) || line.contains(&shared) || cites_tracker_number(line) {
                    found.push(format!(
                        "{}:{}: {}",
                        path.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "cite docs/*.md (or nothing) instead:\n{}",
        found.join("\n")
    );
}

fn readme() -> String {
    fs::read_to_string(root().join("README.md")).expect("README.md")
}

#[test]
fn readme_is_a_front_door() {
    let lines = readme().lines().count();
    assert!(
        lines <= README_LINE_LIMIT,
        "README.md has {lines} lines (at most {README_LINE_LIMIT}); move detail into docs/"
    );
}

#[test]
fn readme_keys_table_is_the_keymap() {
    let readme = readme();
    let begin = readme
        .find(KEYS_BEGIN)
        .expect("README.md has the keys:begin marker");
    let end = readme
        .find(KEYS_END)
        .expect("README.md has the keys:end marker");
    assert!(begin < end, "keys:begin comes before keys:end");
    let inside = &readme[begin + KEYS_BEGIN.len()..end];
    let generated = format!("\n{}", kubehop::app::keymap::markdown_table());
    if std::env::var_os("KUBEHOP_BLESS").is_some_and(|value| value == "1") {
        let blessed = [
            &readme[..begin + KEYS_BEGIN.len()],
            &generated,
            &readme[end..],
        ]
        .concat();
        fs::write(root().join("README.md"), blessed).expect("README.md is writable");
        return;
    }
    assert_eq!(
        inside, generated,
        "README.md's keys table differs from the keymap; run KUBEHOP_BLESS=1 cargo test --test docs"
    );
}

/// The targets of the inline links `[text](target)` in a markdown text, code blocks and code
/// spans left out.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let text = without_code_spans(line);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(close) = after.find(')') else {
                break;
            };
            targets.push(after[..close].trim().to_owned());
            rest = &after[close..];
        }
    }
    targets
}

/// The anchors of a markdown file's headings, as GitHub makes them: lower case, spaces to `-`,
/// everything but letters, digits, `-` and `_` dropped.
fn heading_anchors(path: &Path) -> BTreeSet<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            line.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

#[test]
fn relative_links_point_at_files() {
    let mut documents = vec![root().join("README.md")];
    documents.extend(
        files_under(&root().join("docs"))
            .into_iter()
            .filter(|path| path.extension().is_some_and(|ext| ext == "md")),
    );
    let mut broken = Vec::new();
    for document in documents {
        let text = fs::read_to_string(&document).expect("readable document");
        let folder = document.parent().expect("a file has a folder");
        for target in link_targets(&text) {
            let external = target.contains("://") || target.starts_with("mailto:");
            if external {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() {
                document.clone()
            } else {
                folder.join(file)
            };
            let resolves = path.exists()
                && (anchor.is_empty()
                    || path.extension().is_none_or(|ext| ext != "md")
                    || heading_anchors(&path).contains(anchor));
            if !resolves {
                broken.push(format!("{}: {target}", document.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to missing files:\n{}",
        broken.join("\n")
    );
}
