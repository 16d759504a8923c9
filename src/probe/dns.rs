//! The DNS probe: asks every pod of the cluster DNS the questions a pod would ask about a
//! Service, over TCP through a port-forward (read-only: no pod is created, nothing is
//! exec'd), and judges the answers with the engine's records
//! ([`crate::engine::dnscheck`], pure).
//!
//! Every pod is asked, on one stream and one question at a time, each lookup's names in the
//! resolver's order up to the one that decides; a question without an answer in time is
//! [`DnsReply::TimedOut`] and the stream is opened anew for the next one. Wrong
//! answers are asked once more after their TTL (at most [`DnsOptions::recheck_cap`]), so an
//! answer cached just before a change is not called stale (docs/rules.md, F10).
//!
//! [`DnsTransport`] opens the stream; tests put a fake server behind it.

pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use futures::future::{BoxFuture, join_all};

use super::dialer::{DialTarget, Dialer, ProbeStream};
use crate::engine::dnscheck::{
    ClusterDns, DnsCheck, DnsLookup, DnsPod, DnsQuestion, DnsRcode, DnsReply, LookupStatus,
    PodReplies, compare, questions,
};
use crate::engine::plan::HopKind;

/// How a DNS check behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsOptions {
    /// Opening a stream, and waiting for each answer.
    pub timeout: Duration,
    /// The longest wait before wrong answers are asked again (their TTL, capped by this).
    pub recheck_cap: Duration,
}

impl Default for DnsOptions {
    fn default() -> Self {
        DnsOptions {
            timeout: Duration::from_secs(2),
            recheck_cap: Duration::from_secs(6),
        }
    }
}

/// Opens a byte stream to a DNS pod's TCP port.
pub trait DnsTransport: Send + Sync {
    fn open<'a>(
        &'a self,
        pod: &'a DnsPod,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<dyn ProbeStream>, String>>;
}

/// A port-forward through the API server to the pod (any [`Dialer`] of pods).
pub struct PortForwardDns(pub Arc<dyn Dialer>);

impl DnsTransport for PortForwardDns {
    fn open<'a>(
        &'a self,
        pod: &'a DnsPod,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<dyn ProbeStream>, String>> {
        Box::pin(async move {
            let target = DialTarget::Pod {
                namespace: pod.namespace.clone(),
                pod: pod.name.clone(),
                port: pod.port,
            };
            let dialed = self
                .0
                .dial(&target, HopKind::Endpoint, timeout)
                .await
                .map_err(|err| err.to_string())?;
            Ok(dialed.stream)
        })
    }
}

/// Query ids: distinct within a run, so a late answer is never taken for another's.
static NEXT_ID: AtomicU16 = AtomicU16::new(1);

/// One pod's session: the stream (opened again after a timeout or a failure).
struct Session<'a> {
    transport: &'a dyn DnsTransport,
    pod: &'a DnsPod,
    timeout: Duration,
    stream: Option<Box<dyn ProbeStream>>,
}

impl Session<'_> {
    async fn ask(&mut self, question: &DnsQuestion) -> DnsReply {
        let stream = match self.stream.take() {
            Some(stream) => stream,
            None => match self.transport.open(self.pod, self.timeout).await {
                Ok(stream) => stream,
                Err(reason) => return DnsReply::Failed { reason },
            },
        };
        let mut stream = stream;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let query = match wire::query(id, question) {
            Ok(query) => query,
            Err(reason) => return DnsReply::Failed { reason },
        };
        let exchange = async {
            wire::write_framed(&mut stream, &query).await?;
            wire::read_framed(&mut stream).await
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => DnsReply::TimedOut,
            Ok(Err(err)) => DnsReply::Failed {
                reason: format!("the stream failed: {err}"),
            },
            Ok(Ok(bytes)) => {
                let reply = wire::reply(id, &bytes);
                if !matches!(reply, DnsReply::Failed { .. }) {
                    self.stream = Some(stream);
                }
                reply
            }
        }
    }
}

/// Asks a pod each lookup's names in the resolver's order, up to the first that decides (as
/// [`crate::engine::dnscheck::status_of`] walks them): names past it are never sent, as a pod
/// would not send them either. A name asked for one lookup is not asked again for another.
async fn resolve_pod(
    transport: &dyn DnsTransport,
    pod: &DnsPod,
    lookups: &[DnsLookup],
    timeout: Duration,
) -> BTreeMap<DnsQuestion, DnsReply> {
    let mut session = Session {
        transport,
        pod,
        timeout,
        stream: None,
    };
    let mut replies: BTreeMap<DnsQuestion, DnsReply> = BTreeMap::new();
    for lookup in lookups {
        for name in &lookup.tries {
            let question = DnsQuestion {
                name: name.clone(),
                record_type: lookup.record_type,
            };
            if !replies.contains_key(&question) {
                let reply = session.ask(&question).await;
                replies.insert(question.clone(), reply);
            }
            if !moves_on(lookup, name, &replies[&question]) {
                break;
            }
        }
    }
    replies
}

/// Whether a resolver goes on to the lookup's next name after this reply: NXDOMAIN or no
/// record of the type, for a name that is not the one expected to answer.
fn moves_on(lookup: &DnsLookup, name: &str, reply: &DnsReply) -> bool {
    if name.eq_ignore_ascii_case(&lookup.answers_as) {
        return false;
    }
    match reply {
        DnsReply::Answered {
            rcode: DnsRcode::NxDomain,
            ..
        } => true,
        DnsReply::Answered {
            rcode: DnsRcode::NoError,
            answers,
            ..
        } => !answers.iter().any(|answer| {
            answer.record_type == lookup.record_type && answer.name.eq_ignore_ascii_case(name)
        }),
        _ => false,
    }
}

/// Asks every DNS pod of `server` every question of `lookups`, all pods at once, and judges
/// the answers (wrong ones asked again once after their TTL).
pub async fn check(
    server: &ClusterDns,
    lookups: &[DnsLookup],
    transport: &dyn DnsTransport,
    options: &DnsOptions,
) -> DnsCheck {
    let asked = join_all(
        server
            .pods
            .iter()
            .map(|pod| resolve_pod(transport, pod, lookups, options.timeout)),
    )
    .await;
    let mut replies: Vec<PodReplies> = server
        .pods
        .iter()
        .zip(asked)
        .map(|(pod, replies)| PodReplies {
            pod: pod.clone(),
            replies,
        })
        .collect();
    let first = compare(server, lookups, &replies);
    let wrong = wrong_lookups(&first, lookups);
    if wrong.is_empty() {
        return first;
    }
    let again = questions(&wrong);
    tokio::time::sleep(recheck_wait(&replies, &again, options.recheck_cap)).await;
    let rechecked = join_all(
        replies
            .iter()
            .map(|pod| resolve_pod(transport, &pod.pod, &wrong, options.timeout)),
    )
    .await;
    for (pod, fresh) in replies.iter_mut().zip(rechecked) {
        pod.replies.extend(fresh);
    }
    compare(server, lookups, &replies)
}

/// The lookups some pod answered wrongly.
fn wrong_lookups(check: &DnsCheck, lookups: &[DnsLookup]) -> Vec<DnsLookup> {
    check
        .results
        .iter()
        .zip(lookups)
        .filter(|(result, _)| result.statuses.iter().any(LookupStatus::is_wrong_data))
        .map(|(_, lookup)| lookup.clone())
        .collect()
}

/// How long an answer to `again` may be cached: the largest TTL among them (5 s, CoreDNS's
/// negative-answer TTL, for NXDOMAIN), at most `cap`.
fn recheck_wait(replies: &[PodReplies], again: &[DnsQuestion], cap: Duration) -> Duration {
    let mut longest = 0u32;
    for pod in replies {
        for question in again {
            if let Some(DnsReply::Answered { rcode, answers, .. }) = pod.replies.get(question) {
                let ttl = answers.iter().map(|answer| answer.ttl).max().unwrap_or(0);
                let negative = if *rcode == DnsRcode::NxDomain { 5 } else { 0 };
                longest = longest.max(ttl).max(negative);
            }
        }
    }
    Duration::from_secs(u64::from(longest)).min(cap)
}

#[cfg(test)]
mod tests;
