// SPDX-License-Identifier: GPL-2.0
//! The `handshake` generic netlink family (include/uapi/linux/handshake.h,
//! Documentation/netlink/specs/handshake.yaml) on top of neli.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use neli::{
    attr::Attribute,
    consts::{genl::NlAttrType, nl::NlmF, socket::NlFamily},
    err::{RouterError, SocketError},
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, NlattrBuilder},
    neli_enum,
    nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder},
    router::synchronous::NlRouter,
    socket::synchronous::NlSocketHandle,
    types::{Buffer, GenlBuffer},
    utils::Groups,
};

pub const FAMILY_NAME: &str = "handshake";
const FAMILY_VERSION: u8 = 1;
const MCGRP_TLSHD: &str = "tlshd";
/// The kernel answers a request while it is being sent, so a reply that does
/// not show up within this time was lost.
const REPLY_TIMEOUT_MS: i32 = 1000;
const RCVBUF: usize = 1 << 20;

#[neli_enum(serialized_type = "u8")]
pub enum HsCmd {
    Ready = 1,
    Accept = 2,
    Done = 3,
}
impl neli::consts::genl::Cmd for HsCmd {}

#[neli_enum(serialized_type = "u16")]
pub enum AcceptAttr {
    Sockfd = 1,
    HandlerClass = 2,
    MessageType = 3,
    Timeout = 4,
    AuthMode = 5,
    PeerIdentity = 6,
    Certificate = 7,
    Peername = 8,
    Keyring = 9,
}
impl NlAttrType for AcceptAttr {}

#[neli_enum(serialized_type = "u16")]
pub enum DoneAttr {
    Status = 1,
    Sockfd = 2,
    RemoteAuth = 3,
}
impl NlAttrType for DoneAttr {}

type HsMsg = Nlmsghdr<u16, Genlmsghdr<HsCmd, AcceptAttr>>;

/// A failed request: the errno the kernel (or the socket) reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", io::Error::from_raw_os_error(self.0))
    }
}

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Self {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<SocketError> for Errno {
    fn from(e: SocketError) -> Self {
        match e {
            SocketError::Io(e) => Errno(e.raw_os_error().unwrap_or(libc::EIO)),
            // A message neli could not encode or decode.
            _ => Errno(libc::EPROTO),
        }
    }
}

/// Why the family could not be opened.
pub enum OpenError {
    /// No `handshake` family in this kernel (or network namespace).
    NoFamily,
    Other(String),
}

/// The attributes of an ACCEPT reply (`handshake_nl_accept_doit`).
#[derive(Debug, Default)]
pub struct AcceptReply {
    pub sockfd: Option<i32>,
    pub handler_class: Option<u32>,
    pub message_type: Option<u32>,
    pub timeout: Option<u32>,
    pub auth_mode: Option<u32>,
    pub peername: Option<String>,
    pub keyring: Option<u32>,
    pub peer_identity: Vec<u32>,
}

impl AcceptReply {
    fn parse(genl: &Genlmsghdr<HsCmd, AcceptAttr>) -> Self {
        let mut r = AcceptReply::default();
        for attr in genl.attrs().iter() {
            let u32_val = || attr.get_payload_as::<u32>().ok();
            match attr.nla_type().nla_type() {
                AcceptAttr::Sockfd => r.sockfd = attr.get_payload_as::<i32>().ok(),
                AcceptAttr::HandlerClass => r.handler_class = u32_val(),
                AcceptAttr::MessageType => r.message_type = u32_val(),
                AcceptAttr::Timeout => r.timeout = u32_val(),
                AcceptAttr::AuthMode => r.auth_mode = u32_val(),
                AcceptAttr::Keyring => r.keyring = u32_val(),
                AcceptAttr::PeerIdentity => r.peer_identity.extend(u32_val()),
                AcceptAttr::Peername => {
                    let raw: &[u8] = attr.nla_payload().as_ref();
                    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
                    r.peername = Some(String::from_utf8_lossy(raw).into_owned());
                }
                _ => {}
            }
        }
        r
    }
}

/// A generic netlink socket bound to the handshake family, joined to the
/// tlshd multicast group when the kernel has it.
pub struct Handshake {
    sock: NlSocketHandle,
    family: u16,
    pid: u32,
    seq: u32,
    subscribed: bool,
    /// A READY notification arrived and has not been consumed yet.
    ready: bool,
    /// Receive-queue overruns seen (ENOBUFS); counted, not fatal.
    pub overruns: u64,
}

/// The `handshake` family's id and its `tlshd` group's, if the kernel has one: the same in
/// every network namespace.
pub fn family_and_group() -> Result<(u16, Option<u32>), OpenError> {
    let other = |e: &dyn fmt::Display| OpenError::Other(e.to_string());
    // The router runs a helper thread; it is only used for this look-up
    // and goes away when `router` is dropped.
    let (router, _) =
        NlRouter::connect(NlFamily::Generic, None, Groups::empty()).map_err(|e| other(&e))?;
    let family = match router.resolve_genl_family(FAMILY_NAME) {
        Ok(id) => id,
        Err(RouterError::Nlmsgerr(e)) if *e.error() == -libc::ENOENT => {
            return Err(OpenError::NoFamily)
        }
        // neli's answer when the reply carries no family id.
        Err(RouterError::Msg(_)) => return Err(OpenError::NoFamily),
        Err(e) => return Err(other(&e)),
    };
    let group = router.resolve_nl_mcast_group(FAMILY_NAME, MCGRP_TLSHD).ok();
    Ok((family, group))
}

/// The id of the `handshake` family, as the kernel's generic netlink controller reports it.
pub fn family_id() -> Result<u16, OpenError> {
    family_and_group().map(|(family, _)| family)
}

impl Handshake {
    pub fn open() -> Result<Self, OpenError> {
        let (family, group) = family_and_group()?;
        Self::open_resolved(family, group)
    }

    /// Opens a socket of the family already resolved (by [`family_and_group`]) in the caller's
    /// network namespace, joining `group`: no resolver thread, one socket.
    pub fn open_resolved(family: u16, group: Option<u32>) -> Result<Self, OpenError> {
        let groups = Groups::new_groups(&group.into_iter().collect::<Vec<_>>());
        let sock = NlSocketHandle::connect(NlFamily::Generic, None, groups)
            .map_err(|e| OpenError::Other(e.to_string()))?;
        // Best effort: a larger queue makes READY bursts less likely to overrun it.
        let _ = sock.set_recv_buffer_size(RCVBUF);
        let pid = sock.pid();
        Ok(Handshake {
            sock,
            family,
            pid,
            seq: 0,
            subscribed: group.is_some(),
            ready: false,
            overruns: 0,
        })
    }

    pub fn subscribed(&self) -> bool {
        self.subscribed
    }

    pub fn raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    fn send<A: NlAttrType>(
        &mut self,
        cmd: HsCmd,
        attrs: GenlBuffer<A, Buffer>,
        flags: NlmF,
    ) -> Result<u32, Errno> {
        // Sequence 0 is what multicast notifications carry; never use it.
        self.seq = self.seq.wrapping_add(1).max(1);
        let genl = GenlmsghdrBuilder::default()
            .cmd(cmd)
            .version(FAMILY_VERSION)
            .attrs(attrs)
            .build()
            .map_err(|_| Errno(libc::EINVAL))?;
        let msg = NlmsghdrBuilder::default()
            .nl_type(self.family)
            .nl_flags(NlmF::REQUEST | flags)
            .nl_seq(self.seq)
            .nl_pid(self.pid)
            .nl_payload(NlPayload::Payload(genl))
            .build()
            .map_err(|_| Errno(libc::EINVAL))?;
        self.sock.send(&msg)?;
        Ok(self.seq)
    }

    /// The messages of one datagram.
    fn recv(&self) -> Result<Vec<HsMsg>, Errno> {
        let (iter, _) = self.sock.recv()?;
        Ok(iter.collect::<Result<_, _>>()?)
    }

    fn note_unsolicited(&mut self, msg: &HsMsg) {
        if *msg.nl_type() == self.family
            && msg.get_payload().map(|p| *p.cmd()) == Some(HsCmd::Ready)
        {
            self.ready = true;
        }
    }

    /// Receive until the answer to `seq` arrives: a reply (Some), an ACK
    /// (None) or an error. Notifications met on the way are noted.
    fn wait_reply(&mut self, seq: u32) -> Result<Option<AcceptReply>, Errno> {
        loop {
            match poll_in(self.raw_fd(), REPLY_TIMEOUT_MS) {
                Ok(true) => {}
                Ok(false) => return Err(Errno(libc::ETIMEDOUT)),
                Err(Errno(libc::EINTR)) => continue,
                Err(e) => return Err(e),
            }
            let msgs = match self.recv() {
                Ok(msgs) => msgs,
                // Notifications were dropped; our answer may still be queued.
                Err(Errno(libc::ENOBUFS)) => {
                    self.overruns += 1;
                    continue;
                }
                Err(Errno(libc::EINTR)) => continue,
                Err(e) => return Err(e),
            };
            for mut msg in msgs {
                if *msg.nl_seq() != seq || *msg.nl_pid() != self.pid {
                    self.note_unsolicited(&msg);
                    continue;
                }
                if let Some(err) = msg.get_err() {
                    return Err(Errno(-*err.error()));
                }
                return Ok(msg.get_payload().map(AcceptReply::parse));
            }
        }
    }

    /// HANDSHAKE_CMD_ACCEPT for `class`. EAGAIN means nothing is pending.
    pub fn accept(&mut self, class: u32) -> Result<AcceptReply, Errno> {
        let attrs = [attr(AcceptAttr::HandlerClass, class)?];
        let seq = self.send(HsCmd::Accept, attrs.into_iter().collect(), NlmF::empty())?;
        self.wait_reply(seq)?.ok_or(Errno(libc::EPROTO))
    }

    /// HANDSHAKE_CMD_DONE for `sockfd` with `status` (an errno, 0 = success).
    pub fn done(&mut self, sockfd: RawFd, status: u32) -> Result<(), Errno> {
        self.done_with(sockfd, status, &[])
    }

    /// HANDSHAKE_CMD_DONE for `sockfd` with `status` and the peer's `remote_auth` key serials.
    pub fn done_with(
        &mut self,
        sockfd: RawFd,
        status: u32,
        remote_auth: &[u32],
    ) -> Result<(), Errno> {
        let mut attrs = vec![
            attr(DoneAttr::Status, status)?,
            attr(DoneAttr::Sockfd, sockfd)?,
        ];
        for &id in remote_auth {
            attrs.push(attr(DoneAttr::RemoteAuth, id)?);
        }
        let seq = self.send(HsCmd::Done, attrs.into_iter().collect(), NlmF::ACK)?;
        self.wait_reply(seq).map(drop)
    }

    /// A round trip that costs the service nothing: a command number the family has no
    /// operation for, which generic netlink itself refuses (EOPNOTSUPP) with an ACK. The
    /// least an agent's ACCEPT or DONE can cost, for the benchmark's floor.
    pub fn noop(&mut self) -> Result<(), Errno> {
        let seq =
            self.send::<DoneAttr>(HsCmd::UnrecognizedConst(0), GenlBuffer::new(), NlmF::ACK)?;
        match self.wait_reply(seq) {
            Err(Errno(libc::EOPNOTSUPP)) => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Err(Errno(libc::EPROTO)),
        }
    }

    /// Wait up to `timeout_ms` for a READY notification; true if one came.
    /// Without the multicast group this just sleeps 1 ms.
    pub fn wait_ready(&mut self, timeout_ms: i32) -> Result<bool, Errno> {
        if !self.subscribed {
            std::thread::sleep(std::time::Duration::from_millis(
                timeout_ms.clamp(0, 1) as u64
            ));
            return Ok(false);
        }
        if std::mem::take(&mut self.ready) {
            return Ok(true);
        }
        if !poll_in(self.raw_fd(), timeout_ms)? {
            return Ok(false);
        }
        self.drain()?;
        Ok(std::mem::take(&mut self.ready))
    }

    /// Read every notification already queued, as tlshd reads every READY:
    /// a full receive queue makes the kernel's multicast find no listener,
    /// and a consumer's submit then fails with ESRCH.
    pub fn drain(&mut self) -> Result<(), Errno> {
        if !self.subscribed {
            return Ok(());
        }
        while poll_in(self.raw_fd(), 0)? {
            match self.recv() {
                Ok(msgs) => msgs.iter().for_each(|m| self.note_unsolicited(m)),
                // Notifications were lost: some may have been READY.
                Err(Errno(libc::ENOBUFS)) => {
                    self.overruns += 1;
                    self.ready = true;
                }
                Err(Errno(libc::EINTR)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

fn attr<A, P>(ty: A, payload: P) -> Result<neli::genl::Nlattr<A, Buffer>, Errno>
where
    A: NlAttrType,
    P: neli::Size + neli::ToBytes,
{
    let ty = AttrTypeBuilder::default()
        .nla_type(ty)
        .build()
        .map_err(|_| Errno(libc::EINVAL))?;
    NlattrBuilder::default()
        .nla_type(ty)
        .nla_payload(payload)
        .build()
        .map_err(|_| Errno(libc::EINVAL))
}

/// poll(2) one descriptor for input; Ok(false) on timeout.
fn poll_in(fd: RawFd, timeout_ms: i32) -> Result<bool, Errno> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid, initialised pollfd that lives across the
    // call, and nfds = 1 matches the single element passed.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    match n {
        n if n < 0 => Err(io::Error::last_os_error().into()),
        0 => Ok(false),
        _ => Ok(true),
    }
}
