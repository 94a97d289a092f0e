//! Template persistence, in one place: where a collector's templates are saved,
//! restoring them at start, saving them every minute while it runs and when it
//! stops, so a restart does not wait for routers to resend templates.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use octoflow_proto::{Decoder, Limits, TemplateCache};

/// How often a running collector saves its templates.
const SAVE_EVERY: Duration = Duration::from_secs(60);

/// `<dir>/<collector id>.templates`.
pub fn file(dir: &Path, collector: &str) -> PathBuf {
    dir.join(format!("{collector}.templates"))
}

/// A collector's decoder: its templates from the last run in this process, else
/// from the cache file; a missing file is normal, a bad one is reported and
/// ignored.
pub fn restore(
    dir: Option<&Path>,
    id: &str,
    kept: Option<TemplateCache>,
    limits: Limits,
) -> Decoder {
    if let Some(mut c) = kept {
        // A reload may have changed the budget; the next template learnt obeys it.
        c.limits = limits;
        return Decoder::with_cache(c);
    }
    let Some(dir) = dir else {
        return Decoder::new(limits);
    };
    let f = file(dir, id);
    match std::fs::read(&f) {
        Ok(bytes) => match TemplateCache::restore(&bytes, limits) {
            Ok(c) => {
                tracing::info!(collector = %id, file = %f.display(), templates = c.template_count(), "template cache restored");
                Decoder::with_cache(c)
            }
            Err(e) => {
                tracing::warn!(collector = %id, file = %f.display(), "template cache not restored ({e}); starting empty");
                Decoder::new(limits)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Decoder::new(limits),
        Err(e) => {
            tracing::warn!(collector = %id, file = %f.display(), "cannot read the template cache: {e}");
            Decoder::new(limits)
        }
    }
}

/// Save the template cache atomically (write a temporary file, then rename); a
/// failure is logged. True when saved.
pub fn save(path: &Path, dec: &Decoder, id: &str) -> bool {
    let tmp = path.with_extension("tmp");
    let r = std::fs::write(&tmp, dec.cache.save()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = &r {
        tracing::warn!(collector = %id, file = %path.display(), "cannot save the template cache: {e}");
    }
    r.is_ok()
}

/// A running collector's periodic save.
pub struct Periodic {
    file: Option<PathBuf>,
    last: Instant,
}

impl Periodic {
    pub fn new(file: Option<PathBuf>) -> Periodic {
        Periodic {
            file,
            last: Instant::now(),
        }
    }

    /// Save if a minute has passed since the last save.
    pub fn tick(&mut self, dec: &Decoder, id: &str) {
        if let Some(f) = &self.file {
            if self.last.elapsed() >= SAVE_EVERY {
                self.last = Instant::now();
                save(f, dec, id);
            }
        }
    }
}
