//! `octoflow profile list|show`: the profiles of a configuration and their
//! 5-minute slots, as a table or JSON (what nfsen graphs; the console reads the
//! same files).

use std::fmt::Write as _;

use octoflow_query::series::{Counts, CLASSES, SLOT_MS};
use octoflow_query::{Series, Window};

use crate::config::Config;
use crate::profile::{file, Profile};

#[derive(clap::Subcommand, Debug)]
pub enum ProfileCmd {
    /// The profiles, their stores and channels, and the slots their files hold.
    List,
    /// A profile's 5-minute slots: flows, packets and bytes per channel.
    Show {
        /// The profile's id.
        id: String,
        /// Time window, UTC: YYYY/MM/dd.hh:mm:ss[-YYYY/MM/dd.hh:mm:ss].
        #[arg(short = 't', value_name = "WINDOW")]
        window: Option<String>,
        /// JSON: every slot, channel and protocol class.
        #[arg(long)]
        json: bool,
    },
    /// Recount a profile's slots in a window from the store's flows (after
    /// adding or changing a channel, as nfsen's rebuild). Slots are whole: the
    /// window is widened to 5-minute boundaries. Best while the store is
    /// stopped: slots the running server writes meanwhile may be lost.
    Rebuild {
        /// The profile's id.
        id: String,
        /// Time window, UTC, by receive time: YYYY/MM/dd.hh:mm:ss[-YYYY/MM/dd.hh:mm:ss].
        #[arg(short = 't', value_name = "WINDOW")]
        window: String,
    },
}

/// Recount `p`'s slots of `w` from its store's files.
fn rebuild(cfg: &Config, p: &Profile, w: &Window) -> Result<String, String> {
    use crate::output::store::reader;
    let dir = store_dir(cfg, p)?;
    let start = Series::slot_of(w.start_ms);
    let end = if w.end_ms == u64::MAX {
        u64::MAX
    } else {
        Series::slot_of(w.end_ms - 1) + SLOT_MS
    };
    let mut names: Vec<&'static str> = vec!["received", "proto", "packets", "bytes"];
    for c in &p.channels {
        names.extend(c.filter.fields());
    }
    names.sort_unstable();
    names.dedup();
    let files = reader::files_for(dir, start, end)?;
    let mut fresh = Series::new(p.channels.len());
    let mut flows = 0u64;
    for f in &files {
        reader::scan(
            f,
            reader::Columns::Only(&names),
            &mut |r, source, received| {
                if (start..end).contains(&received) {
                    let mut bits = 0u64;
                    for (i, c) in p.channels.iter().enumerate() {
                        if c.filter.matches(r, source) {
                            bits |= 1 << i;
                        }
                    }
                    fresh.add(received, r, bits);
                    flows += 1;
                }
                true
            },
        )?;
    }
    let path = file::path(dir, &p.id);
    let mut s = match file::read(&path, p.channels.len()) {
        Ok(s) if s.channels == p.channels.len() => s,
        _ => Series::new(p.channels.len()),
    };
    s.slots.retain(|t, _| !(start..end).contains(t));
    s.merge(&fresh);
    file::rewrite(&path, &s).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(format!(
        "profile {}: {} slots recounted from {flows} flows in {} files ({} to {})",
        p.id,
        fresh.slots.len(),
        files.len(),
        time(start),
        if end == u64::MAX {
            "now".to_string()
        } else {
            time(end)
        }
    ))
}

fn store_dir<'a>(cfg: &'a Config, p: &Profile) -> Result<&'a std::path::Path, String> {
    cfg.outputs
        .iter()
        .find(|o| o.id == p.store)
        .and_then(|o| o.store())
        .map(|s| s.path.as_path())
        .ok_or_else(|| {
            format!(
                "profile {:?}: store {:?} is not in the configuration",
                p.id, p.store
            )
        })
}

fn slots(cfg: &Config, p: &Profile) -> Result<Series, String> {
    let path = file::path(store_dir(cfg, p)?, &p.id);
    let s = file::read(&path, p.channels.len())?;
    if s.channels != p.channels.len() {
        return Err(format!(
            "{}: written for {} channels, the profile has {} (channels changed; the next slots start a new file)",
            path.display(),
            s.channels,
            p.channels.len()
        ));
    }
    Ok(s)
}

fn total(c: &Counts) -> [u64; 3] {
    let mut t = [0u64; 3];
    for class in c {
        for i in 0..3 {
            t[i] += class[i];
        }
    }
    t
}

fn time(ms: u64) -> String {
    octoflow_query::window::show(ms)
}

fn find<'a>(cfg: &'a Config, id: &str) -> Result<&'a Profile, String> {
    cfg.profiles.iter().find(|p| p.id == id).ok_or_else(|| {
        let ids: Vec<&str> = cfg.profiles.iter().map(|p| p.id.as_str()).collect();
        format!(
            "no profile {id:?} (profiles: {})",
            if ids.is_empty() {
                "none".into()
            } else {
                ids.join(", ")
            }
        )
    })
}

pub fn run(cfg: &Config, cmd: &ProfileCmd) -> Result<(), String> {
    match cmd {
        ProfileCmd::List => {
            if cfg.profiles.is_empty() {
                println!("no profiles in {}", cfg.path.display());
            }
            for p in &cfg.profiles {
                let s = slots(cfg, p);
                let held = match &s {
                    Ok(s) => match (s.slots.keys().next(), s.slots.keys().last()) {
                        (Some(a), Some(b)) => format!(
                            "{} slots, {} to {}",
                            s.slots.len(),
                            time(*a),
                            time(*b + SLOT_MS)
                        ),
                        _ => "no slots yet".into(),
                    },
                    Err(e) => e.clone(),
                };
                println!(
                    "{}  store {}  kept {} days  {held}",
                    p.id, p.store, p.keep_days
                );
                for c in &p.channels {
                    println!(
                        "  {:<16} {}{}{}",
                        c.name,
                        c.text,
                        c.colour
                            .as_deref()
                            .map(|x| format!("  {x}"))
                            .unwrap_or_default(),
                        if c.negative { "  (drawn negative)" } else { "" }
                    );
                }
            }
            Ok(())
        }
        ProfileCmd::Rebuild { id, window } => {
            let p = find(cfg, id)?;
            println!("{}", rebuild(cfg, p, &Window::parse(window)?)?);
            Ok(())
        }
        ProfileCmd::Show { id, window, json } => {
            let p = find(cfg, id)?;
            let w = match window {
                Some(w) => Window::parse(w)?,
                None => Window::ALL,
            };
            let s = slots(cfg, p)?;
            let rows = s.slots.iter().filter(|(t, _)| w.contains(**t));
            let mut out = String::new();
            if *json {
                let _ = write!(out, "{{\"profile\":\"{}\",\"store\":\"{}\",\"slot_secs\":{},\"classes\":[\"tcp\",\"udp\",\"icmp\",\"other\"],\"channels\":[", p.id, p.store, SLOT_MS / 1000);
                for (i, c) in p.channels.iter().enumerate() {
                    let _ = write!(
                        out,
                        "{}{{\"name\":\"{}\",\"filter\":{:?},\"colour\":{},\"sign\":\"{}\"}}",
                        if i > 0 { "," } else { "" },
                        c.name,
                        c.text,
                        c.colour
                            .as_deref()
                            .map_or("null".into(), |x| format!("\"{x}\"")),
                        if c.negative { "-" } else { "+" }
                    );
                }
                out.push_str("],\"slots\":[");
                for (k, (t, chans)) in rows.enumerate() {
                    let _ = write!(
                        out,
                        "{}{{\"time\":{},\"channels\":[",
                        if k > 0 { "," } else { "" },
                        t / 1000
                    );
                    for (i, ch) in chans.iter().enumerate() {
                        let _ = write!(out, "{}[", if i > 0 { "," } else { "" });
                        for (j, class) in ch.iter().enumerate() {
                            let _ = write!(
                                out,
                                "{}[{},{},{}]",
                                if j > 0 { "," } else { "" },
                                class[0],
                                class[1],
                                class[2]
                            );
                        }
                        out.push(']');
                    }
                    out.push_str("]}");
                }
                out.push_str("]}\n");
            } else {
                let _ = write!(out, "{:<19}", "slot (UTC)");
                for c in &p.channels {
                    let _ = write!(
                        out,
                        " {:>12} {:>12} {:>14}",
                        format!("{}:flows", c.name),
                        "packets",
                        "bytes"
                    );
                }
                out.push('\n');
                for (t, chans) in rows {
                    let _ = write!(out, "{:<19}", time(*t));
                    for ch in chans {
                        let [f, pk, b] = total(ch);
                        let _ = write!(out, " {f:>12} {pk:>12} {b:>14}");
                    }
                    out.push('\n');
                }
                let _ = writeln!(out, "(per class: --json gives {})", CLASSES.join("/"));
            }
            print!("{out}");
            Ok(())
        }
    }
}
