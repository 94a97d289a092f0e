//! The supervisor: every collector and output is an *instance* (`<id>_collector`,
//! `<id>_exporter`) with supervisord's life cycle, run as a thread of this one
//! process. The control socket, SIGHUP and SIGTERM all end up here as events,
//! handled one at a time by the server loop ([`server`]), so instance state has
//! one owner.
//!
//! - `crate::instance`: the `Supervised` trait every kind implements, and the
//!   life cycle (states, backoff, give up, restart) on injected time;
//! - [`kinds`]: the one place that maps configuration kinds to instances;
//! - [`commands`]: `status`, `start`, `stop`, `restart`;
//! - [`reload`]: reread and reload (the diff, and applying it);
//! - [`server`]: the server loop, its threads and signals.
//!
//! Instances are independent: stopping an output only takes it out of its
//! collectors' routes; stopping a collector frees its port and keeps its
//! templates for the next start; a reload touches only what changed.

pub mod commands;
pub mod kinds;
pub mod reload;
pub mod server;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use crate::config::Config;
use crate::instance::lifecycle::{Exit, Failed, Policy, State};
use crate::instance::{Env, Role, Supervised};
use crate::telemetry::metrics::Registry;

pub struct Supervisor {
    cfg: Config,
    env: Env,
    /// Collectors first, then outputs, each in configuration order.
    instances: Vec<Box<dyn Supervised>>,
    registry: Arc<Mutex<Registry>>,
}

impl Supervisor {
    pub fn new(cfg: Config) -> Supervisor {
        let instances = cfg.specs().iter().map(kinds::instance_for).collect();
        let s = Supervisor {
            env: Env {
                template_cache_dir: cfg.general.template_cache_dir.clone(),
            },
            cfg,
            instances,
            registry: Arc::new(Mutex::new(Registry::default())),
        };
        s.publish_registry();
        s
    }

    fn policy(&self) -> Policy {
        Policy {
            retries_max: self.cfg.supervisor.startretries,
            autorestart: self.cfg.supervisor.autorestart,
        }
    }

    fn publish_registry(&self) {
        if let Ok(mut r) = self.registry.lock() {
            *r = Registry::default();
            for i in &self.instances {
                i.publish(&mut r);
            }
        }
    }

    /// Give each collector the queues of its running outputs.
    fn rebuild_routes(&self) {
        let feeds: HashMap<String, _> = self
            .instances
            .iter()
            .filter_map(|i| i.feed().map(|f| (i.id().to_string(), f)))
            .collect();
        for i in &self.instances {
            i.route(&feeds);
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.instances.iter().position(|i| i.name() == name)
    }

    /// Start instance `i`'s thread; a failure means BACKOFF or FATAL.
    fn start(&mut self, i: usize) -> Result<(), String> {
        let policy = self.policy();
        let inst = &mut self.instances[i];
        if inst.has_thread() {
            return Err("already started".into());
        }
        let name = inst.name();
        inst.life_mut().starting();
        if let Err(e) = inst.spawn(&self.env) {
            let failed =
                inst.life_mut()
                    .start_failed(e.clone(), policy, Instant::now(), SystemTime::now());
            log_failed(&name, &e, &failed, policy);
            return Err(e);
        }
        inst.life_mut().running(Instant::now());
        tracing::info!(instance = %name, "started");
        if inst.role() == Role::Output {
            self.rebuild_routes();
        }
        Ok(())
    }

    /// Stop instance `i`: false if it was not running (nor waiting to retry).
    fn stop(&mut self, i: usize) -> bool {
        let inst = &mut self.instances[i];
        if !inst.has_thread() {
            return inst.life_mut().stop_idle(SystemTime::now());
        }
        inst.life_mut().stopping();
        if inst.role() == Role::Output {
            // Out of every route first, so no collector queues more for it.
            self.rebuild_routes();
        }
        let inst = &mut self.instances[i];
        let name = inst.name();
        if let Some(Err(e)) = inst.join(&self.env) {
            tracing::error!(instance = %name, "{e}");
        }
        inst.life_mut().stopped(SystemTime::now());
        tracing::info!(instance = %name, "stopped");
        true
    }

    /// The instances in the order to start them: outputs first, so collectors
    /// have somewhere to send from their first datagram.
    fn start_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.instances.len()).collect();
        order.sort_by_key(|&i| self.instances[i].role() == Role::Collector);
        order
    }

    /// Start everything `autostart_instances` says to.
    pub fn autostart(&mut self) {
        if !self.cfg.supervisor.autostart {
            tracing::info!("autostart_instances is false: instances wait for `start`");
            return;
        }
        for i in self.start_order() {
            let _ = self.start(i);
        }
    }

    /// Reap instances whose thread ended on its own (a panic), and retry BACKOFF
    /// instances whose time has come.
    pub fn maintain(&mut self) {
        let policy = self.policy();
        for i in self.start_order() {
            let inst = &mut self.instances[i];
            if inst.has_thread() && inst.finished() {
                let name = inst.name();
                let why = match inst.join(&self.env) {
                    Some(Err(e)) => e,
                    _ => format!("the {} thread ended", role_word(inst.role())),
                };
                let exit =
                    inst.life_mut()
                        .exited(why.clone(), policy, Instant::now(), SystemTime::now());
                if inst.role() == Role::Output {
                    self.rebuild_routes();
                }
                match exit {
                    Exit::Restart => {
                        tracing::error!(instance = %name, "{why}; restarting");
                        let _ = self.start(i);
                    }
                    Exit::FailedStart(f) => log_failed(&name, &why, &f, policy),
                    Exit::Exited => tracing::error!(instance = %name, "{why}"),
                }
            }
            if self.instances[i].life().retry_due(Instant::now()) {
                let _ = self.start(i);
            }
        }
    }

    /// Stop everything: collectors first (their templates are saved), then the
    /// outputs send what is queued.
    pub fn shutdown(&mut self) {
        let mut order = self.start_order();
        order.reverse();
        for i in order {
            self.stop(i);
        }
        for i in &self.instances {
            i.final_counts();
        }
    }

    /// Every instance that was asked to start is running or has given up (none is
    /// STARTING or in BACKOFF): the moment to tell systemd READY.
    pub fn settled(&self) -> bool {
        !self.instances.iter().any(|i| i.life().busy())
    }

    /// A one-line summary for systemd's STATUS=.
    pub fn summary(&self) -> String {
        let n = |s: State| {
            self.instances
                .iter()
                .filter(|i| i.life().state() == s)
                .count()
        };
        format!(
            "{} running, {} stopped, {} in backoff, {} fatal",
            n(State::Running),
            n(State::Stopped),
            n(State::Backoff),
            n(State::Fatal)
        )
    }
}

fn role_word(r: Role) -> &'static str {
    match r {
        Role::Collector => "collector",
        Role::Output => "exporter",
        Role::Session => "session",
    }
}

fn log_failed(name: &str, error: &str, f: &Failed, policy: Policy) {
    match f {
        Failed::Retry { retry, wait } => tracing::warn!(
            instance = %name,
            "start failed ({error}); retry {retry} of {} in {wait:?}",
            policy.retries_max
        ),
        Failed::GaveUp { attempts } => {
            tracing::error!(instance = %name, "gave up after {attempts} attempts: {error}")
        }
    }
}
