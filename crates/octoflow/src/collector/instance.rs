//! A collector as a supervised instance: binds its socket, starts its thread
//! with the templates it kept (or restored from the cache file), saves them
//! when it stops.

use std::collections::HashMap;
use std::sync::Arc;

use octoflow_proto::{Decoder, TemplateCache};

use super::admission::Admission;
use super::config::Collector;
use super::{socket, templates, Context};
use crate::fanout::{Feed, Routes};
use crate::instance::{Change, Core, CoreView, Env, Role, Supervised, Thread};
use crate::telemetry::metrics::{CollectorMetrics, Registry};
use crate::util::Latest;

pub struct CollectorInstance {
    cfg: Collector,
    metrics: Arc<CollectorMetrics>,
    routes: Arc<Routes>,
    admission: Arc<Latest<Admission>>,
    core: Core<Decoder>,
    /// Templates kept while stopped, for the next start.
    kept: Option<TemplateCache>,
}

impl CollectorInstance {
    pub fn new(cfg: &Collector) -> CollectorInstance {
        CollectorInstance {
            cfg: cfg.clone(),
            metrics: CollectorMetrics::new(&cfg.id),
            routes: Arc::new(Routes::default()),
            admission: Arc::new(Latest::new(cfg.admission.clone())),
            core: Core::default(),
            kept: None,
        }
    }
}

impl CollectorInstance {
    pub fn config(&self) -> &Collector {
        &self.cfg
    }

    /// Take a new configuration: changes of `mux_to`, `allow` and `rate_limit`
    /// apply in place (the supervisor rebuilds the routes; the thread picks up
    /// the new admission at its next receive), so nothing is lost; any other
    /// change restarts it without the templates it kept.
    pub fn reconfigure(&mut self, nc: &Collector) -> Change {
        if *nc == self.cfg {
            return Change::Same;
        }
        let mut same_but_live = self.cfg.clone();
        same_but_live.mux_to = nc.mux_to.clone();
        same_but_live.admission = nc.admission.clone();
        if nc.admission != self.cfg.admission {
            self.admission.set(nc.admission.clone());
        }
        self.cfg = nc.clone();
        if same_but_live == *nc {
            return Change::InPlace;
        }
        // Another port, versions or exporters: its templates may not apply.
        self.kept = None;
        Change::Restart
    }
}

impl Supervised for CollectorInstance {
    fn id(&self) -> &str {
        &self.cfg.id
    }
    fn role(&self) -> Role {
        Role::Collector
    }
    fn core(&self) -> &dyn CoreView {
        &self.core
    }
    fn core_mut(&mut self) -> &mut dyn CoreView {
        &mut self.core
    }

    fn spawn(&mut self, env: &Env) -> Result<(), String> {
        let sock = socket::bind(&self.cfg)?;
        let dir = env.template_cache_dir.as_deref();
        let decoder = templates::restore(dir, &self.cfg.id, self.kept.take(), self.cfg.limits());
        let enricher = match &self.cfg.enrichment {
            Some(e) => Some(crate::enrich::Enricher::load(e)?),
            None => None,
        };
        let cx = Context {
            routes: self.routes.clone(),
            enricher,
            admission: self.admission.clone(),
            metrics: self.metrics.clone(),
            cache_file: dir.map(|d| templates::file(d, &self.cfg.id)),
        };
        let cfg = self.cfg.clone();
        let t = Thread::spawn(format!("c:{}", self.cfg.id), move |ctl| {
            super::run(cfg, sock, decoder, cx, ctl)
        })?;
        self.core.thread = Some(t);
        Ok(())
    }

    fn join(&mut self, env: &Env) -> Option<Result<(), String>> {
        let t = self.core.thread.take()?;
        Some(match t.stop() {
            Ok(dec) => {
                if let Some(d) = &env.template_cache_dir {
                    let f = templates::file(d, &self.cfg.id);
                    if templates::save(&f, &dec, &self.cfg.id) {
                        tracing::info!(instance = %self.name(), file = %f.display(), "template cache saved");
                    }
                }
                self.kept = Some(dec.cache);
                Ok(())
            }
            Err(()) => Err("the collector thread panicked".into()),
        })
    }

    fn route(&self, feeds: &HashMap<String, Feed>) {
        self.routes.set(
            self.cfg
                .mux_to
                .iter()
                .filter_map(|id| feeds.get(id).cloned())
                .collect(),
        );
    }

    fn publish(&self, reg: &mut Registry) {
        reg.collectors.push(self.metrics.clone());
    }
}
