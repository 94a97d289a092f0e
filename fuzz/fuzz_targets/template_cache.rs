//! Restoring a template cache from any bytes must not panic; what restores must
//! save and restore again to the same bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use octoflow_proto::{Limits, TemplateCache};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = TemplateCache::restore(data, Limits::default()) {
        let saved = c.save();
        let again = TemplateCache::restore(&saved, Limits::default()).expect("own output restores");
        assert_eq!(again.save(), saved);
    }
});
