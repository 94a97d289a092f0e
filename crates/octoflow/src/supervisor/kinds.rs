//! The one place that maps a configuration kind to its instance type: making an
//! instance, reading its configuration back, and giving it a new one. A new
//! kind (a BGP session, a store) is one entry in each match.

use crate::collector::instance::CollectorInstance;
use crate::config::Spec;
use crate::instance::{Change, Role, Supervised};
use crate::output::instance::OutputInstance;
use crate::routing::{BgpInstance, BmpInstance};

/// The role of an instance of this configuration.
pub fn role_of(spec: &Spec) -> Role {
    match spec {
        Spec::Collector(_) => Role::Collector,
        Spec::Output(_) => Role::Output,
        Spec::Bgp(_) | Spec::Bmp(_) => Role::Session,
    }
}

/// A stopped instance for this configuration.
pub fn instance_for(spec: &Spec) -> Box<dyn Supervised> {
    match spec {
        Spec::Collector(c) => Box::new(CollectorInstance::new(c)),
        Spec::Output(o) => Box::new(OutputInstance::new(o)),
        Spec::Bgp(b) => Box::new(BgpInstance::new(b)),
        Spec::Bmp(b) => Box::new(BmpInstance::new(b)),
    }
}

/// The configuration a running instance has.
pub fn spec_of(inst: &dyn Supervised) -> Option<Spec> {
    let any = inst.as_any();
    if let Some(c) = any.downcast_ref::<CollectorInstance>() {
        return Some(Spec::Collector(c.config().clone()));
    }
    if let Some(b) = any.downcast_ref::<BgpInstance>() {
        return Some(Spec::Bgp(b.config().clone()));
    }
    if let Some(b) = any.downcast_ref::<BmpInstance>() {
        return Some(Spec::Bmp(b.config().clone()));
    }
    any.downcast_ref::<OutputInstance>()
        .map(|o| Spec::Output(o.config().clone()))
}

/// Give an instance a new configuration of its own kind (same name).
pub fn reconfigure(inst: &mut dyn Supervised, new: &Spec) -> Change {
    let any = inst.as_any_mut();
    match new {
        Spec::Collector(c) => any
            .downcast_mut::<CollectorInstance>()
            .map_or(Change::Same, |i| i.reconfigure(c)),
        Spec::Output(o) => any
            .downcast_mut::<OutputInstance>()
            .map_or(Change::Same, |i| i.reconfigure(o)),
        Spec::Bgp(b) => any
            .downcast_mut::<BgpInstance>()
            .map_or(Change::Same, |i| i.reconfigure(b)),
        Spec::Bmp(b) => any
            .downcast_mut::<BmpInstance>()
            .map_or(Change::Same, |i| i.reconfigure(b)),
    }
}
