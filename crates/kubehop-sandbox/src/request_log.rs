//! Every request the API server answered, readable from Rust (so tests can check, for
//! example, that kubehop only reads).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// The Kubernetes verb of a request (as audit logs and RBAC name them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
    PortForward,
    /// A method the path does not support (answered 405).
    Unsupported,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
            Verb::PortForward => "portforward",
            Verb::Unsupported => "unsupported",
        }
    }

    /// Whether the verb changes cluster state.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection
        )
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    /// The raw query string ("" when none).
    pub query: String,
    pub verb: Verb,
    /// The plural resource (`pods`), `None` for discovery and other non-resource paths.
    pub resource: Option<String>,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub user_agent: String,
    /// The HTTP status of the response (a watch is logged when its stream starts).
    pub status: u16,
}

/// How many records are kept (oldest dropped first).
pub const REQUEST_LOG_CAPACITY: usize = 100_000;

/// The request log. Cheap to clone; clones share the records.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    records: Arc<Mutex<VecDeque<RequestRecord>>>,
}

impl RequestLog {
    pub(crate) fn push(&self, record: RequestRecord) {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records.len() == REQUEST_LOG_CAPACITY {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// Every record, oldest first.
    pub fn entries(&self) -> Vec<RequestRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The records whose verb changes cluster state.
    pub fn writes(&self) -> Vec<RequestRecord> {
        self.entries()
            .into_iter()
            .filter(|r| r.verb.is_write())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
