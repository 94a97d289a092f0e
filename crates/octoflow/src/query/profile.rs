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
        ProfileCmd::Show { id, window, json } => {
            let p = cfg.profiles.iter().find(|p| &p.id == id).ok_or_else(|| {
                let ids: Vec<&str> = cfg.profiles.iter().map(|p| p.id.as_str()).collect();
                format!(
                    "no profile {id:?} (profiles: {})",
                    if ids.is_empty() {
                        "none".into()
                    } else {
                        ids.join(", ")
                    }
                )
            })?;
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
