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
            && (!cfg.sampling_scaling || vin == Version::Sflow)
            && cfg.forward_options
            && (vin != Version::Sflow || cfg.forward_counters)
        {
            return Path::Whole;
        }
        Path::records(vin, cfg)
    }

    /// The path that picks records (what [`Path::Whole`] falls back to).
    ///
    /// `sampling_scaling` sends v5, v9 and IPFIX input through [`Path::Convert`]:
    /// scaled counters are re-encoded, not patched into the router's records.
    /// Patching would mean finding every counter in arbitrary templates (packet
    /// and octet counts, delta or total, of any reduced size, RFC 7011 §6.2, where
    /// a scaled value may no longer fit), and rewriting or dropping the router's
    /// own sampling announcements (options data, RFC 7011 §3.4.2.2 / RFC 3954
    /// §6.2, or per-record fields), so the receiver does not scale a second time.
    /// The canonical record already has the interval from wherever the router put
    /// it; the conversion multiplies once and announces 1-in-1. The cost: fields
    /// octoflow's templates lack are not carried. sFlow keeps its sampling rate
    /// (every sFlow receiver scales by it).
    pub fn records(vin: Version, cfg: &EncoderConfig) -> Path {
        match (vin, cfg.version) {
            (Version::V9 | Version::Ipfix, _) if cfg.sampling_scaling => Path::Convert,
            (Version::V9, Version::V9) | (Version::Ipfix, Version::Ipfix) => Path::SameVersion,
            (_, Version::V9) | (_, Version::Ipfix) => Path::Convert,
            (Version::V5, Version::V5) if !cfg.sampling_scaling => Path::V5Copy,
            (_, Version::V5) => Path::Convert,
            (Version::Sflow, Version::Sflow) => Path::SflowCopy,
            (_, Version::Sflow) => Path::Unsupported,
        }
    }

    /// Whether what the receiver gets on this path is the router's own datagram
    /// (unchanged, or its templates, records or samples copied under its header,
    /// from that one router's stream), so `preserve_source` sends it with the
    /// router's address and port ([`crate::Origin::Router`]). A conversion is
    /// octoflow's datagram (octoflow's templates and header): it is sent from
    /// octoflow's own address ([`crate::Origin::Own`]).
    pub fn preserves_source(self) -> bool {
        matches!(
            self,
            Path::Whole | Path::SameVersion | Path::V5Copy | Path::SflowCopy
        )
    }

    /// In words, as `octoflow check` prints it.
    pub fn describe(self, vin: Version, cfg: &EncoderConfig) -> String {
        let vout = cfg.version;
        let (i, o) = (label(vin), label(vout));
        let scaled = if cfg.sampling_scaling {
            ", packets and bytes multiplied by the sampling interval, announced 1-in-1"
        } else {
            ""
        };
        // sFlow receivers always scale by the samples' rate.
        let keeps = if cfg.sampling_scaling && vin == Version::Sflow {
            " (sampling rate kept: sampling_scaling does not apply to sFlow)"
        } else {
            ""
        };
        match self {
            Path::Whole => format!("{i} -> {o}: whole datagrams forwarded unchanged{keeps}"),
            Path::SameVersion => format!(
                "{i} -> {o}: exporter's templates and matching records forwarded byte for byte"
            ),
            Path::V5Copy => "v5 -> v5: matching records copied byte for byte".into(),
            Path::SflowCopy => {
                format!("sflow -> sflow: matching flow samples copied, agent kept{keeps}")
            }
            Path::Convert if vout == Version::V5 => {
                format!("{i} -> v5: re-encoded{scaled}; IPv6 flows counted as unconvertible")
            }
            Path::Convert if vin == Version::Sflow && !cfg.sampling_scaling => {
                format!("sflow -> {o}: each flow sample becomes a flow, sampling rate carried")
            }
            Path::Convert if vin == Version::Sflow => {
                format!("sflow -> {o}: each flow sample becomes a flow{scaled}")
            }
            Path::Convert => format!("{i} -> {o}: re-encoded with octoflow's templates{scaled}"),
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
