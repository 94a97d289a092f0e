//! Before the drop: the folders the server writes to after it — the template
//! cache (`<id>.templates`, written beside and renamed), the log's (rotation
//! renames and creates files), the control socket's (the socket file is removed
//! at shutdown) — are given to the user, with octoflow's files in them.
//!
//! Only a folder of octoflow's own is given away: one that holds nothing but
//! octoflow's files. A shared one (`/var/log`, `/tmp`, a test's folder) keeps its
//! owner, and a warning says what will not work and what to do. A folder the user
//! can already write to is left as it is.

use std::os::unix::fs::{chown, MetadataExt};
use std::path::Path;

use crate::config::{Config, RunAs};

/// Give the server's folders to `to`; returns warnings for those left alone.
pub fn hand_over(cfg: &Config, to: &RunAs) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(dir) = &cfg.general.template_cache_dir {
        let ours = |n: &str| {
            n.ends_with(".templates") || n.ends_with(".tmp") || n.starts_with(".octoflow-probe-")
        };
        if let Err(e) = own_dir(dir, ours, to) {
            warnings.push(format!(
                "general.template_cache_dir: {e}: templates will not be saved; give the folder to the user (chown {}:{} {}) or use a folder of its own (systemd's StateDirectory=)",
                to.user, to.group, dir.display()
            ));
        }
    }
    if let Some(log) = &cfg.supervisor.logfile {
        if let (Some(dir), Some(name)) = (log.parent(), file_name(log)) {
            let ours = |n: &str| n == name || n.strip_prefix(&name).is_some_and(is_backup);
            if let Err(e) = own_dir(dir, ours, to) {
                warnings.push(format!(
                    "supervisor.logfile: {e}: the log cannot rotate; give the folder to the user (chown {}:{} {}) or use a folder of its own (e.g. /var/log/octoflow/)",
                    to.user, to.group, dir.display()
                ));
            }
        }
    }
    let socket = &cfg.supervisor.unix_socket;
    if let (Some(dir), Some(name)) = (socket.parent(), file_name(socket)) {
        if let Err(e) = own_dir(dir, |n| n == name, to) {
            warnings.push(format!(
                "supervisor.unix_socket: {e}: the socket file will be left behind at shutdown (the next start replaces it); use a folder of its own (e.g. /run/octoflow/)",
            ));
        }
    }
    warnings
}

fn file_name(p: &Path) -> Option<String> {
    p.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// `.1`, `.2`, …: a rotated log's suffix.
fn is_backup(suffix: &str) -> bool {
    suffix
        .strip_prefix('.')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Give `dir` and the entries `ours` accepts to `to`, unless the user can write
/// there already. Refused (with the reason) when `dir` holds anything else.
fn own_dir(dir: &Path, ours: impl Fn(&str) -> bool, to: &RunAs) -> Result<(), String> {
    let shown = dir.display();
    let md = std::fs::metadata(dir).map_err(|e| format!("{shown}: {e}"))?;
    let group_writable = md.gid() == to.gid && md.mode() & 0o020 != 0;
    if md.uid() == to.uid || group_writable || md.mode() & 0o002 != 0 {
        return Ok(());
    }
    let entries: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{shown}: {e}"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if let Some(other) = entries.iter().find(|n| !ours(n)) {
        return Err(format!(
            "{shown} is not writable by user {} and holds other files ({other}), so it keeps its owner",
            to.user
        ));
    }
    let (uid, gid) = (Some(to.uid), Some(to.gid));
    chown(dir, uid, gid).map_err(|e| format!("cannot give {shown} to user {}: {e}", to.user))?;
    for n in &entries {
        let p = dir.join(n);
        chown(&p, uid, gid)
            .map_err(|e| format!("cannot give {} to user {}: {e}", p.display(), to.user))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_folder_of_octoflows_own_files_is_given_away() {
        let base = std::env::temp_dir().join(format!("octoflow-handover-{}", std::process::id()));
        let (own, shared) = (base.join("own"), base.join("shared"));
        std::fs::create_dir_all(&own).expect("dir");
        std::fs::create_dir_all(&shared).expect("dir");
        std::fs::write(own.join("a.templates"), b"x").expect("file");
        std::fs::write(shared.join("a.templates"), b"x").expect("file");
        std::fs::write(shared.join("passwd"), b"x").expect("file");
        let me = std::fs::metadata(&base).expect("md");
        // To ourselves (works unprivileged): the folder is ours already.
        let same = RunAs {
            user: "me".into(),
            uid: me.uid(),
            group: "me".into(),
            gid: me.gid(),
        };
        let ours = |n: &str| n.ends_with(".templates");
        assert_eq!(own_dir(&shared, ours, &same), Ok(()));
        let other = RunAs {
            uid: me.uid() + 1,
            gid: me.gid() + 1,
            ..same
        };
        let e = own_dir(&shared, ours, &other).expect_err("shared");
        assert!(e.contains("holds other files (passwd)"), "{e}");
        assert_eq!(std::fs::metadata(&shared).expect("md").uid(), me.uid());
        if nix::unistd::Uid::effective().is_root() {
            assert_eq!(own_dir(&own, ours, &other), Ok(()));
            assert_eq!(std::fs::metadata(&own).expect("md").uid(), other.uid);
            let f = std::fs::metadata(own.join("a.templates")).expect("md");
            assert_eq!((f.uid(), f.gid()), (other.uid, other.gid));
        }
        assert!(is_backup(".1") && is_backup(".12"));
        assert!(!is_backup(".") && !is_backup(".x") && !is_backup("1"));
        let _ = std::fs::remove_dir_all(&base);
    }
}
