//! Counting a store's profiles as the store takes its flows (in the store's
//! thread): each flow is tested against every channel's filter once, and the
//! channels it passes count it in its receive time's slot. Closed slots go to
//! the profile's file once they end; slots older than `keep_days` are dropped
//! once a day; a stop writes the open slot too (the next start's counts for
//! that slot add to it).

use std::path::{Path, PathBuf};

use octoflow_proto::FlowRecord;
use octoflow_query::Series;

use super::{file, Profile};

/// A day, in ms.
const DAY_MS: u64 = 86_400_000;

struct One {
    profile: Profile,
    series: Series,
    file: PathBuf,
}

/// The profiles of one store.
pub struct Counting {
    profiles: Vec<One>,
    last_prune_ms: u64,
}

impl Counting {
    pub fn new(store_dir: &Path, profiles: &[Profile]) -> Counting {
        Counting {
            profiles: profiles
                .iter()
                .map(|p| One {
                    series: Series::new(p.channels.len()),
                    file: file::path(store_dir, &p.id),
                    profile: p.clone(),
                })
                .collect(),
            last_prune_ms: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// Count `r`, from the source named `source`, received at `received_ms`.
    #[inline]
    pub fn add(&mut self, received_ms: u64, r: &FlowRecord, source: &str) {
        for p in self.profiles.iter_mut() {
            let mut bits = 0u64;
            for (i, c) in p.profile.channels.iter().enumerate() {
                if c.filter.matches(r, source) {
                    bits |= 1 << i;
                }
            }
            p.series.add(received_ms, r, bits);
        }
    }

    /// Append the slots that ended before `now_ms` to the files.
    fn write_closed(&mut self, now_ms: u64, errors: &mut Vec<String>) {
        for p in self.profiles.iter_mut() {
            let closed = p.series.take_closed(now_ms);
            if let Err(e) = file::append(&p.file, &closed, now_ms / 1000) {
                errors.push(format!("{}: {e}", p.file.display()));
            }
        }
    }

    /// Write the slots that ended; once a day, drop slots past `keep_days`.
    pub fn tick(&mut self, now_ms: u64) -> Result<(), String> {
        let mut errors = Vec::new();
        self.write_closed(now_ms, &mut errors);
        if now_ms.saturating_sub(self.last_prune_ms) >= DAY_MS {
            self.last_prune_ms = now_ms;
            for p in &self.profiles {
                let oldest = now_ms.saturating_sub(p.profile.keep_days as u64 * DAY_MS);
                let r = file::read(&p.file, p.profile.channels.len()).and_then(|mut s| {
                    if s.slots.keys().next().is_some_and(|t| *t < oldest)
                        && s.channels == p.profile.channels.len()
                    {
                        s.prune(oldest);
                        file::rewrite(&p.file, &s)
                            .map_err(|e| format!("{}: {e}", p.file.display()))?;
                    }
                    Ok(())
                });
                if let Err(e) = r {
                    errors.push(e);
                }
            }
        }
        done(errors)
    }

    /// Write every slot, the open one too (a stop).
    pub fn close(&mut self) -> Result<(), String> {
        let mut errors = Vec::new();
        self.write_closed(u64::MAX, &mut errors);
        done(errors)
    }
}

fn done(errors: Vec<String>) -> Result<(), String> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("profile series: {}", errors.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use octoflow_filter::Filter;

    use super::*;
    use crate::profile::config::Channel;

    #[test]
    fn channels_count_their_flows_and_closed_slots_reach_the_file() {
        let d =
            std::env::temp_dir().join(format!("octoflow-profile-counter-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let ch = |name: &str, f: &str| Channel {
            name: name.into(),
            text: f.into(),
            filter: Arc::new(Filter::parse(f).expect("filter")),
            colour: None,
            negative: false,
        };
        let p = Profile {
            id: "zone1".into(),
            store: "st".into(),
            keep_days: 400,
            channels: vec![ch("ssh", "port 22"), ch("peer1", "ident peer1")],
        };
        let mut c = Counting::new(&d, &[p]);
        let t0 = 1_795_993_800_000;
        let ssh = FlowRecord {
            proto: 6,
            dst_port: 22,
            packets: 3,
            bytes: 300,
            ..FlowRecord::default()
        };
        let dns = FlowRecord {
            proto: 17,
            dst_port: 53,
            packets: 1,
            bytes: 80,
            ..FlowRecord::default()
        };
        c.add(t0 + 10, &ssh, "peer1");
        c.add(t0 + 20, &dns, "peer2");
        c.add(t0 + 300_000, &dns, "peer1");
        c.tick(t0 + 300_001).expect("tick");
        let s = file::read(&file::path(&d, "zone1"), 2).expect("read");
        assert_eq!(s.slots.len(), 1, "only the closed slot");
        assert_eq!(s.slots[&t0][0][0], [1, 3, 300], "ssh: one TCP flow");
        assert_eq!(s.slots[&t0][1][0], [1, 3, 300], "peer1's TCP flow");
        assert_eq!(s.slots[&t0][1][1], [0, 0, 0], "peer2's DNS is not peer1's");
        c.close().expect("close");
        let s = file::read(&file::path(&d, "zone1"), 2).expect("read");
        assert_eq!(s.slots[&(t0 + 300_000)][1][1], [1, 1, 80]);
        let _ = std::fs::remove_dir_all(&d);
    }
}
