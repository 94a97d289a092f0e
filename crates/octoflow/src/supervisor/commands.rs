//! Control commands: `status`, `start`, `stop`, `restart` on instances named by
//! name, bare id, `all`, `collectors` or `exporters`; `reread`, `reload` and
//! `shutdown` (acted on by the server loop).

use std::time::{Duration, SystemTime};

use super::Supervisor;
use crate::control::{exit, Command, Reply};
use crate::instance::lifecycle::State;
use crate::instance::Role;

impl Supervisor {
    /// All instance names, collectors first, in configuration order.
    fn names(&self) -> Vec<String> {
        self.instances.iter().map(|i| i.name()).collect()
    }

    /// The instances `target` names: a name, a bare id, `all`, `collectors`,
    /// `exporters`.
    fn resolve(&self, target: &str) -> Result<Vec<String>, String> {
        if target == "all" {
            return Ok(self.names());
        }
        if let Some(role) = [Role::Collector, Role::Output, Role::Session]
            .into_iter()
            .find(|r| r.group() == target)
        {
            return Ok(self
                .instances
                .iter()
                .filter(|i| i.role() == role)
                .map(|i| i.name())
                .collect());
        }
        let all = self.names();
        if all.iter().any(|n| n == target) {
            return Ok(vec![target.to_string()]);
        }
        let by_id: Vec<String> = self
            .instances
            .iter()
            .filter(|i| i.id() == target)
            .map(|i| i.name())
            .collect();
        if by_id.is_empty() {
            return Err(format!("{target}: ERROR (no such process)"));
        }
        Ok(by_id)
    }

    fn status_line(&self, name: &str) -> (String, bool) {
        let Some(i) = self.index(name) else {
            return (format!("{name}: ERROR (no such process)"), false);
        };
        let inst = &self.instances[i];
        let life = inst.life();
        let desc = match life.state() {
            State::Running => format!(
                "pid {}, uptime {}",
                inst.tid().unwrap_or(0),
                uptime(life.started().map(|s| s.elapsed()).unwrap_or_default())
            ),
            State::Stopped => life
                .since()
                .map(stamp)
                .unwrap_or_else(|| "Not started".into()),
            State::Backoff | State::Fatal | State::Exited => {
                life.error().unwrap_or_default().to_string()
            }
            State::Starting | State::Stopping => String::new(),
        };
        (
            format!("{name:<28} {} {desc}", life.state().name())
                .trim_end()
                .to_string(),
            life.state() == State::Running,
        )
    }

    fn start_by_name(&mut self, name: &str) -> Result<(), String> {
        let Some(i) = self.index(name) else {
            return Err("no such process".into());
        };
        if self.instances[i].has_thread() {
            return Err("already started".into());
        }
        self.instances[i].life_mut().start_requested();
        self.start(i)
    }

    fn stop_by_name(&mut self, name: &str) -> bool {
        match self.index(name) {
            Some(i) => self.stop(i),
            None => false,
        }
    }

    /// Carry out one control command (read by [`crate::control::parse_command`]).
    /// `shutdown` is answered here and acted on by the caller.
    pub fn command(&mut self, c: &Command) -> Reply {
        let mut r = Reply {
            lines: Vec::new(),
            code: exit::OK,
        };
        match c {
            Command::RibShow { peer, what } => {
                match crate::routing::show::show(peer.as_deref(), what.as_deref()) {
                    Ok(lines) => lines.into_iter().for_each(|l| r.line(l)),
                    Err(e) => {
                        r.lines.push(e);
                        r.code = exit::USAGE;
                    }
                }
            }
            Command::Status(target) => {
                let names = match self.resolve(target) {
                    Ok(n) => n,
                    Err(e) => {
                        r.fail(e);
                        return r;
                    }
                };
                for n in names {
                    let (l, running) = self.status_line(&n);
                    r.line(l);
                    if !running {
                        r.code = r.code.max(exit::NOT_RUNNING);
                    }
                }
            }
            Command::Start(target) | Command::Stop(target) | Command::Restart(target) => {
                let names = match self.resolve(target) {
                    Ok(n) => n,
                    Err(e) => {
                        r.fail(e);
                        return r;
                    }
                };
                let (stop, start) = match c {
                    Command::Start(_) => (false, true),
                    Command::Stop(_) => (true, false),
                    _ => (true, true),
                };
                if stop {
                    // Stop collectors before exporters.
                    let mut order = names.clone();
                    order.sort_by_key(|n| n.ends_with(Role::Output.suffix()));
                    for n in &order {
                        if self.stop_by_name(n) {
                            r.line(format!("{n}: stopped"));
                        } else if !start {
                            r.fail(format!("{n}: ERROR (not running)"));
                        }
                    }
                }
                if start {
                    // Start exporters before collectors.
                    let mut order = names;
                    order.sort_by_key(|n| n.ends_with(Role::Collector.suffix()));
                    for n in &order {
                        match self.start_by_name(n) {
                            Ok(()) => r.line(format!("{n}: started")),
                            Err(e) => r.fail(format!("{n}: ERROR ({e})")),
                        }
                    }
                }
            }
            Command::Reread => self.reread(&mut r),
            Command::Reload => self.reload(&mut r),
            Command::Shutdown => r.line("Shut down"),
        }
        r
    }
}

/// `0:00:07`, as supervisorctl prints uptimes.
fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `Jun 12 11:42AM` (UTC), as supervisorctl prints stop times.
pub fn stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (h, m) = (rem / 3600, rem / 60 % 60);
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!(
        "{} {:02} {:02}:{:02}{}",
        MONTHS[(month - 1) as usize],
        day,
        h12,
        m,
        ampm
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_like_supervisorctl() {
        assert_eq!(uptime(Duration::from_secs(7)), "0:00:07");
        assert_eq!(uptime(Duration::from_secs(3 * 3600 + 61)), "3:01:01");
        // 2026-06-12 11:42 UTC
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_781_264_520);
        assert_eq!(stamp(t), "Jun 12 11:42AM");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_781_264_520 + 2 * 3600);
        assert_eq!(stamp(t), "Jun 12 01:42PM");
        assert_eq!(stamp(SystemTime::UNIX_EPOCH), "Jan 01 12:00AM");
    }
}
