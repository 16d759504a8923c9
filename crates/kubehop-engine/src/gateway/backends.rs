//! A route rule's backends: weights, and why one cannot take traffic (GW8-GW11).

use kubehop_gateway_api::BackendRef;

/// Why a backendRef cannot receive requests; requests a rule sends it get HTTP 500 (HTTP,
/// gRPC) or are refused (TLS, TCP, UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum BackendProblem {
    /// Not a core Service (another kind kubehop cannot follow); not an error by itself.
    UnsupportedKind,
    /// The Service does not exist (GW8).
    ServiceNotFound,
    /// A Service backend without `port` (GW9).
    PortMissing,
    /// `port` is not one of the Service's ports (GW9): often its targetPort given by mistake.
    PortNotFound,
    /// In another namespace with no ReferenceGrant allowing it (GW10).
    RefNotPermitted,
}

impl BackendProblem {
    /// The `ResolvedRefs` reason a conformant controller writes for it.
    pub fn reason(self) -> &'static str {
        match self {
            BackendProblem::UnsupportedKind => "InvalidKind",
            BackendProblem::ServiceNotFound | BackendProblem::PortMissing => "BackendNotFound",
            BackendProblem::PortNotFound => "BackendNotFound",
            BackendProblem::RefNotPermitted => "RefNotPermitted",
        }
    }
}

/// One backend of a matched rule.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedBackend<'a> {
    pub backend: &'a BackendRef,
    /// The backend's namespace (defaulted to the route's).
    pub namespace: String,
    /// Relative share; 0 sends nothing.
    pub weight: u32,
    /// `Some`: requests sent to it fail.
    pub problem: Option<BackendProblem>,
}

impl WeightedBackend<'_> {
    /// `namespace/name:port`.
    pub fn label(&self) -> String {
        match self.backend.port {
            Some(port) => format!("{}/{}:{port}", self.namespace, self.backend.name),
            None => format!("{}/{}", self.namespace, self.backend.name),
        }
    }
}

/// The backend a request numbered `n` (0, 1, 2, ...) goes to: the weights laid out end to end
/// and `n` taken modulo their sum, so any run of `sum` consecutive requests splits exactly by
/// weight. `None` when every weight is 0.
pub fn pick<'b, 'a>(
    backends: &'b [WeightedBackend<'a>],
    n: u64,
) -> Option<&'b WeightedBackend<'a>> {
    let total: u64 = backends.iter().map(|b| u64::from(b.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut slot = n % total;
    for backend in backends {
        let weight = u64::from(backend.weight);
        if slot < weight {
            return Some(backend);
        }
        slot -= weight;
    }
    None
}
