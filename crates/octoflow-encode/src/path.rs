//! Which path a receiver's records take, by input version and the receiver's
//! configuration. The encoder dispatches on this, and `octoflow check` prints its
//! description, so the two cannot disagree.

use octoflow_proto::Version;

use crate::EncoderConfig;

/// How one input version reaches one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Same version, no filter, options (and sFlow counters) wanted: the
    /// datagram unchanged — unless its stream's domain had to be remapped or it
    /// is larger than a datagram may be, then [`Path::records`]'s path.
    Whole,
    /// v9→v9, IPFIX→IPFIX: the router's templates and the matching records byte
    /// for byte, in new messages under the router's header times.
    SameVersion,
    /// v5→v5: the matching 48-byte records copied under the router's header.
    V5Copy,
    /// sFlow→sFlow: the matching flow samples copied whole, agent kept.
    SflowCopy,
    /// Canonical records re-encoded: octoflow's templates (v9/IPFIX) or v5.
    Convert,
    /// Not possible: sFlow is made only from sFlow (refused by the configuration).
    Unsupported,
}

impl Path {
    /// The path for input of version `vin`.
    pub fn of(vin: Version, cfg: &EncoderConfig) -> Path {
        if vin == cfg.version
            && cfg.unfiltered
            && cfg.forward_options
            && (vin != Version::Sflow || cfg.forward_counters)
        {
            return Path::Whole;
        }
        Path::records(vin, cfg)
    }

    /// The path that picks records (what [`Path::Whole`] falls back to).
    pub fn records(vin: Version, cfg: &EncoderConfig) -> Path {
        match (vin, cfg.version) {
            (Version::V9, Version::V9) | (Version::Ipfix, Version::Ipfix) => Path::SameVersion,
            (_, Version::V9) | (_, Version::Ipfix) => Path::Convert,
            (Version::V5, Version::V5) if !cfg.sampling_scaling => Path::V5Copy,
            (_, Version::V5) => Path::Convert,
            (Version::Sflow, Version::Sflow) => Path::SflowCopy,
            (_, Version::Sflow) => Path::Unsupported,
        }
    }

    /// In words, as `octoflow check` prints it.
    pub fn describe(self, vin: Version, vout: Version) -> String {
        let (i, o) = (label(vin), label(vout));
        match self {
            Path::Whole => format!("{i} -> {o}: whole datagrams forwarded unchanged"),
            Path::SameVersion => format!(
                "{i} -> {o}: exporter's templates and matching records forwarded byte for byte"
            ),
            Path::V5Copy => "v5 -> v5: matching records copied byte for byte".into(),
            Path::SflowCopy => "sflow -> sflow: matching flow samples copied, agent kept".into(),
            Path::Convert if vout == Version::V5 => {
                format!("{i} -> v5: re-encoded; IPv6 flows counted as unconvertible")
            }
            Path::Convert if vin == Version::Sflow => {
                format!("sflow -> {o}: each flow sample becomes a flow, sampling rate carried")
            }
            Path::Convert => format!("{i} -> {o}: re-encoded with octoflow's templates"),
            Path::Unsupported => {
                format!("{i} -> {o}: not possible (sFlow is made only from sFlow)")
            }
        }
    }
}

/// A version as the configuration writes it (`nf_version`).
pub fn label(v: Version) -> &'static str {
    match v {
        Version::V5 => "v5",
        Version::V9 => "v9",
        Version::Ipfix => "ipfix",
        Version::Sflow => "sflow",
    }
}
