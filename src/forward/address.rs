//! Where a forward listens. Loopback (127.0.0.1) unless `--address` says otherwise; anything
//! else lets other machines into the cluster with the user's credentials, so it needs the
//! explicit flag and gets a warning.

use std::net::{IpAddr, Ipv4Addr};

/// The default listening address.
pub const DEFAULT_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The addresses to listen on: the ones given, or [`DEFAULT_ADDRESS`]; duplicates dropped,
/// order kept.
pub fn listen_addresses(given: &[IpAddr]) -> Vec<IpAddr> {
    if given.is_empty() {
        return vec![DEFAULT_ADDRESS];
    }
    let mut out: Vec<IpAddr> = Vec::with_capacity(given.len());
    for address in given {
        if !out.contains(address) {
            out.push(*address);
        }
    }
    out
}

/// The warning to print before listening on `addresses`, when any of them is not loopback.
pub fn exposure_warning(addresses: &[IpAddr], target: &str) -> Option<String> {
    let exposed: Vec<String> = addresses
        .iter()
        // `::ffff:127.0.0.1` is loopback too (the one classifier canonicalizes it).
        .filter(|address| !crate::net::classify(**address).is_loopback())
        .map(|address| match address {
            IpAddr::V4(v4) if v4.is_unspecified() => "0.0.0.0 (every IPv4 address)".to_owned(),
            IpAddr::V6(v6) if v6.is_unspecified() => ":: (every IPv6 address)".to_owned(),
            other => other.to_string(),
        })
        .collect();
    if exposed.is_empty() {
        return None;
    }
    Some(format!(
        "warning: listening on {} outside loopback: anyone who can reach {} can connect to {target} through your cluster credentials; use the default 127.0.0.1 unless that is what you want",
        exposed.join(", "),
        if exposed.len() == 1 {
            "that address"
        } else {
            "these addresses"
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|ip| ip.parse().expect("ip")).collect()
    }

    #[rstest]
    #[case(&[], &["127.0.0.1"])]
    #[case(&["127.0.0.1", "::1", "127.0.0.1"], &["127.0.0.1", "::1"])]
    #[case(&["0.0.0.0"], &["0.0.0.0"])]
    fn addresses_default_to_loopback(#[case] given: &[&str], #[case] expected: &[&str]) {
        assert_eq!(listen_addresses(&ips(given)), ips(expected));
    }

    #[rstest]
    #[case(&["127.0.0.1"])]
    #[case(&["127.0.0.2", "::1"])]
    #[case(&["::ffff:127.0.0.1"])]
    fn loopback_needs_no_warning(#[case] addresses: &[&str]) {
        assert_eq!(exposure_warning(&ips(addresses), "svc/web:80"), None);
    }

    #[rstest]
    #[case(&["0.0.0.0"], "0.0.0.0 (every IPv4 address)")]
    #[case(&["::"], ":: (every IPv6 address)")]
    #[case(&["127.0.0.1", "192.168.1.20"], "192.168.1.20")]
    #[case(&["::ffff:10.0.0.1"], "::ffff:10.0.0.1")]
    fn other_addresses_warn(#[case] addresses: &[&str], #[case] named: &str) {
        let warning = exposure_warning(&ips(addresses), "svc/web:80").expect("a warning");
        assert!(warning.starts_with("warning: listening on "), "{warning}");
        assert!(warning.contains(named), "{warning}");
        assert!(warning.contains("svc/web:80"), "{warning}");
        assert!(!warning.contains("127.0.0.1,"), "{warning}");
    }
}
