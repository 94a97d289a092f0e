//! IP prefixes (`10.0.1.0/24`, `2001:db8::/32`, or a bare address as /32 or /128).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    fn max_len(a: IpAddr) -> u8 {
        if a.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// The address as a 128-bit number (IPv4 in the low 32 bits) and the host bits.
    fn bits(&self) -> (u128, u32) {
        match self.addr {
            IpAddr::V4(a) => (u32::from(a) as u128, 32 - self.len as u32),
            IpAddr::V6(a) => (u128::from(a), 128 - self.len as u32),
        }
    }

    /// The prefix with its host bits cleared (`10.0.1.77/24` → `10.0.1.0/24`).
    pub fn network(&self) -> Prefix {
        Prefix {
            addr: self.nth(0),
            len: self.len,
        }
    }

    /// Whether `a` is inside the prefix (an IPv4-mapped IPv6 address counts
    /// as IPv4).
    pub fn contains(&self, a: IpAddr) -> bool {
        let a = match a {
            IpAddr::V6(x) => x.to_ipv4_mapped().map_or(a, IpAddr::V4),
            v4 => v4,
        };
        if a.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let p = Prefix {
            addr: a,
            len: self.len,
        };
        p.network() == self.network()
    }

    /// True for a single address (/32 or /128).
    pub fn is_host(&self) -> bool {
        self.len == Prefix::max_len(self.addr)
    }

    /// The `i`-th address of the prefix (wrapping within it).
    pub fn nth(&self, i: u128) -> IpAddr {
        let (n, host) = self.bits();
        let span = if host >= 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        let base = if host >= 128 { 0 } else { (n >> host) << host };
        let v = base | (i & span);
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4((v as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(v.into()),
        }
    }
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IP address or CIDR prefix");
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let max = Prefix::max_len(addr);
        let len = match l {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&l| l <= max)
                .ok_or_else(bad)?,
            None => max,
        };
        Ok(Prefix { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_is_by_family_and_network_bits() {
        let p: Prefix = "192.0.2.0/24".parse().expect("prefix");
        for (a, inside) in [
            ("192.0.2.0", true),
            ("192.0.2.255", true),
            ("::ffff:192.0.2.7", true),
            ("192.0.3.1", false),
            ("2001:db8::1", false),
        ] {
            assert_eq!(p.contains(a.parse().expect("ip")), inside, "{a}");
        }
        let all: Prefix = "::/0".parse().expect("prefix");
        assert!(all.contains("2001:db8::1".parse().expect("ip")));
        assert!(!all.contains("10.0.0.1".parse().expect("ip")));
    }
}
