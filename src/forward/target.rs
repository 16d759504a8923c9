//! What to forward: `SERVICE` and `[LOCAL_PORT:]PORT`, as `kubectl port-forward svc/NAME` takes
//! them, resolved against the Service in the model.
//!
//! `PORT` is a Service port (`port`, not targetPort), by number or name. `LOCAL_PORT` defaults
//! to the Service port's number; `0` or an empty `LOCAL_PORT` (`:80`) picks a free port.

use std::fmt;

use super::ForwardError;
use crate::engine::model::{
    PortRef, Protocol, ServiceChain, ServiceKey, ServicePortKey, ServiceType,
};

/// One `[LOCAL_PORT:]PORT` argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortMapping {
    /// `None`: the same number as the Service port; `Some(0)`: a free port.
    pub local: Option<u16>,
    /// The Service port, by number or name.
    pub port: PortRef,
}

impl PortMapping {
    /// Parses `8080`, `9000:80`, `:80`, `0:http`, `http`.
    pub fn parse(text: &str) -> Result<Self, ForwardError> {
        let bad = |why: &str| ForwardError::BadPort {
            text: text.to_owned(),
            why: why.to_owned(),
        };
        let (local, port) = match text.split_once(':') {
            Some((local, port)) => (Some(local), port),
            None => (None, text),
        };
        let local = match local {
            None => None,
            Some("") => Some(0),
            Some(local) => Some(
                local
                    .parse::<u16>()
                    .map_err(|_| bad("LOCAL_PORT must be a number from 0 to 65535"))?,
            ),
        };
        if port.is_empty() {
            return Err(bad("PORT is missing"));
        }
        let port = if port.bytes().all(|b| b.is_ascii_digit()) {
            match port.parse::<u16>() {
                Ok(number) if number > 0 => PortRef::Number(i32::from(number)),
                _ => return Err(bad("PORT must be a number from 1 to 65535, or a port name")),
            }
        } else if valid_port_name(port) {
            PortRef::Name(port.to_owned())
        } else {
            return Err(bad(
                "PORT must be a Service port number or name (lowercase letters, digits and '-')",
            ));
        };
        Ok(PortMapping { local, port })
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.local {
            Some(local) => write!(f, "{local}:{}", self.port),
            None => write!(f, "{}", self.port),
        }
    }
}

/// A Service port name (rule G2: a DNS-1123 label).
fn valid_port_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// `SERVICE`: `name` (in the default namespace) or `namespace/name`.
pub fn parse_service(text: &str, default_namespace: &str) -> Result<ServiceKey, ForwardError> {
    let bad = || ForwardError::BadService(text.to_owned());
    let (namespace, name) = match text.split_once('/') {
        Some((namespace, name)) => (namespace, name),
        None => (default_namespace, text),
    };
    let valid = |part: &str| {
        !part.is_empty()
            && part.len() <= 253
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    if !valid(namespace) || !valid(name) {
        return Err(bad());
    }
    Ok(ServiceKey {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

/// A Service port a forward listens for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub port: ServicePortKey,
    /// The Service port's name, if it has one.
    pub name: Option<String>,
}

impl Target {
    /// The TCP port `port` (named `port_name`, if it has a name) of Service `namespace/name`.
    pub fn tcp(namespace: &str, name: &str, port: i32, port_name: Option<&str>) -> Self {
        Target {
            port: ServicePortKey {
                service: ServiceKey {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                },
                port,
                protocol: Protocol::Tcp,
            },
            name: port_name.map(str::to_owned),
        }
    }

    pub fn service(&self) -> &ServiceKey {
        &self.port.service
    }

    /// `shop/web:80`, for lists that mix namespaces.
    pub fn qualified(&self) -> String {
        format!("{}:{}", self.port.service, self.port.port)
    }
}

impl fmt::Display for Target {
    /// `svc/web:80`, as kubectl names a Service port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "svc/{}:{}", self.port.service.name, self.port.port)
    }
}

/// A mapping resolved against the Service: which port, and the local port to listen on
/// (`0`: pick one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPort {
    pub target: Target,
    pub local: u16,
}

/// Resolves `mapping` against `chain`. Port-forwards carry TCP only.
pub fn resolve(chain: &ServiceChain, mapping: &PortMapping) -> Result<ResolvedPort, ForwardError> {
    let service = chain.key();
    if chain.service_type == ServiceType::ExternalName {
        return Err(ForwardError::ExternalName { service });
    }
    let matches = |port: &&crate::engine::model::PortChain| match &mapping.port {
        PortRef::Number(number) => port.port == *number,
        PortRef::Name(name) => port.name.as_deref() == Some(name.as_str()),
    };
    let candidates: Vec<_> = chain.ports.iter().filter(matches).collect();
    let Some(port) = candidates
        .iter()
        .find(|port| port.protocol == Protocol::Tcp)
        .or_else(|| candidates.first())
    else {
        let available = chain
            .ports
            .iter()
            .map(|port| match &port.name {
                Some(name) if !name.is_empty() => format!("{} ({name})", port.port),
                _ => port.port.to_string(),
            })
            .collect::<Vec<_>>();
        return Err(ForwardError::PortNotFound {
            service,
            port: mapping.port.clone(),
            available: if available.is_empty() {
                "none".to_owned()
            } else {
                available.join(", ")
            },
        });
    };
    if port.protocol != Protocol::Tcp {
        return Err(ForwardError::NotTcp {
            service,
            port: port.port,
            protocol: port.protocol,
        });
    }
    let local = match mapping.local {
        Some(local) => local,
        None => u16::try_from(port.port).unwrap_or(0),
    };
    Ok(ResolvedPort {
        target: Target {
            port: ServicePortKey {
                service,
                port: port.port,
                protocol: port.protocol,
            },
            name: port.name.clone().filter(|name| !name.is_empty()),
        },
        local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("8080", None, PortRef::Number(8080))]
    #[case("9000:80", Some(9000), PortRef::Number(80))]
    #[case(":80", Some(0), PortRef::Number(80))]
    #[case("0:80", Some(0), PortRef::Number(80))]
    #[case("http", None, PortRef::Name("http".into()))]
    #[case("5432:postgres-main", Some(5432), PortRef::Name("postgres-main".into()))]
    fn port_mappings_parse(#[case] text: &str, #[case] local: Option<u16>, #[case] port: PortRef) {
        let mapping = PortMapping::parse(text).expect("valid");
        assert_eq!(mapping, PortMapping { local, port });
        if text != ":80" {
            assert_eq!(mapping.to_string(), text);
        }
    }

    #[rstest]
    #[case("")]
    #[case("8080:")]
    #[case("a:80")]
    #[case("70000:80")]
    #[case("80:0")]
    #[case("80:70000")]
    #[case("1:2:3")]
    #[case("HTTP")]
    #[case("-http")]
    fn bad_port_mappings_say_why(#[case] text: &str) {
        let error = PortMapping::parse(text).expect_err("invalid");
        assert!(error.to_string().contains("[LOCAL_PORT:]PORT"), "{error}");
    }

    #[rstest]
    #[case("web", "default", Some(("default", "web")))]
    #[case("shop/web", "default", Some(("shop", "web")))]
    #[case("", "default", None)]
    #[case("shop/", "default", None)]
    #[case("Shop/web", "default", None)]
    fn services_parse(
        #[case] text: &str,
        #[case] default_namespace: &str,
        #[case] expected: Option<(&str, &str)>,
    ) {
        let parsed = parse_service(text, default_namespace).ok();
        let expected = expected.map(|(namespace, name)| ServiceKey {
            namespace: namespace.into(),
            name: name.into(),
        });
        assert_eq!(parsed, expected);
    }
}
