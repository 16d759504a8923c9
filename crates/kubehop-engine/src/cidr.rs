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
    #[case("127.0.0.0")]
    #[case("127.0.0.0/33")]
    #[case("127.0.0.0/")]
    #[case("nonsense/8")]
    #[case("127.0.0.0/+8")]
    fn rejects(#[case] value: &str) {
        assert_eq!(Cidr::parse(value), None);
    }
}
