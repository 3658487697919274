// SPDX-License-Identifier: GPL-2.0

//! The C entry points of `include/net/handshake.h`: the functions in-kernel consumers call, and
//! the mirror of `struct tls_handshake_args`.
//!
//! Each function checks its pointers, states the consumer's side of the contract as its
//! `# Safety` section, turns the raw arguments into the borrowed types of the abstractions and
//! hands over to the service logic. The symbols are exported by `rust/helpers/exports.c`, which
//! also checks every prototype and the layout of the arguments against the kernel's header.

use crate::{
    abstractions::{
        genl::Gfp,
        keys::KeySerial,
        socket::{
            Sock,
            SockKey,
            Socket, //
        },
        tls::{
            ControlMessage,
            KvecMessage, //
        },
    },
    alert, request,
    tlshd::{
        self,
        Consumer,
        Hello,
        HelloArgs,
        MAX_PEERIDS, //
    },
};
use core::{
    ffi::{
        c_char,
        c_int,
        c_uint,
        c_void, //
    },
    mem::offset_of,
};
use kernel::{
    bindings,
    error::from_result,
    prelude::*, //
};

/// `tls_done_func_t`.
pub(crate) type TlsDoneFn =
    unsafe extern "C" fn(data: *mut c_void, status: c_int, peerid: KeySerial);

/// `struct tls_handshake_args`.
///
/// The offsets are asserted here and in `rust/helpers/exports.c` against the kernel header, so
/// both agree with the same numbers at build time.
#[repr(C)]
pub(crate) struct TlsHandshakeArgs {
    pub(crate) ta_sock: *mut bindings::socket,
    pub(crate) ta_done: Option<TlsDoneFn>,
    pub(crate) ta_data: *mut c_void,
    pub(crate) ta_peername: *const c_char,
    pub(crate) ta_timeout_ms: c_uint,
    pub(crate) ta_keyring: KeySerial,
    pub(crate) ta_my_cert: KeySerial,
    pub(crate) ta_my_privkey: KeySerial,
    pub(crate) ta_num_peerids: c_uint,
    pub(crate) ta_my_peerids: [KeySerial; MAX_PEERIDS],
}

/// The layout of [`TlsHandshakeArgs`]: `(offset of each field in order, size)`.
const ARGS_LAYOUT: ([usize; 10], usize) = (
    [
        offset_of!(TlsHandshakeArgs, ta_sock),
        offset_of!(TlsHandshakeArgs, ta_done),
        offset_of!(TlsHandshakeArgs, ta_data),
        offset_of!(TlsHandshakeArgs, ta_peername),
        offset_of!(TlsHandshakeArgs, ta_timeout_ms),
        offset_of!(TlsHandshakeArgs, ta_keyring),
        offset_of!(TlsHandshakeArgs, ta_my_cert),
        offset_of!(TlsHandshakeArgs, ta_my_privkey),
        offset_of!(TlsHandshakeArgs, ta_num_peerids),
        offset_of!(TlsHandshakeArgs, ta_my_peerids),
    ],
    core::mem::size_of::<TlsHandshakeArgs>(),
);

/// The layout that `rust/helpers/exports.c` asserts for the kernel's `struct tls_handshake_args`.
const ARGS_LAYOUT_C: ([usize; 10], usize) = ([0, 8, 16, 24, 32, 36, 40, 44, 48, 52], 72);

const _: () = {
    let mut i = 0;
    while i < ARGS_LAYOUT.0.len() {
        assert!(ARGS_LAYOUT.0[i] == ARGS_LAYOUT_C.0[i]);
        i += 1;
    }
    assert!(ARGS_LAYOUT.1 == ARGS_LAYOUT_C.1);
};

/// A consumer's `ta_done` and `ta_data`.
///
/// # Invariants
///
/// `done` may be called once with `data` from any context, as `include/net/handshake.h`
/// promises consumers.
pub(crate) struct ConsumerCallback {
    done: TlsDoneFn,
    data: *mut c_void,
}

// SAFETY: The pointer is only handed back to the consumer's callback, which the API allows to
// run in any context.
unsafe impl Send for ConsumerCallback {}
// SAFETY: As above; we never dereference it.
unsafe impl Sync for ConsumerCallback {}

// A C consumer's request is one allocation of at most 192 bytes with its reference count, as
// the C service's request is: a `kmalloc-192` object. A field more moves every request to the
// next size class; count it in the slab figures of `make bench` before adding one.
const _: () = assert!(
    core::mem::size_of::<request::Request<tlshd::TlsRequest<ConsumerCallback>>>()
        + core::mem::size_of::<u64>()
        <= 192
);

impl Consumer for ConsumerCallback {
    fn done(&self, status: c_int, peerid: KeySerial) {
        // SAFETY: The consumer gave this callback and argument for this call (type invariant);
        // the request calls `done` at most once.
        unsafe { (self.done)(self.data, status, peerid) };
    }

    fn code(&self) -> usize {
        self.done as usize
    }
}

/// Submits the handshake `kind` described by `args`.
///
/// # Safety
///
/// `args` must be null or valid for reads, with `ta_peername` null or a NUL-terminated string
/// and `ta_sock` null or a socket the caller holds (with its file) for the call; `ta_done` must
/// be callable once with `ta_data` from any context.
unsafe fn hello_c(args: *const TlsHandshakeArgs, kind: Hello, flags: bindings::gfp_t) -> c_int {
    from_result(|| {
        // SAFETY: Null or valid for reads (caller's guarantee).
        let args = unsafe { args.as_ref() }.ok_or(EINVAL)?;
        // INVARIANT: The consumer's promise about its callback.
        let consumer = ConsumerCallback {
            done: args.ta_done.ok_or(EINVAL)?,
            data: args.ta_data,
        };
        let peername = if args.ta_peername.is_null() {
            None
        } else {
            // SAFETY: A non-null `ta_peername` is a NUL-terminated string (caller's guarantee)
            // that outlives the call, which copies it.
            Some(unsafe { CStr::from_char_ptr(args.ta_peername.cast()) })
        };
        let hello_args = HelloArgs {
            consumer,
            peername,
            timeout_ms: args.ta_timeout_ms,
            keyring: args.ta_keyring,
            my_cert: args.ta_my_cert,
            my_privkey: args.ta_my_privkey,
            my_peerids: args.ta_my_peerids,
            num_peerids: args.ta_num_peerids,
        };
        if args.ta_sock.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: The consumer holds the socket and its file during the call.
        let sock = unsafe { Socket::from_raw(args.ta_sock) };
        tlshd::hello(sock, kind, hello_args, Gfp(flags))?;
        Ok(0)
    })
}

/// Defines the exported hello functions, one per kind of handshake.
macro_rules! hellos {
    ($($(#[$doc:meta])* $name:ident => $kind:ident;)*) => {$(
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// As for every hello of `include/net/handshake.h`: `args` must be null or valid for
        /// reads, with `ta_peername` null or a NUL-terminated string and `ta_sock` null or a
        /// socket the caller holds (with its file) for the call; `ta_done` must be callable
        /// once with `ta_data` from any context.
        #[no_mangle]
        pub(crate) unsafe extern "C" fn $name(
            args: *const TlsHandshakeArgs,
            flags: bindings::gfp_t,
        ) -> c_int {
            // SAFETY: Forwarded contract.
            unsafe { hello_c(args, Hello::$kind, flags) }
        }
    )*};
}

hellos! {
    /// Requests an anonymous client handshake.
    tls_client_hello_anon => ClientAnon;
    /// Requests an X.509 client handshake.
    tls_client_hello_x509 => ClientX509;
    /// Requests a PSK client handshake (1 to 5 peer identities).
    tls_client_hello_psk => ClientPsk;
    /// Requests an X.509 server handshake.
    tls_server_hello_x509 => ServerX509;
    /// Requests a PSK server handshake.
    tls_server_hello_psk => ServerPsk;
}

/// Cancels the handshake of `sk`: true if it was not completed yet (its `ta_done` will not be
/// called). May be called from softirq context.
///
/// # Safety
///
/// `sk` must be null or a live sock (in a live namespace) for the duration of the call.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_handshake_cancel(sk: *mut bindings::sock) -> bool {
    if sk.is_null() {
        return false;
    }
    // SAFETY: Alive for the call (caller's guarantee).
    request::cancel(unsafe { Sock::from_raw(sk) })
}

/// Sends a close_notify alert once if a session was established on `sock`.
///
/// # Safety
///
/// `sock` must be null or a live socket whose file the caller holds for the call.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_handshake_close(sock: *mut bindings::socket) {
    if sock.is_null() {
        return;
    }
    // SAFETY: Alive, its file held, for the call (caller's guarantee).
    tlshd::close(unsafe { Socket::from_raw(sock) });
}

/// The TLS record type carried by a control message, or 0 if it carries none.
///
/// # Safety
///
/// `cmsg` must be a valid control message, with at least one byte of data if it is a TLS
/// record type message (as the TLS layer delivers it); `sk` is only recorded.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_get_record_type(
    sk: *const bindings::sock,
    cmsg: *const bindings::cmsghdr,
) -> u8 {
    // SAFETY: Valid (caller's guarantee).
    let cmsg = unsafe { ControlMessage::from_raw(cmsg) };
    alert::record_type(SockKey::from_raw(sk.cast_mut()), cmsg)
}

/// Reads the level and description of a received alert record.
///
/// # Safety
///
/// `msg` must be a kernel message whose iterator is a kvec holding the received record in its
/// first segment; `level` and `description` must be valid for writes; `sk` is only recorded.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_alert_recv(
    sk: *const bindings::sock,
    msg: *const bindings::msghdr,
    level: *mut u8,
    description: *mut u8,
) {
    // SAFETY: A kvec-backed message with one readable segment (caller's guarantee).
    let msg = unsafe { KvecMessage::from_raw(msg) };
    let (lvl, desc) = alert::received(SockKey::from_raw(sk.cast_mut()), msg);
    // SAFETY: Valid for writes (caller's guarantee).
    unsafe {
        *level = lvl;
        *description = desc;
    }
}
