// SPDX-License-Identifier: GPL-2.0

//! The `handshake-diag` generic netlink family: what the service sees in the caller's namespace
//! (`Documentation/netlink/specs/handshake-diag.yaml`). The module's own family, beside the
//! `handshake` family, which stays exactly upstream's.

#![forbid(unsafe_code)]

use crate::{
    abstractions::{
        genl::{
            DoHandler,
            Family,
            GenlMsg,
            Info,
            McGroup,
            Policy,
            SplitOp, //
        },
        module,
    },
    diag_tables::{
        self as tables,
        attr_errno_count,
        attr_stats,
        cmd, //
    },
    request,
    stats::ErrnoCounts,
};
use kernel::{
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

static OPS: [SplitOp; 1] = [SplitOp::new_do::<StatsGet>(
    cmd::STATS_GET,
    tables::STATS_GET_PERM,
)];

static MCGRPS: [McGroup; 0] = [];

/// The `handshake-diag` family.
pub(crate) static FAMILY: Family = Family::const_new(
    &module::THIS_MODULE,
    tables::FAMILY_NAME,
    tables::FAMILY_VERSION,
    &OPS,
    &MCGRPS,
);

/// `stats-get`: the counters of the caller's namespace.
struct StatsGet;

impl DoHandler for StatsGet {
    const MAXATTR: u16 = tables::STATS_GET_MAXATTR;
    const POLICY: &'static [Policy] = &tables::STATS_GET_POLICY;

    fn doit(info: &Info<'_>) -> Result {
        let hn = request::pernet(info.net()).ok_or(EOPNOTSUPP)?;
        let c = hn.counters();
        let pending = u32::try_from(hn.pending()).unwrap_or(u32::MAX);
        let pending_max = u32::try_from(hn.pending_max()).unwrap_or(u32::MAX);
        let mut msg = GenlMsg::new_reply(&FAMILY, info)?;
        msg.put_u32(attr_stats::PENDING, pending)?;
        msg.put_u32(attr_stats::PENDING_MAX, pending_max)?;
        put_count(&mut msg, attr_stats::SUBMITTED, &c.submitted)?;
        put_errnos(&mut msg, attr_stats::REFUSED, &c.refused)?;
        put_count(&mut msg, attr_stats::ACCEPTED, &c.accepted)?;
        put_errnos(&mut msg, attr_stats::DONE, &c.done)?;
        put_count(&mut msg, attr_stats::CANCELLED, &c.cancelled)?;
        put_count(&mut msg, attr_stats::DRAINED, &c.drained)?;
        put_count(
            &mut msg,
            attr_stats::UNKNOWN_DONE_ATTRS,
            &c.unknown_done_attrs,
        )?;
        put_count(&mut msg, attr_stats::READY_AGAIN, &c.ready_again)?;
        put_count(&mut msg, attr_stats::ACCEPT_FAILED, &c.accept_failed)?;
        put_count(&mut msg, attr_stats::TIMED_OUT, &c.timed_out)?;
        put_count(&mut msg, attr_stats::AGENT_DIED, &c.agent_died)?;
        msg.reply(info)
    }
}

fn put_count(msg: &mut GenlMsg, attrtype: u16, counter: &Atomic<u64>) -> Result {
    msg.put_u64(attrtype, counter.load(Relaxed), attr_stats::PAD)
}

/// One `errno-count` nest per errno seen, and one without an errno for the others.
fn put_errnos(msg: &mut GenlMsg, attrtype: u16, counts: &ErrnoCounts) -> Result {
    for (errno, count) in counts.iter() {
        msg.put_nest(attrtype, |m| {
            m.put_u32(attr_errno_count::ERRNO, errno)?;
            m.put_u64(attr_errno_count::COUNT, count, attr_errno_count::PAD)
        })?;
    }
    let other = counts.other();
    if other > 0 {
        msg.put_nest(attrtype, |m| {
            m.put_u64(attr_errno_count::COUNT, other, attr_errno_count::PAD)
        })?;
    }
    Ok(())
}
