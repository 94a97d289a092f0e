//! A store's writer: the open row group, the part file it goes into, the open
//! interval, and the moves at each flush and rotation (see [`super::files`] for
//! the folder's layout and why every visible file is complete).
//!
//! Time is passed in (Unix ms), never read here, so rotation and flushing are
//! tested on chosen clocks.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::SchemaDescriptor;

use super::config::StoreConfig;
use super::files::{self, PARTS};
use super::merger::Merger;
use super::rowgroup::{records, RowGroup, Scratch};
use super::schema::{self, Column};
use crate::fanout::Shipment;
use crate::profile::counter::Counting;
use crate::telemetry::metrics::OutputMetrics;
use crate::util::RateLimit;

/// Rows per row group at most: large for compression and dictionaries, small
/// enough that the open group's pages stay a few tens of MB.
const GROUP_ROWS: u64 = 1 << 20;

/// A part being written (under its `.tmp` name).
struct Part {
    w: SerializedFileWriter<File>,
    tmp: PathBuf,
    to: PathBuf,
    rows: u64,
}

/// One store: its folder, its columns and what is open.
pub struct Store {
    cfg: StoreConfig,
    cols: Vec<Column>,
    descr: SchemaDescriptor,
    schema: Arc<parquet::schema::types::Type>,
    props: Arc<WriterProperties>,
    /// The next row group's encodings (from the last one's constant columns).
    group_props: Arc<WriterProperties>,
    group: Option<RowGroup>,
    part: Option<Part>,
    /// The open interval's start (Unix s) and the next part number in it.
    interval: Option<(u64, u32)>,
    last_flush_ms: u64,
    /// Per datagram of the shipment being added, whether its source is one
    /// `sources` keeps; and, per source index of the last origin, whether it is.
    keep: Vec<bool>,
    wanted: Option<(Arc<crate::fanout::Origin>, Vec<bool>)>,
    /// Rows a failed write took with it, not yet reported by [`Store::discard`].
    failed_rows: u64,
    scratch: Scratch,
    m: Arc<OutputMetrics>,
    merger: Merger,
    /// The profiles counted over this store's flows.
    profiles: Counting,
    profile_log: RateLimit,
}

impl Store {
    /// Open the store's folder at `now_ms`: create it, delete what a crash left
    /// half written, merge the parts of intervals that ended, apply retention.
    pub fn open(cfg: StoreConfig, m: Arc<OutputMetrics>, now_ms: u64) -> Result<Store, String> {
        let cols = schema::columns();
        let schema = schema::parquet_schema(&cols)
            .map_err(|e| format!("building the store's schema: {e}"))?;
        let props = Arc::new(schema::properties(&cols, &[]));
        fs::create_dir_all(cfg.path.join(PARTS)).map_err(|e| {
            format!(
                "creating store folder {}: {e} (check that the path is writable by octoflow)",
                cfg.path.display()
            )
        })?;
        let merger = Merger::start(cfg.clone(), props.clone(), m.clone())?;
        let mut s = Store {
            descr: SchemaDescriptor::new(schema.clone()),
            schema,
            cols,
            group_props: props.clone(),
            props,
            group: None,
            part: None,
            interval: None,
            last_flush_ms: now_ms,
            failed_rows: 0,
            keep: Vec::new(),
            wanted: None,
            scratch: Scratch::default(),
            m,
            merger,
            profiles: Counting::new(&cfg.path, &cfg.profiles),
            profile_log: RateLimit::new(std::time::Duration::from_secs(60)),
            cfg,
        };
        s.recover(now_ms)?;
        Ok(s)
    }

    pub fn dir(&self) -> &Path {
        &self.cfg.path
    }

    fn interval_of(&self, now_ms: u64) -> u64 {
        let t = now_ms / 1000;
        t - t % self.cfg.rotate_secs
    }

    fn stamp(&self, start: u64) -> String {
        files::stamp(start, self.cfg.rotate_secs % 60 != 0)
    }

    /// After a crash or a stop: `.tmp` files are deleted; parts a merged file
    /// already holds are deleted; parts of ended intervals are merged; parts of
    /// the current interval are kept, and its numbering goes on after them.
    fn recover(&mut self, now_ms: u64) -> Result<(), String> {
        let dir = self.cfg.path.clone();
        let io = |e: std::io::Error| format!("recovering store {}: {e}", dir.display());
        let removed = files::remove_tmp(&dir).map_err(io)?;
        if removed > 0 {
            tracing::info!(store = %dir.display(), removed, "deleted files a stop left half written");
        }
        let now_start = self.interval_of(now_ms);
        let now_stamp = self.stamp(now_start);
        let mut by_stamp: Vec<(String, Vec<(u32, PathBuf)>)> = Vec::new();
        for (stamp, seq, p) in files::parts(&dir).map_err(io)? {
            match by_stamp.last_mut() {
                Some((s, v)) if *s == stamp => v.push((seq, p)),
                _ => by_stamp.push((stamp, vec![(seq, p)])),
            }
        }
        for (stamp, parts) in by_stamp {
            let merged: HashSet<String> = files::merged_for(&dir, &stamp)
                .map_err(io)?
                .into_iter()
                .collect();
            let mut left = Vec::new();
            for (_, p) in parts {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if merged.contains(name) {
                    fs::remove_file(&p).map_err(io)?;
                } else {
                    left.push(p);
                }
            }
            // The current interval's parts stay parts: more are coming.
            if stamp != now_stamp && !left.is_empty() {
                self.merger.merge(stamp, left, now_ms);
            }
        }
        self.interval = Some((now_start, self.next_seq(&now_stamp)?));
        self.merger.retain(now_ms);
        Ok(())
    }

    /// The next part number of interval `stamp`: after every part of it that
    /// waits or was merged, so no name is used twice — a new part under a
    /// merged part's name would be taken for merged, and deleted, at the next
    /// start (after a restart in the interval, or the clock going back).
    fn next_seq(&self, stamp: &str) -> Result<u32, String> {
        let dir = &self.cfg.path;
        let io = |e: std::io::Error| format!("listing store {}: {e}", dir.display());
        let waiting = files::parts(dir)
            .map_err(io)?
            .into_iter()
            .filter(|p| p.0 == stamp)
            .map(|p| p.1);
        let merged = files::merged_for(dir, stamp)
            .map_err(io)?
            .into_iter()
            .filter_map(|n| files::part_of(&n).map(|p| p.1));
        Ok(waiting.chain(merged).map(|n| n + 1).max().unwrap_or(0))
    }

    /// Add the output's records of `s`, received about `now_ms`.
    pub fn add(&mut self, s: &Shipment, now_ms: u64) -> Result<u64, String> {
        self.rotate_if_due(now_ms)?;
        if self.interval.is_none() {
            let start = self.interval_of(now_ms);
            self.interval = Some((start, self.next_seq(&self.stamp(start))?));
        }
        let g = self
            .group
            .get_or_insert_with(|| RowGroup::new(&self.descr, &self.group_props));
        let keep = if self.cfg.sources.is_empty() {
            None
        } else {
            let stale = !matches!(&self.wanted, Some((o, _)) if Arc::ptr_eq(o, &s.origin));
            if stale {
                let by_index = s
                    .origin
                    .sources
                    .iter()
                    .map(|n| self.cfg.sources.contains(n))
                    .collect();
                self.wanted = Some((s.origin.clone(), by_index));
            }
            let by_index = self.wanted.as_ref().map(|w| &w.1[..]).unwrap_or_default();
            self.keep.clear();
            self.keep.extend(s.datagrams.iter().map(|d| {
                d.source
                    .is_some_and(|i| by_index.get(i as usize) == Some(&true))
            }));
            Some(&self.keep[..])
        };
        let n = g
            .append(&self.cols, s, keep, &mut self.scratch)
            .map_err(|e| format!("encoding flows for {}: {e}", self.cfg.path.display()))?;
        if !self.profiles.is_empty() {
            for (d, r) in records(s, keep) {
                let source = d
                    .source
                    .and_then(|i| s.origin.sources.get(i as usize))
                    .map_or("", |n| n.as_str());
                self.profiles.add(d.received_ms, r, source);
            }
        }
        if g.rows >= GROUP_ROWS {
            self.close_group()?;
        }
        Ok(n)
    }

    /// Flush and rotate when their time has come; write the profiles' closed
    /// slots (a profile file that cannot be written costs its slots, logged at
    /// most once a minute, never the store's flows).
    pub fn tick(&mut self, now_ms: u64) -> Result<(), String> {
        if let Err(e) = self.profiles.tick(now_ms) {
            if self.profile_log.ready() {
                tracing::warn!(store = %self.cfg.path.display(), "{e}");
            }
        }
        self.rotate_if_due(now_ms)?;
        if now_ms.saturating_sub(self.last_flush_ms) >= self.cfg.flush_secs * 1000 {
            self.flush(now_ms)?;
        }
        Ok(())
    }

    /// Stop: what is in memory becomes a part, and the open interval's parts
    /// its file.
    pub fn close(&mut self, now_ms: u64) -> Result<(), String> {
        if let Err(e) = self.profiles.close() {
            tracing::warn!(store = %self.cfg.path.display(), "{e}");
        }
        self.flush(now_ms)?;
        self.finish_interval(now_ms)?;
        self.merger.wait();
        Ok(())
    }

    /// Wait until the merges and retention passes asked for so far are done.
    #[cfg(test)]
    pub fn wait_merges(&self) {
        self.merger.wait();
    }

    /// Rows in memory or in the part being written: what a failure now loses.
    pub fn pending_rows(&self) -> u64 {
        self.group.as_ref().map_or(0, |g| g.rows) + self.part.as_ref().map_or(0, |p| p.rows)
    }

    /// Forget what is in memory and the part being written (after an error);
    /// the `.tmp` is deleted. Returns the rows lost.
    pub fn discard(&mut self) -> u64 {
        let lost = self.pending_rows() + std::mem::take(&mut self.failed_rows);
        self.group = None;
        if let Some(p) = self.part.take() {
            drop(p.w);
            let _ = fs::remove_file(&p.tmp);
        }
        lost
    }

    fn rotate_if_due(&mut self, now_ms: u64) -> Result<(), String> {
        let start = self.interval_of(now_ms);
        if matches!(self.interval, Some((open, _)) if open != start) {
            self.flush(now_ms)?;
            self.finish_interval(now_ms)?;
        }
        Ok(())
    }

    /// The open row group into the part file (opened if needed).
    fn close_group(&mut self) -> Result<(), String> {
        let Some(g) = self.group.take() else {
            return Ok(());
        };
        if g.rows == 0 {
            return Ok(());
        }
        let rows = g.rows;
        let r = self.group_into_part(g);
        if r.is_err() {
            self.failed_rows += rows;
        }
        r
    }

    fn group_into_part(&mut self, g: RowGroup) -> Result<(), String> {
        if self.part.is_none() {
            let (start, seq) = self.interval.unwrap_or((0, 0));
            let to = files::part_path(&self.cfg.path, &self.stamp(start), seq);
            let tmp = files::tmp_of(&to);
            let f = File::create(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
            let w = SerializedFileWriter::new(f, self.schema.clone(), self.props.clone())
                .map_err(|e| format!("starting {}: {e}", tmp.display()))?;
            self.interval = Some((start, seq + 1));
            self.part = Some(Part {
                w,
                tmp,
                to,
                rows: 0,
            });
        }
        if let Some(p) = self.part.as_mut() {
            let rows = g.rows;
            let constant = g
                .finish(&mut p.w)
                .map_err(|e| format!("writing {}: {e}", p.tmp.display()))?;
            p.rows += rows;
            self.group_props = Arc::new(schema::properties(&self.cols, &constant));
        }
        Ok(())
    }

    /// What is in memory becomes a complete part file.
    fn flush(&mut self, now_ms: u64) -> Result<(), String> {
        self.last_flush_ms = now_ms;
        self.close_group()?;
        let Some(p) = self.part.take() else {
            return Ok(());
        };
        let done =
            p.w.into_inner()
                .map_err(|e| format!("finishing {}: {e}", p.tmp.display()))
                .and_then(|f| {
                    files::commit(f, &p.tmp, &p.to)
                        .map_err(|e| format!("finishing {}: {e}", p.to.display()))
                });
        if let Err(e) = done {
            self.failed_rows += p.rows;
            let _ = fs::remove_file(&p.tmp);
            return Err(e);
        }
        self.m.store_rows.fetch_add(p.rows, Relaxed);
        Ok(())
    }

    /// Hand the open interval's parts to the merger, to become its file.
    fn finish_interval(&mut self, now_ms: u64) -> Result<(), String> {
        let Some((start, _)) = self.interval.take() else {
            return Ok(());
        };
        let stamp = self.stamp(start);
        let dir = &self.cfg.path;
        let parts: Vec<PathBuf> = files::parts(dir)
            .map_err(|e| format!("listing parts in {}: {e}", dir.display()))?
            .into_iter()
            .filter(|x| x.0 == stamp)
            .map(|x| x.2)
            .collect();
        if !parts.is_empty() {
            self.merger.merge(stamp, parts, now_ms);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
