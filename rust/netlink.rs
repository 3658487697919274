// SPDX-License-Identifier: GPL-2.0

//! The `handshake` generic netlink family: its tables, the READY announcement and the ACCEPT
//! and DONE operations.

#![forbid(unsafe_code)]

use crate::{
    abstractions::{
        genl::{
            BindHandler,
            DoHandler,
            Family,
            GenlMsg,
            Gfp,
            Info,
            McGroup,
            Perm,
            Policy,
            PutAttrs,
            SplitOp, //
        },
        module,
        net::Net,
        socket::SocketRef,
        tracepoints::{
            self as tp,
            ReqId, //
        },
    },
    genl_tables::{
        self as tables,
        attr_accept,
        attr_done,
        cmd,
        HandlerClass, //
    },
    request::{
        self,
        Request,
        Status, //
    },
    stats::Counters,
};
use kernel::{
    bindings,
    fs::{
        file::FileDescriptorReservation,
        File, //
    },
    prelude::*,
    sync::{
        aref::ARef,
        atomic::Relaxed,
        rcu,
        Arc, //
    }, //
};

/// The operations, with upstream's permission (`GENL_ADMIN_PERM`) until a namespace first
/// opts in to agents of its own user namespace ([`allow_userns_agents`]).
static OPS: [SplitOp; 2] = [
    SplitOp::new_do::<AcceptOp>(cmd::ACCEPT, tables::ACCEPT_PERM),
    SplitOp::new_do::<DoneOp>(cmd::DONE, tables::DONE_PERM),
];

/// Called when a namespace sets `net.handshake.agent_userns` to 1: from then on, until the module
/// is unloaded, the core lets anyone with `CAP_NET_ADMIN` over a namespace's own user namespace
/// through to ACCEPT and DONE (`GENL_UNS_ADMIN_PERM`, which the family reports), and the
/// operations themselves refuse those of the namespaces that did not opt in
/// ([`userns_agents_allowed`]). Until the first opt-in the family is upstream's to the bit.
pub(crate) fn allow_userns_agents() {
    for op in &OPS {
        op.set_perm(Perm::UnsAdmin);
    }
}

/// Whether `net` lets the administrators of its own user namespace serve as agents.
fn userns_agents_allowed(net: &Net) -> bool {
    let rcu = rcu::read_lock();
    request::pernet_rcu(net, &rcu).is_some_and(|hn| hn.agent_userns())
}

/// The groups. Only agents may hear READY: joining `tlshd` takes `CAP_NET_ADMIN` over the
/// namespace (the C service lets anyone join, and an unprivileged listener makes submits
/// believe an agent is there). The flags are not on the wire: the family reports the same
/// groups.
static MCGRPS: [McGroup; 2] = [
    McGroup::new(tables::MCGRP_NAMES[0]),
    McGroup::admin(tables::MCGRP_NAMES[1]),
];

/// The `handshake` family.
pub(crate) static FAMILY: Family = Family::const_new_with_bind::<AgentJoins>(
    &module::THIS_MODULE,
    tables::FAMILY_NAME,
    tables::FAMILY_VERSION,
    &OPS,
    &MCGRPS,
);

/// The groups, as registered.
#[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
pub(crate) fn mcgrps() -> &'static [McGroup] {
    &MCGRPS
}

/// An agent joining a class's group gets READY again for the requests of that class pending
/// in its namespace, so a restarted agent does not leave requests queued while it was away
/// waiting for a READY that was sent before it listened.
enum AgentJoins {}

impl BindHandler for AgentJoins {
    fn bind(group: u32) {
        if let Some(class) = HandlerClass::of_group(group) {
            request::agent_joins(class, announce);
        }
    }
}

/// The operations table.
#[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
pub(crate) fn ops() -> &'static [SplitOp] {
    &OPS
}

/// Tells the agents of `class` in `net` that a request is waiting (READY), allocating with
/// `gfp`; `ESRCH` if no agent listens.
pub(crate) fn announce(net: &Net, class: HandlerClass, gfp: Gfp) -> Result {
    let group = class.group();
    if !FAMILY.has_listeners_netns(net, group) {
        return Err(ESRCH);
    }
    let mut msg = GenlMsg::new_notify(&FAMILY, cmd::READY, gfp)?;
    msg.put_u32(attr_accept::HANDLER_CLASS, class.as_u32())?;
    msg.multicast_netns(&FAMILY, net, group, gfp)
}

/// `ACCEPT`: hand the oldest pending request of a class to the calling agent.
struct AcceptOp;

impl DoHandler for AcceptOp {
    const MAXATTR: u16 = tables::ACCEPT_MAXATTR;
    const POLICY: &'static [Policy] = &tables::ACCEPT_POLICY;
    const USERNS_ADMIN_ALLOWED: Option<fn(&Net) -> bool> = Some(userns_agents_allowed);

    fn doit(info: &Info<'_>) -> Result {
        let net = info.net();
        let result = accept(info);
        if let Err(e) = &result {
            tp::handshake_cmd_accept_err(net, ReqId::NONE, None, e.to_errno());
        }
        result
    }
}

fn accept(info: &Info<'_>) -> Result {
    let net = info.net();
    let class = info.required_attr(attr_accept::HANDLER_CLASS)?.get_u32()?;
    let taken = {
        let rcu = rcu::read_lock();
        let hn = request::pernet_rcu(net, &rcu).ok_or(EOPNOTSUPP)?;
        // `none` or an unknown class has no requests.
        let class = HandlerClass::from_u32(class).ok_or(EAGAIN)?;
        hn.accept_next(class).ok_or(EAGAIN)?
    };
    hand_over(net, taken, |req, fd| req.proto().accept(info, fd))
}

/// Hands the oldest pending request of `class` in `hn` to the calling agent (see
/// [`hand_over`]).
#[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
pub(crate) fn accept_request(
    net: &Net,
    hn: &request::HandshakeNet,
    class: HandlerClass,
    reply: impl FnOnce(&Request, u32) -> Result,
) -> Result {
    hand_over(net, hn.accept_next(class).ok_or(EAGAIN)?, reply)
}

/// Hands a request just taken off its queue, with the agent's file reference, to the calling
/// agent: reserves an fd, lets `reply` tell the agent about it, and publishes the fd only if
/// that worked. On failure the agent never sees a descriptor, the request is completed with
/// `EIO`, and the agent's file reference is dropped exactly once.
fn hand_over(
    net: &Net,
    (req, file): (Arc<Request>, ARef<File>),
    reply: impl FnOnce(&Request, u32) -> Result,
) -> Result {
    let reserved =
        FileDescriptorReservation::get_unused_fd_flags(bindings::O_CLOEXEC).and_then(|fdr| {
            reply(&req, fdr.reserved_fd())?;
            Ok(fdr)
        });
    match reserved {
        Ok(fdr) => {
            let fd = fdr.reserved_fd() as i32;
            tp::handshake_cmd_accept(net, req.id(), Some(req.sk()), fd);
            Counters::inc(&req.counters().accepted);
            fdr.fd_install(file);
            Ok(())
        }
        Err(e) => {
            if req.complete(Status::from_error(EIO), None) {
                Counters::inc(&req.counters().accept_failed);
            }
            drop(file);
            Err(e)
        }
    }
}

/// `DONE`: an agent reports the outcome of a handshake.
struct DoneOp;

impl DoHandler for DoneOp {
    const MAXATTR: u16 = tables::DONE_MAXATTR;
    const POLICY: &'static [Policy] = &tables::DONE_POLICY;
    const USERNS_ADMIN_ALLOWED: Option<fn(&Net) -> bool> = Some(userns_agents_allowed);
    /// An agent newer than the module may report more than it knows (upstream's DONE is growing
    /// attributes): the outcome it carries still completes the request. The agent can tell what
    /// the module understands from the policy the family reports, which lists only these.
    const TOLERATE_UNKNOWN: bool = true;

    fn doit(info: &Info<'_>) -> Result {
        let net = info.net();
        let fd = info.required_attr(attr_done::SOCKFD)?.get_s32()?;
        let sock = SocketRef::lookup(fd)?;
        let sk = sock.sk().ok_or(EINVAL)?.key();
        let Some(req) = request::lookup(sk) else {
            tp::handshake_cmd_done_err(net, ReqId::NONE, Some(sk), EBUSY.to_errno());
            return Err(EBUSY);
        };
        tp::handshake_cmd_done(net, req.id(), Some(sk), fd);
        let unknown = info.unknown_attrs();
        if unknown > 0 {
            req.counters()
                .unknown_done_attrs
                .add(unknown as u64, Relaxed);
            let unknown = i32::try_from(unknown).unwrap_or(i32::MAX);
            tp::handshake_cmd_done_unknown_attrs(net, req.id(), Some(sk), unknown);
        }
        let status = info
            .attr(attr_done::STATUS)
            .map(|a| a.get_u32())
            .transpose()?;
        let status = Status::from_agent(status);
        if req.complete(status, Some(info)) {
            req.counters().done.add(status.to_errno().unsigned_abs());
        }
        Ok(())
    }
}
