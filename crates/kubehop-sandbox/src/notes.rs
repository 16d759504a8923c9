//! Things the sandbox wants its user to know: an address outside 127.0.0.0/8 that got no
//! listener, a port that could not be bound, a pod that found no address. Each distinct note is
//! kept once, in order; `kubehop sandbox` prints them as they arrive and tests read them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

#[derive(Debug, Default)]
struct NoteList {
    notes: Vec<String>,
    seen: HashSet<String>,
}

/// A shared, append-only list of notes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Notes {
    list: Arc<Mutex<NoteList>>,
    count: watch::Sender<usize>,
}

impl Default for Notes {
    fn default() -> Self {
        Notes {
            list: Arc::default(),
            count: watch::channel(0).0,
        }
    }
}

impl Notes {
    /// Adds a note unless the same text was noted before.
    pub fn push(&self, note: impl Into<String>) {
        let note = note.into();
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        if !list.seen.insert(note.clone()) {
            return;
        }
        tracing::info!("sandbox: {note}");
        list.notes.push(note);
        let count = list.notes.len();
        drop(list);
        self.count.send_replace(count);
    }

    /// Every note so far, oldest first.
    pub fn all(&self) -> Vec<String> {
        self.list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .notes
            .clone()
    }

    /// Notes from index `from` on (to print only the new ones).
    pub fn since(&self, from: usize) -> Vec<String> {
        let list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        list.notes
            .get(from..)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    /// Changes whenever a note is added (its value: how many there are).
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    /// Whether some note contains `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .notes
            .iter()
            .any(|note| note.contains(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_kept_once_in_order() {
        let notes = Notes::default();
        let changes = notes.subscribe();
        notes.push("a");
        notes.push("b");
        notes.push("a");
        assert_eq!(notes.all(), ["a", "b"]);
        assert_eq!(notes.since(1), ["b"]);
        assert_eq!(*changes.borrow(), 2);
        assert!(notes.contains("b"));
    }
}
