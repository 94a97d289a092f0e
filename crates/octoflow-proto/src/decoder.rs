//! The decoding entry point: detects the version of each datagram and hands it to
//! its protocol module, keeping per-exporter template state between datagrams.

use std::net::IpAddr;

use crate::batch::{Batch, Version};
use crate::error::DecodeError;
use crate::template_cache::{Held, Limits, TemplateCache};
use crate::{ipfix, netflow_v5, netflow_v9, sflow};

/// Decodes datagrams of any version, keeping per-exporter template state.
#[derive(Debug, Default)]
pub struct Decoder {
    pub cache: TemplateCache,
    released: Vec<Held>,
}

impl Decoder {
    pub fn new(limits: Limits) -> Self {
        Decoder {
            cache: TemplateCache::new(limits),
            released: Vec::new(),
        }
    }

    pub fn with_cache(cache: TemplateCache) -> Self {
        Decoder {
            cache,
            released: Vec::new(),
        }
    }

    /// Decode one datagram from `exporter` received at `now_ms` (Unix ms) into `out`
    /// (cleared first). A malformed v9 flowset or IPFIX set is skipped and counted in
    /// [`Batch::sets_skipped`] and the others decode. A bad header or framing (a set
    /// length below 4 or past the end) is an error: `out` then holds no records,
    /// though templates carried before the fault are kept.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        datagram: &[u8],
        now_ms: u64,
        out: &mut Batch,
    ) -> Result<Version, DecodeError> {
        out.clear();
        self.cache.set_now(now_ms);
        self.cache.set_sender(exporter);
        let v = Version::detect(datagram)?;
        out.version = v;
        out.exporter = exporter;
        let r = match v {
            Version::V5 => netflow_v5::decode(&mut self.cache, exporter, datagram, out),
            Version::V9 => netflow_v9::decode(
                &mut self.cache,
                &mut self.released,
                exporter,
                datagram,
                now_ms,
                out,
            ),
            Version::Ipfix => ipfix::decode(
                &mut self.cache,
                &mut self.released,
                exporter,
                datagram,
                now_ms,
                out,
            ),
            Version::Sflow => sflow::decode(&mut self.cache, datagram, now_ms, out),
        };
        match r {
            Ok(()) => Ok(v),
            Err(e) => {
                out.records.clear();
                out.raw.clear();
                out.sets.clear();
                out.options.clear();
                out.counter_samples.clear();
                Err(e)
            }
        }
    }
}
