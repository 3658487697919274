// SPDX-License-Identifier: GPL-2.0

//! The `handshake-diag` generic netlink family: what the service sees in the caller's namespace
//! (`Documentation/netlink/specs/handshake-diag.yaml`): its counters and its requests. The
//! module's own family, beside the `handshake` family, which stays exactly upstream's.

#![forbid(unsafe_code)]

use crate::{
    abstractions::{
        genl::{
            DoHandler,
            Dump,
            DumpEntry,
            DumpHandler,
            Family,
            GenlMsg,
            Info,
            McGroup,
            Policy,
            PutAttrs,
            SplitOp, //
        },
        module,
    },
    diag_tables::{
        self as tables,
        attr_errno_count,
        attr_request,
        attr_stats,
        cmd,
        request_state, //
    },
    request::{
        self,
        Seen,
        Shown, //
    },
    stats::ErrnoCounts,
};
use kernel::{
    prelude::*,
    str::{
        BStr,
        CString, //
    },
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    time::{
        Instant,
        Monotonic, //
    },
};

static OPS: [SplitOp; 2] = [
    SplitOp::new_do::<StatsGet>(cmd::STATS_GET, tables::STATS_GET_PERM),
    SplitOp::new_dump::<RequestGet>(cmd::REQUEST_GET, tables::REQUEST_GET_PERM),
];

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

/// `request-get`: the requests of the caller's namespace, as they were when the dump started.
struct RequestGet;

/// Where a `request-get` dump is.
struct Requests {
    shown: KVec<Shown>,
    /// The consumer of each of `shown`, named when the dump started (its module may be gone by
    /// the time the entry is sent).
    consumers: KVec<Option<Consumer>>,
    /// The next entry of `shown` to send.
    next: usize,
    /// When the dump started: what ages and deadlines are counted from.
    now: Instant<Monotonic>,
}

/// A consumer by the function its requests' completion calls.
struct Consumer {
    /// The module of the function, or `vmlinux`.
    module: CString,
    /// The function's name.
    function: CString,
}

impl Consumer {
    /// The consumer whose function is at `code`, if the kernel can name it; `symbol` is room for
    /// the kernel's description of it.
    fn named(code: usize, symbol: &mut [u8]) -> Result<Option<Self>> {
        if code == 0 {
            return Ok(None);
        }
        let Some((function, module)) = module::code_owner(code, symbol) else {
            return Ok(None);
        };
        Ok(Some(Consumer {
            module: CString::try_from_fmt(fmt!("{}", BStr::from_bytes(module)))?,
            function: CString::try_from_fmt(fmt!("{}", BStr::from_bytes(function)))?,
        }))
    }
}

impl DumpHandler for RequestGet {
    const MAXATTR: u16 = tables::REQUEST_GET_MAXATTR;
    const POLICY: &'static [Policy] = &tables::REQUEST_GET_POLICY;
    type Cursor = Requests;

    fn start(info: &Info<'_>) -> Result<Requests> {
        let hn = request::pernet(info.net()).ok_or(EOPNOTSUPP)?;
        let now = Instant::now();
        let shown = hn.requests()?;
        let mut consumers = KVec::with_capacity(shown.len(), GFP_KERNEL)?;
        if !shown.is_empty() {
            let mut symbol = KVec::from_elem(0u8, module::SYMBOL_LEN, GFP_KERNEL)?;
            for s in &shown {
                let code = s.req.proto().consumer_code();
                consumers.push(Consumer::named(code, &mut symbol)?, GFP_KERNEL)?;
            }
        }
        Ok(Requests {
            shown,
            consumers,
            next: 0,
            now,
        })
    }

    fn dumpit(cursor: &mut Requests, dump: &mut Dump<'_>) -> Result {
        while let Some(shown) = cursor.shown.get(cursor.next) {
            let consumer = cursor.consumers.get(cursor.next).and_then(Option::as_ref);
            let added = dump.entry(|m| put_request(m, shown, consumer, cursor.now))?;
            if !added {
                break;
            }
            cursor.next += 1;
        }
        Ok(())
    }
}

/// Milliseconds from `from` to `to`, 0 if `to` is not later.
fn millis(from: Instant<Monotonic>, to: Instant<Monotonic>) -> u64 {
    u64::try_from((to - from).as_millis()).unwrap_or(0)
}

fn put_request(
    m: &mut DumpEntry<'_>,
    shown: &Shown,
    consumer: Option<&Consumer>,
    now: Instant<Monotonic>,
) -> Result {
    let proto = shown.req.proto();
    let state = match shown.state {
        Seen::Pending => request_state::PENDING,
        Seen::Accepted => request_state::ACCEPTED,
        Seen::Completed => request_state::COMPLETED,
    };
    m.put_u32(attr_request::HANDLER_CLASS, proto.class().as_u32())?;
    m.put_u32(attr_request::STATE, state)?;
    m.put_u64(
        attr_request::AGE_MS,
        millis(shown.submitted, now),
        attr_request::PAD,
    )?;
    if let Some(deadline) = shown.deadline {
        m.put_u64(
            attr_request::DEADLINE_MS,
            millis(now, deadline),
            attr_request::PAD,
        )?;
    }
    m.put_u32(attr_request::TIMEOUT_MS, proto.timeout_ms())?;
    m.put_u32(attr_request::AUTH_MODE, proto.auth_mode())?;
    if let Some(name) = proto.peername() {
        m.put_string(attr_request::PEERNAME, name)?;
    }
    if let Some(pid) = shown.agent {
        m.put_u32(attr_request::AGENT_PID, pid)?;
    }
    if let Some(c) = consumer {
        m.put_string(attr_request::CONSUMER, &c.module)?;
        m.put_string(attr_request::CALLBACK, &c.function)?;
    }
    Ok(())
}
