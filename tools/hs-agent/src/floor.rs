// SPDX-License-Identifier: GPL-2.0
//! hs-floor: the least a handshake upcall can cost an agent, for the benchmark. Each round is
//! what a null agent does for one request, with the service's work taken out: two generic
//! netlink round trips on the `handshake` family's socket that generic netlink answers by
//! itself (in place of ACCEPT and DONE), and a socket's file installed in the descriptor table
//! and closed (in place of the accepted socket).
//!
//! It prints one JSON line: `{"rounds":N,"mean_ns":F,"p50_ns":N,"p99_ns":N}`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::Instant;

use hs_agent::cli::parsed;
use hs_agent::nl::{Handshake, OpenError};

const USAGE: &str = "usage: hs-floor [--rounds N]";

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<u32, String> {
    let mut rounds = 2000;
    let mut args = args.into_iter();
    while let Some(name) = args.next() {
        match name.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--rounds" => {
                let v = args.next().ok_or("--rounds needs a value")?;
                rounds = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--rounds: bad value {v:?}"))?;
            }
            _ => return Err(format!("unknown argument {name:?}")),
        }
    }
    Ok(rounds)
}

fn main() -> ExitCode {
    let rounds = match parsed("hs-floor", USAGE, 1, parse_args(std::env::args().skip(1))) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut hs = match Handshake::open() {
        Ok(hs) => hs,
        Err(OpenError::NoFamily) => {
            eprintln!("hs-floor: the kernel has no handshake family");
            return ExitCode::from(2);
        }
        Err(OpenError::Other(e)) => {
            eprintln!("hs-floor: {e}");
            return ExitCode::from(1);
        }
    };
    // SAFETY: socket(2) has no memory arguments; a non-negative result is a new descriptor that
    // nothing else owns.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        eprintln!("hs-floor: socket: {}", std::io::Error::last_os_error());
        return ExitCode::from(1);
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut ns = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        let t0 = Instant::now();
        for _ in 0..2 {
            if let Err(e) = hs.noop() {
                eprintln!("hs-floor: round trip: {e}");
                return ExitCode::from(1);
            }
        }
        // SAFETY: dup(2) of a descriptor we own; the new one is closed by the `OwnedFd`.
        let copy = unsafe { libc::dup(sock.as_raw_fd()) };
        if copy < 0 {
            eprintln!("hs-floor: dup: {}", std::io::Error::last_os_error());
            return ExitCode::from(1);
        }
        // SAFETY: `copy` was just created and is owned by nothing else.
        drop(unsafe { OwnedFd::from_raw_fd(copy) });
        ns.push(t0.elapsed().as_nanos() as u64);
    }
    let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64;
    ns.sort_unstable();
    let n = ns.len();
    println!(
        "{{\"rounds\":{n},\"mean_ns\":{mean:.0},\"p50_ns\":{},\"p99_ns\":{}}}",
        ns[(n - 1) / 2],
        ns[(n * 99).div_ceil(100) - 1]
    );
    ExitCode::SUCCESS
}
