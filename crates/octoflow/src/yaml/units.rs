//! Sizes and durations as people write them in a configuration: `50G`, `512MiB`,
//! `30d`, `12h`. Plain numbers are bytes and seconds. Binary multiples (K = 1024)
//! for sizes, as `du -h` and nfcapd's `-e` size limit count disk space.

/// Bytes in `s`: a whole number with an optional unit `K`, `M`, `G`, `T`, `P`
/// (also `KB`, `KiB`, …; all powers of 1024), case-insensitive.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (n, unit) = split(s)?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        _ => {
            return Err(format!(
                "{s:?} is not a size: give bytes, or a number with K, M, G, T or P (e.g. 50G)"
            ))
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Seconds in `s`: a whole number with an optional unit `s`, `m`, `h`, `d`, `w`.
pub fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let (n, unit) = split(s)?;
    let mul = match unit.to_ascii_lowercase().as_str() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => {
            return Err(format!(
                "{s:?} is not a duration: give seconds, or a number with s, m, h, d or w (e.g. 30d)"
            ))
        }
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// The leading whole number and the unit after it.
fn split(s: &str) -> Result<(u64, &str), String> {
    let t = s.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("{s:?} does not start with a whole number"));
    }
    let n = t[..digits]
        .parse::<u64>()
        .map_err(|_| format!("{s:?} is too large"))?;
    Ok((n, t[digits..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units_and_plain_bytes() {
        assert_eq!(parse_size("50G"), Ok(50 << 30));
        assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("2TB"), Ok(2 << 40));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("1.5G").unwrap_err().contains("not a size"));
        assert!(parse_size("G").unwrap_err().contains("whole number"));
        assert!(parse_size("99999999P").unwrap_err().contains("too large"));
    }

    #[test]
    fn durations_take_s_m_h_d_w_and_plain_seconds() {
        assert_eq!(parse_duration_secs("30d"), Ok(30 * 86400));
        assert_eq!(parse_duration_secs("12h"), Ok(12 * 3600));
        assert_eq!(parse_duration_secs("5m"), Ok(300));
        assert_eq!(parse_duration_secs("2w"), Ok(14 * 86400));
        assert_eq!(parse_duration_secs("90"), Ok(90));
        assert!(parse_duration_secs("3y")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration_secs("")
            .unwrap_err()
            .contains("whole number"));
    }
}
