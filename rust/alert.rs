// SPDX-License-Identifier: GPL-2.0

//! The TLS alert protocol on kTLS sockets, and reading record types of received messages.

#![forbid(unsafe_code)]

use crate::abstractions::{
    socket::{
        SockKey,
        Socket, //
    },
    tls::{
        self,
        ControlMessage,
        KvecMessage, //
    },
    tracepoints as tp,
};
use kernel::prelude::*;

/// `TLS_RECORD_TYPE_ALERT`.
pub(crate) const RECORD_TYPE_ALERT: u8 = 21;
/// `TLS_ALERT_LEVEL_WARNING`.
pub(crate) const LEVEL_WARNING: u8 = 1;
/// `TLS_ALERT_DESC_CLOSE_NOTIFY`.
pub(crate) const DESC_CLOSE_NOTIFY: u8 = 0;

/// Sends an alert record `(level, desc)` on a kTLS socket without blocking.
pub(crate) fn send(sock: &Socket, level: u8, desc: u8) -> Result {
    tp::tls_alert_send(sock.sk().map(|sk| sk.key()), level, desc);
    tls::send_record(sock, RECORD_TYPE_ALERT, &[level, desc])
}

/// The TLS record type carried by a control message received on `sk`, or 0 if it carries none.
pub(crate) fn record_type(sk: Option<SockKey>, cmsg: &ControlMessage) -> u8 {
    let Some(record_type) = cmsg.tls_record_type() else {
        return 0;
    };
    tp::tls_contenttype(sk, record_type);
    record_type
}

/// The level and description of an alert record received on `sk` into `msg`; `(0, 0)` if the
/// record is too short to be one.
pub(crate) fn received(sk: Option<SockKey>, msg: &KvecMessage) -> (u8, u8) {
    let [level, desc] = msg.first_two_bytes().unwrap_or([0, 0]);
    tp::tls_alert_recv(sk, level, desc);
    (level, desc)
}
