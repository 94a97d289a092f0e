//! Where a profile's slots live and how they are kept: one file per profile,
//! `<store path>/profiles/<id>.series`, in `octoflow_query::Series`'s
//! encoding. Closed slots are appended (open, append, close: a rewrite by
//! `profile rebuild` or retention replaces the file by rename and the next
//! append goes to the new one). A file whose channels no longer match the
//! profile (channels were added or removed) is moved aside as
//! `<id>.series.<unix seconds>`, and a new one begins.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use octoflow_query::Series;

/// The series file of profile `id` of the store in `store_dir`.
pub fn path(store_dir: &Path, id: &str) -> PathBuf {
    store_dir.join("profiles").join(format!("{id}.series"))
}

/// The slots in `path`; an empty series of `channels` when there is no file.
pub fn read(path: &Path, channels: usize) -> Result<Series, String> {
    match fs::read(path) {
        Ok(b) if b.is_empty() => Ok(Series::new(channels)),
        Ok(b) => Series::decode(&b).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Series::new(channels)),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The channel count a file's header names, if it has one.
fn channels_of(path: &Path) -> Option<usize> {
    let b = fs::read(path).ok()?;
    Series::decode(&b).ok().map(|s| s.channels)
}

/// Append `slots` to the file (with a header if the file is new or its
/// channels differ, after moving the old one aside).
pub fn append(path: &Path, slots: &Series, now_s: u64) -> io::Result<()> {
    if slots.slots.is_empty() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let exists = path.metadata().map(|m| m.len() > 0).unwrap_or(false);
    let header = match (exists, channels_of(path)) {
        (false, _) => true,
        (true, Some(n)) if n == slots.channels => false,
        (true, _) => {
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".{now_s}"));
            fs::rename(path, aside)?;
            true
        }
    };
    let mut b = Vec::new();
    slots.encode(header, &mut b);
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(&b)?;
    f.sync_data()
}

/// Replace the file with `s` (write a `.tmp`, sync, rename).
pub fn rewrite(path: &Path, s: &Series) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut b = Vec::new();
    s.encode(true, &mut b);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = fs::File::create(&tmp)?;
    f.write_all(&b)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use octoflow_proto::FlowRecord;

    #[test]
    fn appends_continue_a_file_and_new_channels_start_a_new_one() {
        let d = std::env::temp_dir().join(format!("octoflow-profile-file-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let p = path(&d, "zone1");
        let r = FlowRecord {
            proto: 6,
            packets: 2,
            bytes: 200,
            ..FlowRecord::default()
        };
        let t0 = 1_795_993_800_000;
        for i in 0..3 {
            let mut s = Series::new(2);
            s.add(t0 + i * 300_000, &r, 0b11);
            append(&p, &s, 1).expect("append");
        }
        let back = read(&p, 2).expect("read");
        assert_eq!(back.slots.len(), 3);
        let mut three = Series::new(3);
        three.add(t0, &r, 0b100);
        append(&p, &three, 7).expect("append");
        assert_eq!(read(&p, 3).expect("read").slots.len(), 1, "a new file");
        assert!(
            d.join("profiles/zone1.series.7").exists(),
            "the old one kept aside"
        );
        rewrite(&p, &back).expect("rewrite");
        assert_eq!(read(&p, 2).expect("read"), back);
        assert_eq!(read(&d.join("none"), 4).expect("missing").channels, 4);
        let _ = fs::remove_dir_all(&d);
    }
}
