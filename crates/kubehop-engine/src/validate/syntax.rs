//! The syntax checks Service validation uses: DNS labels and subdomains, IANA service names,
//! qualified names, label values and the IP literal forms the API server accepts.

use std::net::{IpAddr, Ipv4Addr};

pub(super) fn is_dns1123_label(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

pub(super) fn is_dns1035_label(value: &str) -> bool {
    is_dns1123_label(value) && value.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
}

pub(super) fn is_dns1123_subdomain(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// IANA service name (rule G3): at most 15 characters, lowercase letters, digits and '-', at
/// least one letter, no leading, trailing or doubled '-'.
pub fn is_iana_service_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 15
        && value
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && value.bytes().any(|byte| byte.is_ascii_lowercase())
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--")
}

fn is_name_part(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && value
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// A qualified name (`[prefix/]name`), as label keys and appProtocol use.
pub fn is_qualified_name(value: &str) -> bool {
    match value.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_name_part(name),
        None => is_name_part(value),
    }
}

/// A label value: empty, or a name part.
pub fn is_label_value(value: &str) -> bool {
    value.is_empty() || is_name_part(value)
}

/// Go's legacy parser accepts IPv4 with leading zeros (`010.0.0.1`); Rust's does not. Returns
/// the address such a string means, for the G17 warning.
pub(super) fn parse_legacy_ipv4(value: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = value.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (slot, part) in octets.iter_mut().zip(parts) {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

pub(super) fn parses_as_ip(value: &str) -> bool {
    value.parse::<IpAddr>().is_ok() || parse_legacy_ipv4(value).is_some()
}

pub(super) fn is_special(ip: IpAddr) -> Option<&'static str> {
    let (unspecified, loopback, multicast) =
        (ip.is_unspecified(), ip.is_loopback(), ip.is_multicast());
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if unspecified {
        Some("may not be unspecified (0.0.0.0)")
    } else if loopback {
        Some("may not be in the loopback range (127.0.0.0/8, ::1/128)")
    } else if link_local {
        Some("may not be in the link-local range (169.254.0.0/16, fe80::/10)")
    } else if multicast {
        Some("may not be in the multicast range (224.0.0.0/4, ff00::/8)")
    } else {
        None
    }
}
