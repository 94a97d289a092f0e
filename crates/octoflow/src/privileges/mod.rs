//! Dropping root: with `general.user` set, the server opens what needs root (the
//! control socket, the metrics listener, the log, the template cache's folder) and
//! then becomes that user, keeping only the capabilities `Config::capabilities`
//! decides (`CAP_NET_BIND_SERVICE`, so collectors still bind ports below 1024 when
//! they start, restart or are added by a reload).
//!
//! The drop happens on the main thread **before any other thread exists**:
//! capabilities are per thread on Linux and a new thread copies its creator's, so
//! every thread the server ever starts has exactly the kept set. [`drop_root`]
//! refuses to run when a second thread exists.
//!
//! Order, as root: give the folders the server writes to the user
//! ([`handover`]); shrink the bounding set to the kept capabilities (this needs
//! `CAP_SETPCAP`, gone after the switch); `PR_SET_KEEPCAPS`; the supplementary
//! groups, gid and uid (real, effective and saved: there is no way back); then
//! permitted = effective = the kept set, inheritable and ambient empty, and
//! `no_new_privs` (octoflow runs no other program, and nothing it could run may
//! gain privileges). Last, it checks that uid 0 cannot be regained.

mod handover;

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid};

use crate::config::run_as::names;
use crate::config::{Config, RunAs};

/// What became of the process's privileges.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `general.user` is not set: nothing changes.
    Unchanged,
    /// Started as `general.user` already (e.g. by systemd's `User=`).
    AlreadyUser,
    /// Dropped from root to `general.user`.
    Dropped,
}

/// Drop from root to `general.user`, if set. Call it on the main thread before
/// any other thread starts. Errors say what failed and what to do.
pub fn drop_root(cfg: &Config) -> Result<Outcome, String> {
    let Some(to) = &cfg.general.run_as else {
        if Uid::effective().is_root() {
            tracing::warn!("running as root: set general.user (e.g. octoflow) to drop to that user once sockets and files are open");
        }
        return Ok(Outcome::Unchanged);
    };
    let uid = Uid::current();
    if !uid.is_root() {
        if uid.as_raw() == to.uid {
            tracing::info!(
                "running as user {} (uid {}) already: no privileges to drop",
                to.user,
                to.uid
            );
            return Ok(Outcome::AlreadyUser);
        }
        return Err(format!(
            "general.user: {:?}: octoflow runs as uid {uid}, not as root, so it cannot become {} (uid {}); start it as root or as {}, or leave general.user out",
            to.user, to.user, to.uid, to.user
        ));
    }
    only_thread()?;
    for w in handover::hand_over(cfg, to) {
        tracing::warn!("{w}");
    }
    let keep: CapsHashSet = cfg.capabilities().into_iter().collect();
    switch(to, &keep).map_err(|e| {
        format!(
            "general.user: cannot drop to {} (uid {}, gid {}): {e}",
            to.user, to.uid, to.gid
        )
    })?;
    let mut kept: Vec<Capability> = keep.into_iter().collect();
    kept.sort_by_key(|c| c.index());
    tracing::info!(
        "dropped privileges to user {} (uid {}, gid {} {}), keeping capabilities {}",
        to.user,
        to.uid,
        to.gid,
        to.group,
        names(&kept)
    );
    Ok(Outcome::Dropped)
}

/// The switch itself (see the module's doc for the order).
fn switch(to: &RunAs, keep: &CapsHashSet) -> Result<(), String> {
    use nix::sys::prctl;
    for c in caps::all() {
        if !keep.contains(&c) && caps::has_cap(None, CapSet::Bounding, c).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, c)
                .map_err(|e| format!("dropping {c} from the bounding set: {e}"))?;
        }
    }
    prctl::set_keepcaps(true).map_err(|e| format!("PR_SET_KEEPCAPS: {e}"))?;
    let gid = Gid::from_raw(to.gid);
    nix::unistd::setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
    nix::unistd::setgid(gid).map_err(|e| format!("setgid: {e}"))?;
    nix::unistd::setuid(Uid::from_raw(to.uid)).map_err(|e| format!("setuid: {e}"))?;
    for (set, value) in [
        (CapSet::Permitted, keep),
        (CapSet::Effective, keep),
        (CapSet::Inheritable, &CapsHashSet::new()),
    ] {
        caps::set(None, set, value).map_err(|e| {
            format!(
                "setting the {set:?} capabilities to {{{}}}: {e} (does root here have them? containers may withhold some)",
                names(&keep.iter().copied().collect::<Vec<_>>())
            )
        })?;
    }
    caps::clear(None, CapSet::Ambient).map_err(|e| format!("clearing the ambient set: {e}"))?;
    prctl::set_keepcaps(false).map_err(|e| format!("PR_SET_KEEPCAPS: {e}"))?;
    prctl::set_no_new_privs().map_err(|e| format!("PR_SET_NO_NEW_PRIVS: {e}"))?;
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err("uid 0 could be regained after the switch; refusing to run".into());
    }
    Ok(())
}

/// Refuse when another thread exists: it would keep root's capabilities.
fn only_thread() -> Result<(), String> {
    let n = std::fs::read_dir("/proc/self/task")
        .map_err(|e| format!("general.user: cannot count this process's threads in /proc/self/task ({e}); is /proc mounted?"))?
        .count();
    if n != 1 {
        return Err(format!(
            "general.user: {n} threads run before the privilege drop; it must happen before any other thread starts (a bug in octoflow: please report it)"
        ));
    }
    Ok(())
}
