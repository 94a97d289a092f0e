//! Any bytes as control-socket traffic: each line (as the socket reads it, trimmed)
//! is read by `control::parse_command`, which must never panic; a line that is a
//! command reads back as the same command from the line a client sends for it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        // The socket refuses a line that is not UTF-8 (read_line fails).
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let sent = octoflow::fuzzing::control(line);
        assert_eq!(octoflow::fuzzing::control(line.trim()), sent);
    }
});
