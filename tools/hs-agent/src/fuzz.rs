// SPDX-License-Identifier: GPL-2.0
//! hs-fuzz: a fuzzer for the kernel's `handshake` generic netlink family.
//!
//! It sends generated and mutated messages: every command number, known,
//! boundary and random attribute types, wrong lengths, nests, flags and
//! values, and socket descriptors of every kind (handshake sockets it
//! accepted itself, sockets of other families and of another network
//! namespace, non-sockets, closed and huge numbers). It does so as root, as
//! an unprivileged user and as root of a new user namespace, and counts the
//! answers by errno. Messages are built with neli and then, some of them,
//! damaged byte by byte.
//!
//! It fails (exit status 1) when an unprivileged sender got a handshake
//! operation through, or when its descriptor table at the end is not what it
//! was at the start (everything it opened and every socket ACCEPT gave it
//! closed). The messages depend only on the seed, except which accepted
//! socket a message names, which depends on what the kernel had pending.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hs_agent::nl::{self, OpenError};
use hs_agent::procfs::{fd_table, wait_single_threaded};
use hs_agent::rng::Rng;
use neli::{
    attr::Attribute,
    consts::{
        nl::NlmF,
        socket::{Msg, NlFamily},
    },
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder},
    nl::{NlPayload, NlmsghdrBuilder},
    socket::NlSocket,
    types::{Buffer, GenlBuffer, NlBuffer},
    utils::Groups,
    FromBytesWithInput, ToBytes,
};

const USAGE: &str = "usage: hs-fuzz [--count N] [--seed N] [--modes root,user,userns] [--hold N]";

/// The family's commands and attributes (include/uapi/linux/handshake.h).
const CMD_READY: u8 = 1;
const CMD_ACCEPT: u8 = 2;
const CMD_DONE: u8 = 3;
const A_ACCEPT_SOCKFD: u16 = 1;
const A_ACCEPT_HANDLER_CLASS: u16 = 2;
const A_ACCEPT_LAST: u16 = 9;
const A_DONE_STATUS: u16 = 1;
const A_DONE_SOCKFD: u16 = 2;
const A_DONE_REMOTE_AUTH: u16 = 3;
/// The generic netlink controller's fixed id.
const GENL_ID_CTRL: u16 = 0x10;
/// The unprivileged user the `user` and `userns` modes run as.
const NOBODY: u32 = 65534;
/// At most this many accepted sockets are held at once.
const HELD_MAX: usize = 8;

const U32_EDGES: [u32; 16] = [
    0,
    1,
    2,
    3,
    4,
    5,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
];

/// Descriptor numbers that are never open here, or not valid at all.
const BAD_FDS: [i32; 7] = [-1, -2, i32::MIN, i32::MAX, 1 << 20, 65535, 4095];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Mode {
    Root,
    User,
    Userns,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Root => "root",
            Mode::User => "user",
            Mode::Userns => "userns",
        }
    }
}

/// What a socket descriptor named in a message is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum FdKind {
    /// A socket an ACCEPT of ours returned.
    Handshake,
    Tcp,
    Udp,
    Unix,
    Netlink,
    /// A TCP socket of another network namespace.
    OtherNetns,
    /// The fuzzer's own generic netlink socket.
    Own,
    DevNull,
    Pipe,
    Directory,
    Closed,
    Bad,
}

const FD_KINDS: [FdKind; 12] = [
    FdKind::Handshake,
    FdKind::Tcp,
    FdKind::Udp,
    FdKind::Unix,
    FdKind::Netlink,
    FdKind::OtherNetns,
    FdKind::Own,
    FdKind::DevNull,
    FdKind::Pipe,
    FdKind::Directory,
    FdKind::Closed,
    FdKind::Bad,
];

fn os_error() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// An owned descriptor from a libc call that returns one, or the errno.
fn owned(fd: RawFd) -> Result<OwnedFd, i32> {
    if fd < 0 {
        return Err(os_error());
    }
    // SAFETY: `fd` was just returned open by the kernel and nothing else
    // owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn socket(domain: i32, ty: i32, proto: i32) -> Result<OwnedFd, i32> {
    // SAFETY: socket(2) takes plain integers.
    owned(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) })
}

fn open_path(path: &str, flags: i32) -> Result<OwnedFd, i32> {
    let c = std::ffi::CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    owned(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) })
}

/// The descriptors a message may name, by kind.
struct Fds {
    /// Everything opened for the pool; closed when it is dropped.
    held: Vec<(FdKind, OwnedFd)>,
    /// Sockets our ACCEPTs returned, oldest first.
    accepted: Vec<OwnedFd>,
    /// A number that was open once and is closed now.
    closed: i32,
}

impl Fds {
    fn new() -> Result<Self, String> {
        let mut held = Vec::new();
        let mut add = |kind, r: Result<OwnedFd, i32>, what: &str| match r {
            Ok(fd) => {
                held.push((kind, fd));
                Ok(())
            }
            Err(e) => Err(format!("{what}: {}", std::io::Error::from_raw_os_error(e))),
        };
        add(
            FdKind::Tcp,
            socket(libc::AF_INET, libc::SOCK_STREAM, 0),
            "TCP socket",
        )?;
        add(
            FdKind::Tcp,
            socket(libc::AF_INET6, libc::SOCK_STREAM, 0),
            "TCPv6 socket",
        )?;
        add(
            FdKind::Udp,
            socket(libc::AF_INET, libc::SOCK_DGRAM, 0),
            "UDP socket",
        )?;
        let mut pair = [-1; 2];
        // SAFETY: `pair` has room for the two descriptors socketpair(2) writes.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                pair.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(format!("socketpair: {}", std::io::Error::last_os_error()));
        }
        add(FdKind::Unix, owned(pair[0]), "socketpair")?;
        add(FdKind::Unix, owned(pair[1]), "socketpair")?;
        add(
            FdKind::Netlink,
            socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE),
            "route netlink socket",
        )?;
        add(
            FdKind::DevNull,
            open_path("/dev/null", libc::O_RDWR),
            "/dev/null",
        )?;
        add(
            FdKind::Directory,
            open_path("/", libc::O_RDONLY | libc::O_DIRECTORY),
            "/",
        )?;
        let mut pipe = [-1; 2];
        // SAFETY: `pipe` has room for the two descriptors pipe2(2) writes.
        if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
            return Err(format!("pipe: {}", std::io::Error::last_os_error()));
        }
        add(FdKind::Pipe, owned(pipe[0]), "pipe")?;
        add(FdKind::Pipe, owned(pipe[1]), "pipe")?;
        // Far above the numbers in use, so that nothing opened later takes it.
        let closed = {
            let fd =
                open_path("/dev/null", libc::O_RDONLY).map_err(|e| format!("/dev/null: {e}"))?;
            // SAFETY: fcntl(2) with F_DUPFD_CLOEXEC takes an open descriptor and a number.
            let high = owned(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 1000) })
                .map_err(|e| format!("F_DUPFD: {e}"))?;
            high.as_raw_fd()
        };
        Ok(Fds {
            held,
            accepted: Vec::new(),
            closed,
        })
    }

    /// A TCP socket and a generic netlink socket in a new network
    /// namespace, which this thread then leaves again. Root only.
    fn other_netns(&mut self) -> Result<NlSocket, String> {
        let home =
            open_path("/proc/self/ns/net", libc::O_RDONLY).map_err(|e| format!("netns: {e}"))?;
        // SAFETY: unshare(2) takes a flag word; it only changes this thread's namespaces.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
            return Err(format!(
                "unshare(CLONE_NEWNET): {}",
                std::io::Error::last_os_error()
            ));
        }
        let tcp = socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let genl = NlSocket::connect(NlFamily::Generic, None, Groups::empty());
        // SAFETY: `home` is an open namespace descriptor.
        if unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        self.held.push((
            FdKind::OtherNetns,
            tcp.map_err(|e| format!("TCP socket: {e}"))?,
        ));
        genl.map_err(|e| format!("generic netlink socket: {e}"))
    }

    /// A descriptor of `kind`, or a bad one when there is none of that kind.
    fn pick(&self, rng: &mut Rng, kind: FdKind, own: RawFd) -> i32 {
        let of_kind: Vec<RawFd> = match kind {
            FdKind::Handshake => self.accepted.iter().map(AsRawFd::as_raw_fd).collect(),
            FdKind::Own => vec![own],
            FdKind::Closed => vec![self.closed],
            FdKind::Bad => BAD_FDS.to_vec(),
            k => self
                .held
                .iter()
                .filter(|(hk, _)| *hk == k)
                .map(|(_, fd)| fd.as_raw_fd())
                .collect(),
        };
        if of_kind.is_empty() {
            return -1;
        }
        rng.one_of(&of_kind)
    }
}

/// What one mode sent and what came back.
#[derive(Default)]
struct Stats {
    sent: u64,
    /// Datagrams that drew no answer (no ACK asked, or dropped as malformed).
    silent: u64,
    /// Answers by errno; 0 is a success (an ACK or an ACCEPT reply).
    answers: BTreeMap<i32, u64>,
    /// send(2) failures by errno.
    send_errors: BTreeMap<i32, u64>,
    /// Successful handshake operations (ACKs and ACCEPT replies of the family).
    handshake_ok: u64,
    accept_replies: u64,
    /// Accepted sockets we completed with DONE naming them.
    done_on_accepted: u64,
    /// Answers neli could not decode, and answers of other families.
    undecoded: u64,
    other_family: u64,
    /// Messages naming a descriptor, by its kind.
    fd_kinds: BTreeMap<FdKind, u64>,
    /// Commands sent (before any damage), by number.
    commands: BTreeMap<u8, u64>,
    damaged: u64,
}

fn errno_name(e: i32) -> String {
    let name = match e {
        0 => "ok",
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EIO => "EIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ERANGE => "ERANGE",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EPROTO => "EPROTO",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ENOBUFS => "ENOBUFS",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EEXIST => "EEXIST",
        524 => "ENOTSUPP",
        _ => return format!("E{e}"),
    };
    name.to_string()
}

impl Stats {
    fn merge(&mut self, o: &Stats) {
        self.sent += o.sent;
        self.silent += o.silent;
        self.handshake_ok += o.handshake_ok;
        self.accept_replies += o.accept_replies;
        self.done_on_accepted += o.done_on_accepted;
        self.undecoded += o.undecoded;
        self.other_family += o.other_family;
        self.damaged += o.damaged;
        for (k, v) in &o.answers {
            *self.answers.entry(*k).or_default() += v;
        }
        for (k, v) in &o.send_errors {
            *self.send_errors.entry(*k).or_default() += v;
        }
        for (k, v) in &o.commands {
            *self.commands.entry(*k).or_default() += v;
        }
        for (k, v) in &o.fd_kinds {
            *self.fd_kinds.entry(*k).or_default() += v;
        }
    }

    /// One line of `key=value` words, read back by `parse`.
    fn line(&self, mode: &str) -> String {
        let hist = |m: &BTreeMap<i32, u64>| {
            m.iter()
                .map(|(e, n)| format!("{}:{n}", errno_name(*e)))
                .collect::<Vec<_>>()
                .join(",")
        };
        let kinds: Vec<String> = self
            .fd_kinds
            .iter()
            .map(|(k, n)| format!("{}:{n}", format!("{k:?}").to_lowercase()))
            .collect();
        // The family's numbers one by one, the rest together (a line must
        // fit the guest's console).
        let mut cmds: Vec<String> = self
            .commands
            .range(..=5)
            .map(|(c, n)| format!("{c}:{n}"))
            .collect();
        cmds.push(format!(
            "other:{}",
            self.commands.range(6..).map(|(_, n)| n).sum::<u64>()
        ));
        format!(
            "mode={mode} sent={} damaged={} silent={} handshake_ok={} accept_replies={} done_on_accepted={} \
             undecoded={} other_family={} errno={} send_errno={} fd_kinds={} commands={}",
            self.sent,
            self.damaged,
            self.silent,
            self.handshake_ok,
            self.accept_replies,
            self.done_on_accepted,
            self.undecoded,
            self.other_family,
            hist(&self.answers),
            hist(&self.send_errors),
            kinds.join(","),
            cmds.join(",")
        )
    }

    /// The counts a child reported in its `line`, enough to add them up.
    fn parse(line: &str) -> Option<Stats> {
        let mut s = Stats::default();
        let num = |v: &str| v.parse::<u64>().ok();
        let mut seen = false;
        for word in line.split_whitespace() {
            let (k, v) = word.split_once('=')?;
            match k {
                "sent" => (s.sent, seen) = (num(v)?, true),
                "damaged" => s.damaged = num(v)?,
                "silent" => s.silent = num(v)?,
                "handshake_ok" => s.handshake_ok = num(v)?,
                "accept_replies" => s.accept_replies = num(v)?,
                "done_on_accepted" => s.done_on_accepted = num(v)?,
                "undecoded" => s.undecoded = num(v)?,
                "other_family" => s.other_family = num(v)?,
                "errno" | "send_errno" => {
                    let map = if k == "errno" {
                        &mut s.answers
                    } else {
                        &mut s.send_errors
                    };
                    for item in v.split(',').filter(|i| !i.is_empty()) {
                        let (name, n) = item.split_once(':')?;
                        let e = (0..600).find(|&e| errno_name(e) == name)?;
                        *map.entry(e).or_default() += num(n)?;
                    }
                }
                _ => {}
            }
        }
        seen.then_some(s)
    }
}

/// Builds messages from the seed.
struct Gen {
    rng: Rng,
    family: u16,
    seq: u32,
}

impl Gen {
    fn attr(&mut self, ty: u16, nested: bool, payload: Vec<u8>) -> Nlattr<u16, Buffer> {
        let ty = AttrTypeBuilder::default()
            .nla_type(ty & 0x3fff)
            .nla_nested(nested || ty & 0x8000 != 0)
            .nla_network_order(ty & 0x4000 != 0)
            .build()
            .expect("an attribute type has every field set");
        NlattrBuilder::default()
            .nla_type(ty)
            .nla_payload(Buffer::from(payload))
            .build()
            .expect("an attribute has every field set")
    }

    fn u32_value(&mut self) -> u32 {
        if self.rng.chance(70) {
            self.rng.one_of(&U32_EDGES)
        } else {
            self.rng.next_u64() as u32
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.rng.next_u64() as u8).collect()
    }

    /// A payload of the wrong shape for most types: odd sizes, strings, nests.
    fn odd_payload(&mut self, depth: u32) -> (bool, Vec<u8>) {
        match self.rng.below(6) {
            0 => {
                let n = self.rng.one_of(&[0, 1, 2, 3, 5, 6, 7, 8, 12, 16]);
                (false, self.bytes(n))
            }
            1 => (false, b"localhost\0".to_vec()),
            2 => (false, b"no-terminating-nul".to_vec()),
            3 => {
                let n = self.rng.one_of(&[255, 256, 300, 1024, 4000]);
                (false, vec![b'a'; n])
            }
            4 if depth < 3 => {
                let mut nest = Vec::new();
                for _ in 0..self.rng.below(4) {
                    let a = self.any_attr(CMD_ACCEPT, depth + 1, None);
                    let mut c = Cursor::new(Vec::new());
                    a.to_bytes(&mut c).expect("an attribute serializes");
                    nest.extend(c.into_inner());
                }
                (true, nest)
            }
            _ => (false, self.u32_value().to_ne_bytes().to_vec()),
        }
    }

    /// An attribute for `cmd`: a known type with a sound or unsound value,
    /// or any other type.
    fn any_attr(&mut self, cmd: u8, depth: u32, fd: Option<i32>) -> Nlattr<u16, Buffer> {
        let known: u16 = if cmd == CMD_DONE {
            A_DONE_REMOTE_AUTH
        } else {
            A_ACCEPT_LAST
        };
        let ty = match self.rng.below(20) {
            0..=11 => 1 + self.rng.below(u64::from(known)) as u16,
            12 => 0,
            13..=14 => known + 1 + self.rng.below(12) as u16,
            15..=16 => self.rng.next_u64() as u16,
            _ => 1 + self.rng.below(u64::from(A_ACCEPT_LAST)) as u16,
        };
        let is_fd = match cmd {
            CMD_DONE => ty == A_DONE_SOCKFD,
            _ => ty == A_ACCEPT_SOCKFD,
        };
        if self.rng.chance(75) {
            let v = match (is_fd, fd) {
                (true, Some(fd)) => fd as u32,
                _ => self.u32_value(),
            };
            let nested = self.rng.chance(3);
            self.attr(ty, nested, v.to_ne_bytes().to_vec())
        } else {
            let (nested, p) = self.odd_payload(depth);
            self.attr(ty, nested, p)
        }
    }

    /// One message, serialized; `fd` is the descriptor it may name.
    fn message(&mut self, cmd: u8, fd: Option<i32>, well_formed: bool) -> Vec<u8> {
        let mut attrs: Vec<Nlattr<u16, Buffer>> = Vec::new();
        if well_formed {
            match cmd {
                CMD_ACCEPT => {
                    let class = if self.rng.chance(80) {
                        1
                    } else {
                        self.u32_value()
                    };
                    attrs.push(self.attr(
                        A_ACCEPT_HANDLER_CLASS,
                        false,
                        class.to_ne_bytes().to_vec(),
                    ));
                }
                _ => {
                    let status = match self.rng.below(10) {
                        0..=3 => 0,
                        4..=6 => 1 + self.rng.below(133) as u32,
                        _ => self.u32_value(),
                    };
                    attrs.push(self.attr(A_DONE_STATUS, false, status.to_ne_bytes().to_vec()));
                    let fd = fd.unwrap_or(-1) as u32;
                    attrs.push(self.attr(A_DONE_SOCKFD, false, fd.to_ne_bytes().to_vec()));
                    for _ in 0..self.rng.below(3) {
                        let serial = self.u32_value();
                        attrs.push(self.attr(
                            A_DONE_REMOTE_AUTH,
                            false,
                            serial.to_ne_bytes().to_vec(),
                        ));
                    }
                }
            }
        } else {
            for _ in 0..self.rng.below(9) {
                let a = self.any_attr(cmd, 0, fd);
                attrs.push(a);
            }
        }
        let version = if well_formed || self.rng.chance(85) {
            1
        } else {
            self.rng.one_of(&[0, 2, 255])
        };
        let nl_type = match self.rng.below(100) {
            _ if well_formed => self.family,
            0..=89 => self.family,
            90..=93 => self.rng.next_u64() as u16,
            94..=96 => GENL_ID_CTRL,
            _ => self.rng.below(0x12) as u16,
        };
        let mut flags = NlmF::REQUEST;
        if well_formed || self.rng.chance(90) {
            flags |= NlmF::ACK;
        }
        if !well_formed && self.rng.chance(10) {
            flags |= NlmF::from(self.rng.next_u64() as u16);
        }
        if !well_formed && self.rng.chance(2) {
            flags.remove(NlmF::REQUEST);
        }
        self.serialize(nl_type, flags, cmd, version, attrs)
    }

    /// A sound ACCEPT for tlshd's class.
    fn accept_tlshd(&mut self) -> Vec<u8> {
        let class = self.attr(A_ACCEPT_HANDLER_CLASS, false, 1u32.to_ne_bytes().to_vec());
        self.serialize(
            self.family,
            NlmF::REQUEST | NlmF::ACK,
            CMD_ACCEPT,
            1,
            vec![class],
        )
    }

    fn serialize(
        &mut self,
        nl_type: u16,
        flags: NlmF,
        cmd: u8,
        version: u8,
        attrs: Vec<Nlattr<u16, Buffer>>,
    ) -> Vec<u8> {
        let genl: Genlmsghdr<u8, u16> = GenlmsghdrBuilder::default()
            .cmd(cmd)
            .version(version)
            .attrs(attrs.into_iter().collect::<GenlBuffer<u16, Buffer>>())
            .build()
            .expect("a generic netlink header has every field set");
        self.seq = self.seq.wrapping_add(1).max(1);
        let msg = NlmsghdrBuilder::default()
            .nl_type(nl_type)
            .nl_flags(flags)
            .nl_seq(self.seq)
            .nl_pid(0)
            .nl_payload(NlPayload::Payload(genl))
            .build()
            .expect("a netlink header has every field set");
        let mut c = Cursor::new(Vec::new());
        msg.to_bytes(&mut c).expect("a message serializes");
        c.into_inner()
    }

    /// Damages a serialized message in one to three places.
    fn damage(&mut self, b: &mut Vec<u8>) {
        for _ in 0..1 + self.rng.below(3) {
            if b.is_empty() {
                b.push(0);
            }
            let len = b.len();
            let at = self.rng.below(len as u64) as usize;
            match self.rng.below(8) {
                0 => b[at] ^= 1 << self.rng.below(8),
                1 => b[at] = self.rng.one_of(&[0, 0xff, 0x80, 0x7f, 1]),
                2 => b.truncate(at.max(1)),
                3 => {
                    let n = 1 + self.rng.below(16) as usize;
                    let more = self.bytes(n);
                    b.extend(more);
                }
                // nlmsg_len
                4 if len >= 4 => {
                    let v = self.rng.one_of(&[
                        0,
                        1,
                        15,
                        16,
                        19,
                        20,
                        len as u32 - 1,
                        len as u32 + 4,
                        0xffff,
                        u32::MAX,
                    ]);
                    b[..4].copy_from_slice(&v.to_ne_bytes());
                }
                // the first attribute's nla_len
                5 if len >= 22 => {
                    let v: u16 = self
                        .rng
                        .one_of(&[0, 1, 3, 4, 5, 0xffff, (len - 20) as u16 + 4]);
                    b[20..22].copy_from_slice(&v.to_ne_bytes());
                }
                // the command
                6 if len > 16 => b[16] = self.rng.next_u64() as u8,
                // nlmsg_type
                _ if len >= 6 => {
                    let v = self.rng.next_u64() as u16;
                    b[4..6].copy_from_slice(&v.to_ne_bytes());
                }
                _ => {}
            }
        }
    }
}

/// A generic netlink socket we send on and read every answer from.
struct Channel {
    sock: NlSocket,
}

impl Channel {
    fn new(sock: NlSocket) -> Result<Self, String> {
        sock.nonblock().map_err(|e| format!("O_NONBLOCK: {e}"))?;
        Ok(Channel { sock })
    }

    /// Sends one datagram, counted in `stats` with any send(2) failure, and
    /// reads its answers; None when it could not be sent.
    fn exchange(
        &self,
        buf: &mut [u8],
        bytes: &[u8],
        family: u16,
        stats: &mut Stats,
        accepted: &mut Vec<i32>,
    ) -> Option<u64> {
        stats.sent += 1;
        if let Err(e) = self.sock.send(bytes, Msg::empty()) {
            *stats
                .send_errors
                .entry(e.raw_os_error().unwrap_or(libc::EIO))
                .or_default() += 1;
            return None;
        }
        Some(self.answers(buf, family, stats, accepted))
    }

    /// Reads every answer already queued (the kernel answers while we send).
    fn answers(
        &self,
        buf: &mut [u8],
        family: u16,
        stats: &mut Stats,
        accepted: &mut Vec<i32>,
    ) -> u64 {
        let mut count = 0;
        loop {
            let n = match self.sock.recv(&mut *buf, Msg::DONTWAIT) {
                Ok((n, _)) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let e = e.raw_os_error().unwrap_or(libc::EIO);
                    if e == libc::EINTR {
                        continue;
                    }
                    *stats.answers.entry(e).or_default() += 1;
                    count += 1;
                    continue;
                }
            };
            let msgs = match NlBuffer::<u16, Buffer>::from_bytes_with_input(
                &mut Cursor::new(&buf[..n]),
                n,
            ) {
                Ok(m) => m,
                Err(_) => {
                    stats.undecoded += 1;
                    count += 1;
                    continue;
                }
            };
            for m in msgs.iter() {
                count += 1;
                match m.nl_payload() {
                    NlPayload::Ack(ack) => {
                        *stats.answers.entry(0).or_default() += 1;
                        // The kernel acknowledges a message without
                        // NLM_F_REQUEST without running it.
                        let ran = ack.nlmsg().nl_flags().contains(NlmF::REQUEST);
                        if *ack.nlmsg().nl_type() == family && ran {
                            stats.handshake_ok += 1;
                        }
                    }
                    NlPayload::Err(err) => {
                        *stats.answers.entry(-*err.error()).or_default() += 1;
                    }
                    NlPayload::Payload(p) if *m.nl_type() == family => {
                        *stats.answers.entry(0).or_default() += 1;
                        stats.handshake_ok += 1;
                        let raw: &[u8] = p.as_ref();
                        let Ok(genl) = Genlmsghdr::<u8, u16>::from_bytes_with_input(
                            &mut Cursor::new(raw),
                            raw.len(),
                        ) else {
                            stats.undecoded += 1;
                            continue;
                        };
                        if *genl.cmd() == CMD_ACCEPT {
                            stats.accept_replies += 1;
                        }
                        for a in genl.attrs().iter() {
                            if *a.nla_type().nla_type() == A_ACCEPT_SOCKFD {
                                if let Ok(fd) = a.get_payload_as::<i32>() {
                                    accepted.push(fd);
                                }
                            }
                        }
                    }
                    _ => stats.other_family += 1,
                }
            }
        }
        count
    }
}

/// Fuzzes for `count` messages as the current credentials allow.
fn fuzz(mode: Mode, count: u64, gen: &mut Gen, fds: &mut Fds, chans: &[Channel]) -> Stats {
    let mut stats = Stats::default();
    let mut buf = vec![0u8; 1 << 16];
    let own = chans[0].sock.as_raw_fd();
    let cmds: [(u8, u64); 7] = [
        (CMD_ACCEPT, 35),
        (CMD_DONE, 45),
        (0, 3),
        (CMD_READY, 4),
        (4, 3),
        (5, 2),
        (255, 8),
    ];
    let weights: Vec<u64> = cmds.iter().map(|c| c.1).collect();
    for _ in 0..count {
        let mut cmd = cmds[gen.rng.pick(&weights)].0;
        if cmd == 255 {
            cmd = gen.rng.next_u64() as u8;
        }
        // Half the DONEs name a socket we accepted, well formed, so that
        // requests are really completed (with any status) while others race.
        let done_accepted = cmd == CMD_DONE && !fds.accepted.is_empty() && gen.rng.chance(50);
        let kind = if done_accepted {
            FdKind::Handshake
        } else {
            gen.rng.one_of(&FD_KINDS)
        };
        let fd = fds.pick(&mut gen.rng, kind, own);
        // With no accepted socket held, the message names -1: count it so.
        let kind = if kind == FdKind::Handshake && fds.accepted.is_empty() {
            FdKind::Bad
        } else {
            kind
        };
        let well_formed = done_accepted || gen.rng.chance(30);
        let mut bytes = gen.message(cmd, Some(fd), well_formed);
        let n = if gen.rng.chance(5) {
            1 + gen.rng.below(3)
        } else {
            0
        };
        for _ in 0..n {
            let more_cmd = gen.rng.one_of(&[CMD_ACCEPT, CMD_DONE, 0]);
            let sound = gen.rng.chance(50);
            let more = gen.message(more_cmd, Some(fd), sound);
            bytes.extend(more);
        }
        if !done_accepted && gen.rng.chance(25) {
            gen.damage(&mut bytes);
            stats.damaged += 1;
        }
        let chan = &chans[if chans.len() > 1 && gen.rng.chance(10) {
            1
        } else {
            0
        }];
        *stats.commands.entry(cmd).or_default() += 1;
        *stats.fd_kinds.entry(kind).or_default() += 1;
        let mut got = Vec::new();
        match chan.exchange(&mut buf, &bytes, gen.family, &mut stats, &mut got) {
            None => continue,
            Some(0) => stats.silent += 1,
            Some(_) => {}
        }
        if done_accepted {
            stats.done_on_accepted += 1;
        }
        for raw in got {
            let Ok(fd) = owned(raw) else { continue };
            if mode != Mode::Root {
                // Reported through handshake_ok; do not keep it.
                continue;
            }
            if fds.accepted.len() >= HELD_MAX {
                fds.accepted.remove(0);
            }
            fds.accepted.push(fd);
        }
        // Now and then let go of an accepted socket without DONE.
        if !fds.accepted.is_empty() && gen.rng.chance(3) {
            let i = gen.rng.below(fds.accepted.len() as u64) as usize;
            fds.accepted.remove(i);
        }
    }
    stats
}

/// Accepts pending requests until `want` sockets are held (trying for
/// about two seconds), so that the unprivileged modes that follow have real
/// handshake sockets to name in their DONEs.
fn hold_accepted(gen: &mut Gen, fds: &mut Fds, chan: &Channel, want: usize) -> Stats {
    let mut stats = Stats::default();
    let mut buf = vec![0u8; 1 << 16];
    for _ in 0..200 {
        if fds.accepted.len() >= want {
            break;
        }
        let bytes = gen.accept_tlshd();
        *stats.commands.entry(CMD_ACCEPT).or_default() += 1;
        let mut got = Vec::new();
        chan.exchange(&mut buf, &bytes, gen.family, &mut stats, &mut got);
        if got.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        for raw in got {
            if let Ok(fd) = owned(raw) {
                fds.accepted.push(fd);
            }
        }
    }
    stats
}

/// Sends a sound DONE (status 0) for `fd`; true if the kernel acknowledged it.
fn done_acked(gen: &mut Gen, chan: &Channel, fd: RawFd) -> bool {
    let status = gen.attr(A_DONE_STATUS, false, 0u32.to_ne_bytes().to_vec());
    let sockfd = gen.attr(A_DONE_SOCKFD, false, fd.to_ne_bytes().to_vec());
    let family = gen.family;
    let bytes = gen.serialize(
        family,
        NlmF::REQUEST | NlmF::ACK,
        CMD_DONE,
        1,
        vec![status, sockfd],
    );
    let mut stats = Stats::default();
    let mut buf = vec![0u8; 1 << 16];
    chan.exchange(&mut buf, &bytes, family, &mut stats, &mut Vec::new());
    stats.handshake_ok == 1
}

/// Another descriptor of the same netlink socket.
fn dup_socket(sock: &NlSocket) -> Result<NlSocket, String> {
    // SAFETY: fcntl(2) with F_DUPFD_CLOEXEC takes an open descriptor and a number.
    let fd = unsafe { libc::fcntl(sock.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!("F_DUPFD: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a new descriptor of a netlink socket that nothing else owns.
    Ok(unsafe { NlSocket::from_raw_fd(fd) })
}

fn genl_socket() -> Result<Channel, String> {
    let s = NlSocket::connect(NlFamily::Generic, None, Groups::empty())
        .map_err(|e| format!("generic netlink socket: {e}"))?;
    Channel::new(s)
}

/// Drops root for `NOBODY`; for `Userns`, then becomes root of a new user
/// namespace with its own network namespace.
fn drop_privileges(mode: Mode) -> Result<(), String> {
    let fail = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: These calls take plain integers or a null list and change only
    // this (single-threaded) process's credentials.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) < 0 {
            return Err(fail("setgroups"));
        }
        if libc::setgid(NOBODY) < 0 {
            return Err(fail("setgid"));
        }
        if libc::setuid(NOBODY) < 0 {
            return Err(fail("setuid"));
        }
        // setuid cleared it; /proc/self/uid_map must stay ours to write.
        if libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 {
            return Err(fail("PR_SET_DUMPABLE"));
        }
    }
    if mode != Mode::Userns {
        return Ok(());
    }
    // SAFETY: unshare(2) takes a flag word; the process is single-threaded.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) } < 0 {
        return Err(fail("unshare(CLONE_NEWUSER | CLONE_NEWNET)"));
    }
    for (file, text) in [
        ("/proc/self/setgroups", "deny".to_string()),
        ("/proc/self/uid_map", format!("0 {NOBODY} 1")),
        ("/proc/self/gid_map", format!("0 {NOBODY} 1")),
    ] {
        std::fs::write(file, text).map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(())
}

/// Runs an unprivileged mode in a child process; its counts come back on a
/// pipe. Besides a socket of its own, the child sends on `root_chan`, which
/// root opened: holding it must not be enough.
fn fuzz_in_child(
    mode: Mode,
    count: u64,
    gen: &mut Gen,
    fds: &mut Fds,
    root_chan: &Channel,
) -> Result<Stats, String> {
    wait_single_threaded()?;
    let mut pipe = [-1; 2];
    // SAFETY: `pipe` has room for the two descriptors pipe2(2) writes.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let (rd, wr) = (
        owned(pipe[0]).map_err(|e| e.to_string())?,
        owned(pipe[1]).map_err(|e| e.to_string())?,
    );
    // SAFETY: The process is single-threaded (checked above), so the child
    // may allocate and run ordinary code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(rd);
        let line = match drop_privileges(mode).and_then(|()| {
            // For `Userns`, a socket of the new network namespace.
            let chans = [
                genl_socket()?,
                Channel {
                    sock: dup_socket(&root_chan.sock)?,
                },
            ];
            Ok(fuzz(mode, count, gen, fds, &chans).line(mode.name()))
        }) {
            Ok(line) => line,
            Err(e) => format!("mode={} error={}", mode.name(), e.replace(' ', "_")),
        };
        let mut w = std::fs::File::from(wr);
        let _ = writeln!(w, "{line}");
        drop(w);
        // SAFETY: _exit(2) ends the child without running the parent's
        // destructors a second time.
        unsafe { libc::_exit(0) };
    }
    drop(wr);
    let mut line = String::new();
    std::fs::File::from(rd)
        .read_to_string(&mut line)
        .map_err(|e| format!("reading the child: {e}"))?;
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid int to write.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let line = line.trim().to_string();
    println!("{line}");
    if let Some(e) = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("error="))
    {
        return Err(format!("{} mode: {}", mode.name(), e.replace('_', " ")));
    }
    Stats::parse(&line).ok_or_else(|| format!("{} mode: no counts ({line:?})", mode.name()))
}

struct Opts {
    count: u64,
    seed: Option<u64>,
    modes: Vec<Mode>,
    hold: usize,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        count: 100_000,
        seed: None,
        modes: vec![Mode::Root, Mode::User, Mode::Userns],
        hold: 0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut val = || {
            v.clone()
                .or_else(|| args.next())
                .ok_or(format!("{k} needs a value"))
        };
        match k.as_str() {
            "--count" => o.count = val()?.parse().map_err(|_| "--count: not a number")?,
            "--seed" => o.seed = Some(val()?.parse().map_err(|_| "--seed: not a number")?),
            "--hold" => o.hold = val()?.parse().map_err(|_| "--hold: not a number")?,
            "--modes" => {
                o.modes = val()?
                    .split(',')
                    .map(|m| match m {
                        "root" => Ok(Mode::Root),
                        "user" => Ok(Mode::User),
                        "userns" => Ok(Mode::Userns),
                        _ => Err(format!("--modes: unknown mode {m:?}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown option {a:?}")),
        }
    }
    Ok(o)
}

fn run(opts: &Opts, seed: u64) -> Result<bool, String> {
    let family = match nl::family_id() {
        Ok(f) => f,
        Err(OpenError::NoFamily) => return Err("no \"handshake\" generic netlink family".into()),
        Err(OpenError::Other(e)) => return Err(e),
    };
    // The router that resolved the family closes its descriptors from its
    // own thread, after it was dropped: wait for it before the snapshot.
    wait_single_threaded()?;
    let before = fd_table();
    let mut total = Stats::default();
    let mut unprivileged_ok = 0;
    // The sockets held for the unprivileged modes, and how many of their
    // requests root could still complete afterwards.
    let mut held: Option<Vec<RawFd>> = None;
    let mut held_live = 0;
    let start = Instant::now();
    {
        let mut fds = Fds::new()?;
        let own = genl_socket()?;
        let elsewhere = fds.other_netns()?;
        let chans = [own, Channel::new(elsewhere)?];
        // Root gets most of the messages: the others stop at the permission check.
        let weights = |m: Mode| if m == Mode::Root { 8 } else { 1 };
        let sum: u64 = opts.modes.iter().map(|&m| weights(m)).sum();
        for &mode in &opts.modes {
            let n = opts.count * weights(mode) / sum;
            // Each mode has its own stream, so that each can be replayed alone.
            let mut gen = Gen {
                rng: Rng(seed ^ (mode as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                family,
                seq: 0,
            };
            let stats = match mode {
                Mode::Root => {
                    let s = fuzz(mode, n, &mut gen, &mut fds, &chans);
                    println!("{}", s.line("root"));
                    s
                }
                _ => {
                    if opts.hold > 0 && held.is_none() {
                        // Fresh sockets only: requests nobody else ends.
                        fds.accepted.clear();
                        let s = hold_accepted(&mut gen, &mut fds, &chans[0], opts.hold);
                        total.merge(&s);
                        held = Some(fds.accepted.iter().map(AsRawFd::as_raw_fd).collect());
                    }
                    let s = fuzz_in_child(mode, n, &mut gen, &mut fds, &chans[0])?;
                    unprivileged_ok += s.handshake_ok;
                    s
                }
            };
            total.merge(&stats);
        }
        // Root ends the held requests; the kernel acknowledges a DONE for
        // a request that still exists.
        let mut gen = Gen {
            rng: Rng(seed),
            family,
            seq: 0,
        };
        for &fd in held.iter().flatten() {
            if done_acked(&mut gen, &chans[0], fd) {
                held_live += 1;
            }
        }
    }
    if let Some(h) = &held {
        println!("held={} held_live={held_live}", h.len());
    }
    let seconds = start.elapsed().as_secs_f64();
    let after = fd_table();
    println!("{}", total.line("all"));
    println!(
        "messages={} seconds={seconds:.1} rate={:.0}/s unprivileged_handshake_ok={unprivileged_ok}",
        total.sent,
        total.sent as f64 / seconds.max(1e-9)
    );
    let unchanged = before == after;
    if unchanged {
        println!("fd_table=unchanged descriptors={}", after.len());
    } else {
        println!("fd_table=changed");
        println!("fds_before: {}", before.join(" "));
        println!("fds_after: {}", after.join(" "));
    }
    Ok(unchanged && unprivileged_ok == 0)
}

fn main() -> ExitCode {
    let opts = match hs_agent::cli::parsed("hs-fuzz", USAGE, 2, parse_args()) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let seed = opts.seed.unwrap_or_else(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        now.as_nanos() as u64 ^ u64::from(std::process::id())
    });
    println!(
        "seed={seed} count={} (replay: hs-fuzz --seed {seed} --count {})",
        opts.count, opts.count
    );
    match run(&opts, seed) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("hs-fuzz: {e}");
            ExitCode::from(2)
        }
    }
}
