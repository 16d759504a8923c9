//! The sandbox's loopback address plan.
//!
//! Every sandbox instance owns a block of four consecutive second octets `127.B.*.*` to
//! `127.B+3.*.*` (B = 32, 36, ..., 252 when chosen automatically), so several sandboxes in one
//! process (parallel tests) or on one machine never hand out the same address:
//!
//! | range | what |
//! |---|---|
//! | `127.B.0.1`, `127.B.0.2`, ... | node InternalIPs (nodes registered without addresses) |
//! | `127.B+1.0.0/16` | ClusterIPs |
//! | `127.B+2.0.0/16` | LoadBalancer and Ingress ingress IPs |
//! | `127.B+3.N.0/24` | pod IPs of the N-th node (`.2` to `.254`) |
//!
//! A block is reserved by binding a marker socket on `127.B.255.254:65534` for the instance's
//! lifetime; the next free block is taken when that fails, so the reservation works across
//! processes too. The first automatic block (`127.32-35.*.*`) stays clear of the addresses the
//! scenario dumps in `assets/scenarios` use (`127.0-2.*`, `127.10.*`, `127.20.*`, `127.40.*`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

/// The first second octet handed out automatically.
pub const FIRST_BLOCK: u8 = 32;
/// Second octets per block.
pub const BLOCK_SIZE: u8 = 4;
/// The port of the marker socket that reserves a block.
const MARKER_PORT: u16 = 65534;

/// Whether the sandbox may bind or connect to `ip` (127.0.0.0/8 only).
pub fn is_loopback(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 127)
}

/// Why no block could be reserved.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("address block 127.{0}.0.0 is not usable: the second octet must be 1 to 252")]
    InvalidBlock(u8),
    #[error(
        "address block 127.{base}.0.0 is taken (marker 127.{base}.255.254:{MARKER_PORT}: {source})"
    )]
    Taken {
        base: u8,
        #[source]
        source: std::io::Error,
    },
    #[error("every loopback address block (127.{FIRST_BLOCK}-255.*) is taken by other sandboxes")]
    Exhausted,
}

/// An inclusive range of IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl IpRange {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(self.first)..=u32::from(self.last)).contains(&u32::from(ip))
    }

    /// How many addresses the range holds.
    pub fn len(&self) -> u32 {
        u32::from(self.last)
            .saturating_sub(u32::from(self.first))
            .saturating_add(1)
    }

    pub fn is_empty(&self) -> bool {
        u32::from(self.last) < u32::from(self.first)
    }
}

/// One sandbox's loopback addresses (see the module documentation).
#[derive(Debug)]
pub struct AddressBlock {
    base: u8,
    _marker: Option<TcpListener>,
}

impl AddressBlock {
    /// Reserves `requested` (a second octet), or the first free automatic block.
    pub fn reserve(requested: Option<u8>) -> Result<Self, AddressError> {
        if let Some(base) = requested {
            if !(1..=252).contains(&base) {
                return Err(AddressError::InvalidBlock(base));
            }
            return Self::try_reserve(base).map_err(|source| AddressError::Taken { base, source });
        }
        let mut base = FIRST_BLOCK;
        loop {
            if let Ok(block) = Self::try_reserve(base) {
                return Ok(block);
            }
            base = match base.checked_add(BLOCK_SIZE) {
                Some(next) if next <= 252 => next,
                _ => return Err(AddressError::Exhausted),
            };
        }
    }

    fn try_reserve(base: u8) -> std::io::Result<Self> {
        let marker = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, base, 255, 254)), MARKER_PORT);
        let listener = TcpListener::bind(marker)?;
        Ok(AddressBlock {
            base,
            _marker: Some(listener),
        })
    }

    /// A block that is not reserved (for pure computations and tests).
    pub fn unreserved(base: u8) -> Self {
        AddressBlock {
            base,
            _marker: None,
        }
    }

    /// The block's first second octet `B`.
    pub fn base(&self) -> u8 {
        self.base
    }

    fn octet(&self, offset: u8) -> u8 {
        self.base.saturating_add(offset)
    }

    /// The InternalIP of the `index`-th registered node (0-based).
    pub fn node_ip(&self, index: usize) -> Option<Ipv4Addr> {
        let third = u8::try_from(index / 250).ok()?;
        if third == 255 {
            return None;
        }
        let fourth = u8::try_from(index % 250 + 1).ok()?;
        Some(Ipv4Addr::new(127, self.base, third, fourth))
    }

    /// Where ClusterIPs come from.
    pub fn cluster_ips(&self) -> IpRange {
        let second = self.octet(1);
        IpRange {
            first: Ipv4Addr::new(127, second, 0, 1),
            last: Ipv4Addr::new(127, second, 255, 254),
        }
    }

    /// The ClusterIP range as the API server's `--service-cluster-ip-range` would spell it.
    pub fn cluster_ip_cidr(&self) -> String {
        format!("127.{}.0.0/16", self.octet(1))
    }

    /// Where LoadBalancer and Ingress ingress IPs come from.
    pub fn load_balancer_ips(&self) -> IpRange {
        let second = self.octet(2);
        IpRange {
            first: Ipv4Addr::new(127, second, 0, 1),
            last: Ipv4Addr::new(127, second, 255, 254),
        }
    }

    /// The pod IPs of the `index`-th node (its podCIDR without network, gateway and broadcast).
    pub fn pod_ips(&self, node_index: usize) -> Option<IpRange> {
        let third = u8::try_from(node_index).ok()?;
        let second = self.octet(3);
        Some(IpRange {
            first: Ipv4Addr::new(127, second, third, 2),
            last: Ipv4Addr::new(127, second, third, 254),
        })
    }

    /// The podCIDR of the `index`-th node.
    pub fn pod_cidr(&self, node_index: usize) -> Option<String> {
        let third = u8::try_from(node_index).ok()?;
        Some(format!("127.{}.{third}.0/24", self.octet(3)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_reservations_get_two_blocks() {
        let a = AddressBlock::reserve(None).expect("a block");
        let b = AddressBlock::reserve(None).expect("another block");
        assert_ne!(a.base(), b.base());
        assert!(matches!(
            AddressBlock::reserve(Some(a.base())),
            Err(AddressError::Taken { .. })
        ));
        assert!(matches!(
            AddressBlock::reserve(Some(0)),
            Err(AddressError::InvalidBlock(0))
        ));
    }

    #[test]
    fn the_plan_stays_inside_the_block() {
        let block = AddressBlock::unreserved(40);
        assert_eq!(block.node_ip(0), Some(Ipv4Addr::new(127, 40, 0, 1)));
        assert_eq!(block.node_ip(250), Some(Ipv4Addr::new(127, 40, 1, 1)));
        assert_eq!(block.cluster_ip_cidr(), "127.41.0.0/16");
        assert!(block.cluster_ips().contains(Ipv4Addr::new(127, 41, 3, 4)));
        assert!(
            block
                .load_balancer_ips()
                .contains(Ipv4Addr::new(127, 42, 0, 1))
        );
        let pods = block.pod_ips(2).expect("range");
        assert_eq!(pods.first, Ipv4Addr::new(127, 43, 2, 2));
        assert_eq!(pods.len(), 253);
        assert_eq!(block.pod_ips(256), None);
        assert!(is_loopback(IpAddr::V4(Ipv4Addr::new(127, 9, 9, 9))));
        assert!(!is_loopback(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))));
    }
}
