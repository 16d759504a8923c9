//! Near misses for `selector-partial-match` (rules M1, M2): a pod that fails exactly one pair of
//! a Service's selector, either because it lacks that key while carrying every other pair, or
//! because its value is one small edit away from the selector's (a likely typo).
//!
//! Sibling workloads of one app share app-level labels (`app.kubernetes.io/part-of`, `app=redis`
//! on both the master and the replicas) and differ in a component-level one (`role=master`
//! against `role=replica`). Those differences are whole words, not typos, so they are never near
//! misses: telling the master pod to take `role=replica` would be wrong advice.

use std::collections::BTreeMap;

use crate::objects::Labels;

/// How a pod misses a selector by exactly one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NearMiss<'a> {
    /// The pod carries every other pair of the selector but has no `key` label at all.
    MissingKey { key: &'a str, wanted: &'a str },
    /// The pod carries every other pair and `key=actual`, one small edit from `key=wanted`.
    Typo {
        key: &'a str,
        actual: &'a str,
        wanted: &'a str,
    },
}

/// The near miss of a pod's labels against `selector`, if it is one. A pod that matches, or
/// misses two or more pairs, or misses one pair by a different word, is not a near miss.
pub(crate) fn near_miss<'a>(
    labels: Option<&'a Labels>,
    selector: &'a BTreeMap<String, String>,
) -> Option<NearMiss<'a>> {
    let mut miss = None;
    for (key, wanted) in selector {
        let found = match labels.and_then(|labels| labels.get(key)) {
            Some(actual) if actual == wanted => continue,
            Some(actual) => NearMiss::Typo {
                key,
                actual,
                wanted,
            },
            None => NearMiss::MissingKey { key, wanted },
        };
        if miss.replace(found).is_some() {
            // A second failing pair: not a near miss.
            return None;
        }
    }
    match miss? {
        // A pod lacking the only key of a one-pair selector shares nothing with it.
        NearMiss::MissingKey { .. } if selector.len() < 2 => None,
        found @ NearMiss::MissingKey { .. } => Some(found),
        found @ NearMiss::Typo { actual, wanted, .. } => is_typo(actual, wanted).then_some(found),
    }
}

/// Whether `actual` looks like a mistyped `wanted`: another case, or one or two edits (insert,
/// delete, replace, swap two neighbours), few for the length, and not merely another number (`v1` against
/// `v2`, `redis-6` against `redis-7` are versions, not typos).
pub(crate) fn is_typo(actual: &str, wanted: &str) -> bool {
    if actual == wanted || digits_differ_only(actual, wanted) {
        return false;
    }
    if actual.eq_ignore_ascii_case(wanted) {
        return true;
    }
    let longest = actual.chars().count().max(wanted.chars().count());
    let distance = edit_distance(actual, wanted);
    // One edit needs four characters, two edits eight: "api" against "app" is another word.
    (1..=2).contains(&distance) && distance * 4 <= longest
}

/// The two values are the same once every run of digits is blanked out.
fn digits_differ_only(a: &str, b: &str) -> bool {
    fn shape(value: &str) -> String {
        let mut out = String::with_capacity(value.len());
        let mut in_digits = false;
        for character in value.chars() {
            if character.is_ascii_digit() {
                if !in_digits {
                    out.push('#');
                }
                in_digits = true;
            } else {
                out.push(character);
                in_digits = false;
            }
        }
        out
    }
    shape(a) == shape(b)
}

/// Optimal string alignment distance (Levenshtein plus the swap of two neighbours), on
/// characters. Label values are at most 63 characters, so the table stays small.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        table[at(i, 0)] = i;
    }
    for j in 0..=b.len() {
        table[at(0, j)] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[at(i - 1, j)] + 1)
                .min(table[at(i, j - 1)] + 1)
                .min(table[at(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[at(i - 2, j - 2)] + 1);
            }
            table[at(i, j)] = best;
        }
    }
    table[at(a.len(), b.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn pod_labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_map(&labels(pairs), &mut crate::objects::Interner::new())
    }

    // M1: a one-letter typo, a swap, a missing dash; M2: not different words or versions.
    #[rstest]
    #[case::extra_letter("invoices-api", "invoice-api", true)]
    #[case::swapped("fronetnd", "frontend", true)]
    #[case::dash("front-end", "frontend", true)]
    #[case::case("Web", "web", true)]
    #[case::two_edits_long("catalogue", "catalog", true)]
    #[case::role_words("master", "replica", false)]
    #[case::versions("v1", "v2", false)]
    #[case::numbered("redis-6", "redis-7", false)]
    #[case::short_words("db", "dc", false)]
    #[case::two_edits_short("api", "app", false)]
    #[case::components("grafana", "prometheus", false)]
    #[case::same("web", "web", false)]
    fn typos(#[case] actual: &str, #[case] wanted: &str, #[case] typo: bool) {
        assert_eq!(is_typo(actual, wanted), typo, "{actual} vs {wanted}");
    }

    // M2: the guestbook master pod is not a near miss of the replica Service.
    #[test]
    fn sibling_role_is_not_a_near_miss() {
        let selector = labels(&[("app", "redis"), ("role", "replica")]);
        let master = pod_labels(&[("app", "redis"), ("role", "master")]);
        assert_eq!(near_miss(Some(&master), &selector), None);
    }

    // M2: every other pair matches and one key is absent.
    #[test]
    fn missing_key_is_a_near_miss() {
        let selector = labels(&[("app", "web"), ("tier", "frontend")]);
        let pod = pod_labels(&[("app", "web")]);
        assert_eq!(
            near_miss(Some(&pod), &selector),
            Some(NearMiss::MissingKey {
                key: "tier",
                wanted: "frontend"
            })
        );
        let bare = pod_labels(&[("tier", "backend")]);
        assert_eq!(near_miss(Some(&bare), &selector), None);
    }

    // M1: the typo on the only key of a one-pair selector.
    #[test]
    fn single_key_typo_is_a_near_miss() {
        let selector = labels(&[("app", "invoice-api")]);
        let pod = pod_labels(&[("app", "invoices-api")]);
        assert!(matches!(
            near_miss(Some(&pod), &selector),
            Some(NearMiss::Typo { .. })
        ));
        assert_eq!(near_miss(None, &selector), None);
    }
}
