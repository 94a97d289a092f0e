//! Templates (RFC 3954 §5.2–5.3, RFC 7011 §3.4): their fields and wire form, and the
//! exporter state records are decoded against ([`TimeBase`], [`SamplingState`]).
//!
//! - `decode`: a data record into a canonical [`FlowRecord`](crate::FlowRecord)
//!   (the field walk, and the straight-line decoder for fixed layouts);
//! - `encode`: a canonical record into a data record, and octoflow's own data
//!   template's field list.

mod decode;
mod encode;
#[cfg(test)]
mod tests;

use crate::error::{DecodeError, EncodeError};
use crate::ie::{self, Target};
use crate::wire::{u16_at, Writer};

pub(crate) use encode::own_fields;

/// IPFIX variable-length marker (RFC 7011 §7), also read so in NetFlow v9.
pub const VARLEN: u16 = 65535;

/// One field of a template: information element id, length on the wire, and
/// enterprise number (0 = IANA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    pub id: u16,
    pub len: u16,
    pub enterprise: u32,
}

impl FieldSpec {
    pub const fn iana(id: u16, len: u16) -> Self {
        FieldSpec {
            id,
            len,
            enterprise: 0,
        }
    }
}

/// Whether a template was a NetFlow v9 or an IPFIX one: scope fields of v9
/// options templates use their own type space (RFC 3954 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    V9,
    Ipfix,
}

/// A learnt (or octoflow's own) template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub id: u16,
    pub dialect: Dialect,
    /// Number of leading scope fields; 0 for data templates, ≥ 1 for options templates.
    pub scope_field_count: u16,
    pub fields: Vec<FieldSpec>,
    targets: Vec<Target>,
    /// For fixed-length templates: (offset, length, target) of every field the
    /// canonical record uses, so decoding jumps straight to them.
    plan: Vec<(u16, u16, Target)>,
    /// For fixed-length templates where each used field appears once (the usual
    /// case): (offset, length) per target, so a record decodes in straight-line
    /// code with no per-field dispatch.
    layout: Option<Box<decode::Layout>>,
    /// `Some(ipv6)` when the fields are exactly octoflow's own data template's
    /// ([`own_fields`]): records are then encoded in straight-line code.
    own: Option<bool>,
    /// Smallest possible record length (variable-length fields count 1 byte).
    pub min_record_len: usize,
    /// Record length when no field is variable-length.
    pub fixed_len: Option<usize>,
}

/// Exporter-wide state that data records refer to: sampling from options data, and
/// the IPFIX system init time for sysUpTime-relative timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptionsInfo {
    pub sampler_id: Option<u32>,
    pub interval: Option<u32>,
    pub system_init_ms: Option<u64>,
}

/// How a message's header anchors record timestamps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeBase {
    /// Export time of the message, Unix ms.
    pub export_ms: u64,
    /// NetFlow v9: the header's sysUptime (ms) at `export_ms`.
    pub uptime_ms: Option<u32>,
    /// IPFIX: systemInitTimeMilliseconds learnt from options data.
    pub system_init_ms: Option<u64>,
}

impl TimeBase {
    fn at_uptime(&self, t: u32) -> u64 {
        match (self.uptime_ms, self.system_init_ms) {
            // RFC 3954 §8: FIRST/LAST_SWITCHED are sysUptime at the flow's first/last packet.
            // The difference is signed 32-bit: Cisco exporters send LAST_SWITCHED a few
            // ms after the header's sysUptime (nfdump reads it the same way), and a
            // uptime that wrapped (49.7 days) still gives a small difference.
            (Some(up), _) => {
                let ago = up.wrapping_sub(t) as i32 as i64;
                self.export_ms.saturating_add_signed(-ago)
            }
            (None, Some(init)) => init.wrapping_add(t as u64),
            (None, None) => self.export_ms,
        }
    }
}

/// Sampling known for one exporter scope (from options data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamplingState {
    /// The interval of the most recent options record without a sampler id.
    pub default_interval: u32,
    /// (sampler id, interval), most recent first; bounded.
    pub by_id: Vec<(u32, u32)>,
}

impl SamplingState {
    const MAX_SAMPLERS: usize = 32;

    pub(crate) fn learn(&mut self, o: &OptionsInfo) {
        let Some(iv) = o.interval else { return };
        match o.sampler_id {
            Some(id) => {
                self.by_id.retain(|&(i, _)| i != id);
                if self.by_id.len() == Self::MAX_SAMPLERS {
                    self.by_id.pop();
                }
                self.by_id.insert(0, (id, iv));
                if self.default_interval == 0 {
                    self.default_interval = iv;
                }
            }
            None => self.default_interval = iv,
        }
    }

    pub(crate) fn lookup(&self, sampler: Option<u32>) -> u32 {
        if let Some(id) = sampler {
            if let Some(&(_, iv)) = self.by_id.iter().find(|&&(i, _)| i == id) {
                return iv;
            }
        }
        self.default_interval
    }
}

impl Template {
    /// Bytes this template occupies, inline and on the heap (the template cache's
    /// byte budget counts them).
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        size_of::<Template>()
            + self.fields.capacity() * size_of::<FieldSpec>()
            + self.targets.capacity() * size_of::<Target>()
            + self.plan.capacity() * size_of::<(u16, u16, Target)>()
            + self
                .layout
                .as_ref()
                .map_or(0, |_| size_of::<decode::Layout>())
    }

    /// Build and validate a template. `scope_field_count` is 0 for data templates.
    pub fn new(
        id: u16,
        dialect: Dialect,
        scope_field_count: u16,
        fields: Vec<FieldSpec>,
    ) -> Result<Template, DecodeError> {
        if id < 256 {
            return Err(DecodeError::BadTemplateId(id));
        }
        if fields.is_empty() {
            return Err(DecodeError::ZeroFieldCount { template_id: id });
        }
        if scope_field_count as usize > fields.len() {
            return Err(DecodeError::BadScopeCount { template_id: id });
        }
        let mut min = 0usize;
        let mut fixed = true;
        let mut targets = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            // NetFlow v9 has no variable-length fields, but exporters (H3C's VRF
            // name) send length 65535 there too: read as in IPFIX (RFC 7011 §7).
            if f.len == VARLEN {
                fixed = false;
                min += 1;
            } else {
                min += f.len as usize;
            }
            let in_v9_scope = dialect == Dialect::V9 && i < scope_field_count as usize;
            // A field of length 0 (Juniper SRX options templates, IGMP flows) takes
            // no bytes and is absent from the records.
            targets.push(if f.enterprise != 0 || in_v9_scope || f.len == 0 {
                Target::Ignore
            } else {
                ie::target(f.id, f.len)
            });
        }
        if min > 65535 {
            return Err(DecodeError::TemplateTooLarge { template_id: id });
        }
        let mut plan = Vec::new();
        if fixed {
            let mut off = 0u16;
            for (f, &t) in fields.iter().zip(&targets) {
                if t != Target::Ignore {
                    plan.push((off, f.len, t));
                }
                off = off.wrapping_add(f.len);
            }
        }
        let layout = if fixed {
            decode::fast_layout(&plan)
        } else {
            None
        };
        let own = [false, true]
            .into_iter()
            .find(|&v6| scope_field_count == 0 && fields[..] == own_fields(dialect, v6));
        Ok(Template {
            id,
            dialect,
            scope_field_count,
            fields,
            targets,
            plan,
            layout,
            own,
            min_record_len: min,
            fixed_len: fixed.then_some(min),
        })
    }

    /// True for options templates.
    pub fn is_options(&self) -> bool {
        self.scope_field_count > 0
    }

    /// Length of the record at the start of `data`, or `None` when what is left is
    /// shorter than a record (padding, RFC 7011 §3.3.1) or malformed.
    #[inline]
    pub fn record_len(&self, data: &[u8]) -> Option<usize> {
        if let Some(l) = self.fixed_len {
            return (data.len() >= l).then_some(l);
        }
        let mut pos = 0usize;
        for f in &self.fields {
            if f.len == VARLEN {
                // RFC 7011 §7: one length byte, or 255 followed by a 2-byte length.
                let l0 = *data.get(pos)? as usize;
                if l0 < 255 {
                    pos += 1 + l0;
                } else {
                    if data.len() < pos + 3 {
                        return None;
                    }
                    pos += 3 + u16_at(data, pos + 1) as usize;
                }
            } else {
                pos += f.len as usize;
            }
            if pos > data.len() {
                return None;
            }
        }
        Some(pos)
    }

    /// Bytes this template takes in a v9 template flowset or IPFIX template set.
    pub fn wire_len(&self) -> usize {
        match self.dialect {
            Dialect::V9 => 4 + 4 * self.fields.len() + if self.is_options() { 2 } else { 0 },
            Dialect::Ipfix => {
                4 + if self.is_options() { 2 } else { 0 }
                    + self
                        .fields
                        .iter()
                        .map(|f| if f.enterprise != 0 { 8 } else { 4 })
                        .sum::<usize>()
            }
        }
    }

    /// Write the template record exactly as an exporter sends it (without the set header).
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.room(self.wire_len())?;
        w.u16(self.id)?;
        match self.dialect {
            Dialect::V9 if self.is_options() => {
                // RFC 3954 §6.1: option scope length and option length, in bytes.
                let scope = self.scope_field_count as usize;
                w.u16((4 * scope) as u16)?;
                w.u16((4 * (self.fields.len() - scope)) as u16)?;
            }
            Dialect::V9 => w.u16(self.fields.len() as u16)?,
            Dialect::Ipfix => {
                w.u16(self.fields.len() as u16)?;
                if self.is_options() {
                    w.u16(self.scope_field_count)?;
                }
            }
        }
        for f in &self.fields {
            if f.enterprise != 0 {
                w.u16(f.id | 0x8000)?;
                w.u16(f.len)?;
                w.u32(f.enterprise)?;
            } else {
                w.u16(f.id)?;
                w.u16(f.len)?;
            }
        }
        Ok(())
    }
}
