//! What a sandbox pod's container would see, computed from its spec and status the way the
//! kubelet makes it: its hostname, `/etc/hosts`, `/etc/resolv.conf` (by `dnsPolicy`), and the
//! environment the kubelet sets (`env` entries, Service link variables). What the image
//! would add (its own `ENV`, files) is unknown to the sandbox and not invented.

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod, Service};
use serde_json::Value;

/// The cluster's DNS domain.
pub(crate) const CLUSTER_DOMAIN: &str = "cluster.local";

/// The pod's hostname: `spec.hostname`, else its name, at most 63 characters (the kubelet
/// trims a cut name's trailing `-` and `.`).
pub(crate) fn hostname(pod: &Pod) -> String {
    let spec_hostname = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty());
    let name = spec_hostname.unwrap_or_else(|| pod.metadata.name.clone().unwrap_or_default());
    if name.len() <= 63 {
        return name;
    }
    name[..63].trim_end_matches(['-', '.']).to_string()
}

fn pod_ips(pod: &Pod) -> Vec<String> {
    let status = pod.status.as_ref();
    let mut ips: Vec<String> = status
        .and_then(|s| s.pod_ips.as_ref())
        .map(|ips| ips.iter().map(|ip| ip.ip.clone()).collect())
        .unwrap_or_default();
    if ips.is_empty()
        && let Some(ip) = status.and_then(|s| s.pod_ip.clone())
    {
        ips.push(ip);
    }
    ips
}

/// `/etc/hosts` as the kubelet writes it for a pod not on the host network.
pub(crate) fn hosts(pod: &Pod) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let host = hostname(pod);
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let subdomain = pod
        .spec
        .as_ref()
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty());
    for ip in pod_ips(pod) {
        match subdomain {
            Some(sub) => out.push_str(&format!(
                "{ip}\t{host}.{sub}.{namespace}.svc.{CLUSTER_DOMAIN}\t{host}\n"
            )),
            None => out.push_str(&format!("{ip}\t{host}\n")),
        }
    }
    let aliases = pod.spec.as_ref().and_then(|s| s.host_aliases.as_ref());
    if let Some(aliases) = aliases.filter(|a| !a.is_empty()) {
        out.push_str("\n# Entries added by HostAliases.\n");
        for alias in aliases {
            let names = alias.hostnames.clone().unwrap_or_default().join("\t");
            out.push_str(&format!("{}\t{names}\n", alias.ip));
        }
    }
    out
}

/// `/etc/resolv.conf` for the pod's `dnsPolicy`. `cluster_dns` is the cluster DNS Service's
/// address (kube-system/kube-dns); without one, ClusterFirst falls back to the node's file
/// (`node_resolv`), as the kubelet does.
pub(crate) fn resolv_conf(pod: &Pod, cluster_dns: Option<&str>, node_resolv: &str) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let host_network = spec.host_network.unwrap_or(false);
    let cluster = match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        _ => false,
    };
    let (mut nameservers, mut searches, mut options) = match (policy, cluster, cluster_dns) {
        ("None", _, _) => (Vec::new(), Vec::new(), Vec::new()),
        (_, true, Some(dns)) => (
            vec![dns.to_string()],
            vec![
                format!("{namespace}.svc.{CLUSTER_DOMAIN}"),
                format!("svc.{CLUSTER_DOMAIN}"),
                CLUSTER_DOMAIN.to_string(),
            ],
            vec!["ndots:5".to_string()],
        ),
        _ => node_file(node_resolv),
    };
    if let Some(config) = spec.dns_config.as_ref() {
        nameservers.extend(config.nameservers.iter().flatten().cloned());
        searches.extend(config.searches.iter().flatten().cloned());
        for option in config.options.iter().flatten() {
            let Some(name) = option.name.as_deref() else {
                continue;
            };
            options.retain(|o| o.split(':').next() != Some(name));
            options.push(match option.value.as_deref() {
                Some(value) => format!("{name}:{value}"),
                None => name.to_string(),
            });
        }
    }
    let mut out = String::new();
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for server in nameservers {
        out.push_str(&format!("nameserver {server}\n"));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// The nameservers, searches and options of a resolv.conf.
fn node_file(text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut servers, mut searches, mut options) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => servers.extend(words.next().map(str::to_string)),
            Some("search") => searches = words.map(str::to_string).collect(),
            Some("options") => options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    (servers, searches, options)
}

/// `NAME` of a Service link variable (`my-svc` -> `MY_SVC`).
fn link_name(service: &str) -> String {
    service.to_ascii_uppercase().replace('-', "_")
}

/// The Service link variables of `services` (those with a ClusterIP), as the kubelet makes
/// them.
pub(crate) fn service_links(services: &[Service]) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    for service in services {
        let Some(spec) = service.spec.as_ref() else {
            continue;
        };
        let ip = spec.cluster_ip.as_deref().unwrap_or("");
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let name = link_name(service.metadata.name.as_deref().unwrap_or(""));
        let ports = spec.ports.as_deref().unwrap_or_default();
        vars.push((format!("{name}_SERVICE_HOST"), ip.to_string()));
        let url_ip = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_string()
        };
        for (i, port) in ports.iter().enumerate() {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            let lower = protocol.to_ascii_lowercase();
            let url = format!("{lower}://{url_ip}:{}", port.port);
            if i == 0 {
                vars.push((format!("{name}_SERVICE_PORT"), port.port.to_string()));
                vars.push((format!("{name}_PORT"), url.clone()));
            }
            if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
                vars.push((
                    format!("{name}_SERVICE_PORT_{}", link_name(port_name)),
                    port.port.to_string(),
                ));
            }
            let prefix = format!(
                "{name}_PORT_{}_{}",
                port.port,
                protocol.to_ascii_uppercase()
            );
            vars.push((prefix.clone(), url));
            vars.push((format!("{prefix}_PROTO"), lower));
            vars.push((format!("{prefix}_PORT"), port.port.to_string()));
            vars.push((format!("{prefix}_ADDR"), ip.to_string()));
        }
    }
    vars
}

/// A `fieldRef`'s value, for the fields the downward API offers.
fn field_ref(pod: &Value, path: &str) -> Option<String> {
    let keyed = |prefix: &str, map: &str| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        pod.get("metadata")?
            .get(map)?
            .get(key)?
            .as_str()
            .map(str::to_string)
    };
    let pointer = match path {
        "metadata.name" => "/metadata/name",
        "metadata.namespace" => "/metadata/namespace",
        "metadata.uid" => "/metadata/uid",
        "spec.nodeName" => "/spec/nodeName",
        "spec.serviceAccountName" => "/spec/serviceAccountName",
        "status.hostIP" => "/status/hostIP",
        "status.podIP" => "/status/podIP",
        _ => {
            return keyed("metadata.labels['", "labels")
                .or_else(|| keyed("metadata.annotations['", "annotations"));
        }
    };
    pod.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The container's environment the sandbox can compute: `HOSTNAME`, the Service link
/// variables (unless `enableServiceLinks: false`; the default namespace's `kubernetes`
/// Service always), then the container's `env` (literal values and `fieldRef`s). Returns the
/// variables and the names of those it cannot show (from ConfigMaps, Secrets, resources).
pub(crate) fn environment(
    pod: &Pod,
    container: &Container,
    services: &[Service],
) -> (Vec<(String, String)>, Vec<String>) {
    let mut vars = vec![("HOSTNAME".to_string(), hostname(pod))];
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let linked: Vec<Service> = services
        .iter()
        .filter(|s| {
            let ns = s.metadata.namespace.as_deref().unwrap_or("default");
            let name = s.metadata.name.as_deref().unwrap_or("");
            (links && ns == namespace) || (ns == "default" && name == "kubernetes")
        })
        .cloned()
        .collect();
    vars.extend(service_links(&linked));
    let value = serde_json::to_value(pod).unwrap_or(Value::Null);
    let mut unknown = Vec::new();
    for EnvVar {
        name,
        value: literal,
        value_from,
    } in container.env.iter().flatten()
    {
        let computed = match (literal, value_from) {
            (Some(text), _) => Some(expand(text, &vars)),
            (None, None) => Some(String::new()),
            (None, Some(from)) => from
                .field_ref
                .as_ref()
                .and_then(|f| field_ref(&value, &f.field_path)),
        };
        match computed {
            Some(text) => {
                vars.retain(|(n, _)| n != name);
                vars.push((name.clone(), text));
            }
            None => unknown.push(name.clone()),
        }
    }
    (vars, unknown)
}

/// `$(VAR)` references to earlier variables expanded, `$$` as `$` (the kubelet's rules).
fn expand(text: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
            && let Some((_, v)) = vars.iter().rev().find(|(n, _)| *n == inner[..end])
        {
            out.push_str(v);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
            "spec": spec,
            "status": {"podIP": "127.1.0.2", "podIPs": [{"ip": "127.1.0.2"}]}
        }))
        .expect("pod")
    }

    #[test]
    fn hosts_and_hostname_as_the_kubelet_writes_them() {
        let plain = pod(json!({"containers": [{"name": "app"}]}));
        assert_eq!(hostname(&plain), "web-1");
        assert!(hosts(&plain).ends_with("fe00::2\tip6-allrouters\n127.1.0.2\tweb-1\n"));
        let named = pod(json!({"containers": [{"name": "app"}], "hostname": "db-0",
            "subdomain": "db", "hostAliases": [{"ip": "127.0.0.9", "hostnames": ["a", "b"]}]}));
        let text = hosts(&named);
        assert!(
            text.contains("127.1.0.2\tdb-0.db.shop.svc.cluster.local\tdb-0\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\n# Entries added by HostAliases.\n127.0.0.9\ta\tb\n"),
            "{text}"
        );
    }

    #[test]
    fn resolv_conf_follows_the_dns_policy() {
        let default = pod(json!({"containers": [{"name": "app"}]}));
        assert_eq!(
            resolv_conf(&default, Some("127.96.0.10"), ""),
            "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.96.0.10\noptions ndots:5\n"
        );
        let node = "nameserver 192.0.2.1\nsearch example.test\n";
        assert_eq!(
            resolv_conf(&default, None, node),
            "search example.test\nnameserver 192.0.2.1\n"
        );
        let none = pod(json!({"containers": [{"name": "app"}], "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["127.0.0.53"], "options": [{"name": "ndots", "value": "2"}]}}));
        assert_eq!(
            resolv_conf(&none, Some("127.96.0.10"), node),
            "nameserver 127.0.0.53\noptions ndots:2\n"
        );
    }

    #[test]
    fn the_environment_has_service_links_and_field_refs() {
        let pod = pod(json!({"containers": [{"name": "app", "env": [
            {"name": "MODE", "value": "prod-$(MY_API_SERVICE_HOST)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
        ]}]}));
        let service: Service = serde_json::from_value(json!({
            "metadata": {"name": "my-api", "namespace": "shop"},
            "spec": {"clusterIP": "127.96.0.7", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
        }))
        .expect("service");
        let container = pod.spec.as_ref().expect("spec").containers[0].clone();
        let (vars, unknown) = environment(&pod, &container, &[service]);
        let get = |name: &str| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("HOSTNAME"), Some("web-1"));
        assert_eq!(get("MY_API_SERVICE_HOST"), Some("127.96.0.7"));
        assert_eq!(get("MY_API_SERVICE_PORT_HTTP"), Some("80"));
        assert_eq!(get("MY_API_PORT"), Some("tcp://127.96.0.7:80"));
        assert_eq!(get("MY_API_PORT_80_TCP_ADDR"), Some("127.96.0.7"));
        assert_eq!(get("MODE"), Some("prod-127.96.0.7"));
        assert_eq!(get("POD"), Some("web-1"));
        assert_eq!(get("APP"), Some("web"));
        assert_eq!(unknown, ["TOKEN"]);
    }
}
