//! Prefixes on the wire (RFC 4271 §4.3, RFC 4760 §5): a length in bits and
//! as many bytes as it needs. Host bits are cleared on the way in.

use std::net::IpAddr;

use octoflow_prefix::Prefix;

/// Appends every prefix of `buf` to `out`; `Err` when a length is too long
/// for the family or the bytes run out.
pub(crate) fn parse(mut buf: &[u8], v6: bool, out: &mut Vec<Prefix>) -> Result<(), ()> {
    let max = if v6 { 128 } else { 32 };
    while let [len, rest @ ..] = buf {
        if *len > max {
            return Err(());
        }
        let n = usize::from(len.div_ceil(8));
        let bytes = rest.get(..n).ok_or(())?;
        let mut a = [0u8; 16];
        a[..n].copy_from_slice(bytes);
        if len % 8 != 0 {
            a[n - 1] &= 0xffu8 << (8 - len % 8);
        }
        let addr = if v6 {
            IpAddr::from(a)
        } else {
            IpAddr::from([a[0], a[1], a[2], a[3]])
        };
        out.push(Prefix { addr, len: *len });
        buf = &rest[n..];
    }
    Ok(())
}

/// Appends `p` (normalised) in wire form; a prefix longer than its family
/// allows is left out.
pub(crate) fn encode(p: &Prefix, out: &mut Vec<u8>) {
    let Some(p) = normalise(p) else {
        return;
    };
    let n = usize::from(p.len.div_ceil(8));
    out.push(p.len);
    match p.addr {
        IpAddr::V4(a) => out.extend_from_slice(&a.octets()[..n]),
        IpAddr::V6(a) => out.extend_from_slice(&a.octets()[..n]),
    }
}

/// `p` with its host bits cleared; `None` when its length is too long for
/// its family.
pub(crate) fn normalise(p: &Prefix) -> Option<Prefix> {
    let addr = match p.addr {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask4(p.len)?).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask6(p.len)?).into()),
    };
    Some(Prefix { addr, len: p.len })
}

pub(crate) fn mask4(len: u8) -> Option<u32> {
    match len {
        0 => Some(0),
        1..=32 => Some(u32::MAX << (32 - len)),
        _ => None,
    }
}

pub(crate) fn mask6(len: u8) -> Option<u128> {
    match len {
        0 => Some(0),
        1..=128 => Some(u128::MAX << (128 - len)),
        _ => None,
    }
}
