// SPDX-License-Identifier: GPL-2.0

//! The module's tracepoints, declared in `include/handshake_trace.h` and fired through the C
//! wrappers of `rust/helpers/trace.c`.
//!
//! The 7.3 `kernel` crate has `declare_trace!` for tracepoints declared in the kernel's own
//! headers (`rust/bindings`); an out-of-tree module cannot add to those, so each event here is
//! a safe function over one C wrapper. The events record addresses and the namespace's inode
//! number only: nothing they are given is dereferenced but the namespace.

use super::{
    net::Net,
    socket::SockKey, //
};
use core::ffi::c_void;
use kernel::bindings;

/// The address of a request, recorded by the events to tell requests apart (as the C service
/// records its request pointers). Never dereferenced.
#[derive(Clone, Copy)]
pub(crate) struct ReqId(pub(crate) *const c_void);

impl ReqId {
    /// No request (an event about a socket without one).
    pub(crate) const NONE: ReqId = ReqId(core::ptr::null());
}

fn sk_ptr(sk: Option<SockKey>) -> *const bindings::sock {
    sk.map_or(core::ptr::null(), SockKey::as_ptr)
}

/// Declares the C wrappers of request events and a safe function for each.
macro_rules! req_events {
    ($($(#[$m:meta])* $name:ident => $c:ident;)*) => {
        // Only pointers cross the boundary (see `helpers`).
        #[allow(improper_ctypes)]
        extern "C" {
            $(fn $c(net: *const bindings::net, req: *const c_void, sk: *const bindings::sock);)*
        }
        $(
            $(#[$m])*
            pub(crate) fn $name(net: &Net, req: ReqId, sk: Option<SockKey>) {
                // SAFETY: `net` is alive; the other pointers are recorded, not dereferenced.
                unsafe { $c(net.as_ptr(), req.0, sk_ptr(sk)) }
            }
        )*
    };
}

/// Declares the C wrappers of request events with a value and a safe function for each.
macro_rules! req_val_events {
    ($($(#[$m:meta])* $name:ident => $c:ident;)*) => {
        // Only pointers cross the boundary (see `helpers`).
        #[allow(improper_ctypes)]
        extern "C" {
            $(fn $c(
                net: *const bindings::net,
                req: *const c_void,
                sk: *const bindings::sock,
                val: i32,
            );)*
        }
        $(
            $(#[$m])*
            pub(crate) fn $name(net: &Net, req: ReqId, sk: Option<SockKey>, val: i32) {
                // SAFETY: `net` is alive; the other pointers are recorded, not dereferenced.
                unsafe { $c(net.as_ptr(), req.0, sk_ptr(sk), val) }
            }
        )*
    };
}

/// Declares the C wrappers of socket events with a byte or two.
macro_rules! sk_events {
    ($($(#[$m:meta])* $name:ident => $c:ident($($arg:ident),*);)*) => {
        extern "C" {
            $(fn $c(sk: *const bindings::sock $(, $arg: u8)*);)*
        }
        $(
            $(#[$m])*
            pub(crate) fn $name(sk: Option<SockKey> $(, $arg: u8)*) {
                // SAFETY: The address is recorded, not dereferenced.
                unsafe { $c(sk_ptr(sk) $(, $arg)*) }
            }
        )*
    };
}

req_events! {
    /// `handshake_submit`.
    handshake_submit => hs_trace_submit;
    /// `handshake_cancel`.
    handshake_cancel => hs_trace_cancel;
    /// `handshake_cancel_none`.
    handshake_cancel_none => hs_trace_cancel_none;
    /// `handshake_cancel_busy`.
    handshake_cancel_busy => hs_trace_cancel_busy;
    /// `handshake_destruct`.
    handshake_destruct => hs_trace_destruct;
    /// `handshake_timed_out`: the request reached its deadline.
    handshake_timed_out => hs_trace_timed_out;
    /// `handshake_drained`: the request's namespace went away while it was pending.
    handshake_drained => hs_trace_drained;
}

req_val_events! {
    /// `handshake_submit_err`.
    handshake_submit_err => hs_trace_submit_err;
    /// `handshake_complete`.
    handshake_complete => hs_trace_complete;
    /// `handshake_notify_err`.
    handshake_notify_err => hs_trace_notify_err;
    /// `handshake_cmd_accept`.
    handshake_cmd_accept => hs_trace_cmd_accept;
    /// `handshake_cmd_accept_err`.
    handshake_cmd_accept_err => hs_trace_cmd_accept_err;
    /// `handshake_cmd_done`.
    handshake_cmd_done => hs_trace_cmd_done;
    /// `handshake_cmd_done_err`.
    handshake_cmd_done_err => hs_trace_cmd_done_err;
    /// `handshake_cmd_done_unknown_attrs`: the number of attributes of unknown types in a DONE.
    handshake_cmd_done_unknown_attrs => hs_trace_cmd_done_unknown_attrs;
    /// `handshake_ready_again`: READYs sent again for an agent that joined.
    handshake_ready_again => hs_trace_ready_again;
    /// `handshake_agent_died`: the pid of the process that accepted the request and exited.
    handshake_agent_died => hs_trace_agent_died;
}

sk_events! {
    /// `tls_contenttype`.
    tls_contenttype => hs_trace_tls_contenttype(record_type);
    /// `tls_alert_send`.
    tls_alert_send => hs_trace_tls_alert_send(level, desc);
    /// `tls_alert_recv`.
    tls_alert_recv => hs_trace_tls_alert_recv(level, desc);
}
