// SPDX-License-Identifier: GPL-2.0

//! The TLS alert protocol on kTLS sockets, and reading record types of received messages.

use crate::{
    glue,
    socket::Socket,
    trace, //
};
use kernel::{
    bindings,
    error::to_result,
    prelude::*, //
};

/// `TLS_RECORD_TYPE_ALERT`.
pub(crate) const RECORD_TYPE_ALERT: u8 = 21;
/// `TLS_ALERT_LEVEL_WARNING`.
pub(crate) const LEVEL_WARNING: u8 = 1;
/// `TLS_ALERT_DESC_CLOSE_NOTIFY`.
pub(crate) const DESC_CLOSE_NOTIFY: u8 = 0;
/// `SOL_TLS`.
pub(crate) const SOL_TLS: i32 = 282;
/// `TLS_GET_RECORD_TYPE`.
pub(crate) const TLS_GET_RECORD_TYPE: i32 = 2;

/// Sends an alert record `(level, desc)` on a kTLS socket without blocking.
pub(crate) fn send(sock: &Socket, level: u8, desc: u8) -> Result {
    trace::tls_alert_send(sock, level, desc);
    let alert = [level, desc];
    // SAFETY: The socket is alive and `alert` is readable for its length.
    to_result(unsafe {
        glue::hs_sock_send_record(
            sock.as_ptr(),
            RECORD_TYPE_ALERT,
            alert.as_ptr().cast(),
            alert.len(),
        )
    })
}

/// The TLS record type carried by a control message, or 0 if it carries none.
///
/// # Safety
///
/// `cmsg` must be a valid control message with at least one byte of data when it is a TLS
/// record type message; `sk` is recorded by the trace event.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_get_record_type(
    sk: *const bindings::sock,
    cmsg: *const bindings::cmsghdr,
) -> u8 {
    // SAFETY: Valid (caller's guarantee).
    let hdr = unsafe { &*cmsg };
    if hdr.cmsg_level != SOL_TLS || hdr.cmsg_type != TLS_GET_RECORD_TYPE {
        return 0;
    }
    // SAFETY: A TLS record type message carries one byte of data.
    let record_type = unsafe { *glue::hs_cmsg_data(cmsg) };
    trace::tls_contenttype(sk, record_type);
    record_type
}

/// Reads the level and description of a received alert record.
///
/// # Safety
///
/// `msg` must be a kernel message whose first kvec holds the received record; `level` and
/// `description` must be valid for writes.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_alert_recv(
    sk: *const bindings::sock,
    msg: *const bindings::msghdr,
    level: *mut u8,
    description: *mut u8,
) {
    let mut len = 0usize;
    // SAFETY: `msg` is a valid kvec-backed message (caller's guarantee).
    let data = unsafe { glue::hs_msg_first_kvec(msg, &mut len) };
    let (lvl, desc) = if data.is_null() || len < 2 {
        (0, 0)
    } else {
        // SAFETY: At least two bytes are readable.
        unsafe { (*data, *data.add(1)) }
    };
    // SAFETY: Valid for writes (caller's guarantee).
    unsafe {
        *level = lvl;
        *description = desc;
    }
    trace::tls_alert_recv(sk, lvl, desc);
}
