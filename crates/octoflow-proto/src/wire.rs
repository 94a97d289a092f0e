//! Big-endian reads and writes; nothing here allocates. [`Reader`] and [`Writer`]
//! check bounds and return typed errors; the `*_at` functions index directly, after
//! the caller checked the length (with [`need`] or a length it validated).

use crate::error::{DecodeError, EncodeError};

#[inline]
pub(crate) fn need(buf: &[u8], n: usize, what: &'static str) -> Result<(), DecodeError> {
    if buf.len() < n {
        Err(DecodeError::Truncated {
            what,
            need: n,
            have: buf.len(),
        })
    } else {
        Ok(())
    }
}

#[inline]
pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// An unsigned big-endian integer of 1..=8 bytes (RFC 7011 §6.2 reduced-size
/// encoding); longer slices keep their last 8 bytes.
#[inline]
pub(crate) fn uint(b: &[u8]) -> u64 {
    // The usual widths in one load each.
    match b.len() {
        1 => return b[0] as u64,
        2 => return u16::from_be_bytes([b[0], b[1]]) as u64,
        4 => return u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64,
        8 => return u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        _ => {}
    }
    let b = if b.len() > 8 { &b[b.len() - 8..] } else { b };
    let mut v = 0u64;
    for &x in b {
        v = (v << 8) | x as u64;
    }
    v
}

/// A cursor over a byte slice for sequential, checked reads (sFlow's XDR).
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    #[inline]
    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::LengthPastEnd {
                what,
                len: n,
                remaining: self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    #[inline]
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.bytes(4, what)?;
        Ok(u32_at(b, 0))
    }
}

/// A cursor writing into a caller-provided buffer.
pub(crate) struct Writer<'a> {
    pub(crate) buf: &'a mut [u8],
    pub(crate) pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }
    #[inline]
    pub(crate) fn room(&self, n: usize) -> Result<(), EncodeError> {
        if self.buf.len() - self.pos < n {
            Err(EncodeError::BufferTooSmall {
                need: self.pos + n,
                have: self.buf.len(),
            })
        } else {
            Ok(())
        }
    }
    #[inline]
    pub(crate) fn put(&mut self, b: &[u8]) -> Result<(), EncodeError> {
        self.room(b.len())?;
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
        Ok(())
    }
    #[inline]
    pub(crate) fn u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }
    #[inline]
    pub(crate) fn u32(&mut self, v: u32) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }
    /// Write `v` in `len` bytes (1..=8), big-endian, truncating high bytes.
    #[inline]
    pub(crate) fn uint(&mut self, v: u64, len: usize) -> Result<(), EncodeError> {
        let b = v.to_be_bytes();
        self.put(&b[8 - len..])
    }
    pub(crate) fn zeros(&mut self, n: usize) -> Result<(), EncodeError> {
        self.room(n)?;
        self.buf[self.pos..self.pos + n].fill(0);
        self.pos += n;
        Ok(())
    }
    pub(crate) fn patch_u16(&mut self, at: usize, v: u16) {
        self.buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
}
