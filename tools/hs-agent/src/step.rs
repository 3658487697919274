// SPDX-License-Identifier: GPL-2.0
//! hs-step: one agent step of the `handshake` family with the kernel's fault injection aimed at
//! it. The task's `/proc/thread-self/fail-nth` is set to N just before the ACCEPT, the DONE or
//! the `unshare(CLONE_NEWNET)`, so that the Nth fault-injection point the kernel reaches while
//! serving that one call fails (with the stack filter of failslab and fail_page_alloc limited to
//! the module's text, only the module's own allocations count). Reading the file afterwards
//! tells whether the fault was injected (0) or the call needed fewer than N points.
//!
//! It prints one JSON line: what each call returned, whether a fault was injected, and the
//! process's descriptors before the ACCEPT and after the accepted socket was closed.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::process::ExitCode;

use hs_agent::nl::{Errno, Handshake, OpenError};
use hs_agent::procfs::{fd_table, wait_single_threaded};

const USAGE: &str = "usage: hs-step [--fail-accept N] [--done STATUS] [--fail-done N] [--peer ID]
               [--fill-fd-table]
       hs-step --fail-netns N";

const FAIL_NTH: &str = "/proc/thread-self/fail-nth";

#[derive(Default)]
struct Opts {
    fail_accept: u32,
    fail_done: u32,
    fail_netns: u32,
    done: Option<u32>,
    peers: Vec<u32>,
    fill_fd_table: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut args = args.into_iter();
    while let Some(name) = args.next() {
        if name == "-h" || name == "--help" {
            return Err(String::new());
        }
        if name == "--fill-fd-table" {
            o.fill_fd_table = true;
            continue;
        }
        let v = args.next().ok_or_else(|| format!("{name} needs a value"))?;
        let n: u32 = v.parse().map_err(|_| format!("{name}: bad value {v:?}"))?;
        match name.as_str() {
            "--fail-accept" => o.fail_accept = n,
            "--fail-done" => o.fail_done = n,
            "--fail-netns" => o.fail_netns = n,
            "--done" => o.done = Some(n),
            "--peer" => o.peers.push(n),
            _ => return Err(format!("unknown argument {name:?}")),
        }
    }
    Ok(o)
}

/// This task's `fail-nth`, opened once: opening it next to the call would take a descriptor,
/// and the one that grows a full table must be the ACCEPT's.
struct FailNth(std::fs::File);

impl FailNth {
    fn open() -> Result<Self, String> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(FAIL_NTH)
            .map(FailNth)
            .map_err(|e| format!("{FAIL_NTH}: {e}"))
    }

    /// Runs `call` with the count set to `nth` (none when 0); returns its result and whether
    /// the fault was injected (the count then reads 0). The count is cleared afterwards either
    /// way, so that nothing else fails.
    fn around<T>(&self, nth: u32, call: impl FnOnce() -> T) -> Result<(T, bool), String> {
        if nth == 0 {
            return Ok((call(), false));
        }
        let io = |e: std::io::Error| format!("{FAIL_NTH}: {e}");
        self.0.write_at(nth.to_string().as_bytes(), 0).map_err(io)?;
        let result = call();
        let mut buf = [0u8; 16];
        let n = self.0.read_at(&mut buf, 0).map_err(io)?;
        self.0.write_at(b"0", 0).map_err(io)?;
        let left = std::str::from_utf8(&buf[..n]).unwrap_or("").trim();
        Ok((result, left == "0"))
    }
}

fn errno_json(r: &Result<(), Errno>) -> String {
    match r {
        Ok(()) => "0".into(),
        Err(e) => e.0.to_string(),
    }
}

fn netns(nth: u32) -> Result<String, String> {
    let (ret, injected) = FailNth::open()?.around(nth, || {
        // SAFETY: unshare(2) takes a flag word and touches no memory of ours.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0 {
            Ok(())
        } else {
            Err(Errno(
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            ))
        }
    })?;
    Ok(format!(
        "{{\"unshare\":{},\"injected\":{injected}}}",
        errno_json(&ret)
    ))
}

/// The size of this process's descriptor table ("FDSize" in `status`, this process's
/// /proc/self/status, opened beforehand: opening it now could itself grow the table).
fn fd_table_size(status: &std::fs::File) -> Result<RawFd, String> {
    let mut buf = vec![0u8; 8192];
    let n = status
        .read_at(&mut buf, 0)
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .find_map(|l| l.strip_prefix("FDSize:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no FDSize in /proc/self/status".into())
}

/// Opens /dev/null until the descriptor table is full, so that the next descriptor grows it;
/// they stay open until dropped. (A process started by a shell inherits a larger table than it
/// needs.)
fn fill_fd_table(status: &std::fs::File) -> Result<Vec<OwnedFd>, String> {
    let size = fd_table_size(status)?;
    let mut held = Vec::new();
    loop {
        let f = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
        let fd = f.as_raw_fd();
        held.push(OwnedFd::from(f));
        if fd == size - 1 {
            break;
        }
        if fd >= size {
            return Err(format!("descriptor {fd} opened beyond a table of {size}"));
        }
    }
    match fd_table_size(status)? {
        s if s == size => Ok(held),
        s => Err(format!("filling the table grew it from {size} to {s}")),
    }
}

fn step(o: &Opts, hs: &mut Handshake) -> Result<String, String> {
    // Listed once the router's thread has closed its socket, before the fillers are opened and
    // after they are closed (reading the directory takes a descriptor too, which must not be
    // the one that grows the table).
    wait_single_threaded()?;
    let fail_nth = FailNth::open()?;
    let status = std::fs::File::open("/proc/self/status").map_err(|e| e.to_string())?;
    let before = fd_table();
    let fillers = if o.fill_fd_table {
        fill_fd_table(&status)?
    } else {
        Vec::new()
    };
    let size_before = fd_table_size(&status)?;
    let (reply, injected_accept) = fail_nth.around(o.fail_accept, || hs.accept(1))?;
    let size_after = fd_table_size(&status)?;
    let mut line = String::from("{");
    let mut done = "null".to_string();
    let mut injected_done = false;
    match &reply {
        Ok(r) => {
            let Some(raw) = r.sockfd.filter(|&fd| fd >= 0 && fd != hs.raw_fd()) else {
                return Err(format!("ACCEPT reply without a socket: {:?}", r.sockfd));
            };
            // A number that was open before, or one the fillers hold, is not a new descriptor.
            let prefix = format!("{raw}->");
            if before.iter().any(|e| e.starts_with(&prefix))
                || fillers.iter().any(|f| f.as_raw_fd() == raw)
            {
                return Err(format!(
                    "ACCEPT named descriptor {raw}, which was open already"
                ));
            }
            // SAFETY: the kernel installed this descriptor in our table while answering this
            // ACCEPT; nothing else in the process knows it, so the OwnedFd is its sole owner.
            let sock = unsafe { OwnedFd::from_raw_fd(raw) };
            line += &format!("\"accept\":0,\"sockfd\":{raw},");
            if let Some(status) = o.done {
                let (r, injected) =
                    fail_nth.around(o.fail_done, || hs.done_with(raw, status, &o.peers))?;
                done = errno_json(&r);
                injected_done = injected;
            }
            drop(sock);
        }
        Err(e) => line += &format!("\"accept\":{},", e.0),
    }
    drop(fillers);
    let after = fd_table();
    let list = |v: &[String]| {
        v.iter()
            .map(|e| format!("\"{e}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    line += &format!(
        "\"injected_accept\":{injected_accept},\"done\":{done},\"injected_done\":{injected_done},\
         \"fd_table_size\":[{size_before},{size_after}],\"fds_same\":{},\"fds_before\":[{}],\
         \"fds_after\":[{}]}}",
        before == after,
        list(&before),
        list(&after)
    );
    Ok(line)
}

fn main() -> ExitCode {
    let o = match hs_agent::cli::parsed("hs-step", USAGE, 2, parse_args(std::env::args().skip(1))) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let result = if o.fail_netns > 0 {
        netns(o.fail_netns)
    } else {
        match Handshake::open() {
            Ok(mut hs) => step(&o, &mut hs),
            Err(OpenError::NoFamily) => Err("no handshake family in this kernel".into()),
            Err(OpenError::Other(e)) => Err(format!("cannot open the handshake family: {e}")),
        }
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hs-step: {e}");
            ExitCode::from(2)
        }
    }
}
