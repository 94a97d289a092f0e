//! An instance's life cycle, supervisord's: STOPPED, STARTING, RUNNING, BACKOFF,
//! STOPPING, EXITED, FATAL. A small state machine with no I/O and no clock of its
//! own: every transition takes the time from its caller, so the rules (backoff,
//! give up, restart) are tested on injected time.
//!
//! This is where the supervisor decides to restart an instance: [`Lifecycle::exited`]
//! (a thread that ended on its own) and [`Lifecycle::retry_due`] (a BACKOFF whose
//! wait is over).

use std::time::{Duration, Instant, SystemTime};

/// supervisord's process states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Stopped,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Stopped => "STOPPED",
            State::Starting => "STARTING",
            State::Running => "RUNNING",
            State::Backoff => "BACKOFF",
            State::Stopping => "STOPPING",
            State::Exited => "EXITED",
            State::Fatal => "FATAL",
        }
    }
}

/// An instance that fails within this long of starting failed to start (counts
/// against `startretries_instances`), like supervisord's `startsecs`.
pub const START_SECS: Duration = Duration::from_secs(1);

/// The restart policy, from the `supervisor` section.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// `startretries_instances`: failed starts in a row before FATAL.
    pub retries_max: u32,
    /// `autorestart_instances`: restart an instance whose thread ended after it
    /// ran for [`START_SECS`].
    pub autorestart: bool,
}

/// What became of a failed start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed {
    /// BACKOFF: tried again after this wait (attempt `retry` of the maximum).
    Retry { retry: u32, wait: Duration },
    /// FATAL: gave up after this many attempts.
    GaveUp { attempts: u32 },
}

/// What follows an instance's thread ending on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It ended within [`START_SECS`]: a failed start.
    FailedStart(Failed),
    /// Start it again now (`autorestart_instances`).
    Restart,
    /// EXITED.
    Exited,
}

#[derive(Debug, Clone)]
pub struct Lifecycle {
    state: State,
    /// When the instance entered STOPPED/EXITED/FATAL.
    since: Option<SystemTime>,
    error: Option<String>,
    /// Failed starts in a row.
    retries: u32,
    next_try: Option<Instant>,
    /// When it last entered RUNNING.
    started: Option<Instant>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle::new()
    }
}

impl Lifecycle {
    pub fn new() -> Lifecycle {
        Lifecycle {
            state: State::Stopped,
            since: None,
            error: None,
            retries: 0,
            next_try: None,
            started: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn since(&self) -> Option<SystemTime> {
        self.since
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    pub fn started(&self) -> Option<Instant> {
        self.started.filter(|_| self.state == State::Running)
    }

    /// STARTING or BACKOFF: asked to run, not yet running or given up.
    pub fn busy(&self) -> bool {
        matches!(self.state, State::Starting | State::Backoff)
    }

    /// An operator's `start`: the count of failed starts begins again.
    pub fn start_requested(&mut self) {
        self.retries = 0;
    }

    pub fn starting(&mut self) {
        self.state = State::Starting;
    }

    pub fn running(&mut self, now: Instant) {
        self.state = State::Running;
        self.error = None;
        self.next_try = None;
        self.started = Some(now);
    }

    /// A start failed: BACKOFF with a wait of one second more per attempt (up to
    /// 30 s), or FATAL past `retries_max` attempts.
    pub fn start_failed(
        &mut self,
        error: String,
        policy: Policy,
        now: Instant,
        wall: SystemTime,
    ) -> Failed {
        self.retries += 1;
        self.error = Some(error);
        if self.retries > policy.retries_max {
            self.state = State::Fatal;
            self.since = Some(wall);
            self.next_try = None;
            Failed::GaveUp {
                attempts: self.retries,
            }
        } else {
            self.state = State::Backoff;
            let wait = Duration::from_secs(self.retries.min(30) as u64);
            self.next_try = Some(now + wait);
            Failed::Retry {
                retry: self.retries,
                wait,
            }
        }
    }

    /// The thread ended on its own (`why`): within [`START_SECS`] of its start a
    /// failed start; later, with `autorestart`, start it again; otherwise EXITED.
    pub fn exited(&mut self, why: String, policy: Policy, now: Instant, wall: SystemTime) -> Exit {
        let quick = self
            .started
            .is_none_or(|s| now.saturating_duration_since(s) < START_SECS);
        self.started = None;
        if quick {
            Exit::FailedStart(self.start_failed(why, policy, now, wall))
        } else if policy.autorestart {
            self.retries = 0;
            self.error = Some(why);
            Exit::Restart
        } else {
            self.state = State::Exited;
            self.since = Some(wall);
            self.error = Some(why);
            Exit::Exited
        }
    }

    pub fn stopping(&mut self) {
        self.next_try = None;
        self.state = State::Stopping;
    }

    pub fn stopped(&mut self, wall: SystemTime) {
        self.state = State::Stopped;
        self.since = Some(wall);
        self.retries = 0;
        self.started = None;
    }

    /// `stop` on an instance with no thread: BACKOFF/FATAL/EXITED become STOPPED
    /// (true); anything else was not running (false).
    pub fn stop_idle(&mut self, wall: SystemTime) -> bool {
        self.next_try = None;
        if matches!(self.state, State::Backoff | State::Fatal | State::Exited) {
            self.stopped(wall);
            return true;
        }
        false
    }

    /// In BACKOFF and its wait is over.
    pub fn retry_due(&self, now: Instant) -> bool {
        self.state == State::Backoff && self.next_try.is_some_and(|t| now >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        retries_max: 2,
        autorestart: true,
    };

    fn t0() -> (Instant, SystemTime) {
        (
            Instant::now(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_781_264_520),
        )
    }

    #[test]
    fn a_failing_start_backs_off_longer_each_time_then_gives_up() {
        let (now, wall) = t0();
        let mut l = Lifecycle::new();
        l.starting();
        assert!(l.busy());
        let f = l.start_failed("port taken".into(), POLICY, now, wall);
        assert_eq!(
            f,
            Failed::Retry {
                retry: 1,
                wait: Duration::from_secs(1)
            }
        );
        assert_eq!(l.state(), State::Backoff);
        assert!(!l.retry_due(now + Duration::from_millis(999)));
        assert!(l.retry_due(now + Duration::from_secs(1)));
        let now = now + Duration::from_secs(1);
        l.starting();
        let f = l.start_failed("port taken".into(), POLICY, now, wall);
        assert_eq!(
            f,
            Failed::Retry {
                retry: 2,
                wait: Duration::from_secs(2)
            }
        );
        assert!(!l.retry_due(now + Duration::from_millis(1999)));
        let now = now + Duration::from_secs(2);
        l.starting();
        let f = l.start_failed("port taken".into(), POLICY, now, wall);
        assert_eq!(f, Failed::GaveUp { attempts: 3 });
        assert_eq!(l.state(), State::Fatal);
        assert_eq!(l.error(), Some("port taken"));
        assert_eq!(l.since(), Some(wall));
        assert!(!l.busy());
        assert!(
            !l.retry_due(now + Duration::from_secs(3600)),
            "FATAL is final"
        );
    }

    #[test]
    fn an_operator_start_resets_the_count_and_running_clears_the_error() {
        let (now, wall) = t0();
        let mut l = Lifecycle::new();
        for _ in 0..3 {
            l.starting();
            l.start_failed("x".into(), POLICY, now, wall);
        }
        assert_eq!(l.state(), State::Fatal);
        l.start_requested();
        l.starting();
        assert_eq!(
            l.start_failed("x".into(), POLICY, now, wall),
            Failed::Retry {
                retry: 1,
                wait: Duration::from_secs(1)
            }
        );
        l.starting();
        l.running(now);
        assert_eq!(l.state(), State::Running);
        assert_eq!(l.error(), None);
        assert_eq!(l.started(), Some(now));
    }

    #[test]
    fn a_thread_that_ends_quickly_failed_to_start() {
        let (now, wall) = t0();
        let mut l = Lifecycle::new();
        l.running(now);
        let e = l.exited("panicked".into(), POLICY, now + START_SECS / 2, wall);
        assert!(matches!(
            e,
            Exit::FailedStart(Failed::Retry { retry: 1, .. })
        ));
        assert_eq!(l.state(), State::Backoff);
    }

    #[test]
    fn a_thread_that_ends_later_restarts_or_exits_by_policy() {
        let (now, wall) = t0();
        let later = now + START_SECS * 5;
        let mut l = Lifecycle::new();
        l.running(now);
        assert_eq!(l.exited("ended".into(), POLICY, later, wall), Exit::Restart);
        let mut l = Lifecycle::new();
        l.running(now);
        let no_restart = Policy {
            autorestart: false,
            ..POLICY
        };
        assert_eq!(
            l.exited("ended".into(), no_restart, later, wall),
            Exit::Exited
        );
        assert_eq!(l.state(), State::Exited);
        assert_eq!(l.error(), Some("ended"));
        assert_eq!(l.since(), Some(wall));
    }

    #[test]
    fn stop_without_a_thread_settles_backoff_fatal_and_exited_only() {
        let (now, wall) = t0();
        let mut l = Lifecycle::new();
        assert!(!l.stop_idle(wall), "STOPPED stays, nothing to do");
        l.starting();
        l.start_failed("x".into(), POLICY, now, wall);
        assert!(l.stop_idle(wall));
        assert_eq!(l.state(), State::Stopped);
        assert!(
            !l.retry_due(now + Duration::from_secs(60)),
            "no retry once stopped"
        );
        l.running(now);
        l.stopping();
        assert_eq!(l.state(), State::Stopping);
        l.stopped(wall);
        assert_eq!((l.state(), l.since()), (State::Stopped, Some(wall)));
    }
}
