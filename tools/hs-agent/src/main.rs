// SPDX-License-Identifier: GPL-2.0
//! hs-agent: a scripted "null agent" for the kernel's `handshake` generic
//! netlink family. It accepts handshake requests like tlshd would, but
//! instead of doing TLS it answers each one by a seeded, weighted choice of
//! DONE(0), DONE(error), a bare close, or dying with the socket held.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hs_agent::nl::{self, AcceptReply, Errno, Handshake, OpenError};
use hs_agent::rng::Rng;

const USAGE: &str = "usage: hs-agent [--class N] [--count N] [--seconds S] [--idle-exit MS]
                [--mix done_ok=W,done_err=W,close=W,die=W] [--seed N] [--wait-ready]
                [--ready-wait MS]
       hs-agent --once-json [--class N] [--wait-ready]
       hs-agent --listen";

/// How long one wait for READY lasts after ACCEPT found nothing, unless told otherwise.
const READY_WAIT_MS: u64 = 20;
/// How often an agent waiting for READY without a limit looks whether it was told to stop.
const STOP_CHECK_MS: i32 = 1000;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

#[derive(Clone, Copy)]
enum Action {
    DoneOk,
    DoneErr,
    Close,
    Die,
}
const ACTIONS: [(&str, Action); 4] = [
    ("done_ok", Action::DoneOk),
    ("done_err", Action::DoneErr),
    ("close", Action::Close),
    ("die", Action::Die),
];

struct Opts {
    class: u32,
    count: u64,
    seconds: f64,
    idle_exit_ms: u64,
    /// How long one wait for READY lasts; 0: until one comes (as tlshd waits).
    ready_wait_ms: u64,
    mix: [u64; 4],
    seed: Option<u64>,
    wait_ready: bool,
    once_json: bool,
    listen: bool,
}

fn parse_mix(s: &str) -> Result<[u64; 4], String> {
    let mut mix = [0; 4];
    for item in s.split(',').filter(|i| !i.is_empty()) {
        let (name, w) = item
            .split_once('=')
            .ok_or_else(|| format!("--mix: expected NAME=WEIGHT, got {item:?}"))?;
        let i = ACTIONS
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| format!("--mix: unknown action {name:?}"))?;
        mix[i] = w
            .parse()
            .map_err(|_| format!("--mix: bad weight {w:?} for {name}"))?;
    }
    if mix.iter().all(|&w| w == 0) {
        return Err("--mix: all weights are zero".into());
    }
    Ok(mix)
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Opts, String> {
    let mut o = Opts {
        class: 1,
        count: 0,
        seconds: 0.0,
        idle_exit_ms: 0,
        ready_wait_ms: READY_WAIT_MS,
        mix: [1, 0, 0, 0],
        seed: None,
        wait_ready: false,
        once_json: false,
        listen: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        match name.as_str() {
            "--wait-ready" => o.wait_ready = true,
            "--once-json" => o.once_json = true,
            "--listen" => o.listen = true,
            "-h" | "--help" => return Err(String::new()),
            "--class" | "--count" | "--seconds" | "--idle-exit" | "--ready-wait" | "--mix"
            | "--seed" => {
                let v = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))?;
                let bad = || format!("{name}: bad value {v:?}");
                match name.as_str() {
                    "--class" => o.class = v.parse().map_err(|_| bad())?,
                    "--count" => o.count = v.parse().map_err(|_| bad())?,
                    "--idle-exit" => o.idle_exit_ms = v.parse().map_err(|_| bad())?,
                    "--ready-wait" => o.ready_wait_ms = v.parse().map_err(|_| bad())?,
                    "--seed" => o.seed = Some(v.parse().map_err(|_| bad())?),
                    "--mix" => o.mix = parse_mix(&v)?,
                    _ => {
                        o.seconds = v.parse().map_err(|_| bad())?;
                        if !o.seconds.is_finite() || o.seconds < 0.0 {
                            return Err(bad());
                        }
                    }
                }
            }
            _ => return Err(format!("unknown argument {name:?}")),
        }
    }
    Ok(o)
}

#[derive(Default)]
struct Stats {
    accepted: u64,
    done_ok: u64,
    done_err: u64,
    closed: u64,
    eagain: u64,
    died: bool,
    errors: BTreeMap<i32, u64>,
    warned: HashSet<(&'static str, i32)>,
}

impl Stats {
    /// Count an error by errno; say it on stderr the first time per request.
    fn error(&mut self, what: &'static str, e: Errno) {
        *self.errors.entry(e.0).or_default() += 1;
        if self.warned.insert((what, e.0)) {
            let hint = if e.0 == libc::EPERM {
                " (CAP_NET_ADMIN is required)"
            } else {
                ""
            };
            eprintln!("hs-agent: {what}: {e}{hint} (further ones only counted)");
        }
    }

    fn json(&self, seconds: f64) -> String {
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(e, n)| format!("\"{e}\":{n}"))
            .collect();
        format!(
            "{{\"accepted\":{},\"done_ok\":{},\"done_err\":{},\"closed\":{},\"eagain\":{},\"died\":{},\"errors\":{{{}}},\"seconds\":{:.3}}}",
            self.accepted,
            self.done_ok,
            self.done_err,
            self.closed,
            self.eagain,
            self.died,
            errors.join(","),
            seconds
        )
    }
}

/// Take ownership of the socket descriptor an ACCEPT reply carries.
fn take_fd(hs: &Handshake, reply: &AcceptReply) -> Option<OwnedFd> {
    let raw = reply.sockfd.filter(|&fd| fd >= 0 && fd != hs.raw_fd())?;
    // SAFETY: the kernel installed this descriptor in our table while
    // answering this ACCEPT (handshake_nl_accept_doit); nothing else in the
    // process knows it, so the OwnedFd is its sole owner and closes it once.
    Some(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn die() -> ! {
    // SAFETY: kill(2) takes plain integers and has no memory-safety
    // preconditions; it signals only this process.
    unsafe { libc::kill(std::process::id() as libc::pid_t, libc::SIGKILL) };
    std::process::abort()
}

fn ms_until(t: Instant) -> u64 {
    t.saturating_duration_since(Instant::now())
        .as_micros()
        .div_ceil(1000) as u64
}

fn run(opts: &Opts, hs: &mut Handshake) -> Stats {
    let mut stats = Stats::default();
    let mut rng = Rng(opts.seed.unwrap_or(0));
    let start = Instant::now();
    let deadline = (opts.seconds > 0.0).then(|| start + Duration::from_secs_f64(opts.seconds));
    let mut alternate_eacces = false;

    if opts.wait_ready {
        loop {
            let left = deadline.map_or(100, |d| ms_until(d).min(100));
            if STOP.load(Ordering::Relaxed) || left == 0 {
                return stats;
            }
            match hs.wait_ready(left as i32) {
                Ok(true) => break,
                Ok(false) | Err(Errno(libc::EINTR)) => {}
                Err(e) => stats.error("waiting for READY", e),
            }
        }
    }

    let idle = Duration::from_millis(opts.idle_exit_ms);
    let mut last_accept = Instant::now();
    loop {
        // Time left before a limit is reached; wait at most that long (None: no limit).
        let mut left = (opts.ready_wait_ms > 0).then_some(opts.ready_wait_ms);
        if let Some(d) = deadline {
            left = Some(left.map_or(ms_until(d), |l| l.min(ms_until(d))));
        }
        if opts.idle_exit_ms > 0 {
            let idle_left = ms_until(last_accept + idle);
            left = Some(left.map_or(idle_left, |l| l.min(idle_left)));
        }
        if STOP.load(Ordering::Relaxed)
            || (opts.count > 0 && stats.accepted >= opts.count)
            || left == Some(0)
        {
            break;
        }

        let reply = match hs.accept(opts.class) {
            Ok(r) => r,
            Err(e) => {
                if e.0 == libc::EAGAIN {
                    stats.eagain += 1;
                } else {
                    stats.error("ACCEPT", e);
                }
                match left {
                    Some(ms) => match hs.wait_ready(ms as i32) {
                        Ok(_) | Err(Errno(libc::EINTR)) => {}
                        Err(e) => stats.error("waiting for READY", e),
                    },
                    // Until a READY comes, looking for a stop every second: a signal that
                    // lands just before poll would not interrupt it.
                    None => loop {
                        if STOP.load(Ordering::Relaxed) {
                            break;
                        }
                        match hs.wait_ready(STOP_CHECK_MS) {
                            Ok(true) => break,
                            Ok(false) | Err(Errno(libc::EINTR)) => {}
                            Err(e) => {
                                stats.error("waiting for READY", e);
                                break;
                            }
                        }
                    },
                }
                continue;
            }
        };
        stats.accepted += 1;
        last_accept = Instant::now();
        let Some(fd) = take_fd(hs, &reply) else {
            stats.error("ACCEPT reply without a socket", Errno(libc::EPROTO));
            continue;
        };

        let status = match ACTIONS[rng.pick(&opts.mix)].1 {
            Action::Die => {
                // The counts so far, then SIGKILL with the socket still held.
                stats.died = true;
                println!("{}", stats.json(start.elapsed().as_secs_f64()));
                die()
            }
            Action::Close => {
                drop(fd);
                stats.closed += 1;
                if let Err(e) = hs.drain() {
                    stats.error("reading notifications", e);
                }
                continue;
            }
            Action::DoneOk => 0,
            Action::DoneErr => {
                alternate_eacces = !alternate_eacces;
                if alternate_eacces {
                    libc::EIO
                } else {
                    libc::EACCES
                }
            }
        };
        match hs.done(fd.as_raw_fd(), status as u32) {
            Ok(()) => {
                if status == 0 {
                    stats.done_ok += 1;
                } else {
                    stats.done_err += 1;
                }
            }
            Err(e) => stats.error("DONE", e),
        }
        drop(fd);
        if let Err(e) = hs.drain() {
            stats.error("reading notifications", e);
        }
    }
    if hs.overruns > 0 {
        *stats.errors.entry(libc::ENOBUFS).or_default() += hs.overruns;
    }
    stats
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn once_json(opts: &Opts, hs: &mut Handshake) {
    if opts.wait_ready {
        while !matches!(hs.wait_ready(1000), Ok(true)) {}
    }
    let (line, _fd) = match hs.accept(opts.class) {
        Ok(r) => {
            let num = |v: Option<u32>| v.map_or("null".into(), |v| v.to_string());
            let ids: Vec<String> = r.peer_identity.iter().map(u32::to_string).collect();
            let line = format!(
                "{{\"sockfd\":{},\"handler-class\":{},\"message-type\":{},\"timeout\":{},\"auth-mode\":{},\"peername\":{},\"keyring\":{},\"peer-identity\":[{}]}}",
                r.sockfd.map_or("null".into(), |v| v.to_string()),
                num(r.handler_class),
                num(r.message_type),
                num(r.timeout),
                num(r.auth_mode),
                r.peername.as_deref().map_or("null".into(), json_str),
                num(r.keyring),
                ids.join(",")
            );
            // Held, not closed, until we exit.
            (line, take_fd(hs, &r))
        }
        Err(e) => (format!("{{\"error\":{}}}", e.0), None),
    };
    println!("{line}");
    let _ = std::io::stdin().read_line(&mut String::new());
}

/// A listener that never accepts: a member of the `tlshd` group reading every READY (so that
/// submits find an agent and its receive queue never fills) until SIGINT or SIGTERM. It prints
/// "listening" once subscribed, and at the end how many times it woke to READY.
fn listen(hs: &mut Handshake) -> ExitCode {
    if !hs.subscribed() {
        eprintln!("hs-agent: --listen: no \"tlshd\" multicast group in this kernel");
        return ExitCode::from(1);
    }
    // Subscribed: say so, for whoever waits for a listener.
    println!("listening");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let mut ready = 0u64;
    while !STOP.load(Ordering::Relaxed) {
        match hs.wait_ready(100) {
            Ok(true) => ready += 1,
            Ok(false) | Err(Errno(libc::EINTR)) => {}
            Err(e) => {
                eprintln!("hs-agent: --listen: {e}");
                return ExitCode::from(1);
            }
        }
    }
    println!("{{\"ready_wakeups\":{ready},\"overruns\":{}}}", hs.overruns);
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let mut opts =
        match hs_agent::cli::parsed("hs-agent", USAGE, 1, parse_args(std::env::args().skip(1))) {
            Ok(o) => o,
            Err(code) => return code,
        };

    let mut hs = match Handshake::open() {
        Ok(hs) => hs,
        Err(OpenError::NoFamily) => {
            eprintln!(
                "hs-agent: generic netlink family \"{}\" not found: the kernel has no handshake \
                 support (CONFIG_NET_HANDSHAKE) or its module is not loaded",
                nl::FAMILY_NAME
            );
            return ExitCode::from(2);
        }
        Err(OpenError::Other(e)) => {
            eprintln!("hs-agent: cannot open the handshake family: {e}");
            return ExitCode::from(1);
        }
    };
    if !hs.subscribed() {
        if opts.wait_ready {
            eprintln!("hs-agent: --wait-ready: no \"tlshd\" multicast group in this kernel");
            return ExitCode::from(1);
        }
        eprintln!("hs-agent: no \"tlshd\" multicast group; polling every 1 ms instead");
    }

    if opts.once_json {
        once_json(&opts, &mut hs);
        return ExitCode::SUCCESS;
    }

    if opts.seed.is_none() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seed = now.as_nanos() as u64 ^ u64::from(std::process::id());
        eprintln!("hs-agent: --seed {seed}");
        opts.seed = Some(seed);
    }

    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe, and has the signature signal(2) expects.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }

    if opts.listen {
        return listen(&mut hs);
    }

    let start = Instant::now();
    let stats = run(&opts, &mut hs);
    println!("{}", stats.json(start.elapsed().as_secs_f64()));
    ExitCode::SUCCESS
}
