//! nfdump's `-t YYYY/MM/dd.hh:mm:ss[-YYYY/MM/dd.hh:mm:ss]`: trailing parts of
//! a time may be left out (`2026/11/29` is that day's midnight), and without an
//! end the window runs on for ever. octoflow reads the times as UTC (nfdump
//! reads local time; on a machine set to UTC they agree). A flow is in the
//! window when it starts in it, as the store files are cut by start time.

use std::fmt;

use octoflow_proto::civil::{civil_from_days, days_from_civil, days_in_month};

/// A time window, Unix milliseconds, `start <= t < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Window {
    pub const ALL: Window = Window {
        start_ms: 0,
        end_ms: u64::MAX,
    };

    /// Parse nfdump's form.
    pub fn parse(s: &str) -> Result<Window, String> {
        let bad = |why: &str| {
            format!("-t {s:?}: {why}; give YYYY/MM/dd.hh:mm:ss[-YYYY/MM/dd.hh:mm:ss] (trailing parts may be left out)")
        };
        let (a, b) = match s.trim().split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (s.trim(), None),
        };
        let start_ms = time(a).ok_or_else(|| bad("the start is not a time"))?;
        let end_ms = match b {
            Some(b) => time(b).ok_or_else(|| bad("the end is not a time"))?,
            None => u64::MAX,
        };
        if end_ms <= start_ms {
            return Err(bad("the end is not after the start"));
        }
        Ok(Window { start_ms, end_ms })
    }

    #[inline]
    pub fn contains(&self, t_ms: u64) -> bool {
        self.start_ms <= t_ms && t_ms < self.end_ms
    }

    /// Whether `[from, to)` overlaps the window (to pick files by their span).
    pub fn overlaps(&self, from_ms: u64, to_ms: u64) -> bool {
        from_ms < self.end_ms && self.start_ms < to_ms
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-", show(self.start_ms))?;
        if self.end_ms == u64::MAX {
            f.write_str("(open)")
        } else {
            f.write_str(&show(self.end_ms))
        }
    }
}

/// `YYYY/MM/dd.hh:mm:ss` with trailing parts optional, as Unix ms (UTC).
fn time(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date, clock) = match s.split_once('.') {
        Some((d, c)) => (d, Some(c)),
        None => (s, None),
    };
    let d: Vec<&str> = date.split('/').collect();
    let num = |x: &str, lo: u64, hi: u64| -> Option<u64> {
        (!x.is_empty() && x.len() <= 4 && x.bytes().all(|b| b.is_ascii_digit()))
            .then(|| x.parse::<u64>().ok())
            .flatten()
            .filter(|n| (lo..=hi).contains(n))
    };
    let year = num(d.first()?, 1970, 9999)?;
    let month = match d.get(1) {
        Some(m) => num(m, 1, 12)?,
        None => 1,
    };
    let day = match d.get(2) {
        Some(x) => num(x, 1, days_in_month(year as i64, month as u32) as u64)?,
        None => 1,
    };
    if d.len() > 3 {
        return None;
    }
    let mut hms = [0u64; 3];
    if let Some(c) = clock {
        let parts: Vec<&str> = c.split(':').collect();
        if parts.len() > 3 {
            return None;
        }
        for (i, p) in parts.iter().enumerate() {
            hms[i] = num(p, 0, if i == 0 { 23 } else { 59 })?;
        }
    }
    let days = days_from_civil(year as i64, month as u32, day as u32) as u64;
    Some(((days * 24 + hms[0]) * 60 + hms[1]) * 60_000 + hms[2] * 1000)
}

/// Unix ms as `YYYY/MM/dd.hh:mm:ss` (UTC).
pub fn show(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}/{m:02}/{d:02}.{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_partial_times_as_utc() {
        let w = Window::parse("2026/11/29.23:10:05-2026/11/30").expect("window");
        // 2026-11-29T23:10:05Z
        assert_eq!(w.start_ms, 1_795_993_805_000);
        assert_eq!(w.end_ms, 1_795_996_800_000);
        assert_eq!(show(w.start_ms), "2026/11/29.23:10:05");
        let open = Window::parse("2024/02/29").expect("leap day");
        assert_eq!(open.end_ms, u64::MAX);
        assert_eq!(show(open.start_ms), "2024/02/29.00:00:00");
        assert!(open.contains(open.start_ms) && !open.contains(open.start_ms - 1));
        assert_eq!(
            Window::parse("1970/01/01.00:00:01").expect("t").start_ms,
            1000
        );
        assert_eq!(
            Window::parse("2026/11").expect("month").start_ms,
            Window::parse("2026/11/01.00:00:00").expect("t").start_ms
        );
    }

    #[test]
    fn bad_windows_say_what_to_give() {
        for bad in [
            "2025/02/29",
            "2026/13/01",
            "2026/11/29.24:00",
            "tomorrow",
            "2026/11/30-2026/11/29",
            "2026/1/2/3",
        ] {
            let e = Window::parse(bad).expect_err(bad);
            assert!(e.contains("YYYY/MM/dd.hh:mm:ss"), "{e}");
        }
    }
}
