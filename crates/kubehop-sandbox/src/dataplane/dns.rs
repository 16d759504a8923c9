//! The cluster DNS pods' app: a pod annotated [`APP_ANNOTATION`]`: dns` answers real DNS on
//! its ports, over TCP (length-prefixed messages, many per connection) and UDP (one datagram
//! each; an answer over 512 bytes comes back truncated with the TC bit, as without EDNS).
//!
//! The records are the engine's own: every Service's [`ServiceChain::dns`] of the model the
//! data plane builds on each sync, which is what the TUI's DNS tab shows. Names inside the
//! zone that have no record of the type asked get an empty answer (NOERROR), unknown names
//! NXDOMAIN, and so do names outside the cluster domain (the sandbox forwards nowhere, and
//! knows no other name).
//!
//! [`Faults::freeze_dns`] freezes one pod's records as they are when it is called: later
//! changes (a new cluster IP, endpoints that come and go) do not reach that pod, which goes
//! on answering the old records, like a DNS server whose watch of the API server is stuck.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::faults::Faults;
use kubehop_engine::ProxyModel;
use kubehop_engine::dns::DnsRecordType;

/// The annotation that makes a pod's app something other than the HTTP/echo app.
pub const APP_ANNOTATION: &str = "sandbox.kubehop.dev/app";
/// Its value for a cluster DNS pod.
pub const DNS_APP: &str = "dns";
/// The TTL of every answer (CoreDNS's kubernetes plugin's default).
pub const TTL: u32 = 5;
/// The largest UDP answer without EDNS (RFC 1035 4.2.1).
const UDP_LIMIT: usize = 512;

/// Whether the pod's app is the cluster DNS.
pub fn is_dns_pod(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(APP_ANNOTATION))
        .is_some_and(|value| value == DNS_APP)
}

/// The records served, by lower-case name and type.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Zone {
    domain: String,
    records: BTreeMap<(String, DnsRecordType), Vec<String>>,
    /// Every owner name and its ancestors inside the domain (those answer NOERROR, empty).
    names: BTreeSet<String>,
}

impl Zone {
    /// Every Service's records in `model`.
    pub fn from_model(model: &ProxyModel) -> Zone {
        let domain = model.config().domain().to_ascii_lowercase();
        let mut zone = Zone {
            domain: domain.clone(),
            ..Zone::default()
        };
        for record in model.services.iter().flat_map(|chain| &chain.dns) {
            let name = record.name.to_ascii_lowercase();
            let values = zone
                .records
                .entry((name.clone(), record.record_type))
                .or_default();
            if !values.contains(&record.value) {
                values.push(record.value.clone());
            }
            let mut owner = name.as_str();
            while owner.len() > domain.len() && owner.ends_with(&domain) {
                zone.names.insert(owner.to_owned());
                owner = owner.split_once('.').map_or("", |(_, rest)| rest);
            }
        }
        zone.names.insert(domain);
        zone
    }

    fn in_domain(&self, name: &str) -> bool {
        name == self.domain || name.ends_with(&format!(".{}", self.domain))
    }

    /// The answer to a query message (`None`: not a query worth answering).
    pub fn answer(&self, query: &[u8]) -> Option<Message> {
        let query = Message::from_vec(query).ok()?;
        let mut response = Message::response(query.metadata.id, OpCode::Query);
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.authoritative = true;
        response.add_queries(query.queries.iter().cloned());
        let Some(question) = query.queries.first() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return Some(response);
        };
        let name = question
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if !self.in_domain(&name) || !self.names.contains(&name) {
            response.metadata.response_code = ResponseCode::NXDomain;
            return Some(response);
        }
        let wanted = match question.query_type() {
            RecordType::A => Some(DnsRecordType::A),
            RecordType::AAAA => Some(DnsRecordType::AAAA),
            RecordType::SRV => Some(DnsRecordType::SRV),
            RecordType::CNAME => Some(DnsRecordType::CNAME),
            _ => None,
        };
        // An alias answers every type with its CNAME (the client follows it).
        let kind = match self.records.get(&(name.clone(), DnsRecordType::CNAME)) {
            Some(_) => Some(DnsRecordType::CNAME),
            None => wanted,
        };
        let values = kind.and_then(|kind| self.records.get(&(name, kind)).map(|v| (kind, v)));
        if let Some((kind, values)) = values {
            for value in values {
                if let Some(data) = rdata(kind, value) {
                    let owner = question.name().clone();
                    response.add_answer(Record::from_rdata(owner, TTL, data));
                }
            }
        }
        Some(response)
    }
}

fn absolute(name: &str) -> Option<Name> {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).ok()
}

fn rdata(kind: DnsRecordType, value: &str) -> Option<RData> {
    Some(match kind {
        DnsRecordType::A => RData::A(A(value.parse().ok()?)),
        DnsRecordType::AAAA => RData::AAAA(AAAA(value.parse().ok()?)),
        DnsRecordType::CNAME => RData::CNAME(CNAME(absolute(value)?)),
        DnsRecordType::SRV => {
            let (port, target) = value.split_once(' ')?;
            RData::SRV(SRV::new(0, 100, port.parse().ok()?, absolute(target)?))
        }
    })
}

/// The live zone and the frozen copies of the pods [`Faults::freeze_dns`] names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Zones {
    live: Arc<RwLock<Arc<Zone>>>,
    frozen: Arc<Mutex<HashMap<String, Arc<Zone>>>>,
    faults: Faults,
}

impl Zones {
    pub(crate) fn new(faults: Faults) -> Self {
        Zones {
            faults,
            ..Zones::default()
        }
    }

    fn live(&self) -> Arc<Zone> {
        self.live
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A new model: pods frozen since the last one keep the records they had.
    pub(crate) fn update(&self, model: &ProxyModel) {
        let current = self.live();
        {
            let mut frozen = self.frozen.lock().unwrap_or_else(PoisonError::into_inner);
            let wanted = self.faults.frozen_dns();
            frozen.retain(|pod, _| wanted.contains(pod));
            for pod in wanted {
                frozen.entry(pod).or_insert_with(|| current.clone());
            }
        }
        *self.live.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Zone::from_model(model));
    }

    /// The records `pod` (`namespace/name`) serves now.
    fn zone_for(&self, pod: &str) -> Arc<Zone> {
        let mut frozen = self.frozen.lock().unwrap_or_else(PoisonError::into_inner);
        if self.faults.is_dns_frozen(pod) {
            frozen
                .entry(pod.to_owned())
                .or_insert_with(|| self.live())
                .clone()
        } else {
            frozen.remove(pod);
            self.live()
        }
    }
}

/// One TCP connection to a DNS pod: length-prefixed queries until the client closes.
pub(crate) async fn serve_tcp(mut stream: TcpStream, zones: &Zones, pod: &str) {
    loop {
        let mut length = [0u8; 2];
        if stream.read_exact(&mut length).await.is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(length))];
        if stream.read_exact(&mut query).await.is_err() {
            return;
        }
        let Some(bytes) = zones
            .zone_for(pod)
            .answer(&query)
            .and_then(|m| m.to_vec().ok())
        else {
            continue;
        };
        let Ok(length) = u16::try_from(bytes.len()) else {
            continue;
        };
        let mut framed = length.to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

/// One datagram to a DNS pod: the answer, truncated (TC) when over 512 bytes.
pub(crate) async fn answer_udp(
    socket: &UdpSocket,
    zones: &Zones,
    pod: &str,
    query: &[u8],
    peer: SocketAddr,
) {
    let Some(message) = zones.zone_for(pod).answer(query) else {
        return;
    };
    let Ok(mut bytes) = message.to_vec() else {
        return;
    };
    if bytes.len() > UDP_LIMIT {
        match message.truncate().to_vec() {
            Ok(truncated) => bytes = truncated,
            Err(_) => return,
        }
    }
    let _ = socket.send_to(&bytes, peer).await;
}

#[cfg(test)]
mod tests;
