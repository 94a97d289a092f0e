//! Retention: a store's interval files are deleted oldest first, when their
//! interval ended more than `max_age` ago and while the files add up to more
//! than `max_bytes`. The open interval's parts are not counted: they become a
//! file at rotation and are judged then.

use std::io;
use std::path::Path;

use super::files;

/// What one pass deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    pub files: u64,
    pub bytes: u64,
}

/// Delete what `max_age_secs` and `max_bytes` no longer keep, at `now_secs`.
pub fn apply(
    dir: &Path,
    rotate_secs: u64,
    max_age_secs: Option<u64>,
    max_bytes: Option<u64>,
    now_secs: u64,
) -> io::Result<Deleted> {
    let mut d = Deleted::default();
    if max_age_secs.is_none() && max_bytes.is_none() {
        return Ok(d);
    }
    let list = files::intervals(dir)?;
    let mut total: u64 = list.iter().map(|f| f.2).sum();
    for (path, start, bytes) in list {
        let too_old = max_age_secs.is_some_and(|a| start + rotate_secs + a <= now_secs);
        let too_big = max_bytes.is_some_and(|m| total > m);
        if !too_old && !too_big {
            // Oldest first: a younger file is no older, and the total is within.
            break;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            // Deleted by hand meanwhile: its bytes are gone all the same.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("deleting {}: {e}", path.display()),
                ))
            }
        }
        total -= bytes;
        d.files += 1;
        d.bytes += bytes;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn store(tag: &str, sizes: &[(u64, usize)]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("octoflow-ret-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        for (start, size) in sizes {
            let name = format!("flows-{}.parquet", files::stamp(*start, false));
            fs::write(dir.join(name), vec![0u8; *size]).expect("write");
        }
        dir
    }

    fn left(dir: &Path) -> Vec<u64> {
        files::intervals(dir)
            .expect("list")
            .iter()
            .map(|f| f.1)
            .collect()
    }

    #[test]
    fn max_bytes_deletes_the_oldest_files_first() {
        let t = 1_795_993_200;
        let dir = store(
            "bytes",
            &[(t, 100), (t + 300, 100), (t + 600, 100), (t + 900, 100)],
        );
        let d = apply(&dir, 300, None, Some(250), t + 1200).expect("apply");
        assert_eq!(
            d,
            Deleted {
                files: 2,
                bytes: 200
            }
        );
        assert_eq!(left(&dir), [t + 600, t + 900]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn max_age_deletes_files_whose_interval_ended_longer_ago() {
        let t = 1_795_993_200;
        let dir = store("age", &[(t, 10), (t + 300, 10), (t + 600, 10)]);
        // At t+1400 with max_age 600: intervals that ended by t+800 go (those
        // ending at t+300 and t+600; the one ending at t+900 stays).
        let d = apply(&dir, 300, Some(600), None, t + 1400).expect("apply");
        assert_eq!(d.files, 2);
        assert_eq!(left(&dir), [t + 600]);
        assert_eq!(
            apply(&dir, 300, None, None, u64::MAX / 2).expect("apply"),
            Deleted::default()
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
