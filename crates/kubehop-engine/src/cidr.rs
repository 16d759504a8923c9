//! A minimal CIDR type for loadBalancerSourceRanges (rules C7, G11).

use std::net::IpAddr;

/// An address prefix such as `127.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `address/prefix`; surrounding spaces are tolerated (rule G11). The address must
    /// be canonical enough for Rust's parser (no leading zeros).
    pub fn parse(value: &str) -> Option<Self> {
        let (address, prefix) = value.trim().split_once('/')?;
        let address: IpAddr = address.parse().ok()?;
        if prefix.is_empty() || !prefix.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { address, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// Whether `ip` is a global unicast address, reachable from the internet (rule K4): not
/// private, loopback, link-local, shared (CGNAT), documentation, benchmarking, multicast,
/// reserved or unspecified; an IPv4-mapped IPv6 address is judged as its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => {
                let first = v6.segments()[0];
                return !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || first & 0xfe00 == 0xfc00
                    || first & 0xffc0 == 0xfe80
                    || (first == 0x2001 && v6.segments()[1] == 0x0db8));
            }
        },
    };
    let [a, b, c, _] = v4.octets();
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && c == 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::inside("127.0.0.0/8", "127.1.2.3", true)]
    #[case::outside("127.0.0.0/16", "127.1.2.3", false)]
    #[case::all("0.0.0.0/0", "127.1.2.3", true)]
    #[case::host("127.0.0.5/32", "127.0.0.5", true)]
    #[case::other_family("::/0", "127.0.0.5", false)]
    #[case::spaces_tolerated_g11("  127.0.0.0/8 ", "127.0.0.9", true)]
    fn contains(#[case] cidr: &str, #[case] ip: &str, #[case] expected: bool) {
        let cidr = Cidr::parse(cidr).expect("valid cidr");
        assert_eq!(cidr.contains(ip.parse().expect("ip")), expected);
    }

    #[rstest]
    #[case::gke_external("34.118.10.7", true)]
    #[case::eks_external("3.120.4.9", true)]
    #[case::private("10.0.0.5", false)]
    #[case::kind("172.18.0.3", false)]
    #[case::cgnat("100.64.1.1", false)]
    #[case::documentation("203.0.113.9", false)]
    #[case::loopback("127.39.0.1", false)]
    #[case::mapped_private("::ffff:192.168.1.1", false)]
    #[case::mapped_public("::ffff:34.1.2.3", true)]
    #[case::ula("fd00::1", false)]
    #[case::global_v6("2600:1f18::1", true)]
    fn public_addresses(#[case] ip: &str, #[case] public: bool) {
        assert_eq!(is_public(ip.parse().expect("ip")), public, "{ip}");
    }

    #[rstest]
    #[case("127.0.0.0")]
    #[case("127.0.0.0/33")]
    #[case("127.0.0.0/")]
    #[case("nonsense/8")]
    #[case("127.0.0.0/+8")]
    fn rejects(#[case] value: &str) {
        assert_eq!(Cidr::parse(value), None);
    }
}
