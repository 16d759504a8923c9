//! Choosing one endpoint per new connection: uniform random (rule D11), with ClientIP affinity
//! kept per Service port and a sliding timeout (rules E1-E4).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::model::{AffinityConfig, ServicePortKey};
use super::route::{RouteDecision, RouteEndpoint, Verdict};

/// SplitMix64: small, fast, and deterministic for a seed; statistical quality is ample for
/// spreading connections.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (Lemire's multiply-shift with rejection).
    fn below(&mut self, bound: usize) -> usize {
        let bound = bound as u64;
        if bound == 0 {
            return 0;
        }
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as usize;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sticky {
    endpoint: SocketAddr,
    last_used: Duration,
    timeout: Duration,
}

/// Entries beyond this trigger a sweep of expired affinity records.
const SWEEP_THRESHOLD: usize = 4096;

/// Picks endpoints for new connections. Time is passed in (`now`, monotonic), never read.
#[derive(Debug, Clone)]
pub struct Picker {
    rng: SplitMix64,
    affinity: HashMap<(ServicePortKey, IpAddr), Sticky>,
    sweep_at: usize,
}

impl Picker {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64(seed),
            affinity: HashMap::new(),
            sweep_at: SWEEP_THRESHOLD,
        }
    }

    /// The endpoint for one new connection, or `None` when the decision does not forward.
    ///
    /// With ClientIP affinity and a `client` address: a remembered endpoint is reused if it is
    /// still in the decision's set and was used within the timeout (E3); otherwise a fresh
    /// uniform choice is made (E4, D11). Every pick refreshes the client's timestamp, so the
    /// window slides from the last new connection (E3). Stickiness is per Service port (E2).
    pub fn pick(
        &mut self,
        decision: &RouteDecision,
        client: Option<IpAddr>,
        now: Duration,
    ) -> Option<RouteEndpoint> {
        if decision.verdict != Verdict::Forward || decision.endpoints.is_empty() {
            return None;
        }
        let sticky_key = match (decision.affinity, client, &decision.service_port) {
            (AffinityConfig::ClientIp { timeout }, Some(client), Some(port)) => {
                Some((port.clone(), client, timeout))
            }
            _ => None,
        };
        let Some((port, client, timeout)) = sticky_key else {
            return self.uniform(decision);
        };
        let key = (port, client);
        if let Some(sticky) = self.affinity.get(&key).copied()
            && now.saturating_sub(sticky.last_used) <= timeout
            && let Some(endpoint) = decision
                .endpoints
                .iter()
                .find(|endpoint| endpoint.socket_addr() == Some(sticky.endpoint))
        {
            self.affinity.insert(
                key,
                Sticky {
                    endpoint: sticky.endpoint,
                    last_used: now,
                    timeout,
                },
            );
            return Some(endpoint.clone());
        }
        let chosen = self.uniform(decision)?;
        if let Some(address) = chosen.socket_addr() {
            self.affinity.insert(
                key,
                Sticky {
                    endpoint: address,
                    last_used: now,
                    timeout,
                },
            );
        }
        self.sweep(now);
        Some(chosen)
    }

    fn uniform(&mut self, decision: &RouteDecision) -> Option<RouteEndpoint> {
        let index = self.rng.below(decision.endpoints.len());
        decision.endpoints.get(index).cloned()
    }

    /// Drops expired records once the table grows, so memory stays bounded.
    fn sweep(&mut self, now: Duration) {
        if self.affinity.len() < self.sweep_at {
            return;
        }
        self.affinity
            .retain(|_, sticky| now.saturating_sub(sticky.last_used) <= sticky.timeout);
        self.sweep_at = (self.affinity.len() * 2).max(SWEEP_THRESHOLD);
    }

    /// Forget every affinity record (for example after a Service was deleted).
    pub fn clear_affinity(&mut self) {
        self.affinity.clear();
    }
}
