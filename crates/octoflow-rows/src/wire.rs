//! Protobuf wire primitives (proto3, https://protobuf.dev/programming-guides/encoding/):
//! varints and the tag of a field. Only what `goflow` writes.

/// Wire type 0 (varint) and 2 (length-delimited).
pub(crate) const VARINT: u32 = 0;
pub(crate) const LEN: u32 = 2;

#[inline]
pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes a varint of `v` takes.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A varint field; proto3 leaves a zero out (its default).
#[inline]
pub(crate) fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        varint(out, u64::from(field << 3 | VARINT));
        varint(out, v);
    }
}

/// A bytes field.
#[inline]
pub(crate) fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    varint(out, u64::from(field << 3 | LEN));
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A packed repeated `uint32` field (proto3's encoding of repeated scalars);
/// nothing for an empty list.
#[inline]
pub(crate) fn packed(out: &mut Vec<u8>, field: u32, vs: &[u32]) {
    if vs.is_empty() {
        return;
    }
    varint(out, u64::from(field << 3 | LEN));
    let len: usize = vs.iter().map(|&v| varint_len(u64::from(v))).sum();
    varint(out, len as u64);
    for &v in vs {
        varint(out, u64::from(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_their_lengths() {
        for (v, enc) in [
            (0u64, vec![0u8]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 1]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1],
            ),
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out, enc, "{v}");
            assert_eq!(varint_len(v), enc.len(), "{v}");
        }
    }
}
