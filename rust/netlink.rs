// SPDX-License-Identifier: GPL-2.0

//! The `handshake` generic netlink family, its operations and the per-namespace state.

use crate::{
    genl::{
        DoHandler,
        Family,
        Gfp,
        Info,
        Message,
        Policy,
        SplitOp, //
    },
    genl_tables::{
        self as tables,
        attr_accept,
        attr_done,
        cmd, //
    },
    net::{
        Net,
        Pernet,
        PernetData, //
    },
    request::{
        self,
        HandlerClass,
        Queue,
        Status, //
    },
    socket::SocketRef,
    sync::{
        new_spinlock_bh,
        SpinLockBh, //
    },
    trace, //
};
use core::ffi::c_void;
use kernel::{
    bindings,
    fs::file::FileDescriptorReservation,
    net::netlink::MulticastGroup,
    prelude::*,
    sync::Arc, //
};

static ACCEPT_POLICY: [Policy; tables::ACCEPT_POLICY.len()] = tables::ACCEPT_POLICY;
static DONE_POLICY: [Policy; tables::DONE_POLICY.len()] = tables::DONE_POLICY;

static OPS: [SplitOp; 2] = [
    SplitOp::new_do::<AcceptOp>(cmd::ACCEPT, &ACCEPT_POLICY, tables::ACCEPT_ADMIN_PERM),
    SplitOp::new_do::<DoneOp>(cmd::DONE, &DONE_POLICY, tables::DONE_ADMIN_PERM),
];

static MCGRPS: [MulticastGroup; 2] = [
    MulticastGroup::const_new(tables::MCGRP_NAMES[0]),
    MulticastGroup::const_new(tables::MCGRP_NAMES[1]),
];

/// The `handshake` family.
pub(crate) static FAMILY: Family = Family::const_new(
    &<crate::HandshakeModule as kernel::ModuleMetadata>::THIS_MODULE,
    tables::FAMILY_NAME,
    tables::FAMILY_VERSION,
    &OPS,
    &MCGRPS,
);

/// The operations table (for tests).
pub(crate) fn ops() -> &'static [SplitOp] {
    &OPS
}

/// The per-namespace state of the service.
#[pin_data]
pub(crate) struct HandshakeNet {
    #[pin]
    queue: SpinLockBh<Queue>,
}

impl HandshakeNet {
    /// New state admitting `max` pending requests.
    pub(crate) fn new(max: usize) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(HandshakeNet {
                queue <- new_spinlock_bh!(Queue::new(max), "handshake_net"),
            }),
            GFP_KERNEL,
        )
    }

    /// The queue of pending requests.
    pub(crate) fn queue(&self) -> &SpinLockBh<Queue> {
        &self.queue
    }
}

/// The default limit of pending requests per namespace: one per 25 pages of RAM per page size
/// unit (about one per 400 MiB with 4 KiB pages), at least 3 and at most 50.
pub(crate) fn default_pending_max() -> usize {
    let mut si = bindings::sysinfo::default();
    // SAFETY: `si` is a valid out parameter.
    unsafe { bindings::si_meminfo(&mut si) };
    let unit = u64::from(si.mem_unit).max(1);
    let slots = si.totalram as u64 / (25 * unit);
    slots.clamp(3, 50) as usize
}

/// The limit of pending requests for new namespaces: the module parameter if set, else the
/// default.
fn pending_max() -> usize {
    match crate::module_parameters::pending_max.value() {
        0 => default_pending_max(),
        n => n as usize,
    }
}

static PERNET: Pernet<HandshakeNet> = Pernet::new();

impl PernetData for HandshakeNet {
    fn pernet() -> &'static Pernet<Self> {
        &PERNET
    }

    fn init(_net: &Net) -> Result<Arc<Self>> {
        HandshakeNet::new(pending_max())
    }

    fn exit(this: &Arc<Self>, _net: &Net) {
        exit_net(this);
    }
}

/// What a namespace's exit does to its state: refuse new requests and complete the pending ones
/// with `ETIMEDOUT`. Accepted requests finish when their sockets are destroyed.
pub(crate) fn exit_net(hn: &HandshakeNet) {
    request::drain(hn);
}

/// The per-namespace operations, for registration.
pub(crate) fn pernet_ops() -> &'static Pernet<HandshakeNet> {
    &PERNET
}

/// The state of `net`, or `None` if the service is not (or no longer) set up.
pub(crate) fn pernet(net: &Net) -> Option<Arc<HandshakeNet>> {
    PERNET.get(net)
}

/// Tells the agents of `class` in `net` that a request is waiting, allocating with `gfp`.
pub(crate) fn notify(net: &Net, class: HandlerClass, gfp: Gfp) -> Result {
    let group = class.as_u32();
    if !FAMILY.has_listeners(net, group) {
        return Err(ESRCH);
    }
    let mut msg = Message::new_notify(&FAMILY, cmd::READY, gfp)?;
    msg.put_u32(attr_accept::HANDLER_CLASS, class.as_u32())?;
    msg.multicast(&FAMILY, net, group, gfp)
}

/// `ACCEPT`: hand the oldest pending request of a class to the calling agent.
struct AcceptOp;

impl DoHandler for AcceptOp {
    const MAXATTR: u16 = tables::ACCEPT_MAXATTR;

    fn doit(info: &Info<'_>) -> Result {
        let net = info.net();
        let result = accept(net, info);
        if let Err(e) = result {
            trace::cmd_accept_err(net, &core::ptr::null::<c_void>(), None, e);
        }
        result
    }
}

fn accept(net: &Net, info: &Info<'_>) -> Result {
    let hn = pernet(net).ok_or(EOPNOTSUPP)?;
    let class = info
        .attr(attr_accept::HANDLER_CLASS)
        .ok_or(EINVAL)?
        .get_u32()?;
    // `none` or an unknown class has no requests.
    let class = HandlerClass::from_u32(class).ok_or(EAGAIN)?;
    accept_request(net, &hn, class, |req, fd| req.proto().accept(req, info, fd))
}

/// Hands the oldest pending request of `class` in `hn` to the calling agent: reserves an fd,
/// lets `reply` tell the agent about it, and publishes the fd only if that worked. On failure
/// the agent never sees a descriptor, the request is completed with `EIO`, and the agent's file
/// reference is dropped exactly once.
pub(crate) fn accept_request(
    net: &Net,
    hn: &HandshakeNet,
    class: HandlerClass,
    reply: impl FnOnce(&request::Request, u32) -> Result,
) -> Result {
    let (req, file) = request::accept_next(hn, class).ok_or(EAGAIN)?;
    let reserved =
        FileDescriptorReservation::get_unused_fd_flags(bindings::O_CLOEXEC).and_then(|fdr| {
            reply(&req, fdr.reserved_fd())?;
            Ok(fdr)
        });
    match reserved {
        Ok(fdr) => {
            trace::cmd_accept(net, &*req, req.sk(), fdr.reserved_fd() as i32);
            fdr.fd_install(file);
            Ok(())
        }
        Err(e) => {
            req.complete(Status::from_error(EIO), None);
            drop(file);
            Err(e)
        }
    }
}

/// `DONE`: an agent reports the outcome of a handshake.
struct DoneOp;

impl DoHandler for DoneOp {
    const MAXATTR: u16 = tables::DONE_MAXATTR;

    fn doit(info: &Info<'_>) -> Result {
        let net = info.net();
        let fd = info.attr(attr_done::SOCKFD).ok_or(EINVAL)?.get_s32()?;
        let sock = SocketRef::lookup(fd)?;
        let sk = sock.sk().ok_or(EINVAL)?;
        let Some(req) = request::lookup(sk) else {
            trace::cmd_done_err(net, &core::ptr::null::<c_void>(), sk, EBUSY);
            return Err(EBUSY);
        };
        trace::cmd_done(net, &*req, sk, fd);
        let status = info
            .attr(attr_done::STATUS)
            .map(|a| a.get_u32())
            .transpose()?;
        req.complete(Status::from_agent(status), Some(info));
        Ok(())
    }
}
