//! What changed between two snapshots whose objects are sorted by (namespace, name), as live
//! sources publish them: unchanged objects are the same `Arc` in both, so a merge walk finds
//! the changes without comparing most objects.

use std::sync::Arc;

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// One changed object: `(before, after)`; `None` before = added, `None` after = deleted.
pub(crate) type Change<'a, K> = (Option<&'a Arc<K>>, Option<&'a Arc<K>>);

/// Why two snapshots cannot be compared object by object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotComparable {
    /// More changed objects than an update is worth (a relist gives every object anew).
    TooMany,
    /// Not strictly sorted by (namespace, name), or an object without namespace or name.
    Unordered,
}

/// An object's (namespace, name); `None` for an object without both (cluster-scoped kinds are
/// never diffed).
pub(crate) trait Keyed {
    fn key(&self) -> Option<(&str, &str)>;
}

impl<K: Metadata<Ty = ObjectMeta>> Keyed for K {
    fn key(&self) -> Option<(&str, &str)> {
        let meta = self.metadata();
        Some((meta.namespace.as_deref()?, meta.name.as_deref()?))
    }
}

impl Keyed for crate::objects::PodInfo {
    fn key(&self) -> Option<(&str, &str)> {
        Some((self.namespace.as_deref()?, self.name.as_deref()?))
    }
}

fn key<K: Keyed>(object: &K) -> Option<(&str, &str)> {
    object.key()
}

/// Whether `objects` is strictly sorted by (namespace, name), every object having both.
pub(crate) fn strictly_sorted<K: Keyed>(objects: &[Arc<K>]) -> bool {
    let mut previous: Option<(&str, &str)> = None;
    for object in objects {
        let Some(current) = key(object.as_ref()) else {
            return false;
        };
        if previous.is_some_and(|previous| previous >= current) {
            return false;
        }
        previous = Some(current);
    }
    true
}

/// Whether `after[position]` is in strict order with its neighbours (the merge walk checks
/// every object it did not find unchanged; the unchanged ones keep their earlier order).
fn in_order<K: Keyed>(after: &[Arc<K>], position: usize) -> bool {
    let Some(current) = after.get(position).and_then(|object| key(object.as_ref())) else {
        return false;
    };
    let before = position
        .checked_sub(1)
        .and_then(|previous| after.get(previous))
        .map(|object| key(object.as_ref()));
    let next = after.get(position + 1).map(|object| key(object.as_ref()));
    before.is_none_or(|before| before.is_some_and(|before| before < current))
        && next.is_none_or(|next| next.is_some_and(|next| current < next))
}

/// The changes from `before` to `after` (both strictly sorted; `after` is checked where it
/// changed), at most `limit` of them.
pub(crate) fn diff<'a, K>(
    before: &'a [Arc<K>],
    after: &'a [Arc<K>],
    limit: usize,
) -> Result<Vec<Change<'a, K>>, NotComparable>
where
    K: Keyed + PartialEq,
{
    let mut changes = Vec::new();
    let (mut i, mut j) = (0, 0);
    loop {
        let (old, new) = (before.get(i), after.get(j));
        let change = match (old, new) {
            (None, None) => break,
            (Some(old), Some(new)) if Arc::ptr_eq(old, new) => {
                (i, j) = (i + 1, j + 1);
                continue;
            }
            (Some(old), None) => {
                i += 1;
                (Some(old), None)
            }
            (None, Some(new)) => {
                check(after, j)?;
                j += 1;
                (None, Some(new))
            }
            (Some(old), Some(new)) => {
                check(after, j)?;
                match key(old.as_ref()).cmp(&key(new.as_ref())) {
                    std::cmp::Ordering::Less => {
                        i += 1;
                        (Some(old), None)
                    }
                    std::cmp::Ordering::Greater => {
                        j += 1;
                        (None, Some(new))
                    }
                    std::cmp::Ordering::Equal => {
                        (i, j) = (i + 1, j + 1);
                        if old == new {
                            continue;
                        }
                        (Some(old), Some(new))
                    }
                }
            }
        };
        if changes.len() == limit {
            return Err(NotComparable::TooMany);
        }
        changes.push(change);
    }
    Ok(changes)
}

fn check<K: Keyed>(after: &[Arc<K>], position: usize) -> Result<(), NotComparable> {
    if in_order(after, position) {
        Ok(())
    } else {
        Err(NotComparable::Unordered)
    }
}

/// Whether two lists hold the same objects (for kinds an update does not follow one by one).
pub(crate) fn same<K: PartialEq>(before: &[Arc<K>], after: &[Arc<K>]) -> bool {
    before.len() == after.len()
        && before
            .iter()
            .zip(after)
            .all(|(old, new)| Arc::ptr_eq(old, new) || old == new)
}
