//! Any bytes as what a client sends on the control socket. The server reads one
//! line of at most 4096 bytes (UTF-8, or the connection is dropped), trims it, and
//! ignores an empty one (a probe); `control::parse_command` reads the rest and must
//! never panic, and a line that is a command reads back as the same command from
//! the line a client sends for it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(4096)];
    let line = match data.iter().position(|&b| b == b'\n') {
        Some(end) => &data[..=end],
        None => data,
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    octoflow::fuzzing::control(line);
});
