//! Cluster DNS records per rule group (f): F3 ClusterIP A/AAAA + SRV, F4 headless per-endpoint
//! names, F6 pod hostname/subdomain names, F8 ExternalName CNAME.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use super::hash::FxHashSet;
use super::model::{EndpointInfo, PortChain, ServiceType};
use super::service::ServiceView;

/// DNS record types kubehop shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum DnsRecordType {
    A,
    AAAA,
    SRV,
    CNAME,
}

/// The rule a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsRule {
    /// ClusterIP Service name and SRV records.
    F3,
    /// Headless Service name and per-endpoint names.
    F4,
    /// Pod FQDN from hostname/subdomain.
    F6,
    /// ExternalName CNAME.
    F8,
}

/// One record. SRV values are `"<port> <target>"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DnsRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: DnsRecordType,
    pub value: String,
    #[serde(skip)]
    pub rule: DnsRule,
}

fn address_record(ip: IpAddr) -> DnsRecordType {
    if ip.is_ipv4() {
        DnsRecordType::A
    } else {
        DnsRecordType::AAAA
    }
}

/// CoreDNS's name for an endpoint without `hostname`: the IP with dots/colons as dashes (F4).
pub fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

/// `<svc>.<ns>.svc.<zone>`.
pub fn service_fqdn(namespace: &str, name: &str, domain: &str) -> String {
    format!("{name}.{namespace}.svc.{domain}")
}

/// The records for one Service.
pub(crate) fn records(
    view: &ServiceView<'_>,
    ports: &[PortChain],
    endpoints: &[Arc<EndpointInfo>],
    domain: &str,
) -> Vec<DnsRecord> {
    let fqdn = service_fqdn(view.namespace, view.name, domain);
    let mut out = Vec::new();
    match view.service_type {
        ServiceType::ExternalName => {
            // F8: a CNAME to spec.externalName (one trailing dot removed), nothing else.
            let target = view
                .service
                .spec
                .as_ref()
                .and_then(|spec| spec.external_name.as_deref())
                .map(|name| name.strip_suffix('.').unwrap_or(name))
                .filter(|name| !name.is_empty());
            if let Some(target) = target {
                out.push(DnsRecord {
                    name: fqdn,
                    record_type: DnsRecordType::CNAME,
                    value: target.to_owned(),
                    rule: DnsRule::F8,
                });
            }
        }
        _ if view.headless => headless_records(&fqdn, ports, endpoints, &mut out),
        _ => {
            // F3: one A/AAAA per cluster IP, SRV per named port pointing at the Service name.
            for ip in &view.cluster_ips {
                out.push(DnsRecord {
                    name: fqdn.clone(),
                    record_type: address_record(*ip),
                    value: ip.to_string(),
                    rule: DnsRule::F3,
                });
            }
            if !view.cluster_ips.is_empty() {
                for port in ports {
                    let Some(name) = port.name.as_deref().filter(|name| !name.is_empty()) else {
                        continue;
                    };
                    out.push(DnsRecord {
                        name: format!("_{name}._{}.{fqdn}", port.protocol.srv_label()),
                        record_type: DnsRecordType::SRV,
                        value: format!("{} {fqdn}", port.port),
                        rule: DnsRule::F3,
                    });
                }
            }
        }
    }
    dedup(&mut out);
    out
}

/// Removes repeated records (same name, type and value), keeping the first.
fn dedup(records: &mut Vec<DnsRecord>) {
    fn key(record: &DnsRecord) -> (&str, DnsRecordType, &str) {
        (
            record.name.as_str(),
            record.record_type,
            record.value.as_str(),
        )
    }
    let keep: Vec<bool> = if records.len() <= 16 {
        (0..records.len())
            .map(|index| {
                let current = key(&records[index]);
                !records[..index]
                    .iter()
                    .any(|earlier| key(earlier) == current)
            })
            .collect()
    } else {
        let mut seen: FxHashSet<(&str, DnsRecordType, &str)> = FxHashSet::default();
        records
            .iter()
            .map(|record| seen.insert(key(record)))
            .collect()
    };
    if keep.iter().all(|keep| *keep) {
        return;
    }
    let mut flags = keep.into_iter();
    records.retain(|_| flags.next().unwrap_or(true));
}

/// F4/F5/F6: ready endpoints only (pNRA makes unready ones ready, F5).
fn headless_records(
    fqdn: &str,
    ports: &[PortChain],
    endpoints: &[Arc<EndpointInfo>],
    out: &mut Vec<DnsRecord>,
) {
    let host_of = |endpoint: &EndpointInfo| match &endpoint.hostname {
        Some(hostname) if !hostname.is_empty() => (hostname.clone(), DnsRule::F6),
        _ => (dashed(endpoint.ip), DnsRule::F4),
    };
    for endpoint in endpoints.iter().filter(|endpoint| endpoint.ready) {
        out.push(DnsRecord {
            name: fqdn.to_owned(),
            record_type: address_record(endpoint.ip),
            value: endpoint.ip.to_string(),
            rule: DnsRule::F4,
        });
    }
    for endpoint in endpoints.iter().filter(|endpoint| endpoint.ready) {
        let (host, rule) = host_of(endpoint);
        out.push(DnsRecord {
            name: format!("{host}.{fqdn}"),
            record_type: address_record(endpoint.ip),
            value: endpoint.ip.to_string(),
            rule,
        });
    }
    for port in ports {
        let Some(name) = port.name.as_deref().filter(|name| !name.is_empty()) else {
            continue;
        };
        for endpoint in port.endpoints.iter().filter(|endpoint| endpoint.info.ready) {
            let (host, _) = host_of(&endpoint.info);
            out.push(DnsRecord {
                name: format!("_{name}._{}.{fqdn}", port.protocol.srv_label()),
                record_type: DnsRecordType::SRV,
                value: format!("{} {host}.{fqdn}", endpoint.port),
                rule: DnsRule::F4,
            });
        }
    }
}
