//! Routing sessions as supervised instances: the passive BGP speaker
//! (`bgp_session`, [`bgp`]) and the BMP station (`bmp_session`, [`bmp`]).
//! Each listens on its own address, runs one thread per connected router,
//! and writes routes into the process's RIBs (`crate::enrich::routing`),
//! which the collectors read. The protocols themselves are `octoflow-bgp`'s
//! (sans-IO); this module is the sockets and threads around them.

pub mod bgp;
pub mod bmp;
mod listener;
pub mod show;

use crate::instance::{Change, Core, CoreView, Env, Role, Supervised, Thread};
use crate::telemetry::metrics::Registry;

/// What a routing session's configuration must give its instance.
pub trait SessionKind: Clone + PartialEq + Send + 'static {
    /// The instance's id (`bgp` → `bgp_session`).
    const ID: &'static str;
    /// Bind the listener and start the thread.
    fn start(&self) -> Result<Thread<()>, String>;
    /// After the thread has stopped.
    fn stopped(&self) {}
}

/// A routing session as a supervised instance: the speaker (`bgp_session`) or
/// the station (`bmp_session`). Any change of its section restarts it (the
/// routers send their tables again); an unchanged one keeps it up.
pub struct SessionInstance<C> {
    cfg: C,
    core: Core<()>,
}

pub type BgpInstance = SessionInstance<crate::enrich::config::BgpConfig>;
pub type BmpInstance = SessionInstance<crate::enrich::config::BmpConfig>;

impl<C: SessionKind> SessionInstance<C> {
    pub fn new(cfg: &C) -> SessionInstance<C> {
        SessionInstance {
            cfg: cfg.clone(),
            core: Core::default(),
        }
    }

    pub fn config(&self) -> &C {
        &self.cfg
    }

    pub fn reconfigure(&mut self, new: &C) -> Change {
        if *new == self.cfg {
            return Change::Same;
        }
        self.cfg = new.clone();
        Change::Restart
    }
}

impl<C: SessionKind> Supervised for SessionInstance<C> {
    fn id(&self) -> &str {
        C::ID
    }
    fn role(&self) -> Role {
        Role::Session
    }
    fn core(&self) -> &dyn CoreView {
        &self.core
    }
    fn core_mut(&mut self) -> &mut dyn CoreView {
        &mut self.core
    }

    fn spawn(&mut self, _env: &Env) -> Result<(), String> {
        self.core.thread = Some(self.cfg.start()?);
        Ok(())
    }

    fn join(&mut self, _env: &Env) -> Option<Result<(), String>> {
        let t = self.core.thread.take()?;
        let r = t
            .stop()
            .map_err(|()| format!("the {} session panicked", C::ID));
        self.cfg.stopped();
        Some(r)
    }

    fn publish(&self, _reg: &mut Registry) {}
}
