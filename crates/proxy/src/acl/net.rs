//! IP networks for `src` ACLs and `option forwardfor except`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address and a prefix length (`10.0.0.0/8`, `::1/128`).
///
/// Matching follows haproxy: an IPv4 network also matches the IPv4-mapped IPv6 form of its
/// addresses (`::ffff:10.1.2.3`), and an IPv6 network is matched against IPv4 addresses in
/// their mapped form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    /// The network address, with the host bits cleared.
    pub addr: IpAddr,
    /// The prefix length (0..=32 for IPv4, 0..=128 for IPv6).
    pub prefix: u8,
}

impl IpNet {
    /// A network; host bits of `addr` are cleared. `None` if `prefix` is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        match addr {
            IpAddr::V4(a) if prefix <= 32 => {
                let m = mask32(prefix);
                Some(IpNet {
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(a) & m)),
                    prefix,
                })
            }
            IpAddr::V6(a) if prefix <= 128 => {
                let m = mask128(prefix);
                Some(IpNet {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(a) & m)),
                    prefix,
                })
            }
            _ => None,
        }
    }

    /// A single host.
    pub fn host(addr: IpAddr) -> IpNet {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        IpNet { addr, prefix }
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => v4_in(n, self.prefix, a),
            (IpAddr::V4(n), IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(a) => v4_in(n, self.prefix, a),
                None => false,
            },
            (IpAddr::V6(n), IpAddr::V6(a)) => v6_in(n, self.prefix, a),
            (IpAddr::V6(n), IpAddr::V4(a)) => v6_in(n, self.prefix, a.to_ipv6_mapped()),
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

fn v4_in(net: Ipv4Addr, prefix: u8, a: Ipv4Addr) -> bool {
    u32::from(a) & mask32(prefix) == u32::from(net)
}

fn v6_in(net: Ipv6Addr, prefix: u8, a: Ipv6Addr) -> bool {
    u128::from(a) & mask128(prefix) == u128::from(net)
}

/// A set of networks, searched in O(log n): each network is an address range in the IPv6
/// space (IPv4 as IPv4-mapped addresses), sorted and merged. Matching follows
/// [`IpNet::contains`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSet {
    /// The networks as written, for messages.
    pub nets: Vec<IpNet>,
    /// Disjoint, sorted, inclusive ranges.
    ranges: Vec<(u128, u128)>,
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

impl IpSet {
    /// The set of these networks.
    pub fn new(nets: Vec<IpNet>) -> IpSet {
        let mut ranges: Vec<(u128, u128)> = nets
            .iter()
            .map(|n| {
                let start = to_u128(n.addr);
                let bits = match n.addr {
                    IpAddr::V4(_) => 32 - u32::from(n.prefix),
                    IpAddr::V6(_) => 128 - u32::from(n.prefix),
                };
                let span = if bits == 128 {
                    u128::MAX
                } else {
                    (1u128 << bits) - 1
                };
                (start, start | span)
            })
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        IpSet {
            nets,
            ranges: merged,
        }
    }

    /// Whether `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let x = to_u128(ip);
        // The last range starting at or before x.
        let i = self.ranges.partition_point(|r| r.0 <= x);
        i > 0 && self.ranges[i - 1].1 >= x
    }

    /// The number of networks.
    pub fn len(&self) -> usize {
        self.nets.len()
    }

    /// No network at all.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// Why a network could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNet;

impl FromStr for IpNet {
    type Err = BadNet;

    /// `ADDR`, `ADDR/LEN`, or (IPv4) `ADDR/DOTTED.MASK` as haproxy accepts.
    fn from_str(s: &str) -> Result<IpNet, BadNet> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let a = a
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(a);
        let addr: IpAddr = a.parse().map_err(|_| BadNet)?;
        let prefix = match (p, addr) {
            (None, _) => return Ok(IpNet::host(addr)),
            (Some(p), IpAddr::V4(_)) if p.contains('.') => {
                let m = u32::from(p.parse::<Ipv4Addr>().map_err(|_| BadNet)?);
                let len = m.leading_ones();
                if m.checked_shl(len).unwrap_or(0) != 0 {
                    return Err(BadNet);
                }
                len as u8
            }
            (Some(p), _) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(BadNet);
                }
                p.parse::<u8>().map_err(|_| BadNet)?
            }
        };
        IpNet::new(addr, prefix).ok_or(BadNet)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_forms() {
        assert_eq!("10.0.0.0/8".parse::<IpNet>().unwrap().prefix, 8);
        assert_eq!("10.1.2.3/8".parse::<IpNet>().unwrap().addr, ip("10.0.0.0"));
        assert_eq!("10.0.0.0/255.255.0.0".parse::<IpNet>().unwrap().prefix, 16);
        assert!("10.0.0.0/255.0.255.0".parse::<IpNet>().is_err());
        assert_eq!("1.2.3.4".parse::<IpNet>().unwrap().prefix, 32);
        assert_eq!("::1".parse::<IpNet>().unwrap().prefix, 128);
        assert_eq!("2001:db8::/32".parse::<IpNet>().unwrap().prefix, 32);
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("10.0.0.0/".parse::<IpNet>().is_err());
        assert!("example.com".parse::<IpNet>().is_err());
        assert_eq!("0.0.0.0/0".parse::<IpNet>().unwrap().prefix, 0);
    }

    #[test]
    fn sets_agree_with_single_networks() {
        let nets: Vec<IpNet> = [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "192.168.1.0/24",
            "192.168.2.0/24",
            "2001:db8::/32",
            "::1",
            "0.0.0.0/32",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let set = IpSet::new(nets.clone());
        for probe in [
            "10.0.0.0",
            "10.255.255.255",
            "11.0.0.0",
            "9.255.255.255",
            "192.168.1.77",
            "192.168.2.0",
            "192.168.3.0",
            "192.168.0.255",
            "2001:db8::1",
            "2001:db9::",
            "::1",
            "::2",
            "0.0.0.0",
            "0.0.0.1",
            "::ffff:10.2.3.4",
            "::ffff:11.2.3.4",
            "255.255.255.255",
        ] {
            let p = ip(probe);
            assert_eq!(
                set.contains(p),
                nets.iter().any(|n| n.contains(p)),
                "{probe}"
            );
        }
        let all = IpSet::new(vec!["::/0".parse().unwrap()]);
        assert!(all.contains(ip("1.2.3.4")) && all.contains(ip("ffff::1")));
        let v4all = IpSet::new(vec!["0.0.0.0/0".parse().unwrap()]);
        assert!(v4all.contains(ip("1.2.3.4")) && !v4all.contains(ip("2001:db8::1")));
        assert!(!IpSet::new(Vec::new()).contains(ip("1.2.3.4")));
    }

    #[test]
    fn contains_across_families() {
        let n: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.255.0.1")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.1.1.1")));
        assert!(!n.contains(ip("::1")));
        let v6: IpNet = "::ffff:192.168.0.0/112".parse().unwrap();
        assert!(v6.contains(ip("192.168.3.4")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("1.2.3.4")));
        let any6: IpNet = "::/0".parse().unwrap();
        assert!(any6.contains(ip("2001:db8::1")));
    }
}
