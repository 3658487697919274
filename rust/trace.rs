// SPDX-License-Identifier: GPL-2.0

//! Tracepoints of the service.
//!
//! The events are those of the kernel's `include/trace/events/handshake.h`, defined in
//! `rust/helpers/trace.c`; these functions only pass the values on. A request is identified by its
//! address, as in the C service.

use crate::{
    glue,
    net::Net,
    request::{
        Request,
        Status, //
    },
    socket::{
        SockKey,
        Socket, //
    },
};
use core::ffi::c_void;
use kernel::prelude::*;

/// Something that names a request in a trace event.
pub(crate) trait TraceReq {
    /// The address recorded by the event.
    fn addr(&self) -> *const c_void;
}

impl TraceReq for Request {
    fn addr(&self) -> *const c_void {
        core::ptr::from_ref(self).cast()
    }
}

impl TraceReq for kernel::sync::Arc<Request> {
    fn addr(&self) -> *const c_void {
        kernel::sync::Arc::as_ptr(self).cast()
    }
}

impl TraceReq for *const c_void {
    fn addr(&self) -> *const c_void {
        *self
    }
}

fn sk_ptr(sk: impl Into<Option<SockKey>>) -> *const kernel::bindings::sock {
    sk.into()
        .map_or(core::ptr::null(), |sk| sk.as_ptr().cast_const())
}

macro_rules! event {
    ($(#[$m:meta])* $name:ident => $c:ident) => {
        $(#[$m])*
        pub(crate) fn $name(net: &Net, req: &impl TraceReq, sk: impl Into<Option<SockKey>>) {
            // SAFETY: `net` is alive; the event records the addresses only.
            unsafe { glue::$c(net.as_ptr(), req.addr(), sk_ptr(sk)) }
        }
    };
    ($(#[$m:meta])* $name:ident => $c:ident, err) => {
        $(#[$m])*
        pub(crate) fn $name(net: &Net, req: &impl TraceReq, sk: impl Into<Option<SockKey>>, err: Error) {
            // SAFETY: `net` is alive; the event records the addresses only.
            unsafe { glue::$c(net.as_ptr(), req.addr(), sk_ptr(sk), err.to_errno()) }
        }
    };
    ($(#[$m:meta])* $name:ident => $c:ident, fd) => {
        $(#[$m])*
        pub(crate) fn $name(net: &Net, req: &impl TraceReq, sk: impl Into<Option<SockKey>>, fd: i32) {
            // SAFETY: `net` is alive; the event records the addresses only.
            unsafe { glue::$c(net.as_ptr(), req.addr(), sk_ptr(sk), fd) }
        }
    };
}

event!(
    /// A request was queued.
    submit => hs_trace_submit
);
event!(
    /// A submit failed.
    submit_err => hs_trace_submit_err, err
);
event!(
    /// A consumer cancelled a request and won.
    cancel => hs_trace_cancel
);
event!(
    /// A consumer cancelled but there was no request.
    cancel_none => hs_trace_cancel_none
);
event!(
    /// A consumer cancelled but the request was already completed.
    cancel_busy => hs_trace_cancel_busy
);
event!(
    /// A request was freed with its socket.
    destruct => hs_trace_destruct
);
event!(
    /// Announcing a request failed.
    notify_err => hs_trace_notify_err, err
);
event!(
    /// An agent accepted a request.
    cmd_accept => hs_trace_cmd_accept, fd
);
event!(
    /// ACCEPT failed.
    cmd_accept_err => hs_trace_cmd_accept_err, err
);
event!(
    /// An agent reported DONE.
    cmd_done => hs_trace_cmd_done, fd
);
event!(
    /// DONE failed.
    cmd_done_err => hs_trace_cmd_done_err, err
);

/// A request was completed with `status`.
pub(crate) fn complete(net: &Net, req: &Request, sk: SockKey, status: Status) {
    // SAFETY: `net` is alive; the event records the addresses only.
    unsafe { glue::hs_trace_complete(net.as_ptr(), req.addr(), sk.as_ptr(), status.to_errno()) }
}

/// A received record's content type was read.
pub(crate) fn tls_contenttype(sk: *const kernel::bindings::sock, record_type: u8) {
    // SAFETY: The consumer passes its live socket; the event reads its addresses.
    unsafe { glue::hs_trace_tls_contenttype(sk, record_type) }
}

/// An alert is being sent on `sock`.
pub(crate) fn tls_alert_send(sock: &Socket, level: u8, desc: u8) {
    if let Some(sk) = sock.sk() {
        // SAFETY: The socket is alive.
        unsafe { glue::hs_trace_tls_alert_send(sk.as_ptr(), level, desc) }
    }
}

/// An alert was received.
pub(crate) fn tls_alert_recv(sk: *const kernel::bindings::sock, level: u8, desc: u8) {
    // SAFETY: The consumer passes its live socket; the event reads its addresses.
    unsafe { glue::hs_trace_tls_alert_recv(sk, level, desc) }
}
