//! `reread` and `reload`: compare the configuration file with the running
//! instances, and apply it. Removed instances stop, changed ones restart (or are
//! changed in place where the kind allows), added ones start; unchanged instances
//! keep running and lose nothing. A file that does not load changes nothing.

use std::collections::BTreeSet;

use super::kinds::{instance_for, reconfigure, role_of, spec_of};
use super::Supervisor;
use crate::config::diff::diff;
use crate::config::{Config, Spec};
use crate::control::{exit, Reply};
use crate::instance::{Change, Role};

impl Supervisor {
    /// Instances added, changed or removed by `new`.
    fn diff(&self, new: &Config) -> Vec<(String, &'static str)> {
        let running: Vec<Spec> = self
            .instances
            .iter()
            .filter_map(|i| spec_of(i.as_ref()))
            .collect();
        diff(&running, &new.specs())
            .into_iter()
            .map(|(n, d)| (n, d.word()))
            .collect()
    }

    /// Report what `reload` would do, applying nothing.
    pub(super) fn reread(&self, r: &mut Reply) {
        match Config::load(&self.cfg.path) {
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
        }
    }

    /// Apply the configuration file again. A collector whose only change is
    /// `mux_to` is re-routed without a restart.
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
        if self.diff(&new).is_empty() {
            r.line("No config updates to processes");
        }
        let specs = new.specs();
        // 1. Stop what goes away or changes (collectors first: ports are freed
        //    before anything new binds).
        let mut restart: BTreeSet<String> = BTreeSet::new();
        for role in [Role::Collector, Role::Output, Role::Session] {
            let mut i = 0;
            while i < self.instances.len() {
                if self.instances[i].role() != role {
                    i += 1;
                    continue;
                }
                let name = self.instances[i].name();
                match specs.iter().find(|s| s.name() == name) {
                    None => {
                        self.stop(i);
                        self.instances.remove(i);
                        r.line(format!("{name}: removed"));
                        continue;
                    }
                    Some(s) => {
                        let was_running = self.instances[i].has_thread();
                        match reconfigure(self.instances[i].as_mut(), s) {
                            Change::Same => {}
                            Change::InPlace => {
                                r.line(format!("{name}: changed (applied in place, no restart)"))
                            }
                            Change::Restart => {
                                self.stop(i);
                                if was_running {
                                    restart.insert(name.clone());
                                }
                                r.line(format!("{name}: changed"));
                            }
                        }
                    }
                }
                i += 1;
            }
        }
        // 2. Add what is new, in the new file's order (outputs, then collectors).
        let autostart = new.supervisor.autostart;
        for role in [Role::Session, Role::Output, Role::Collector] {
            for s in specs.iter().filter(|s| role_of(s) == role) {
                if self.index(&s.name()).is_none() {
                    self.instances.push(instance_for(s));
                    r.line(format!("{}: added", s.name()));
                    if autostart {
                        restart.insert(s.name());
                    }
                }
            }
        }
        // Keep the new file's order for status listings.
        self.instances
            .sort_by_key(|x| specs.iter().position(|s| s.name() == x.name()));
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
        // 3. Start: outputs, then collectors.
        self.publish_registry();
        self.rebuild_routes();
        for i in self.start_order() {
            let n = self.instances[i].name();
            if restart.contains(&n) {
                match self.start(i) {
                    Ok(()) => r.line(format!("{n}: started")),
                    Err(e) => r.fail(format!("{n}: ERROR ({e})")),
                }
            }
        }
        tracing::info!("configuration reloaded");
    }
}
