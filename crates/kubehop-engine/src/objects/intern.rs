//! Sharing equal strings and equal lists between compact objects.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;

use super::pod::{ContainerInfo, Labels, Owner};

/// One kind of shared value: every equal value converted through it is one allocation.
#[derive(Debug)]
struct Shared<T: ?Sized + Eq + Hash> {
    set: HashSet<Arc<T>>,
    /// The set's size after the last prune: the next prune waits until it doubles.
    pruned_at: usize,
}

impl<T: ?Sized + Eq + Hash> Default for Shared<T> {
    fn default() -> Self {
        Self {
            set: HashSet::new(),
            pruned_at: 0,
        }
    }
}

impl<T: ?Sized + Eq + Hash> Shared<T> {
    fn get<Q>(&mut self, value: &Q) -> Arc<T>
    where
        Arc<T>: std::borrow::Borrow<Q> + for<'a> From<&'a Q>,
        Q: ?Sized + Eq + Hash,
    {
        if let Some(found) = self.set.get(value) {
            return Arc::clone(found);
        }
        let made = Arc::<T>::from(value);
        self.set.insert(Arc::clone(&made));
        made
    }

    /// Forgets values no object holds any more, once the set has doubled since the last time
    /// (so a long watch over churning pods does not keep every label value it ever saw).
    fn prune(&mut self) {
        if self.set.len() < 1024 || self.set.len() < self.pruned_at * 2 {
            return;
        }
        self.set.retain(|value| Arc::strong_count(value) > 1);
        self.pruned_at = self.set.len();
    }
}

/// Whoever converts objects (a dump load, a live watch) holds one: label keys and values,
/// namespaces, node and owner names, and whole label sets, owner lists and container lists
/// (the same for every pod of a workload) are stored once.
#[derive(Debug, Default)]
pub struct Interner {
    strings: Shared<str>,
    labels: Shared<[(Arc<str>, Arc<str>)]>,
    owners: Shared<[Owner]>,
    containers: Shared<[ContainerInfo]>,
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared copy of `value`.
    pub fn str(&mut self, value: &str) -> Arc<str> {
        self.strings.get(value)
    }

    pub(crate) fn labels(&mut self, pairs: Vec<(Arc<str>, Arc<str>)>) -> Labels {
        Labels(self.labels.get(pairs.as_slice()))
    }

    pub(crate) fn owners(&mut self, owners: Vec<Owner>) -> Arc<[Owner]> {
        self.owners.get(owners.as_slice())
    }

    pub(crate) fn containers(&mut self, containers: Vec<ContainerInfo>) -> Arc<[ContainerInfo]> {
        self.containers.get(containers.as_slice())
    }

    /// Drops shared values no object uses any more (cheap: runs when the sets have doubled).
    pub fn prune(&mut self) {
        // The lists first: the strings they drop may then go too.
        self.labels.prune();
        self.owners.prune();
        self.containers.prune();
        self.strings.prune();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_allocation() {
        let mut interner = Interner::new();
        let a = interner.str("shop");
        let b = interner.str("shop");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &interner.str("db")));
    }

    #[test]
    fn prune_forgets_only_unused_values() {
        let mut interner = Interner::new();
        let kept: Vec<Arc<str>> = (0..600).map(|i| interner.str(&format!("k{i}"))).collect();
        for i in 0..600 {
            interner.str(&format!("gone{i}"));
        }
        interner.prune();
        assert_eq!(interner.strings.set.len(), 600);
        assert!(Arc::ptr_eq(&kept[0], &interner.str("k0")));
    }
}
