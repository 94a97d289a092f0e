//! A store's folder: file names, and the moves that keep every visible file
//! complete.
//!
//! ```text
//! <path>/flows-202611292300.parquet          one per interval (UTC start), complete
//! <path>/flows-202611292305.parquet
//! <path>/.parts/flows-202611292310.000001.parquet   the open interval, one per flush, complete
//! <path>/.parts/*.tmp                        being written; never read, deleted at start
//! ```
//!
//! A file is written under a `.tmp` name in `.parts/`, synced, then renamed to
//! its name: a reader sees it whole or not at all, and a crash leaves at most a
//! `.tmp` (deleted at the next start). Every `flush_secs` the flows in memory
//! become one part; when the interval ends its parts are merged into the
//! interval's file by copying their column chunks (no decoding), and the parts
//! are deleted. The merged file lists its parts in its key-value metadata
//! (`octoflow.parts`), so after a crash between the rename and the deletion the
//! next start deletes the parts instead of merging them twice.
//!
//! Names are `flows-YYYYmmddHHMM` (nfcapd's `YYYYmmddHHMM`), with seconds
//! (`YYYYmmddHHMMSS`) when the interval is under a minute; a second file for the
//! same interval (a restart after the clock went back) gets `-1`, `-2`, ….

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use octoflow_proto::civil::{civil_from_days, days_from_civil};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{KeyValue, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

/// The folder of the open interval's parts and of files being written.
pub const PARTS: &str = ".parts";
/// The key-value metadata key listing the parts a merged file holds.
const PARTS_KEY: &str = "octoflow.parts";

/// `202611292300` for the interval starting at `start` (Unix seconds, UTC);
/// with seconds when `secs`.
pub fn stamp(start: u64, secs: bool) -> String {
    let days = (start / 86400) as i64;
    let sod = start % 86400;
    let (y, m, d) = civil_from_days(days);
    let hm = format!("{y:04}{m:02}{d:02}{:02}{:02}", sod / 3600, sod % 3600 / 60);
    if secs {
        format!("{hm}{:02}", sod % 60)
    } else {
        hm
    }
}

/// The interval start (Unix seconds) a store file's name gives, if it is one.
pub fn start_of(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("flows-")?;
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    if n != 12 && n != 14 {
        return None;
    }
    let num = |a: usize, b: usize| digits.get(a..b)?.parse::<u64>().ok();
    let (y, mo, d, h, mi) = (
        num(0, 4)?,
        num(4, 6)?,
        num(6, 8)?,
        num(8, 10)?,
        num(10, 12)?,
    );
    let s = if n == 14 { num(12, 14)? } else { 0 };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    u64::try_from(days)
        .ok()
        .map(|days| days * 86400 + h * 3600 + mi * 60 + s)
}

/// The stamp part of a name (`flows-<stamp>…`).
fn stamp_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("flows-")?;
    let n = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest.get(..n)
}

/// The interval file for `stamp`: `flows-<stamp>.parquet`, or `-N` if taken.
pub fn final_path(dir: &Path, stamp: &str) -> PathBuf {
    let mut p = dir.join(format!("flows-{stamp}.parquet"));
    let mut n = 1;
    while p.exists() {
        p = dir.join(format!("flows-{stamp}-{n}.parquet"));
        n += 1;
    }
    p
}

/// Part `seq` of the interval `stamp`.
pub fn part_path(dir: &Path, stamp: &str, seq: u32) -> PathBuf {
    dir.join(PARTS)
        .join(format!("flows-{stamp}.{seq:06}.parquet"))
}

/// Where `p` is written before it is renamed to `p`.
pub fn tmp_of(p: &Path) -> PathBuf {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("flows");
    let dir = match p.parent() {
        Some(d) if d.ends_with(PARTS) => d.to_path_buf(),
        Some(d) => d.join(PARTS),
        None => PathBuf::from(PARTS),
    };
    dir.join(format!("{name}.tmp"))
}

/// Sync `f`, rename `tmp` to `to`, and sync the folder so the rename lasts.
pub fn commit(f: File, tmp: &Path, to: &Path) -> io::Result<()> {
    f.sync_all()?;
    drop(f);
    fs::rename(tmp, to)?;
    if let Some(d) = to.parent() {
        File::open(d)?.sync_all()?;
    }
    Ok(())
}

/// The store's interval files, oldest first: (path, interval start, bytes).
pub fn intervals(dir: &Path) -> io::Result<Vec<(PathBuf, u64, u64)>> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.ends_with(".parquet") {
            continue;
        }
        if let Some(start) = start_of(name) {
            v.push((e.path(), start, e.metadata()?.len()));
        }
    }
    v.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    Ok(v)
}

/// The parts waiting in `.parts/`, by interval stamp then sequence.
pub fn parts(dir: &Path) -> io::Result<Vec<(String, u32, PathBuf)>> {
    let mut v = Vec::new();
    let Ok(rd) = fs::read_dir(dir.join(PARTS)) else {
        return Ok(v);
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((stamp, seq)) = part_of(name) {
            v.push((stamp.to_string(), seq, e.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// The interval stamp and number of a part's name, `flows-<stamp>.<NNNNNN>.parquet`.
pub fn part_of(name: &str) -> Option<(&str, u32)> {
    let stamp = stamp_of(name)?;
    let seq = name
        .strip_prefix("flows-")?
        .get(stamp.len()..)?
        .strip_prefix('.')?
        .strip_suffix(".parquet")?
        .parse::<u32>()
        .ok()?;
    Some((stamp, seq))
}

/// The part names that the interval files of `stamp` say they hold.
pub fn merged_for(dir: &Path, stamp: &str) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for (path, ..) in intervals(dir)? {
        let of_stamp = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(stamp_of)
            .is_some_and(|s| s == stamp);
        if of_stamp {
            names.extend(merged_parts(&path));
        }
    }
    Ok(names)
}

/// Delete the `.tmp` files a crash left (they were never complete).
pub fn remove_tmp(dir: &Path) -> io::Result<u32> {
    let mut n = 0;
    let Ok(rd) = fs::read_dir(dir.join(PARTS)) else {
        return Ok(0);
    };
    for e in rd {
        let e = e?;
        if e.file_name().to_str().is_some_and(|n| n.ends_with(".tmp")) {
            fs::remove_file(e.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// The part names a merged file says it holds.
pub fn merged_parts(file: &Path) -> Vec<String> {
    let Ok(f) = File::open(file) else {
        return Vec::new();
    };
    let Ok(meta) = ParquetMetaDataReader::new().parse_and_finish(&f) else {
        return Vec::new();
    };
    meta.file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == PARTS_KEY))
        .and_then(|k| k.value.clone())
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string()
}

/// Merge the parts of interval `stamp` into its file in `dir` (parts of
/// another schema, left by an older version, go to a file of their own), then
/// delete them. Returns the files written: (path, bytes, rows).
pub fn merge(
    dir: &Path,
    stamp: &str,
    parts: &[PathBuf],
    props: &Arc<WriterProperties>,
) -> Result<Vec<(PathBuf, u64, u64)>, String> {
    let mut opened = Vec::with_capacity(parts.len());
    for p in parts {
        let f = File::open(p).map_err(|e| format!("opening part {}: {e}", p.display()))?;
        let meta = ParquetMetaDataReader::new()
            .parse_and_finish(&f)
            .map_err(|e| format!("reading part {}: {e}", p.display()))?;
        opened.push((p.clone(), f, meta));
    }
    let mut written = Vec::new();
    while !opened.is_empty() {
        let schema = opened[0].2.file_metadata().schema_descr().root_schema_ptr();
        let (same, rest): (Vec<_>, Vec<_>) = opened
            .into_iter()
            .partition(|(_, _, m)| m.file_metadata().schema_descr().root_schema_ptr() == schema);
        opened = rest;
        let to = final_path(dir, stamp);
        let tmp = tmp_of(&to);
        let out = merge_into(&tmp, &same, schema, props)
            .map_err(|e| format!("merging into {}: {e}", tmp.display()))?;
        let bytes = out.0.metadata().map(|m| m.len()).unwrap_or(0);
        commit(out.0, &tmp, &to).map_err(|e| format!("finishing {}: {e}", to.display()))?;
        for (p, ..) in &same {
            fs::remove_file(p).map_err(|e| format!("deleting merged part {}: {e}", p.display()))?;
        }
        written.push((to, bytes, out.1));
    }
    Ok(written)
}

type Opened = (PathBuf, File, ParquetMetaData);

/// Write `parts`' row groups, chunk by chunk, into a new file at `tmp`.
fn merge_into(
    tmp: &Path,
    parts: &[Opened],
    schema: Arc<parquet::schema::types::Type>,
    props: &Arc<WriterProperties>,
) -> Result<(File, u64), parquet::errors::ParquetError> {
    let f = File::create(tmp)?;
    let mut w = SerializedFileWriter::new(f, schema, props.clone())?;
    let mut rows = 0u64;
    for (_, file, meta) in parts {
        for rg in meta.row_groups() {
            let mut out = w.next_row_group()?;
            for c in rg.columns() {
                out.append_column(
                    file,
                    ColumnCloseResult {
                        bytes_written: c.compressed_size() as u64,
                        rows_written: rg.num_rows() as u64,
                        metadata: c.clone(),
                        bloom_filter: None,
                        column_index: None,
                        offset_index: None,
                    },
                )?;
            }
            out.close()?;
            rows += rg.num_rows() as u64;
        }
    }
    let names: Vec<String> = parts.iter().map(|(p, ..)| name_of(p)).collect();
    w.append_key_value_metadata(KeyValue::new(PARTS_KEY.to_string(), names.join(",")));
    Ok((w.into_inner()?, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_by_interval_start_in_utc_like_nfcapd() {
        // 2026-11-29 23:05:00 UTC
        let t = 1_795_993_500;
        assert_eq!(stamp(t, false), "202611292305");
        assert_eq!(stamp(t + 30, true), "20261129230530");
        assert_eq!(start_of("flows-202611292305.parquet"), Some(t));
        assert_eq!(start_of("flows-20261129230530.parquet"), Some(t + 30));
        assert_eq!(start_of("flows-202611292305-1.parquet"), Some(t));
        assert_eq!(start_of("flows-202611292305.000003.parquet"), Some(t));
        assert_eq!(start_of("flows-2026112923.parquet"), None);
        assert_eq!(start_of("flows-202613292305.parquet"), None);
        assert_eq!(start_of("other-202611292305.parquet"), None);
        for days in [0i64, 59, 365, 10_000, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(stamp(0, false), "197001010000");
    }

    #[test]
    fn parts_tmp_files_and_taken_names() {
        let dir = std::env::temp_dir().join(format!("octoflow-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join(PARTS)).expect("mkdir");
        let p2 = part_path(&dir, "202611292305", 2);
        let p1 = part_path(&dir, "202611292305", 1);
        for p in [&p2, &p1] {
            fs::write(p, b"x").expect("write");
        }
        fs::write(tmp_of(&p2), b"partial").expect("write");
        assert_eq!(tmp_of(&p2).parent(), p2.parent());
        let f = dir.join("flows-202611292305.parquet");
        assert_eq!(
            tmp_of(&f),
            dir.join(PARTS).join("flows-202611292305.parquet.tmp")
        );
        let listed = parts(&dir).expect("list");
        assert_eq!(listed.iter().map(|x| x.1).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(remove_tmp(&dir).expect("rm"), 1);
        assert_eq!(final_path(&dir, "202611292305"), f);
        fs::write(&f, b"x").expect("write");
        assert_eq!(
            final_path(&dir, "202611292305"),
            dir.join("flows-202611292305-1.parquet")
        );
        assert_eq!(
            intervals(&dir).expect("list").len(),
            1,
            "parts are not interval files"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
