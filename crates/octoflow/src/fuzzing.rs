//! The fuzz targets' way in (`fuzz/fuzz_targets/config.rs`, `control.rs`): what
//! the daemon does with untrusted text, without I/O. Not an API: hidden from the
//! docs, and nothing here is for the daemon itself.

use crate::config::{diff, Config};
use crate::control;
use crate::yaml::env::Offline;

/// Load and validate `yaml` as `octoflow server` and `check` do, offline (no
/// file, environment variable or name server is asked: see
/// `yaml::env::Offline`). A configuration that loads is also described, as
/// `check` does, and loaded again and diffed against the first, as `reread`
/// does with an unchanged file: nothing may differ. Returns the problems
/// found, or none. Panics only on a bug.
pub fn config(yaml: &str) -> Result<(), Vec<String>> {
    let c = Config::parse_in(yaml, &Offline)?;
    let _ = c.describe();
    let again = Config::parse_in(yaml, &Offline).expect("loaded once, loads again");
    let changes = diff::diff(&c.specs(), &again.specs());
    assert!(
        changes.is_empty(),
        "an unchanged configuration differs from itself: {changes:?}"
    );
    Ok(())
}

/// Read `line` as the server reads a control command line; a command reads
/// back from the line a client would send for it. Returns that line. Panics
/// only on a bug.
pub fn control(line: &str) -> Option<String> {
    let c = control::parse_command(line).ok()?;
    let sent = c.to_string();
    assert_eq!(
        control::parse_command(&sent),
        Ok(c),
        "{line:?} was read, sent as {sent:?} and read back differently"
    );
    Some(sent)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_examples_load_offline_and_commands_read_back() {
        let local = include_str!("../../../examples/local.yaml");
        assert_eq!(super::config(local), Ok(()));
        let original = include_str!("../../../examples/octoflow-original.yaml");
        let e = super::config(original).expect_err("nf-another is not defined");
        assert!(e[0].contains("nf-another"), "{e:?}");
        assert!(
            super::config("{").is_err(),
            "YAML that does not parse is refused"
        );
        assert_eq!(super::control("status"), Some("status all".into()));
        assert_eq!(
            super::control(" stop  a_collector x"),
            Some("stop a_collector".into())
        );
        assert_eq!(super::control("stop"), None);
    }
}
