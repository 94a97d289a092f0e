//! The API's query parameters: each endpoint names the ones it takes, and
//! anything else — a misspelling, or a `store=` hoping to reach another
//! tenant's data — is refused with 400 rather than ignored. Times are RFC 3339
//! or Unix seconds.

/// A request's parameters, checked against what the endpoint takes.
pub struct Params<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Params<'a> {
    /// Refuse unknown and repeated parameters.
    pub fn check(pairs: &'a [(String, String)], takes: &[&str]) -> Result<Params<'a>, String> {
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !takes.contains(&k.as_str()) {
                return Err(format!(
                    "unknown parameter {k:?}: this endpoint takes {}",
                    if takes.is_empty() {
                        "none".to_string()
                    } else {
                        takes.join(", ")
                    }
                ));
            }
            if pairs[..i].iter().any(|(o, _)| o == k) {
                return Err(format!("parameter {k:?} given twice"));
            }
        }
        Ok(Params { pairs })
    }

    /// A parameter's value; an empty value counts as not given.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    /// A whole number in `range`, or `default`.
    pub fn number(
        &self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if range.contains(&n) => Ok(n),
                _ => Err(format!(
                    "{name}={v:?}: give a whole number from {} to {}",
                    range.start(),
                    range.end()
                )),
            },
        }
    }

    /// `from` and `to` in Unix ms: `to` defaults to `now_ms`, `from` to `span_ms`
    /// before `to`.
    pub fn window(&self, now_ms: u64, span_ms: u64) -> Result<(u64, u64), String> {
        let to = match self.get("to") {
            Some(v) => time_ms(v).map_err(|e| format!("to={v:?}: {e}"))?,
            None => now_ms,
        };
        let from = match self.get("from") {
            Some(v) => time_ms(v).map_err(|e| format!("from={v:?}: {e}"))?,
            None => to.saturating_sub(span_ms),
        };
        if from >= to {
            return Err(format!(
                "from ({}) is not before to ({})",
                show(from),
                show(to)
            ));
        }
        Ok((from, to))
    }
}

/// RFC 3339 (`2026-11-30T04:00:00Z`, `…+01:00`, fractions allowed) or Unix
/// seconds (`1796010000`, `1796010000.5`) → Unix ms.
pub fn time_ms(v: &str) -> Result<u64, String> {
    if let Ok(s) = v.parse::<f64>() {
        if s.is_finite() && (0.0..=1e11).contains(&s) {
            return Ok((s * 1000.0).round() as u64);
        }
        return Err("Unix seconds out of range".into());
    }
    // An offset's '+' left unencoded in a query string arrives as a space.
    let t = chrono::DateTime::parse_from_rfc3339(v)
        .or_else(|e| chrono::DateTime::parse_from_rfc3339(&v.replace(' ', "+")).map_err(|_| e))
        .map_err(|e| format!("{e}: give RFC 3339 (2026-11-30T04:00:00Z) or Unix seconds"))?;
    u64::try_from(t.timestamp_millis()).map_err(|_| "before 1970".to_string())
}

/// Unix ms as RFC 3339 (UTC, seconds).
pub fn show(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Vec<(String, String)> {
        crate::console::http::pairs(q)
    }

    #[test]
    fn times_in_both_forms() {
        assert_eq!(time_ms("1796010000"), Ok(1_796_010_000_000));
        assert_eq!(time_ms("1.5"), Ok(1500));
        assert_eq!(time_ms("2026-11-30T04:00:00Z"), Ok(1_796_011_200_000));
        assert_eq!(
            time_ms("2026-11-30T05:00:00.250+01:00"),
            Ok(1_796_011_200_250)
        );
        assert_eq!(time_ms("2026-11-30T05:00:00 01:00"), Ok(1_796_011_200_000));
        assert!(time_ms("yesterday").is_err());
        assert!(time_ms("-5").is_err());
        assert_eq!(show(1_796_011_200_000), "2026-11-30T04:00:00Z");
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let q = p("from=10&store=noc-store");
        let e = Params::check(&q, &["from", "to"]).err().expect("refused");
        assert!(e.contains("unknown parameter \"store\""), "{e}");
        let q = p("from=10&from=20");
        assert!(Params::check(&q, &["from"]).is_err());
        let q = p("from=10&to=70&n=5");
        let ps = Params::check(&q, &["from", "to", "n"]).expect("ok");
        assert_eq!(ps.window(0, 1), Ok((10_000, 70_000)));
        assert_eq!(ps.number("n", 10, 1..=100), Ok(5));
        assert!(ps.number("n", 10, 6..=100).is_err());
        let q = p("to=70");
        let ps = Params::check(&q, &["from", "to"]).expect("ok");
        assert_eq!(ps.window(0, 60_000), Ok((10_000, 70_000)));
        let q = p("from=80&to=70");
        let ps = Params::check(&q, &["from", "to"]).expect("ok");
        assert!(ps.window(0, 1).is_err());
    }
}
