// SPDX-License-Identifier: GPL-2.0

//! TLS handshakes through `tlshd`, and the consumer API of `include/net/handshake.h`.

use crate::{
    alert,
    genl::{
        Gfp,
        Info,
        Message, //
    },
    genl_tables::{
        attr_accept,
        attr_done,
        attr_x509,
        auth,
        msg_type, //
    },
    glue::KeySerial,
    keys,
    net::Net,
    netlink::FAMILY,
    request::{
        self,
        HandlerClass,
        Proto,
        Request,
        Status, //
    },
    socket::{
        SockKey,
        Socket, //
    },
};
use core::{
    ffi::{
        c_char,
        c_int,
        c_uint,
        c_void, //
    },
    mem::offset_of, //
};
use kernel::{
    bindings,
    prelude::*, //
};

/// `TLS_NO_KEYRING`, `TLS_NO_PEERID`, `TLS_NO_CERT`, `TLS_NO_PRIVKEY`.
pub(crate) const TLS_NO_KEY: KeySerial = 0;

/// The most peer identities a request carries.
pub(crate) const MAX_PEERIDS: usize = 5;

/// `tls_done_func_t`.
pub(crate) type TlsDoneFn =
    unsafe extern "C" fn(data: *mut c_void, status: c_int, peerid: KeySerial);

/// `struct tls_handshake_args`.
///
/// The offsets are asserted here and in `rust/helpers/exports.c` against the kernel header, so both
/// agree with the same numbers at build time.
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
pub(crate) const ARGS_LAYOUT: ([usize; 10], usize) = (
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
pub(crate) const ARGS_LAYOUT_C: ([usize; 10], usize) = ([0, 8, 16, 24, 32, 36, 40, 44, 48, 52], 72);

const _: () = {
    let mut i = 0;
    while i < ARGS_LAYOUT.0.len() {
        assert!(ARGS_LAYOUT.0[i] == ARGS_LAYOUT_C.0[i]);
        i += 1;
    }
    assert!(ARGS_LAYOUT.1 == ARGS_LAYOUT_C.1);
};

/// The consumer's opaque callback argument.
struct ConsumerData(*mut c_void);

// SAFETY: The pointer is only handed back to the consumer's callback, which the API allows to
// run in any context.
unsafe impl Send for ConsumerData {}
// SAFETY: As above; we never dereference it.
unsafe impl Sync for ConsumerData {}

/// Which handshake a consumer asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hello {
    /// `tls_client_hello_anon`.
    ClientAnon,
    /// `tls_client_hello_x509`.
    ClientX509,
    /// `tls_client_hello_psk`.
    ClientPsk,
    /// `tls_server_hello_x509`.
    ServerX509,
    /// `tls_server_hello_psk`.
    ServerPsk,
}

/// The TLS part of a request.
pub(crate) struct TlsRequest {
    consumer_done: TlsDoneFn,
    consumer_data: ConsumerData,
    msg_type: u32,
    auth_mode: u32,
    timeout_ms: u32,
    peername: Option<KVec<u8>>,
    keyring: KeySerial,
    certificate: KeySerial,
    privkey: KeySerial,
    peerids: KVec<KeySerial>,
    notify: bool,
}

impl TlsRequest {
    /// Builds the TLS request a consumer asked for with `args`.
    pub(crate) fn new(args: &TlsHandshakeArgs, hello: Hello, gfp: Gfp) -> Result<Self> {
        let flags = gfp.to_flags();
        let consumer_done = args.ta_done.ok_or(EINVAL)?;
        let (msg_type, auth_mode) = match hello {
            Hello::ClientAnon => (msg_type::CLIENTHELLO, auth::UNAUTH),
            Hello::ClientX509 => (msg_type::CLIENTHELLO, auth::X509),
            Hello::ClientPsk => (msg_type::CLIENTHELLO, auth::PSK),
            Hello::ServerX509 => (msg_type::SERVERHELLO, auth::X509),
            Hello::ServerPsk => (msg_type::SERVERHELLO, auth::PSK),
        };
        let ids: &[KeySerial] = match hello {
            Hello::ClientPsk => {
                let n = args.ta_num_peerids as usize;
                if n == 0 || n > MAX_PEERIDS {
                    return Err(EINVAL);
                }
                &args.ta_my_peerids[..n]
            }
            Hello::ServerPsk => &args.ta_my_peerids[..1],
            _ => &[],
        };
        let mut peerids = KVec::with_capacity(ids.len(), flags)?;
        peerids.extend_from_slice(ids, flags)?;
        let (certificate, privkey) = match hello {
            Hello::ClientX509 | Hello::ServerX509 => (args.ta_my_cert, args.ta_my_privkey),
            _ => (TLS_NO_KEY, TLS_NO_KEY),
        };
        let peername = if args.ta_peername.is_null() {
            None
        } else {
            // SAFETY: A non-null `ta_peername` is a NUL-terminated string (API contract).
            let name = unsafe { CStr::from_char_ptr(args.ta_peername.cast()) };
            let mut copy = KVec::with_capacity(name.to_bytes_with_nul().len(), flags)?;
            copy.extend_from_slice(name.to_bytes_with_nul(), flags)?;
            Some(copy)
        };
        Ok(TlsRequest {
            consumer_done,
            consumer_data: ConsumerData(args.ta_data),
            msg_type,
            auth_mode,
            timeout_ms: args.ta_timeout_ms,
            peername,
            keyring: args.ta_keyring,
            certificate,
            privkey,
            peerids,
            notify: true,
        })
    }

    /// The same request, but not announced to agents (for tests without `tlshd`).
    pub(crate) fn without_notify(mut self) -> Self {
        self.notify = false;
        self
    }

    /// Writes the ACCEPT reply attributes for descriptor `fd` into `msg`.
    pub(crate) fn fill_reply(&self, msg: &mut Message, fd: u32) -> Result {
        msg.put_s32(attr_accept::SOCKFD, fd as i32)?;
        msg.put_u32(attr_accept::MESSAGE_TYPE, self.msg_type)?;
        if let Some(name) = &self.peername {
            let name = CStr::from_bytes_with_nul(name).map_err(|_| EINVAL)?;
            msg.put_string(attr_accept::PEERNAME, name)?;
        }
        if self.timeout_ms != 0 {
            msg.put_u32(attr_accept::TIMEOUT, self.timeout_ms)?;
        }
        if self.keyring != TLS_NO_KEY {
            msg.put_u32(attr_accept::KEYRING, self.keyring as u32)?;
        }
        msg.put_u32(attr_accept::AUTH_MODE, self.auth_mode)?;
        match self.auth_mode {
            auth::PSK => {
                for id in self.peerids.iter() {
                    msg.put_u32(attr_accept::PEER_IDENTITY, *id as u32)?;
                }
            }
            auth::X509 if self.certificate != TLS_NO_KEY || self.privkey != TLS_NO_KEY => {
                msg.put_nest(attr_accept::CERTIFICATE, |m| {
                    m.put_s32(attr_x509::CERT, self.certificate)?;
                    m.put_s32(attr_x509::PRIVKEY, self.privkey)
                })?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The peer identity handed to the consumer: the first remote identity the agent reported
    /// (at most [`MAX_PEERIDS`] are considered), or `TLS_NO_PEERID`.
    pub(crate) fn remote_peerid(ids: impl Iterator<Item = u32>) -> KeySerial {
        ids.take(MAX_PEERIDS)
            .next()
            .map_or(TLS_NO_KEY, |id| id as KeySerial)
    }
}

impl Proto for TlsRequest {
    fn class(&self) -> HandlerClass {
        HandlerClass::Tlshd
    }

    fn notify(&self) -> bool {
        self.notify
    }

    fn accept(&self, _req: &Request, info: &Info<'_>, fd: u32) -> Result {
        if self.keyring != TLS_NO_KEY {
            keys::link_to_process_keyring(self.keyring)?;
        }
        let mut msg = Message::new_reply(&FAMILY, info)?;
        self.fill_reply(&mut msg, fd)?;
        msg.reply(info)
    }

    fn done(&self, _req: &Request, status: Status, info: Option<&Info<'_>>) {
        let peerid = info.map_or(TLS_NO_KEY, |info| {
            Self::remote_peerid(
                info.attrs_of_type(attr_done::REMOTE_AUTH)
                    .filter_map(|a| a.get_u32().ok()),
            )
        });
        // SAFETY: The consumer gave this callback and argument for exactly this call.
        unsafe { (self.consumer_done)(self.consumer_data.0, status.to_errno(), peerid) };
    }
}

/// Submits the handshake `hello` described by `args`.
pub(crate) fn hello(args: &TlsHandshakeArgs, hello: Hello, gfp: Gfp) -> Result {
    let treq = TlsRequest::new(args, hello, gfp)?;
    let proto: KBox<dyn Proto> = KBox::new(treq, gfp.to_flags())?;
    let sock = if args.ta_sock.is_null() {
        None
    } else {
        // SAFETY: The consumer owns the socket and holds its file during the call.
        Some(unsafe { Socket::from_raw(args.ta_sock) })
    };
    request::submit(sock, proto, gfp)
}

fn to_c(result: Result) -> c_int {
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// `args` must be valid for reads; its socket must be held by the caller.
unsafe fn hello_c(args: *const TlsHandshakeArgs, kind: Hello, flags: bindings::gfp_t) -> c_int {
    if args.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: Valid for reads (caller's guarantee).
    to_c(hello(unsafe { &*args }, kind, Gfp(flags)))
}

/// Requests an anonymous client handshake.
///
/// # Safety
///
/// `args` must be valid; see `include/net/handshake.h`.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_client_hello_anon(
    args: *const TlsHandshakeArgs,
    flags: bindings::gfp_t,
) -> c_int {
    // SAFETY: Forwarded contract.
    unsafe { hello_c(args, Hello::ClientAnon, flags) }
}

/// Requests an X.509 client handshake.
///
/// # Safety
///
/// `args` must be valid; see `include/net/handshake.h`.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_client_hello_x509(
    args: *const TlsHandshakeArgs,
    flags: bindings::gfp_t,
) -> c_int {
    // SAFETY: Forwarded contract.
    unsafe { hello_c(args, Hello::ClientX509, flags) }
}

/// Requests a PSK client handshake (1 to 5 peer identities).
///
/// # Safety
///
/// `args` must be valid; see `include/net/handshake.h`.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_client_hello_psk(
    args: *const TlsHandshakeArgs,
    flags: bindings::gfp_t,
) -> c_int {
    // SAFETY: Forwarded contract.
    unsafe { hello_c(args, Hello::ClientPsk, flags) }
}

/// Requests an X.509 server handshake.
///
/// # Safety
///
/// `args` must be valid; see `include/net/handshake.h`.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_server_hello_x509(
    args: *const TlsHandshakeArgs,
    flags: bindings::gfp_t,
) -> c_int {
    // SAFETY: Forwarded contract.
    unsafe { hello_c(args, Hello::ServerX509, flags) }
}

/// Requests a PSK server handshake.
///
/// # Safety
///
/// `args` must be valid; see `include/net/handshake.h`.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_server_hello_psk(
    args: *const TlsHandshakeArgs,
    flags: bindings::gfp_t,
) -> c_int {
    // SAFETY: Forwarded contract.
    unsafe { hello_c(args, Hello::ServerPsk, flags) }
}

/// Cancels the handshake of `sk`: true if it was not completed yet (its `ta_done` will not be
/// called). May be called from softirq context.
///
/// # Safety
///
/// `sk` must be null or a live socket.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_handshake_cancel(sk: *mut bindings::sock) -> bool {
    let Some(key) = SockKey::from_raw(sk) else {
        return false;
    };
    // SAFETY: `sk` is alive (caller's guarantee), so is its namespace.
    let net = unsafe { Net::from_raw(crate::glue::hs_sock_net(sk)) };
    request::cancel(key, net)
}

/// Sends a close_notify alert once if a session was established on `sock`.
///
/// # Safety
///
/// `sock` must be null or a live socket.
#[no_mangle]
pub(crate) unsafe extern "C" fn tls_handshake_close(sock: *mut bindings::socket) {
    if sock.is_null() {
        return;
    }
    // SAFETY: Alive (caller's guarantee).
    let sock = unsafe { Socket::from_raw(sock) };
    close(sock);
}

/// Sends close_notify on `sock` if a session exists that was not closed yet; returns whether an
/// alert was attempted.
pub(crate) fn close(sock: &Socket) -> bool {
    let Some(req) = sock.sk().and_then(request::lookup) else {
        return false;
    };
    if !req.take_session() {
        return false;
    }
    let _ = alert::send(sock, alert::LEVEL_WARNING, alert::DESC_CLOSE_NOTIFY);
    true
}
