//! Building NetFlow v9 and IPFIX messages in caller-provided buffers: template sets
//! (octoflow's own or an exporter's), data records encoded from canonical records,
//! and foreign records copied byte for byte. The buffer's length is the size limit
//! (e.g. the path MTU less IP/UDP headers).

use crate::error::EncodeError;
use crate::record::FlowRecord;
use crate::template::{own_fields, Dialect, FieldSpec, Template, TimeBase};
use crate::wire::Writer;
use crate::{ipfix, netflow_v9};

/// Header values the caller owns (sequence numbers, clocks, ids).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageHeader {
    /// Export time, Unix ms.
    pub unix_ms: u64,
    /// NetFlow v9 only: sysUptime at `unix_ms`.
    pub sys_uptime_ms: u32,
    /// v9: export packets sent before this one; IPFIX: data records sent before it.
    pub sequence: u32,
    /// v9 source id / IPFIX observation domain.
    pub domain: u32,
}

/// One v9 or IPFIX message under construction.
pub struct MessageWriter<'a> {
    w: Writer<'a>,
    dialect: Dialect,
    tb: TimeBase,
    /// (set id, offset of its header) of the set being filled.
    open: Option<(u16, usize)>,
    /// Records of any kind (v9 header count).
    records: u16,
    data_records: u32,
}

impl<'a> MessageWriter<'a> {
    /// Start a message; `buf.len()` is the most it may grow to.
    pub fn new(buf: &'a mut [u8], dialect: Dialect, h: MessageHeader) -> Result<Self, EncodeError> {
        let mut w = Writer::new(buf);
        match dialect {
            Dialect::V9 => {
                w.u16(9)?;
                w.u16(0)?; // count, patched
                w.u32(h.sys_uptime_ms)?;
                w.u32((h.unix_ms / 1000) as u32)?;
                w.u32(h.sequence)?;
                w.u32(h.domain)?;
            }
            Dialect::Ipfix => {
                w.u16(10)?;
                w.u16(0)?; // length, patched
                w.u32((h.unix_ms / 1000) as u32)?;
                w.u32(h.sequence)?;
                w.u32(h.domain)?;
            }
        }
        let tb = TimeBase {
            export_ms: h.unix_ms,
            uptime_ms: (dialect == Dialect::V9).then_some(h.sys_uptime_ms),
            system_init_ms: None,
        };
        Ok(MessageWriter {
            w,
            dialect,
            tb,
            open: None,
            records: 0,
            data_records: 0,
        })
    }

    /// Bytes written so far (header included, open set not yet padded).
    pub fn len(&self) -> usize {
        self.w.pos
    }

    /// True when nothing but the header was written.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Data records written (what advances an IPFIX sequence number).
    pub fn data_records(&self) -> u32 {
        self.data_records
    }

    fn ensure_set(&mut self, id: u16, item: usize) -> Result<(), EncodeError> {
        let opening = self.open.map(|(o, _)| o) != Some(id);
        // Room for a new set header and the worst-case padding of the set we close.
        let need = item + if opening { 4 + 3 } else { 0 } + 3;
        self.w.room(need)?;
        if opening {
            self.close_set();
            self.open = Some((id, self.w.pos));
            self.w.u16(id)?;
            self.w.u16(0)?;
        }
        Ok(())
    }

    fn close_set(&mut self) {
        if let Some((_, start)) = self.open.take() {
            // Pad to 4 bytes (RFC 3954 §5.3, RFC 7011 §3.3.1).
            let pad = (4 - (self.w.pos - start) % 4) % 4;
            let _ = self.w.zeros(pad);
            let len = (self.w.pos - start) as u16;
            self.w.patch_u16(start + 2, len);
        }
    }

    /// Add a template (data or options) in a template set of this dialect.
    pub fn add_template(&mut self, t: &Template) -> Result<(), EncodeError> {
        let id = match (self.dialect, t.is_options()) {
            (Dialect::V9, false) => netflow_v9::TEMPLATE_SET_ID,
            (Dialect::V9, true) => netflow_v9::OPTIONS_TEMPLATE_SET_ID,
            (Dialect::Ipfix, false) => ipfix::TEMPLATE_SET_ID,
            (Dialect::Ipfix, true) => ipfix::OPTIONS_TEMPLATE_SET_ID,
        };
        if t.dialect != self.dialect {
            return Err(EncodeError::Unconvertible("template of the other dialect"));
        }
        // v9 options template records are padded on their own (RFC 3954 §6.1): keep
        // each in its own set so the set padding does that.
        if self.dialect == Dialect::V9 && t.is_options() {
            self.close_set();
        }
        self.ensure_set(id, t.wire_len())?;
        t.write(&mut self.w)?;
        if self.dialect == Dialect::V9 && t.is_options() {
            self.close_set();
        }
        self.records += 1;
        Ok(())
    }

    /// An IPFIX template withdrawal (RFC 7011 §8.1): the template id and a field
    /// count of 0, in a template set (data templates) or an options template set
    /// (`options`). `id` 2 (3 with `options`) withdraws every template of the kind.
    /// v9 has no withdrawals.
    pub fn add_withdrawal(&mut self, id: u16, options: bool) -> Result<(), EncodeError> {
        if self.dialect != Dialect::Ipfix {
            return Err(EncodeError::Unconvertible("withdrawal in NetFlow v9"));
        }
        let set = if options {
            ipfix::OPTIONS_TEMPLATE_SET_ID
        } else {
            ipfix::TEMPLATE_SET_ID
        };
        self.ensure_set(set, 4)?;
        self.w.u16(id)?;
        self.w.u16(0)?;
        self.records += 1;
        Ok(())
    }

    /// Encode a canonical record with `t` (one of octoflow's own templates).
    pub fn add_record(&mut self, t: &Template, r: &FlowRecord) -> Result<(), EncodeError> {
        let len = t
            .fixed_len
            .ok_or(EncodeError::Unconvertible("variable-length template"))?;
        self.ensure_set(t.id, len)?;
        t.encode_record(r, &self.tb, &mut self.w)?;
        self.records += 1;
        self.data_records += 1;
        Ok(())
    }

    /// Copy a data (or options data) record byte for byte under `template_id`.
    pub fn add_raw(&mut self, template_id: u16, raw: &[u8]) -> Result<(), EncodeError> {
        self.ensure_set(template_id, raw.len())?;
        self.w.put(raw)?;
        self.records += 1;
        self.data_records += 1;
        Ok(())
    }

    /// Close the last set and patch the header; returns the message length.
    pub fn finish(mut self) -> usize {
        self.close_set();
        let len = self.w.pos;
        match self.dialect {
            Dialect::V9 => self.w.patch_u16(2, self.records),
            Dialect::Ipfix => self.w.patch_u16(2, len as u16),
        }
        len
    }
}

/// Template id of octoflow's own IPv4 data template.
pub const OWN_V4_TEMPLATE_ID: u16 = 256;
/// Template id of octoflow's own IPv6 data template.
pub const OWN_V6_TEMPLATE_ID: u16 = 257;
/// Template id of octoflow's sampling options template.
pub const OWN_SAMPLING_TEMPLATE_ID: u16 = 258;

/// Template id of octoflow's own IPv4 data template with flowDirection.
pub const OWN_V4_DIRECTION_TEMPLATE_ID: u16 = 259;
/// Template id of octoflow's own IPv6 data template with flowDirection.
pub const OWN_V6_DIRECTION_TEMPLATE_ID: u16 = 260;

/// octoflow's own data template for `dialect`, IPv4 or IPv6: every canonical field
/// (timestamps as sysUptime in v9, as flowStart/EndMilliseconds in IPFIX) but the
/// direction, for flows whose direction is unknown.
pub fn own_template(dialect: Dialect, ipv6: bool) -> Template {
    let id = if ipv6 {
        OWN_V6_TEMPLATE_ID
    } else {
        OWN_V4_TEMPLATE_ID
    };
    Template::new(id, dialect, 0, own_fields(dialect, ipv6).to_vec())
        .expect("octoflow's own template is valid")
}

/// [`own_template`] with flowDirection (IE 61; v9 DIRECTION) last, for flows whose
/// direction is known. The field has two values, 0 ingress and 1 egress (RFC 5102
/// §5.11.6, RFC 3954 §8): an unknown direction has none, so those flows go out
/// in [`own_template`], without the field.
pub fn own_direction_template(dialect: Dialect, ipv6: bool) -> Template {
    let id = if ipv6 {
        OWN_V6_DIRECTION_TEMPLATE_ID
    } else {
        OWN_V4_DIRECTION_TEMPLATE_ID
    };
    let mut fields = own_fields(dialect, ipv6).to_vec();
    fields.push(FieldSpec::iana(crate::ie::id::FLOW_DIRECTION, 1));
    Template::new(id, dialect, 0, fields).expect("octoflow's own template is valid")
}

/// octoflow's sampling options template: scope = the exporting system (v9 scope
/// type 1, "System") or meteringProcessId (IPFIX), then samplingInterval (34) and
/// samplingAlgorithm (35) — the fields nfdump, pmacct and Wireshark read.
pub fn own_sampling_template(dialect: Dialect) -> Template {
    use crate::ie::id::*;
    let scope = match dialect {
        Dialect::V9 => FieldSpec::iana(1, 4),
        Dialect::Ipfix => FieldSpec::iana(METERING_PROCESS_ID, 4),
    };
    let fields = vec![
        scope,
        FieldSpec::iana(SAMPLING_INTERVAL, 4),
        FieldSpec::iana(SAMPLING_ALGORITHM, 1),
    ];
    Template::new(OWN_SAMPLING_TEMPLATE_ID, dialect, 1, fields).expect("valid sampling template")
}

/// The bytes of one sampling options data record for [`own_sampling_template`]:
/// scope value 0, the interval, algorithm 1 (deterministic) or 2 (random).
pub fn sampling_record(interval: u32, random: bool) -> [u8; 9] {
    let mut b = [0u8; 9];
    b[4..8].copy_from_slice(&interval.to_be_bytes());
    b[8] = if random { 2 } else { 1 };
    b
}
