//! An output as a supervised instance: its queue, its thread, its counters.

use std::sync::Arc;

use super::Output;
use crate::fanout::queue::{self, QueueTx};
use crate::fanout::Feed;
use crate::instance::lifecycle::State;
use crate::instance::{Change, Core, CoreView, Env, Role, Supervised};
use crate::telemetry::metrics::{OutputMetrics, Registry};

/// An output as a supervised instance.
pub struct OutputInstance {
    cfg: Output,
    metrics: Arc<OutputMetrics>,
    /// Its queue while it runs.
    tx: Option<QueueTx>,
    core: Core<()>,
}

impl OutputInstance {
    pub fn new(cfg: &Output) -> OutputInstance {
        OutputInstance {
            cfg: cfg.clone(),
            metrics: OutputMetrics::new(&cfg.id),
            tx: None,
            core: Core::default(),
        }
    }
}

impl OutputInstance {
    pub fn config(&self) -> &Output {
        &self.cfg
    }

    /// Take a new configuration: any change restarts the output (its counters
    /// carry on).
    pub fn reconfigure(&mut self, new: &Output) -> Change {
        if *new == self.cfg {
            return Change::Same;
        }
        self.cfg = new.clone();
        Change::Restart
    }
}

impl Supervised for OutputInstance {
    fn id(&self) -> &str {
        &self.cfg.id
    }
    fn role(&self) -> Role {
        Role::Output
    }
    fn core(&self) -> &dyn CoreView {
        &self.core
    }
    fn core_mut(&mut self) -> &mut dyn CoreView {
        &mut self.core
    }

    fn spawn(&mut self, _env: &Env) -> Result<(), String> {
        let (tx, rx) = queue::queue(self.cfg.queue_datagrams);
        self.metrics.class.set(self.cfg.kind.class());
        let thread = self.cfg.kind.build(&self.cfg, rx, self.metrics.clone())?;
        self.tx = Some(tx);
        self.core.thread = Some(thread);
        Ok(())
    }

    fn join(&mut self, _env: &Env) -> Option<Result<(), String>> {
        self.tx = None;
        let t = self.core.thread.take()?;
        Some(
            t.stop()
                .map_err(|()| "the exporter thread panicked".to_string()),
        )
    }

    fn feed(&self) -> Option<Feed> {
        // Only while RUNNING: a stopping output is taken out of the routes first.
        if self.core.life.state() != State::Running {
            return None;
        }
        self.tx.as_ref().map(|tx| Feed {
            tx: tx.clone(),
            metrics: self.metrics.clone(),
            filter: self.cfg.filter.clone(),
        })
    }

    fn publish(&self, reg: &mut Registry) {
        reg.outputs.push(self.metrics.clone());
    }

    fn final_counts(&self) {
        use crate::telemetry::metrics::Class;
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.metrics;
        let (id, matched, drops) = (
            &self.cfg.id,
            m.flows_matched.load(Relaxed),
            m.queue_drops.load(Relaxed),
        );
        match m.class.get() {
            Class::STORE => tracing::info!(
                exporter = %id,
                matched,
                rows = m.store_rows.load(Relaxed),
                files = m.store_files.load(Relaxed),
                write_errors = m.store_write_errors.load(Relaxed),
                rows_lost = m.store_rows_lost.load(Relaxed),
                drops,
                "final counts"
            ),
            Class::SINK => tracing::info!(
                exporter = %id,
                matched,
                delivered = m.sink.rows_delivered.load(Relaxed),
                dropped = m.sink.rows_dropped.load(Relaxed),
                rejected = m.sink.rows_rejected.load(Relaxed),
                errors = m.sink.errors.load(Relaxed),
                drops,
                "final counts"
            ),
            _ => tracing::info!(
                exporter = %id,
                matched,
                sent = m.flows_sent.load(Relaxed),
                datagrams = m.datagrams_sent.load(Relaxed),
                drops,
                "final counts"
            ),
        }
    }
}
