//! The embedded Kubernetes-API-compatible cluster on loopback (issue: the sandbox).
