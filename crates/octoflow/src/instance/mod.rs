//! What the supervisor runs: instances of any kind (collectors and outputs
//! today), each one thread, behind one trait. The life-cycle rules
//! ([`lifecycle`]) and the supervisor's commands and reload are written once
//! against [`Supervised`]; a new kind (a BGP session, a store) implements it
//! beside its own code and gets one entry in `crate::supervisor::kinds`.

pub mod lifecycle;

use std::any::Any;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::fanout::Feed;
use crate::telemetry::metrics::Registry;
use lifecycle::Lifecycle;

/// Which group an instance belongs to: its name's suffix, the `collectors` /
/// `exporters` targets of control commands, and the order of starts and stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Collector,
    Output,
    /// A routing session: the BGP speaker, the BMP station.
    Session,
}

impl Role {
    pub fn suffix(self) -> &'static str {
        match self {
            Role::Collector => "_collector",
            Role::Output => "_exporter",
            Role::Session => "_session",
        }
    }

    /// The control commands' name for all instances of the role.
    pub fn group(self) -> &'static str {
        match self {
            Role::Collector => "collectors",
            Role::Output => "exporters",
            Role::Session => "sessions",
        }
    }
}

/// What every instance may need from the server when it starts or stops.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `general.template_cache_dir`.
    pub template_cache_dir: Option<PathBuf>,
}

/// What a new configuration means for a running instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Same,
    /// Applied without a restart (e.g. a collector's routes).
    InPlace,
    /// The new configuration is stored; the instance must restart to use it.
    Restart,
}

/// An instance's running thread: the handle, its stop flag, its thread id (shown
/// as the pid) and when it started.
pub struct Thread<T> {
    handle: JoinHandle<T>,
    stop: Arc<AtomicBool>,
    tid: Arc<AtomicI32>,
}

/// What a thread gets to know it must stop and to publish its id.
#[derive(Clone)]
pub struct ThreadCtl {
    pub stop: Arc<AtomicBool>,
    tid: Arc<AtomicI32>,
}

impl ThreadCtl {
    /// Called first thing on the new thread.
    pub fn started(&self) {
        self.tid.store(nix::unistd::gettid().as_raw(), Relaxed);
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Relaxed)
    }
}

impl<T: Send + 'static> Thread<T> {
    /// Start `f` on a thread named `name`.
    pub fn spawn(
        name: String,
        f: impl FnOnce(ThreadCtl) -> T + Send + 'static,
    ) -> Result<Thread<T>, String> {
        let ctl = ThreadCtl {
            stop: Arc::new(AtomicBool::new(false)),
            tid: Arc::new(AtomicI32::new(0)),
        };
        let (stop, tid) = (ctl.stop.clone(), ctl.tid.clone());
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || f(ctl))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        Ok(Thread { handle, stop, tid })
    }

    pub fn tid(&self) -> i32 {
        self.tid.load(Relaxed)
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Ask the thread to stop and wait for it; `Err` if it panicked.
    pub fn stop(self) -> Result<T, ()> {
        self.stop.store(true, Relaxed);
        self.handle.join().map_err(|_| ())
    }
}

/// What every instance has whatever its kind: its life cycle and its thread
/// (which returns `T` when it ends).
pub struct Core<T> {
    pub life: Lifecycle,
    pub thread: Option<Thread<T>>,
}

impl<T> Default for Core<T> {
    fn default() -> Self {
        Core {
            life: Lifecycle::new(),
            thread: None,
        }
    }
}

/// A [`Core`] seen without its thread's result type.
pub trait CoreView {
    fn life(&self) -> &Lifecycle;
    fn life_mut(&mut self) -> &mut Lifecycle;
    /// Whether its thread runs (or ended and was not yet reaped).
    fn has_thread(&self) -> bool;
    /// The running thread's id.
    fn tid(&self) -> Option<i32>;
    /// Its thread ended on its own.
    fn finished(&self) -> bool;
}

impl<T: Send + 'static> CoreView for Core<T> {
    fn life(&self) -> &Lifecycle {
        &self.life
    }
    fn life_mut(&mut self) -> &mut Lifecycle {
        &mut self.life
    }
    fn has_thread(&self) -> bool {
        self.thread.is_some()
    }
    fn tid(&self) -> Option<i32> {
        self.thread.as_ref().map(|t| t.tid())
    }
    fn finished(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| t.is_finished())
    }
}

/// Any instance as `Any`, for the one place that maps configurations to kinds
/// (`crate::supervisor::kinds`).
pub trait AsAny {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// One supervised instance. Its life cycle is the supervisor's; the rest is the
/// kind's.
pub trait Supervised: AsAny {
    fn id(&self) -> &str;
    fn role(&self) -> Role;
    fn core(&self) -> &dyn CoreView;
    fn core_mut(&mut self) -> &mut dyn CoreView;
    /// Start its thread (binding sockets and the like first).
    fn spawn(&mut self, env: &Env) -> Result<(), String>;
    /// Stop its thread and wait for it (`None` if it had none). `Some(Err)`
    /// says how it ended badly. Also used to reap a thread that ended on its own.
    fn join(&mut self, env: &Env) -> Option<Result<(), String>>;

    /// An output's queue, while it runs.
    fn feed(&self) -> Option<Feed> {
        None
    }
    /// A collector takes its outputs' queues from the running ones.
    fn route(&self, _feeds: &HashMap<String, Feed>) {}
    /// Its counters, for `/metrics` and `/status`.
    fn publish(&self, reg: &mut Registry);
    /// A log line of its totals at shutdown.
    fn final_counts(&self) {}

    fn name(&self) -> String {
        format!("{}{}", self.id(), self.role().suffix())
    }
    fn life(&self) -> &Lifecycle {
        self.core().life()
    }
    fn life_mut(&mut self) -> &mut Lifecycle {
        self.core_mut().life_mut()
    }
    fn has_thread(&self) -> bool {
        self.core().has_thread()
    }
    fn tid(&self) -> Option<i32> {
        self.core().tid()
    }
    fn finished(&self) -> bool {
        self.core().finished()
    }
}
