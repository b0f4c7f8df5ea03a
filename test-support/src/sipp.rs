//! SIPp (Debian package sip-tester) command lines.

use std::path::Path;
use std::process::Command;

use crate::ports::free_media_port;

/// SIPp as a caller: `scenario` against `target` (IP:port), bound to 127.0.0.1 with a
/// free media port pair, errors traced to `error_file`, and failing after `timeout_s`.
/// Add the rest (`-m`, `-p`, rates) to the returned command.
pub fn sipp_client(target: &str, scenario: &Path, error_file: &Path, timeout_s: u64) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.arg(target)
        .arg("-sf")
        .arg(scenario)
        .args(["-i", "127.0.0.1", "-mp", &free_media_port().to_string()])
        .args(["-nostdin", "-trace_err", "-error_file"])
        .arg(error_file)
        .args(["-timeout", &format!("{timeout_s}s"), "-timeout_error"]);
    cmd
}

/// SIPp as a server (no remote host: it waits for one call) on 127.0.0.1:`port`,
/// failing after `timeout_s`.
pub fn sipp_uas(scenario: &Path, port: u16, timeout_s: u64) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.arg("-sf")
        .arg(scenario)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1"])
        .arg("-nostdin")
        .args(["-timeout", &format!("{timeout_s}s"), "-timeout_error"]);
    cmd
}
