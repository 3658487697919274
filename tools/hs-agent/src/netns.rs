// SPDX-License-Identifier: GPL-2.0
//! hs-netns: network namespaces that die with handshake requests pending and accepted in them.
//!
//! For each of `--count` namespaces a child process makes a new network namespace and, inside
//! it, joins the `tlshd` group, has the netns tier's consumer (`/proc/hs_netns`) submit
//! `--pending` requests there, accepts some of them (checking that each is one of its own
//! namespace's: the consumer names them after the namespace's inode number, and after the last
//! one nothing more is pending), sends DONE 0 for some of those, tells the consumer what it did,
//! and exits, or is killed with the sockets in hand. The namespace then dies with the rest
//! pending. `--parallel` children run at once, so that namespaces are made, used and destroyed
//! beside each other.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;
use std::time::Instant;

use hs_agent::nl::{family_and_group, Errno, Handshake, OpenError};
use hs_agent::procfs::wait_single_threaded;
use hs_agent::rng::Rng;

const USAGE: &str = "usage: hs-netns [--count N] [--parallel K] [--pending P] [--seed S]";
const CONSUMER: &str = "/proc/hs_netns";

struct Opts {
    count: u64,
    parallel: u64,
    pending: u64,
    seed: u64,
    /// The family's id and its group's, resolved once (the same in every namespace).
    family: u16,
    group: Option<u32>,
    /// The write end of the children's report pipe.
    report_fd: std::os::fd::RawFd,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Opts, String> {
    let mut o = Opts {
        count: 1000,
        parallel: 4,
        pending: 3,
        seed: 1,
        family: 0,
        group: None,
        report_fd: -1,
    };
    let mut args = args.into_iter();
    while let Some(name) = args.next() {
        if name == "-h" || name == "--help" {
            return Err(String::new());
        }
        let v = args.next().ok_or_else(|| format!("{name} needs a value"))?;
        let n: u64 = v.parse().map_err(|_| format!("{name}: bad value {v:?}"))?;
        match name.as_str() {
            "--count" => o.count = n,
            "--parallel" => o.parallel = n.max(1),
            "--pending" => o.pending = n.clamp(1, 64),
            "--seed" => o.seed = n,
            _ => return Err(format!("unknown argument {name:?}")),
        }
    }
    Ok(o)
}

/// What one namespace's agent did, as the line it sends the parent.
#[derive(Default)]
struct Fate {
    accepted: u64,
    done: u64,
    killed: bool,
    violations: u64,
    /// The agent's socket and the accepted sockets, held until the process dies.
    hs: Option<Handshake>,
    held: Vec<OwnedFd>,
}

fn tell_consumer(line: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(CONSUMER)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| format!("{CONSUMER} {line:?}: {e}"))
}

/// The body of a child: everything happens in its new namespace.
fn namespace(opts: &Opts, rng: &mut Rng) -> Result<Fate, String> {
    // SAFETY: unshare(2) takes a flag word and touches no memory of ours.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!("unshare: {}", std::io::Error::last_os_error()));
    }
    let inum = std::fs::metadata("/proc/self/ns/net")
        .map_err(|e| format!("/proc/self/ns/net: {e}"))?
        .ino();
    let own = format!("net-{inum}");
    let mut hs = match Handshake::open_resolved(opts.family, opts.group) {
        Ok(hs) if hs.subscribed() => hs,
        Ok(_) => return Err("no tlshd group".into()),
        Err(OpenError::NoFamily) => return Err("no handshake family".into()),
        Err(OpenError::Other(e)) => return Err(e),
    };
    tell_consumer(&format!("submit {}", opts.pending))?;

    let mut fate = Fate::default();
    let want = rng.below(opts.pending + 1);
    let mut held = Vec::new();
    while fate.accepted < want {
        let r = hs.accept(1).map_err(|e| format!("ACCEPT: {e}"))?;
        fate.accepted += 1;
        if r.peername.as_deref() != Some(own.as_str()) {
            eprintln!("hs-netns: {own} was given {:?}'s request", r.peername);
            fate.violations += 1;
        }
        let fd = r
            .sockfd
            .filter(|&fd| fd >= 0 && fd != hs.raw_fd())
            .ok_or("ACCEPT reply without a socket")?;
        if held.iter().any(|h: &OwnedFd| h.as_raw_fd() == fd) || fd == opts.report_fd {
            return Err(format!(
                "ACCEPT named descriptor {fd}, which was open already"
            ));
        }
        // SAFETY: the kernel installed this descriptor in our table while answering this
        // ACCEPT (it is none of those open before: checked above); nothing else in the
        // process knows it, so the OwnedFd is its sole owner.
        held.push(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    if fate.accepted == opts.pending {
        // Every request of this namespace taken: nothing of another may show.
        match hs.accept(1) {
            Err(Errno(libc::EAGAIN)) => {}
            Ok(r) => {
                eprintln!("hs-netns: {own} was given {:?}'s request", r.peername);
                fate.violations += 1;
            }
            Err(e) => return Err(format!("last ACCEPT: {e}")),
        }
    }
    let done = rng.below(fate.accepted + 1);
    for fd in &held[..done as usize] {
        hs.done(fd.as_raw_fd(), 0)
            .map_err(|e| format!("DONE: {e}"))?;
        fate.done += 1;
    }
    tell_consumer(&format!("fate {} {}", fate.accepted, fate.done))?;
    fate.killed = rng.chance(25);
    fate.hs = Some(hs);
    fate.held = held;
    Ok(fate)
}

fn spawn(opts: &Opts, i: u64, report: &OwnedFd) -> Result<libc::pid_t, String> {
    // SAFETY: this process is single-threaded (the router that resolved the family has ended
    // its thread, checked in `main`), so the child may allocate and run ordinary code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid > 0 {
        return Ok(pid);
    }
    let mut rng = Rng(opts.seed.wrapping_mul(1_000_003).wrapping_add(i));
    // `_fate` keeps the sockets open until the process dies.
    let (line, kill, _fate) = match namespace(opts, &mut rng) {
        Ok(f) => (
            format!(
                "ok {} {} {} {}\n",
                f.accepted,
                f.done,
                u8::from(f.killed),
                f.violations
            ),
            f.killed,
            Some(f),
        ),
        // Short, so that the parent's pipe never fills whatever happens.
        Err(e) => (
            format!("error {}\n", e.chars().take(120).collect::<String>()),
            false,
            None,
        ),
    };
    // One write of a short line to a pipe: not interleaved with other children's.
    // SAFETY: `report` is a valid descriptor; `line` is valid for its length.
    unsafe { libc::write(report.as_raw_fd(), line.as_ptr().cast(), line.len()) };
    if kill {
        // SAFETY: kill(2) takes plain integers; it signals only this process, which dies
        // holding its sockets (in `_fate`) as a killed agent does.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
    // SAFETY: _exit(2) ends the child without running the parent's destructors again; the
    // kernel closes the sockets still held.
    unsafe { libc::_exit(0) }
}

/// Reads what the children wrote so far (the read end is non-blocking), so that the pipe never
/// fills however many there are.
fn collect(rd: &mut std::fs::File, lines: &mut Vec<u8>) -> Result<(), String> {
    let mut buf = [0u8; 4096];
    loop {
        match rd.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => lines.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the children: {e}")),
        }
    }
}

fn run(opts: &mut Opts) -> Result<bool, String> {
    let mut pipe = [-1; 2];
    // SAFETY: `pipe` has room for the two descriptors pipe2(2) writes.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2(2) just returned these two descriptors; each gets one owner.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    // SAFETY: fcntl(2) on a descriptor we own, with integer arguments only.
    if unsafe { libc::fcntl(rd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } < 0 {
        return Err(format!("fcntl: {}", std::io::Error::last_os_error()));
    }
    let mut rd = std::fs::File::from(rd);
    let mut lines = Vec::new();
    opts.report_fd = wr.as_raw_fd();
    let opts = &*opts;
    let start = Instant::now();
    let (mut started, mut running) = (0u64, 0u64);
    let mut died_badly = 0u64;
    while started < opts.count || running > 0 {
        if started < opts.count && running < opts.parallel {
            spawn(opts, started, &wr)?;
            started += 1;
            running += 1;
            continue;
        }
        let mut status = 0;
        // SAFETY: waits for any child; `status` is a valid int to write.
        if unsafe { libc::waitpid(-1, &mut status, 0) } < 0 {
            return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
        }
        running -= 1;
        collect(&mut rd, &mut lines)?;
        let exited = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        let killed = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL;
        if !exited && !killed {
            died_badly += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(wr);
    collect(&mut rd, &mut lines)?;
    let lines = String::from_utf8_lossy(&lines);

    let (mut ok, mut accepted, mut done, mut killed, mut violations) = (0u64, 0, 0, 0, 0);
    let mut errors = Vec::new();
    for line in lines.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["ok", a, d, k, v] => {
                let n = |s: &str| s.parse::<u64>().unwrap_or(0);
                ok += 1;
                accepted += n(a);
                done += n(d);
                killed += n(k);
                violations += n(v);
            }
            _ => errors.push(line.to_string()),
        }
    }
    for e in errors.iter().take(5) {
        eprintln!("hs-netns: {e}");
    }
    let submitted = ok * opts.pending;
    println!(
        "namespaces={ok} seconds={seconds:.1} rate={:.1}/s submitted={submitted} \
         accepted={accepted} done={done} left_pending={} agents_killed={killed} \
         isolation_violations={violations} errors={} died_badly={died_badly}",
        ok as f64 / seconds.max(0.001),
        submitted - accepted,
        errors.len()
    );
    Ok(ok == opts.count && violations == 0 && errors.is_empty() && died_badly == 0)
}

fn main() -> ExitCode {
    let mut opts =
        match hs_agent::cli::parsed("hs-netns", USAGE, 2, parse_args(std::env::args().skip(1))) {
            Ok(o) => o,
            Err(code) => return code,
        };
    // Resolved here, by a thread the router starts and ends, before any fork.
    match family_and_group() {
        Ok((family, group)) => (opts.family, opts.group) = (family, group),
        Err(OpenError::NoFamily) => {
            eprintln!("hs-netns: no handshake family in this kernel");
            return ExitCode::from(2);
        }
        Err(OpenError::Other(e)) => {
            eprintln!("hs-netns: cannot resolve the handshake family: {e}");
            return ExitCode::from(2);
        }
    }
    if let Err(e) = wait_single_threaded() {
        eprintln!("hs-netns: {e}");
        return ExitCode::from(2);
    }
    println!(
        "seed={} (replay: hs-netns --seed {} --count {} --parallel {} --pending {})",
        opts.seed, opts.seed, opts.count, opts.parallel, opts.pending
    );
    match run(&mut opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("hs-netns: {e}");
            ExitCode::from(2)
        }
    }
}
