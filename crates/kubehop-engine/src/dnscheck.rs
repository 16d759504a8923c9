//! Cluster DNS checked against the engine's records.
//!
//! Three pure steps; the queries themselves are sent by the caller (the `kubehop` crate's
//! `probe::dns`, over a port-forward to each DNS pod):
//! - [`find_cluster_dns`]: which Service is the cluster's DNS and which pods serve it;
//! - [`lookups`]: every name a pod would look up for a Service, the absolute names its
//!   resolver tries in order (F9: search path, `ndots:5`) and the answer each should get
//!   (F3, F4, F6, F8 as [`crate::dns`] computes them);
//! - [`compare`]: what each DNS pod answered, judged against that, as per-lookup statuses and
//!   findings with stable codes (docs/diagnostics.md, "DNS probe findings").

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::dns::{DnsRecordType, service_fqdn};
use crate::model::{PortChain, Protocol, ProxyModel, ServiceChain, ServiceType};

/// Where kube-dns and CoreDNS live.
pub const DNS_NAMESPACE: &str = "kube-system";
/// The label both kube-dns and CoreDNS deployments put on their Service.
pub const DNS_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
/// The Service name kubeadm, kops and most distributions give the cluster DNS.
pub const DNS_SERVICE: &str = "kube-dns";
/// The kubelet writes `options ndots:5` into every ClusterFirst pod's resolv.conf (F9).
pub const NDOTS: usize = 5;

/// One DNS pod: where queries go.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DnsPod {
    pub namespace: String,
    pub name: String,
    pub ip: IpAddr,
    /// The pod's port behind the Service's DNS-over-TCP port.
    pub port: u16,
}

impl DnsPod {
    /// `kube-system/coredns-1 127.0.0.9:53`.
    pub fn label(&self) -> String {
        format!(
            "DNS pod {}/{} {}",
            self.namespace,
            self.name,
            std::net::SocketAddr::new(self.ip, self.port)
        )
    }
}

/// How the cluster DNS Service was recognised (the heuristics of docs/probe.md, in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FoundBy {
    /// Its cluster IP is the nameserver the pods' resolv.conf names.
    Nameserver,
    /// `kube-system`, labelled `k8s-app=kube-dns`.
    Label,
    /// `kube-system/kube-dns`, without the label.
    Name,
    /// The only `kube-system` Service with TCP port 53.
    Port,
}

/// The cluster's DNS Service and the ready pods behind its TCP port 53.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterDns {
    pub namespace: String,
    pub name: String,
    pub cluster_ips: Vec<IpAddr>,
    pub found_by: FoundBy,
    /// Ready endpoints with a pod name (queries go through a port-forward to the pod).
    pub pods: Vec<DnsPod>,
}

/// Finds the cluster DNS: the Service whose cluster IP is `nameserver` (when the caller knows
/// what pods use), else `kube-system` Services labelled `k8s-app=kube-dns` (`kube-dns` first),
/// else `kube-system/kube-dns`, else the one `kube-system` Service with TCP port 53.
pub fn find_cluster_dns(model: &ProxyModel, nameserver: Option<IpAddr>) -> Option<ClusterDns> {
    let system = || {
        model
            .services
            .iter()
            .map(|chain| &**chain)
            .filter(|chain| chain.namespace == DNS_NAMESPACE)
    };
    let by_nameserver = nameserver.and_then(|ip| {
        model
            .services
            .iter()
            .map(|chain| &**chain)
            .find(|chain| chain.cluster_ips.contains(&ip))
    });
    let found = by_nameserver
        .map(|chain| (chain, FoundBy::Nameserver))
        .or_else(|| {
            let mut labelled: Vec<&ServiceChain> = system().filter(|c| has_dns_label(c)).collect();
            labelled.sort_by_key(|chain| chain.name != DNS_SERVICE);
            labelled.first().map(|chain| (*chain, FoundBy::Label))
        })
        .or_else(|| {
            system()
                .find(|chain| chain.name == DNS_SERVICE)
                .map(|chain| (chain, FoundBy::Name))
        })
        .or_else(|| {
            let mut with_53 = system().filter(|chain| dns_port(chain).is_some());
            match (with_53.next(), with_53.next()) {
                (Some(chain), None) => Some((chain, FoundBy::Port)),
                _ => None,
            }
        })?;
    let (chain, found_by) = found;
    Some(ClusterDns {
        namespace: chain.namespace.clone(),
        name: chain.name.clone(),
        cluster_ips: chain.cluster_ips.clone(),
        found_by,
        pods: dns_pods(chain),
    })
}

fn has_dns_label(chain: &ServiceChain) -> bool {
    chain
        .details
        .service
        .as_ref()
        .and_then(|service| service.metadata.labels.as_ref())
        .and_then(|labels| labels.get(DNS_LABEL.0))
        .is_some_and(|value| value == DNS_LABEL.1)
}

/// Port 53 over TCP, else port 53 over UDP (CoreDNS serves both on the same pod port).
fn dns_port(chain: &ServiceChain) -> Option<&PortChain> {
    let on = |protocol: Protocol| {
        chain
            .ports
            .iter()
            .find(|port| port.port == 53 && port.protocol == protocol)
    };
    on(Protocol::Tcp).or_else(|| on(Protocol::Udp))
}

fn dns_pods(chain: &ServiceChain) -> Vec<DnsPod> {
    let Some(port) = dns_port(chain) else {
        return Vec::new();
    };
    let mut pods: Vec<DnsPod> = port
        .endpoints
        .iter()
        .filter(|endpoint| endpoint.info.ready)
        .filter_map(|endpoint| {
            Some(DnsPod {
                namespace: endpoint
                    .info
                    .namespace
                    .as_deref()
                    .unwrap_or(&chain.namespace)
                    .to_owned(),
                name: endpoint.info.pod.as_deref()?.to_owned(),
                ip: endpoint.info.ip,
                port: u16::try_from(endpoint.port).ok()?,
            })
        })
        .collect();
    pods.sort();
    pods.dedup();
    pods
}

/// What a lookup stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LookupForm {
    /// One of the engine's records, asked by its absolute name.
    Record,
    /// A name as a pod in the Service's namespace would type it (through the search path).
    Short,
    /// `kubernetes.default`, the API server's name: is cluster DNS working at all?
    Kubernetes,
}

/// One question a pod would ask, and the answer it should get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsLookup {
    /// As typed (`web`, `web.shop`, `web.shop.svc.cluster.local`, `kubernetes.default`).
    pub asked: String,
    pub record_type: DnsRecordType,
    pub form: LookupForm,
    /// The absolute names the resolver tries, in order.
    pub tries: Vec<String>,
    /// The name that should answer (an engine record's name).
    pub answers_as: String,
    /// The values the engine expects, sorted (lower case).
    pub expected: Vec<String>,
}

/// The absolute names a pod in `namespace` tries for `asked` (F9): the search list
/// `<ns>.svc.<zone> svc.<zone> <zone>`, before the name as given when it has fewer than
/// [`NDOTS`] dots, after it otherwise; a trailing dot means no search.
pub fn search_expansion(asked: &str, namespace: &str, domain: &str) -> Vec<String> {
    let asked = asked.to_ascii_lowercase();
    if let Some(absolute) = asked.strip_suffix('.') {
        return vec![absolute.to_owned()];
    }
    let search = [
        format!("{namespace}.svc.{domain}"),
        format!("svc.{domain}"),
        domain.to_owned(),
    ];
    let searched = search.iter().map(|suffix| format!("{asked}.{suffix}"));
    if asked.matches('.').count() >= NDOTS {
        std::iter::once(asked.clone()).chain(searched).collect()
    } else {
        searched.chain(std::iter::once(asked.clone())).collect()
    }
}

/// Every lookup to check for `chain`: each of its records by absolute name, the short forms
/// of its name (`name`, `name.ns`, `name.ns.svc`, the full name without the trailing dot) for
/// its address (or CNAME) records, and `kubernetes.default` (from the `default/kubernetes`
/// chain, when the model has it). Empty when the engine expects no record.
pub fn lookups(chain: &ServiceChain, model: &ProxyModel) -> Vec<DnsLookup> {
    let domain = model.config().domain();
    let mut out = Vec::new();
    let mut kinds: Vec<(String, DnsRecordType)> = Vec::new();
    for record in &chain.dns {
        let key = (record.name.to_ascii_lowercase(), record.record_type);
        if !kinds.contains(&key) {
            kinds.push(key);
        }
    }
    for (name, record_type) in &kinds {
        out.push(lookup(chain, name, *record_type, LookupForm::Record, None));
    }
    let fqdn = service_fqdn(&chain.namespace, &chain.name, domain);
    let main_types: Vec<DnsRecordType> = kinds
        .iter()
        .filter(|(name, kind)| *name == fqdn && *kind != DnsRecordType::SRV)
        .map(|(_, kind)| *kind)
        .collect();
    let (name, ns) = (&chain.name, &chain.namespace);
    let forms = [
        name.clone(),
        format!("{name}.{ns}"),
        format!("{name}.{ns}.svc"),
        fqdn.clone(),
    ];
    for record_type in main_types {
        for asked in &forms {
            let tries = search_expansion(asked, ns, domain);
            let mut short = lookup(chain, &fqdn, record_type, LookupForm::Short, Some(tries));
            short.asked.clone_from(asked);
            out.push(short);
        }
    }
    if let Some(api) = model.service("default", "kubernetes") {
        out.extend(kubernetes_lookups(api, &chain.namespace, domain));
    }
    if chain.service_type == ServiceType::ExternalName && kinds.is_empty() {
        out.clear();
    }
    out
}

fn lookup(
    chain: &ServiceChain,
    name: &str,
    record_type: DnsRecordType,
    form: LookupForm,
    tries: Option<Vec<String>>,
) -> DnsLookup {
    let mut expected: Vec<String> = chain
        .dns
        .iter()
        .filter(|record| {
            record.record_type == record_type && record.name.eq_ignore_ascii_case(name)
        })
        .map(|record| normalise(&record.value))
        .collect();
    expected.sort();
    expected.dedup();
    DnsLookup {
        asked: name.to_owned(),
        record_type,
        form,
        tries: tries.unwrap_or_else(|| vec![name.to_owned()]),
        answers_as: name.to_owned(),
        expected,
    }
}

fn kubernetes_lookups(api: &ServiceChain, namespace: &str, domain: &str) -> Vec<DnsLookup> {
    let fqdn = service_fqdn(&api.namespace, &api.name, domain);
    let mut types: Vec<DnsRecordType> = api
        .dns
        .iter()
        .filter(|record| record.name == fqdn && record.record_type != DnsRecordType::SRV)
        .map(|record| record.record_type)
        .collect();
    types.dedup();
    types
        .into_iter()
        .map(|record_type| {
            let tries = search_expansion("kubernetes.default", namespace, domain);
            let mut found = lookup(api, &fqdn, record_type, LookupForm::Kubernetes, Some(tries));
            found.asked = "kubernetes.default".to_owned();
            found
        })
        .collect()
}

/// Lower case, no trailing dot (names inside SRV and CNAME values too).
pub fn normalise(value: &str) -> String {
    value.trim_end_matches('.').to_ascii_lowercase()
}

/// One query on the wire: an absolute name and a type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DnsQuestion {
    pub name: String,
    pub record_type: DnsRecordType,
}

/// Every distinct question the lookups need, in the order they first come up.
pub fn questions(lookups: &[DnsLookup]) -> Vec<DnsQuestion> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for lookup in lookups {
        for name in &lookup.tries {
            let question = DnsQuestion {
                name: name.clone(),
                record_type: lookup.record_type,
            };
            if seen.insert(question.clone()) {
                out.push(question);
            }
        }
    }
    out
}

/// A DNS response code (RFC 1035 4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DnsRcode {
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    NotImp,
    Refused,
    Other(u16),
}

impl DnsRcode {
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => Self::NoError,
            1 => Self::FormErr,
            2 => Self::ServFail,
            3 => Self::NxDomain,
            4 => Self::NotImp,
            5 => Self::Refused,
            other => Self::Other(other),
        }
    }

    pub fn as_str(self) -> String {
        match self {
            Self::NoError => "NOERROR".to_owned(),
            Self::FormErr => "FORMERR".to_owned(),
            Self::ServFail => "SERVFAIL".to_owned(),
            Self::NxDomain => "NXDOMAIN".to_owned(),
            Self::NotImp => "NOTIMP".to_owned(),
            Self::Refused => "REFUSED".to_owned(),
            Self::Other(code) => format!("RCODE {code}"),
        }
    }
}

/// One answer record, decoded: owner name and value normalised like the engine's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsAnswer {
    pub name: String,
    pub record_type: DnsRecordType,
    pub value: String,
    pub ttl: u32,
}

/// What a DNS pod said to one question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum DnsReply {
    Answered {
        rcode: DnsRcode,
        /// The TC bit: the server cut the answer short (over TCP there is no retry).
        truncated: bool,
        answers: Vec<DnsAnswer>,
    },
    /// No answer in time.
    TimedOut,
    /// The port-forward or the connection failed, or the answer was not DNS.
    Failed { reason: String },
}

/// Everything one DNS pod answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodReplies {
    pub pod: DnsPod,
    pub replies: BTreeMap<DnsQuestion, DnsReply>,
}

mod findings;
mod judge;
pub use judge::{
    DnsCheck, DnsFinding, DnsFindingCode, LookupResult, LookupStatus, compare, status_of,
};

#[cfg(test)]
mod tests;
