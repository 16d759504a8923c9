//! A pool of numbers (IPv4 addresses as `u32`, or ports) handed out in order: each allocation
//! takes the next free number after the previous one, wrapping around (like host-local IPAM),
//! so the same sequence of requests always gets the same answers and a freed number is not
//! reused at once.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

#[derive(Debug, Clone)]
pub struct Pool<K> {
    range: RangeInclusive<u32>,
    next: u32,
    used: BTreeMap<u32, K>,
}

impl<K: Clone + PartialEq> Pool<K> {
    pub fn new(range: RangeInclusive<u32>) -> Self {
        Pool {
            next: *range.start(),
            range,
            used: BTreeMap::new(),
        }
    }

    pub fn contains(&self, value: u32) -> bool {
        self.range.contains(&value)
    }

    /// Who holds `value`.
    pub fn owner(&self, value: u32) -> Option<&K> {
        self.used.get(&value)
    }

    /// The next free number (without taking it).
    pub fn peek(&self) -> Option<u32> {
        let (start, end) = (*self.range.start(), *self.range.end());
        if start > end {
            return None;
        }
        let after = self.used.range(self.next..=end).map(|(v, _)| *v);
        if let Some(free) = first_gap(self.next, end, after) {
            return Some(free);
        }
        let before = self.used.range(start..self.next).map(|(v, _)| *v);
        first_gap(start, self.next.saturating_sub(1), before).filter(|_| self.next > start)
    }

    /// Takes the next free number for `owner`.
    pub fn allocate(&mut self, owner: K) -> Option<u32> {
        let value = self.peek()?;
        self.claim(value, owner);
        Some(value)
    }

    /// Records `value` as held by `owner` (replacing any other holder).
    pub fn claim(&mut self, value: u32, owner: K) {
        self.used.insert(value, owner);
        if value >= self.next {
            self.next = value.saturating_add(1);
            if self.next > *self.range.end() {
                self.next = *self.range.start();
            }
        }
    }

    /// Frees `value` if `owner` holds it.
    pub fn release(&mut self, value: u32, owner: &K) {
        if self.used.get(&value) == Some(owner) {
            self.used.remove(&value);
        }
    }

    /// Frees everything `owner` holds.
    pub fn release_all(&mut self, owner: &K) {
        self.used.retain(|_, holder| holder != owner);
    }

    /// What `owner` holds.
    pub fn held_by(&self, owner: &K) -> Vec<u32> {
        self.used
            .iter()
            .filter(|(_, holder)| *holder == owner)
            .map(|(value, _)| *value)
            .collect()
    }
}

/// The first number in `from..=to` that `used` (sorted, inside the range) does not contain.
fn first_gap(from: u32, to: u32, used: impl Iterator<Item = u32>) -> Option<u32> {
    if from > to {
        return None;
    }
    let mut candidate = from;
    for value in used {
        if value > candidate {
            break;
        }
        if value == candidate {
            if candidate == to {
                return None;
            }
            candidate += 1;
        }
    }
    Some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_in_order_and_wraps() {
        let mut pool: Pool<&str> = Pool::new(10..=12);
        assert_eq!(pool.allocate("a"), Some(10));
        assert_eq!(pool.allocate("b"), Some(11));
        pool.release(10, &"a");
        assert_eq!(
            pool.allocate("c"),
            Some(12),
            "the freed 10 is not reused at once"
        );
        assert_eq!(pool.allocate("d"), Some(10), "then the pool wraps around");
        assert_eq!(pool.allocate("e"), None, "full");
        pool.release_all(&"b");
        assert_eq!(pool.held_by(&"c"), vec![12]);
        assert_eq!(pool.allocate("f"), Some(11));
    }

    #[test]
    fn claims_move_the_cursor() {
        let mut pool: Pool<u8> = Pool::new(1..=100);
        pool.claim(50, 1);
        assert_eq!(pool.allocate(2), Some(51));
        assert_eq!(pool.owner(50), Some(&1));
        pool.release(50, &2);
        assert_eq!(pool.owner(50), Some(&1), "only the holder releases");
    }
}
