//! The one address classifier: which kind of network an IP address belongs to, for the probe's
//! scope (which addresses may be dialled) and the forward's warning about listening outside
//! loopback.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the IPv4 address they carry: a socket
//! connecting to `::ffff:10.0.0.1` reaches 10.0.0.1, so it is classified (and dialled) as that.

use std::net::IpAddr;

/// The kind of network an address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 0.0.0.0, :: (every address, when listening).
    Unspecified,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7.
    Private,
    /// 169.254/16 (cloud metadata servers live there), fe80::/10.
    LinkLocal,
    /// 100.64/10, carrier-grade NAT.
    SharedNat,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32.
    Documentation,
    /// Multicast and 255.255.255.255.
    Multicast,
    /// Global unicast: everything else.
    Public,
}

impl AddressClass {
    pub fn is_loopback(self) -> bool {
        self == AddressClass::Loopback
    }

    pub fn is_public(self) -> bool {
        self == AddressClass::Public
    }
}

/// `ip` with an IPv4-mapped IPv6 address turned into its IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The class of `ip`, after [`canonical`].
pub fn classify(ip: IpAddr) -> AddressClass {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                AddressClass::Loopback
            } else if v4.is_unspecified() {
                AddressClass::Unspecified
            } else if v4.is_private() {
                AddressClass::Private
            } else if v4.is_link_local() {
                AddressClass::LinkLocal
            } else if a == 100 && (64..128).contains(&b) {
                AddressClass::SharedNat
            } else if v4.is_documentation() {
                AddressClass::Documentation
            } else if v4.is_multicast() || v4.is_broadcast() {
                AddressClass::Multicast
            } else {
                AddressClass::Public
            }
        }
        IpAddr::V6(v6) => {
            let [first, second, ..] = v6.segments();
            if v6.is_loopback() {
                AddressClass::Loopback
            } else if v6.is_unspecified() {
                AddressClass::Unspecified
            } else if (first & 0xfe00) == 0xfc00 {
                AddressClass::Private
            } else if (first & 0xffc0) == 0xfe80 {
                AddressClass::LinkLocal
            } else if first == 0x2001 && second == 0x0db8 {
                AddressClass::Documentation
            } else if v6.is_multicast() {
                AddressClass::Multicast
            } else {
                AddressClass::Public
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("127.0.0.1", AddressClass::Loopback)]
    #[case("127.41.0.1", AddressClass::Loopback)]
    #[case("::1", AddressClass::Loopback)]
    #[case("::ffff:127.0.0.1", AddressClass::Loopback)]
    #[case("10.0.0.1", AddressClass::Private)]
    #[case("::ffff:10.0.0.1", AddressClass::Private)]
    #[case("172.16.5.4", AddressClass::Private)]
    #[case("192.168.1.20", AddressClass::Private)]
    #[case("::ffff:192.168.1.20", AddressClass::Private)]
    #[case("fd00::1", AddressClass::Private)]
    #[case("169.254.169.254", AddressClass::LinkLocal)]
    #[case("::ffff:169.254.169.254", AddressClass::LinkLocal)]
    #[case("fe80::1", AddressClass::LinkLocal)]
    #[case("100.64.0.1", AddressClass::SharedNat)]
    #[case("192.0.2.1", AddressClass::Documentation)]
    #[case("2001:db8::1", AddressClass::Documentation)]
    #[case("224.0.0.1", AddressClass::Multicast)]
    #[case("255.255.255.255", AddressClass::Multicast)]
    #[case("ff02::1", AddressClass::Multicast)]
    #[case("0.0.0.0", AddressClass::Unspecified)]
    #[case("::", AddressClass::Unspecified)]
    #[case("::ffff:0.0.0.0", AddressClass::Unspecified)]
    #[case("8.8.8.8", AddressClass::Public)]
    #[case("::ffff:8.8.8.8", AddressClass::Public)]
    #[case("2606:4700::1111", AddressClass::Public)]
    fn classifies(#[case] ip: &str, #[case] class: AddressClass) {
        let ip: IpAddr = ip.parse().expect("an address");
        assert_eq!(classify(ip), class, "{ip}");
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("an address");
        assert_eq!(
            canonical(mapped),
            "10.0.0.1".parse::<IpAddr>().expect("an address")
        );
    }
}
