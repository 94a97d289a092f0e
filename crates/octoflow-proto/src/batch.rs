//! What decoding a datagram produces: the [`Batch`] of canonical records, the
//! [`RawRef`]s to their exact bytes, the data sets and options records they came
//! from, and the export [`Version`] it was.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use crate::error::DecodeError;
use crate::record::FlowRecord;
use crate::template::Template;
use crate::wire::{need, u16_at, u32_at};

/// An export protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    V5,
    V9,
    Ipfix,
    Sflow,
}

impl Version {
    /// The version of `datagram` from its first bytes, without decoding it.
    pub fn detect(datagram: &[u8]) -> Result<Version, DecodeError> {
        need(datagram, 4, "export header")?;
        match u16_at(datagram, 0) {
            5 => Ok(Version::V5),
            9 => Ok(Version::V9),
            10 => Ok(Version::Ipfix),
            0 if u32_at(datagram, 0) == 5 => Ok(Version::Sflow),
            0 => Err(DecodeError::UnknownVersion(u32_at(datagram, 0))),
            v => Err(DecodeError::UnknownVersion(v as u32)),
        }
    }

    /// Its name in configuration and output: `5`, `9`, `10`, `sflow`.
    pub fn name(self) -> &'static str {
        match self {
            Version::V5 => "5",
            Version::V9 => "9",
            Version::Ipfix => "10",
            Version::Sflow => "sflow",
        }
    }

    /// The version field of [`ScopeKey`](crate::ScopeKey) for this protocol.
    pub(crate) fn scope_version(self) -> u16 {
        match self {
            Version::V5 => 5,
            Version::V9 => 9,
            Version::Ipfix => 10,
            Version::Sflow => 0x105,
        }
    }
}

/// Where a record's (or sample's, or template's) bytes are: in the datagram passed
/// to [`Decoder::decode`](crate::Decoder::decode), or, for data that waited for its template, in
/// [`Batch::held`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRef {
    pub offset: u32,
    pub len: u32,
    pub held: bool,
}

impl RawRef {
    pub(crate) fn new(offset: usize, len: usize, held: bool) -> Self {
        RawRef {
            offset: offset as u32,
            len: len as u32,
            held,
        }
    }
}

/// A data set decoded in this batch: its template and which records came from it.
#[derive(Debug, Clone)]
pub struct SetRef {
    pub template: Arc<Template>,
    /// Index of the set's first record in [`Batch::records`].
    pub first: usize,
    /// Number of records it produced.
    pub count: usize,
    /// For options data sets, index of the first entry in [`Batch::options`] instead.
    pub options: bool,
}

/// An options data record (v9/IPFIX): sampling, system init time, …
#[derive(Debug, Clone)]
pub struct OptionsRecord {
    pub template: Arc<Template>,
    pub raw: RawRef,
}

/// Everything one datagram decodes into. Reuse one `Batch` across datagrams: its
/// vectors keep their capacity, so steady-state decoding does not allocate.
#[derive(Debug)]
pub struct Batch {
    pub version: Version,
    pub exporter: IpAddr,
    /// v9 source id, IPFIX observation domain, v5 engine type<<8|id, sFlow sub-agent.
    pub domain: u32,
    pub sequence: u32,
    /// Units lost upstream since this exporter's previous datagram, from sequence numbers.
    pub sequence_gap: u32,
    /// Export time (sFlow has none: the receive time `now_ms`), Unix ms.
    pub export_ms: u64,
    /// sysUptime in the header (v5, v9, sFlow), ms.
    pub uptime_ms: u32,
    /// NetFlow v5 header's sampling interval (1-in-N, 0 = none).
    pub v5_sampling: u16,
    /// sFlow datagram header, for sFlow.
    pub sflow: Option<SflowHeader>,
    pub records: Vec<FlowRecord>,
    /// Parallel to `records`: the record's exact bytes (v5: 48-byte record, v9/IPFIX: data
    /// record, sFlow: the whole flow sample including its format and length words).
    pub raw: Vec<RawRef>,
    /// v9/IPFIX data sets decoded, in order.
    pub sets: Vec<SetRef>,
    /// Templates (and options templates) this datagram carried, in order.
    pub templates: Vec<Arc<Template>>,
    /// Templates withdrawn by this datagram (IPFIX).
    pub withdrawn: Vec<u16>,
    /// Options data records, in order.
    pub options: Vec<OptionsRecord>,
    /// sFlow counter samples (whole samples).
    pub counter_samples: Vec<RawRef>,
    /// Data sets that arrived before their template and were held.
    pub template_misses: u32,
    /// v9 flowsets and IPFIX sets that were malformed (or reserved, IPFIX) and were
    /// skipped, one entry each with why ([`DecodeError::reason`] for counters); the
    /// datagram's other sets still decoded.
    pub sets_skipped: Vec<DecodeError>,
    /// sFlow flow samples (or records) with nothing octoflow can make a flow of (non-IP).
    pub skipped: u32,
    /// Bytes of held data sets released in this batch (see [`RawRef::held`]).
    pub held: Vec<u8>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            version: Version::V5,
            exporter: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            domain: 0,
            sequence: 0,
            sequence_gap: 0,
            export_ms: 0,
            uptime_ms: 0,
            v5_sampling: 0,
            sflow: None,
            records: Vec::new(),
            raw: Vec::new(),
            sets: Vec::new(),
            templates: Vec::new(),
            withdrawn: Vec::new(),
            options: Vec::new(),
            counter_samples: Vec::new(),
            template_misses: 0,
            sets_skipped: Vec::new(),
            skipped: 0,
            held: Vec::new(),
        }
    }
}

impl Batch {
    pub fn clear(&mut self) {
        self.records.clear();
        self.raw.clear();
        self.sets.clear();
        self.templates.clear();
        self.withdrawn.clear();
        self.options.clear();
        self.counter_samples.clear();
        self.held.clear();
        self.sflow = None;
        self.sequence_gap = 0;
        self.template_misses = 0;
        self.sets_skipped.clear();
        self.skipped = 0;
        self.v5_sampling = 0;
    }

    /// The bytes `r` refers to, given the datagram the batch was decoded from.
    pub fn bytes<'a>(&'a self, datagram: &'a [u8], r: RawRef) -> &'a [u8] {
        let src = if r.held { &self.held[..] } else { datagram };
        &src[r.offset as usize..(r.offset + r.len) as usize]
    }
}

/// The sFlow datagram header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SflowHeader {
    pub agent: IpAddr,
    pub sub_agent: u32,
    pub sequence: u32,
    pub uptime_ms: u32,
    pub samples: u32,
}
