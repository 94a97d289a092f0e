//! The supervisor: every collector and exporter is an *instance* (`<id>_collector`,
//! `<id>_exporter`) with supervisord's life cycle — STOPPED, STARTING, RUNNING,
//! BACKOFF, STOPPING, EXITED, FATAL — run as a thread of this one process. The
//! control socket (`control.rs`), SIGHUP and SIGTERM all end up here as events,
//! handled one at a time by the supervisor loop, so instance state has one owner.
//!
//! Instances are independent: stopping an exporter only takes it out of its
//! collectors' routes; stopping a collector frees its port and keeps its templates
//! for the next start; a reload touches only what changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use octoflow_proto::{Decoder, Limits, TemplateCache};

use crate::collector::{self, Feed, Routes, Shipment};
use crate::config::{Collector, Config, Exporter};
use crate::metrics::{CollectorMetrics, ExporterMetrics, Registry};
use crate::{control, exporter, http, systemd, util};

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
const START_SECS: Duration = Duration::from_secs(1);

/// Exit codes of control commands (and so of `octoflow client`).
pub mod exit {
    pub const OK: i32 = 0;
    /// A command failed for an instance (no such instance, already started, …).
    pub const FAILED: i32 = 1;
    /// Bad usage or a configuration that does not load.
    pub const USAGE: i32 = 2;
    /// `status`: at least one listed instance is not RUNNING.
    pub const NOT_RUNNING: i32 = 3;
    /// No server answers on the control socket.
    pub const NO_SERVER: i32 = 4;
}

struct Running<T> {
    handle: JoinHandle<T>,
    stop: Arc<AtomicBool>,
    tid: Arc<AtomicI32>,
    started: Instant,
}

#[derive(Debug, Clone)]
struct Status {
    state: State,
    /// When the instance entered a STOPPED/EXITED/FATAL state.
    since: Option<SystemTime>,
    error: Option<String>,
    /// Failed starts in a row.
    retries: u32,
    next_try: Option<Instant>,
}

impl Status {
    /// `stop` on an instance with no thread: BACKOFF/FATAL/EXITED become STOPPED
    /// (true); anything else was not running (false).
    fn stop_idle(&mut self) -> bool {
        self.next_try = None;
        if matches!(self.state, State::Backoff | State::Fatal | State::Exited) {
            self.stopped();
            return true;
        }
        false
    }

    /// In BACKOFF and its wait is over.
    fn retry_due(&self) -> bool {
        self.state == State::Backoff && self.next_try.is_some_and(|t| Instant::now() >= t)
    }

    fn stopped(&mut self) {
        self.state = State::Stopped;
        self.since = Some(SystemTime::now());
        self.retries = 0;
    }

    fn new() -> Status {
        Status {
            state: State::Stopped,
            since: None,
            error: None,
            retries: 0,
            next_try: None,
        }
    }
}

struct CollectorInst {
    cfg: Collector,
    metrics: Arc<CollectorMetrics>,
    routes: Arc<Routes>,
    run: Option<Running<Decoder>>,
    /// Templates kept while stopped, for the next start.
    cache: Option<TemplateCache>,
    st: Status,
}

struct ExporterInst {
    cfg: Exporter,
    metrics: Arc<ExporterMetrics>,
    tx: Option<SyncSender<Shipment>>,
    run: Option<Running<()>>,
    st: Status,
}

/// What reaches the supervisor loop.
pub enum Event {
    Signal(nix::sys::signal::Signal),
    /// A control command line and where to send the reply.
    Command(String, Sender<Reply>),
}

/// A control command's answer: text lines and an exit code.
#[derive(Debug, Default)]
pub struct Reply {
    pub lines: Vec<String>,
    pub code: i32,
}

impl Reply {
    fn line(&mut self, l: impl Into<String>) {
        self.lines.push(l.into());
    }
    fn fail(&mut self, l: impl Into<String>) {
        self.lines.push(l.into());
        self.code = self.code.max(exit::FAILED);
    }
}

pub struct Supervisor {
    cfg: Config,
    collectors: Vec<CollectorInst>,
    exporters: Vec<ExporterInst>,
    registry: Arc<Mutex<Registry>>,
}

fn cache_file(dir: &Path, collector: &str) -> PathBuf {
    dir.join(format!("{collector}.templates"))
}

/// A collector's decoder: its templates from the last run, else from the cache
/// file; a missing file is normal, a bad one is reported and ignored.
fn decoder_for(dir: Option<&Path>, id: &str, kept: Option<TemplateCache>) -> Decoder {
    if let Some(c) = kept {
        return Decoder::with_cache(c);
    }
    let Some(dir) = dir else {
        return Decoder::new(Limits::default());
    };
    let f = cache_file(dir, id);
    match std::fs::read(&f) {
        Ok(bytes) => match TemplateCache::restore(&bytes, Limits::default()) {
            Ok(c) => {
                tracing::info!(collector = %id, file = %f.display(), templates = c.template_count(), "template cache restored");
                Decoder::with_cache(c)
            }
            Err(e) => {
                tracing::warn!(collector = %id, file = %f.display(), "template cache not restored ({e}); starting empty");
                Decoder::new(Limits::default())
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Decoder::new(Limits::default()),
        Err(e) => {
            tracing::warn!(collector = %id, file = %f.display(), "cannot read the template cache: {e}");
            Decoder::new(Limits::default())
        }
    }
}

/// What follows an instance's thread ending on its own: within `START_SECS` of
/// its start it failed to start (BACKOFF, then FATAL); later, with
/// `autorestart_instances`, it starts again (true: the caller starts it);
/// otherwise EXITED.
fn after_exit(
    st: &mut Status,
    quick: bool,
    why: String,
    retries_max: u32,
    autorestart: bool,
    name: &str,
) -> bool {
    if quick {
        Supervisor::fail(st, why, retries_max, name);
        false
    } else if autorestart {
        tracing::error!(instance = %name, "{why}; restarting");
        st.retries = 0;
        true
    } else {
        st.state = State::Exited;
        st.since = Some(SystemTime::now());
        st.error = Some(why);
        false
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

impl Supervisor {
    pub fn new(cfg: Config) -> Supervisor {
        let collectors = cfg
            .collectors
            .iter()
            .map(|c| CollectorInst {
                cfg: c.clone(),
                metrics: CollectorMetrics::new(&c.id),
                routes: Arc::new(Routes::default()),
                run: None,
                cache: None,
                st: Status::new(),
            })
            .collect();
        let exporters = cfg
            .exporters
            .iter()
            .map(|e| ExporterInst {
                cfg: e.clone(),
                metrics: ExporterMetrics::new(&e.id),
                tx: None,
                run: None,
                st: Status::new(),
            })
            .collect();
        let s = Supervisor {
            cfg,
            collectors,
            exporters,
            registry: Arc::new(Mutex::new(Registry::default())),
        };
        s.publish_registry();
        s
    }

    fn publish_registry(&self) {
        if let Ok(mut r) = self.registry.lock() {
            r.collectors = self.collectors.iter().map(|c| c.metrics.clone()).collect();
            r.exporters = self.exporters.iter().map(|e| e.metrics.clone()).collect();
        }
    }

    /// Give each collector the queues of its running exporters.
    fn rebuild_routes(&self) {
        for c in &self.collectors {
            let feeds: Vec<Feed> = c
                .cfg
                .mux_to
                .iter()
                .filter_map(|id| self.exporters.iter().find(|e| &e.cfg.id == id))
                .filter_map(|e| {
                    e.tx.as_ref().map(|tx| Feed {
                        tx: tx.clone(),
                        metrics: e.metrics.clone(),
                        filter: e.cfg.filter.clone(),
                    })
                })
                .collect();
            c.routes.set(feeds);
        }
    }

    fn fail(st: &mut Status, error: String, retries_max: u32, name: &str) {
        st.retries += 1;
        st.error = Some(error.clone());
        if st.retries > retries_max {
            st.state = State::Fatal;
            st.since = Some(SystemTime::now());
            st.next_try = None;
            tracing::error!(instance = %name, "gave up after {} attempts: {error}", st.retries);
        } else {
            st.state = State::Backoff;
            let wait = Duration::from_secs(st.retries.min(30) as u64);
            st.next_try = Some(Instant::now() + wait);
            tracing::warn!(instance = %name, "start failed ({error}); retry {} of {retries_max} in {wait:?}", st.retries);
        }
    }

    fn start_collector(&mut self, i: usize) -> Result<(), String> {
        let retries_max = self.cfg.supervisor.startretries;
        let dir = self.cfg.general.template_cache_dir.clone();
        let c = &mut self.collectors[i];
        if c.run.is_some() {
            return Err("already started".into());
        }
        c.st.state = State::Starting;
        let name = c.cfg.instance_name();
        let sock = match collector::bind(&c.cfg) {
            Ok(s) => s,
            Err(e) => {
                Supervisor::fail(&mut c.st, e.clone(), retries_max, &name);
                return Err(e);
            }
        };
        let decoder = decoder_for(dir.as_deref(), &c.cfg.id, c.cache.take());
        let stop = Arc::new(AtomicBool::new(false));
        let tid = Arc::new(AtomicI32::new(0));
        let cx = collector::Context {
            routes: c.routes.clone(),
            metrics: c.metrics.clone(),
            stop: stop.clone(),
            cache_file: dir.as_deref().map(|d| cache_file(d, &c.cfg.id)),
            tid: tid.clone(),
        };
        let cfg = c.cfg.clone();
        let handle = std::thread::Builder::new()
            .name(format!("c:{}", c.cfg.id))
            .spawn(move || collector::run(cfg, sock, decoder, cx))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        c.run = Some(Running {
            handle,
            stop,
            tid,
            started: Instant::now(),
        });
        c.st.state = State::Running;
        c.st.error = None;
        c.st.next_try = None;
        tracing::info!(instance = %name, "started");
        Ok(())
    }

    fn stop_collector(&mut self, i: usize) -> bool {
        let dir = self.cfg.general.template_cache_dir.clone();
        let c = &mut self.collectors[i];
        let name = c.cfg.instance_name();
        let Some(run) = c.run.take() else {
            return c.st.stop_idle();
        };
        c.st.next_try = None;
        c.st.state = State::Stopping;
        run.stop.store(true, Relaxed);
        match run.handle.join() {
            Ok(dec) => {
                if let Some(d) = &dir {
                    let f = cache_file(d, &c.cfg.id);
                    match collector::save_cache(&f, &dec) {
                        Ok(()) => {
                            tracing::info!(instance = %name, file = %f.display(), "template cache saved")
                        }
                        Err(e) => {
                            tracing::warn!(instance = %name, file = %f.display(), "cannot save the template cache: {e}")
                        }
                    }
                }
                c.cache = Some(dec.cache);
            }
            Err(_) => tracing::error!(instance = %name, "collector thread panicked"),
        }
        c.st.stopped();
        tracing::info!(instance = %name, "stopped");
        true
    }

    fn start_exporter(&mut self, i: usize) -> Result<(), String> {
        let e = &mut self.exporters[i];
        if e.run.is_some() {
            return Err("already started".into());
        }
        e.st.state = State::Starting;
        // The queue holds receive batches (up to 32 datagrams each, fewer when
        // traffic is light).
        let (tx, rx) = sync_channel((e.cfg.queue_datagrams / 8).max(4));
        let stop = Arc::new(AtomicBool::new(false));
        let tid = Arc::new(AtomicI32::new(0));
        let (cfg, m, stop2, tid2) = (e.cfg.clone(), e.metrics.clone(), stop.clone(), tid.clone());
        let handle = std::thread::Builder::new()
            .name(format!("x:{}", e.cfg.id))
            .spawn(move || exporter::run(cfg, rx, m, stop2, tid2))
            .map_err(|err| format!("cannot start a thread: {err}"))?;
        e.tx = Some(tx);
        e.run = Some(Running {
            handle,
            stop,
            tid,
            started: Instant::now(),
        });
        e.st.state = State::Running;
        e.st.error = None;
        e.st.next_try = None;
        tracing::info!(instance = %e.cfg.instance_name(), "started");
        self.rebuild_routes();
        Ok(())
    }

    fn stop_exporter(&mut self, i: usize) -> bool {
        let e = &mut self.exporters[i];
        let Some(run) = e.run.take() else {
            return e.st.stop_idle();
        };
        e.st.next_try = None;
        e.st.state = State::Stopping;
        e.tx = None;
        // Out of every route first, so no collector queues more for it.
        self.rebuild_routes();
        let e = &mut self.exporters[i];
        run.stop.store(true, Relaxed);
        if run.handle.join().is_err() {
            tracing::error!(instance = %e.cfg.instance_name(), "exporter thread panicked");
        }
        e.st.stopped();
        tracing::info!(instance = %e.cfg.instance_name(), "stopped");
        true
    }

    /// Start everything `autostart_instances` says to: exporters first, so the
    /// collectors have somewhere to send from their first datagram.
    pub fn autostart(&mut self) {
        if !self.cfg.supervisor.autostart {
            tracing::info!("autostart_instances is false: instances wait for `start`");
            return;
        }
        for i in 0..self.exporters.len() {
            let _ = self.start_exporter(i);
        }
        for i in 0..self.collectors.len() {
            let _ = self.start_collector(i);
        }
    }

    /// Notice instances whose thread ended on its own (a panic), and retry
    /// BACKOFF instances whose time has come.
    pub fn maintain(&mut self) {
        let retries_max = self.cfg.supervisor.startretries;
        let autorestart = self.cfg.supervisor.autorestart;
        for i in 0..self.collectors.len() {
            let c = &mut self.collectors[i];
            if c.run.as_ref().is_some_and(|r| r.handle.is_finished()) {
                if let Some(run) = c.run.take() {
                    let quick = run.started.elapsed() < START_SECS;
                    let why = match run.handle.join() {
                        Ok(dec) => {
                            c.cache = Some(dec.cache);
                            "the collector thread ended".to_string()
                        }
                        Err(_) => "the collector thread panicked".to_string(),
                    };
                    let name = c.cfg.instance_name();
                    if after_exit(&mut c.st, quick, why, retries_max, autorestart, &name) {
                        let _ = self.start_collector(i);
                    }
                }
            }
            if self.collectors[i].st.retry_due() {
                let _ = self.start_collector(i);
            }
        }
        let mut routes_changed = false;
        for i in 0..self.exporters.len() {
            let e = &mut self.exporters[i];
            if e.run.as_ref().is_some_and(|r| r.handle.is_finished()) {
                if let Some(run) = e.run.take() {
                    e.tx = None;
                    routes_changed = true;
                    let quick = run.started.elapsed() < START_SECS;
                    let why = match run.handle.join() {
                        Ok(()) => "the exporter thread ended".to_string(),
                        Err(_) => "the exporter thread panicked".to_string(),
                    };
                    let name = e.cfg.instance_name();
                    if after_exit(&mut e.st, quick, why, retries_max, autorestart, &name) {
                        let _ = self.start_exporter(i);
                    }
                }
            }
            if self.exporters[i].st.retry_due() {
                let _ = self.start_exporter(i);
            }
        }
        if routes_changed {
            self.rebuild_routes();
        }
    }

    /// Stop everything: collectors first (their templates are saved), then the
    /// exporters send what is queued.
    pub fn shutdown(&mut self) {
        for i in 0..self.collectors.len() {
            self.stop_collector(i);
        }
        for i in 0..self.exporters.len() {
            self.stop_exporter(i);
        }
        for e in &self.exporters {
            let m = &e.metrics;
            tracing::info!(
                exporter = %e.cfg.id,
                matched = m.flows_matched.load(Relaxed),
                sent = m.flows_sent.load(Relaxed),
                datagrams = m.datagrams_sent.load(Relaxed),
                drops = m.queue_drops.load(Relaxed),
                "final counts"
            );
        }
    }

    // -----------------------------------------------------------------------
    // Control commands
    // -----------------------------------------------------------------------

    /// All instance names, collectors first, in configuration order.
    fn names(&self) -> Vec<String> {
        self.collectors
            .iter()
            .map(|c| c.cfg.instance_name())
            .chain(self.exporters.iter().map(|e| e.cfg.instance_name()))
            .collect()
    }

    /// The instances `target` names: a name, a bare id, `all`, `collectors`,
    /// `exporters`.
    fn resolve(&self, target: &str) -> Result<Vec<String>, String> {
        let all = self.names();
        let picked: Vec<String> = match target {
            "all" => all,
            "collectors" => all
                .into_iter()
                .filter(|n| n.ends_with("_collector"))
                .collect(),
            "exporters" => all
                .into_iter()
                .filter(|n| n.ends_with("_exporter"))
                .collect(),
            t => {
                if all.iter().any(|n| n == t) {
                    vec![t.to_string()]
                } else {
                    let by_id: Vec<String> = [format!("{t}_collector"), format!("{t}_exporter")]
                        .into_iter()
                        .filter(|n| all.contains(n))
                        .collect();
                    if by_id.is_empty() {
                        return Err(format!("{t}: ERROR (no such process)"));
                    }
                    by_id
                }
            }
        };
        Ok(picked)
    }

    fn index(&self, name: &str) -> Option<(bool, usize)> {
        if let Some(i) = self
            .collectors
            .iter()
            .position(|c| c.cfg.instance_name() == name)
        {
            return Some((true, i));
        }
        self.exporters
            .iter()
            .position(|e| e.cfg.instance_name() == name)
            .map(|i| (false, i))
    }

    fn status_line(&self, name: &str) -> (String, bool) {
        let Some((is_c, i)) = self.index(name) else {
            return (format!("{name}: ERROR (no such process)"), false);
        };
        let (st, tid, started) = if is_c {
            let c = &self.collectors[i];
            (
                &c.st,
                c.run.as_ref().map(|r| r.tid.load(Relaxed)),
                c.run.as_ref().map(|r| r.started),
            )
        } else {
            let e = &self.exporters[i];
            (
                &e.st,
                e.run.as_ref().map(|r| r.tid.load(Relaxed)),
                e.run.as_ref().map(|r| r.started),
            )
        };
        let desc = match st.state {
            State::Running => format!(
                "pid {}, uptime {}",
                tid.unwrap_or(0),
                uptime(started.map(|s| s.elapsed()).unwrap_or_default())
            ),
            State::Stopped => st.since.map(stamp).unwrap_or_else(|| "Not started".into()),
            State::Backoff | State::Fatal | State::Exited => st.error.clone().unwrap_or_default(),
            State::Starting | State::Stopping => String::new(),
        };
        (
            format!("{name:<28} {} {desc}", st.state.name())
                .trim_end()
                .to_string(),
            st.state == State::Running,
        )
    }

    fn start_by_name(&mut self, name: &str) -> Result<(), String> {
        match self.index(name) {
            Some((true, i)) => {
                if self.collectors[i].run.is_some() {
                    return Err("already started".into());
                }
                self.collectors[i].st.retries = 0;
                self.start_collector(i)
            }
            Some((false, i)) => {
                if self.exporters[i].run.is_some() {
                    return Err("already started".into());
                }
                self.exporters[i].st.retries = 0;
                self.start_exporter(i)
            }
            None => Err("no such process".into()),
        }
    }

    fn stop_by_name(&mut self, name: &str) -> bool {
        match self.index(name) {
            Some((true, i)) => self.stop_collector(i),
            Some((false, i)) => self.stop_exporter(i),
            None => false,
        }
    }

    /// Handle one control command line. `shutdown` is answered here and acted on
    /// by the caller (see [`Supervisor::wants_shutdown`]).
    pub fn command(&mut self, line: &str) -> Reply {
        let mut r = Reply {
            lines: Vec::new(),
            code: exit::OK,
        };
        let mut words = line.split_whitespace();
        let verb = words.next().unwrap_or("");
        let arg = words.next();
        tracing::info!(command = %line.trim(), "control command");
        match (verb, arg) {
            ("status", target) => {
                let names = match self.resolve(target.unwrap_or("all")) {
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
            ("start" | "stop" | "restart", Some(target)) => {
                let names = match self.resolve(target) {
                    Ok(n) => n,
                    Err(e) => {
                        r.fail(e);
                        return r;
                    }
                };
                // Start exporters before collectors, stop collectors before exporters.
                let mut order = names.clone();
                if verb == "start" {
                    order.sort_by_key(|n| n.ends_with("_collector"));
                } else {
                    order.sort_by_key(|n| n.ends_with("_exporter"));
                }
                if verb == "stop" || verb == "restart" {
                    for n in &order {
                        if self.stop_by_name(n) {
                            r.line(format!("{n}: stopped"));
                        } else if verb == "stop" {
                            r.fail(format!("{n}: ERROR (not running)"));
                        }
                    }
                }
                if verb == "start" || verb == "restart" {
                    let mut order = names;
                    order.sort_by_key(|n| n.ends_with("_collector"));
                    for n in &order {
                        match self.start_by_name(n) {
                            Ok(()) => r.line(format!("{n}: started")),
                            Err(e) => r.fail(format!("{n}: ERROR ({e})")),
                        }
                    }
                }
            }
            ("reread", None) => match Config::load(&self.cfg.path) {
                Ok(new) => {
                    let d = self.diff(&new);
                    if d.is_empty() {
                        r.line("No config updates to processes");
                    }
                    for (n, what) in d {
                        r.line(format!("{n}: {what}"));
                    }
                }
                Err(e) => {
                    r.code = exit::USAGE;
                    r.lines.extend(e.to_string().lines().map(String::from));
                    r.line("the running configuration is unchanged");
                }
            },
            ("reload", None) => self.reload(&mut r),
            ("shutdown", None) => r.line("Shut down"),
            _ => {
                r.code = exit::USAGE;
                r.line(format!(
                    "unknown command {line:?}: status [NAME], start|stop|restart NAME|all|collectors|exporters, reread, reload, shutdown"
                ));
            }
        }
        r
    }

    /// Every instance that was asked to start is running or has given up (none is
    /// STARTING or in BACKOFF): the moment to tell systemd READY.
    pub fn settled(&self) -> bool {
        let busy = |st: &Status| matches!(st.state, State::Starting | State::Backoff);
        !self.collectors.iter().any(|c| busy(&c.st)) && !self.exporters.iter().any(|e| busy(&e.st))
    }

    /// A one-line summary for systemd's STATUS=.
    pub fn summary(&self) -> String {
        let all: Vec<&Status> = self
            .collectors
            .iter()
            .map(|c| &c.st)
            .chain(self.exporters.iter().map(|e| &e.st))
            .collect();
        let n = |s: State| all.iter().filter(|x| x.state == s).count();
        format!(
            "{} running, {} stopped, {} in backoff, {} fatal",
            n(State::Running),
            n(State::Stopped),
            n(State::Backoff),
            n(State::Fatal)
        )
    }

    pub fn wants_shutdown(line: &str) -> bool {
        line.split_whitespace().next() == Some("shutdown")
    }

    /// Instances added, changed or removed by `new`, in a stable order.
    fn diff(&self, new: &Config) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        for c in &new.collectors {
            match self.collectors.iter().find(|x| x.cfg.id == c.id) {
                None => out.push((c.instance_name(), "added")),
                Some(x) if x.cfg != *c => out.push((c.instance_name(), "changed")),
                _ => {}
            }
        }
        for c in &self.collectors {
            if new.collector(&c.cfg.id).is_none() {
                out.push((c.cfg.instance_name(), "removed"));
            }
        }
        for e in &new.exporters {
            match self.exporters.iter().find(|x| x.cfg.id == e.id) {
                None => out.push((e.instance_name(), "added")),
                Some(x) if x.cfg != *e => out.push((e.instance_name(), "changed")),
                _ => {}
            }
        }
        for e in &self.exporters {
            if new.exporter(&e.cfg.id).is_none() {
                out.push((e.cfg.instance_name(), "removed"));
            }
        }
        out
    }

    /// Apply the configuration file again: stop removed instances, restart changed
    /// ones, start added ones; unchanged instances keep running. A collector whose
    /// only change is `mux_to` is re-routed without a restart. A configuration that
    /// does not load changes nothing.
    pub fn reload(&mut self, r: &mut Reply) {
        let new = match Config::load(&self.cfg.path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("reload refused, the running configuration stays: {e}");
                r.code = exit::USAGE;
                r.lines.extend(e.to_string().lines().map(String::from));
                r.line("the running configuration is unchanged");
                return;
            }
        };
        for w in &new.warnings {
            tracing::warn!("{w}");
        }
        if new.general != self.cfg.general || new.supervisor != self.cfg.supervisor {
            r.line("note: changes to general and supervisor take effect at the next server start");
        }
        let diff = self.diff(&new);
        if diff.is_empty() {
            r.line("No config updates to processes");
        }
        // 1. Stop what goes away or changes (collectors first: ports are freed
        //    before anything new binds).
        let mut restart_c: BTreeSet<String> = BTreeSet::new();
        let mut restart_e: BTreeSet<String> = BTreeSet::new();
        let mut i = 0;
        while i < self.collectors.len() {
            let id = self.collectors[i].cfg.id.clone();
            match new.collector(&id) {
                None => {
                    self.stop_collector(i);
                    self.collectors.remove(i);
                    r.line(format!("{id}_collector: removed"));
                    continue;
                }
                Some(nc) if *nc != self.collectors[i].cfg => {
                    let mut same_but_routes = self.collectors[i].cfg.clone();
                    same_but_routes.mux_to = nc.mux_to.clone();
                    if same_but_routes == *nc {
                        self.collectors[i].cfg = nc.clone();
                        r.line(format!(
                            "{id}_collector: changed (routes updated, no restart)"
                        ));
                    } else {
                        let was_running = self.collectors[i].run.is_some();
                        self.stop_collector(i);
                        self.collectors[i].cfg = nc.clone();
                        self.collectors[i].cache = None;
                        if was_running {
                            restart_c.insert(id.clone());
                        }
                        r.line(format!("{id}_collector: changed"));
                    }
                }
                _ => {}
            }
            i += 1;
        }
        let mut i = 0;
        while i < self.exporters.len() {
            let id = self.exporters[i].cfg.id.clone();
            match new.exporter(&id) {
                None => {
                    self.stop_exporter(i);
                    self.exporters.remove(i);
                    r.line(format!("{id}_exporter: removed"));
                    continue;
                }
                Some(ne) if *ne != self.exporters[i].cfg => {
                    let was_running = self.exporters[i].run.is_some();
                    self.stop_exporter(i);
                    self.exporters[i].cfg = ne.clone();
                    if was_running {
                        restart_e.insert(id.clone());
                    }
                    r.line(format!("{id}_exporter: changed"));
                }
                _ => {}
            }
            i += 1;
        }
        // 2. Add what is new, in the new file's order.
        let autostart = new.supervisor.autostart;
        for e in &new.exporters {
            if !self.exporters.iter().any(|x| x.cfg.id == e.id) {
                self.exporters.push(ExporterInst {
                    cfg: e.clone(),
                    metrics: ExporterMetrics::new(&e.id),
                    tx: None,
                    run: None,
                    st: Status::new(),
                });
                r.line(format!("{}: added", e.instance_name()));
                if autostart {
                    restart_e.insert(e.id.clone());
                }
            }
        }
        for c in &new.collectors {
            if !self.collectors.iter().any(|x| x.cfg.id == c.id) {
                self.collectors.push(CollectorInst {
                    cfg: c.clone(),
                    metrics: CollectorMetrics::new(&c.id),
                    routes: Arc::new(Routes::default()),
                    run: None,
                    cache: None,
                    st: Status::new(),
                });
                r.line(format!("{}: added", c.instance_name()));
                if autostart {
                    restart_c.insert(c.id.clone());
                }
            }
        }
        // Keep the new file's order for status listings.
        self.exporters
            .sort_by_key(|x| new.exporters.iter().position(|e| e.id == x.cfg.id));
        self.collectors
            .sort_by_key(|x| new.collectors.iter().position(|c| c.id == x.cfg.id));
        let (general, supervisor, path) = (
            self.cfg.general.clone(),
            self.cfg.supervisor.clone(),
            self.cfg.path.clone(),
        );
        self.cfg = Config {
            general,
            supervisor,
            path,
            ..new
        };
        // 3. Start: exporters, then collectors.
        for i in 0..self.exporters.len() {
            if restart_e.contains(&self.exporters[i].cfg.id) {
                let n = self.exporters[i].cfg.instance_name();
                match self.start_exporter(i) {
                    Ok(()) => r.line(format!("{n}: started")),
                    Err(e) => r.fail(format!("{n}: ERROR ({e})")),
                }
            }
        }
        self.rebuild_routes();
        for i in 0..self.collectors.len() {
            if restart_c.contains(&self.collectors[i].cfg.id) {
                let n = self.collectors[i].cfg.instance_name();
                match self.start_collector(i) {
                    Ok(()) => r.line(format!("{n}: started")),
                    Err(e) => r.fail(format!("{n}: ERROR ({e})")),
                }
            }
        }
        self.publish_registry();
        tracing::info!("configuration reloaded");
    }
}

/// Run the server until SIGTERM/SIGINT or `shutdown`.
pub fn run(cfg: Config) -> Result<(), String> {
    use nix::sys::signal::{SigSet, Signal};
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    // Signals are taken by one thread with sigwait; block them before any thread
    // starts so every thread inherits the mask.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGHUP);
    signals
        .thread_block()
        .map_err(|e| format!("cannot block signals: {e}"))?;
    if let Some(d) = &cfg.general.template_cache_dir {
        std::fs::create_dir_all(d).map_err(|e| {
            format!(
                "general.template_cache_dir: cannot create {}: {e}",
                d.display()
            )
        })?;
    }
    let (tx, rx): (Sender<Event>, Receiver<Event>) = std::sync::mpsc::channel();
    let ctl = control::Listener::bind(&cfg.supervisor.unix_socket)?;
    let http_listener = match cfg.general.metrics_listen {
        Some(a) => Some(http::bind(a)?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut sup = Supervisor::new(cfg);
    let ctl_thread = {
        let (tx, stop) = (tx.clone(), stop.clone());
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || ctl.serve(tx, stop))
            .map_err(|e| format!("cannot start the control thread: {e}"))?
    };
    let http_thread = http_listener.map(|l| {
        let (reg, stop) = (sup.registry.clone(), stop.clone());
        std::thread::spawn(move || http::run(l, reg, stop))
    });
    {
        let tx = tx.clone();
        // Detached: it ends with the process.
        let _ = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                while let Ok(sig) = signals.wait() {
                    if tx.send(Event::Signal(sig)).is_err() {
                        break;
                    }
                }
            });
    }
    sup.autostart();
    tracing::info!(
        collectors = sup.collectors.len(),
        exporters = sup.exporters.len(),
        socket = %sup.cfg.supervisor.unix_socket.display(),
        metrics = ?sup.cfg.general.metrics_listen,
        "octoflow server running"
    );
    let mut log = util::RateLimit::new(Duration::from_secs(60));
    let mut ready = false;
    loop {
        if !ready && sup.settled() {
            ready = true;
            systemd::notify(&format!("READY=1\nSTATUS={}", sup.summary()));
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Event::Signal(Signal::SIGHUP)) => {
                tracing::info!("SIGHUP: reloading the configuration");
                systemd::reloading();
                let mut r = Reply::default();
                sup.reload(&mut r);
                ready = false;
                for l in &r.lines {
                    tracing::info!("reload: {l}");
                }
            }
            Ok(Event::Signal(sig)) => {
                tracing::info!("{sig}: shutting down");
                break;
            }
            Ok(Event::Command(line, reply)) => {
                let reload = line.split_whitespace().next() == Some("reload");
                if reload {
                    systemd::reloading();
                }
                let r = sup.command(&line);
                if reload {
                    ready = false;
                }
                let _ = reply.send(r);
                if Supervisor::wants_shutdown(&line) {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if log.ready() {
                    tracing::error!("control channel closed");
                }
                break;
            }
        }
        sup.maintain();
    }
    systemd::notify("STOPPING=1\nSTATUS=stopping: sending what is queued");
    // Commands still queued get no answer: dropping them lets their connections go.
    drop(rx);
    sup.shutdown();
    stop.store(true, Relaxed);
    let _ = ctl_thread.join();
    if let Some(h) = http_thread {
        let _ = h.join();
    }
    tracing::info!("octoflow server stopped");
    Ok(())
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
