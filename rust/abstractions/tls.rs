// SPDX-License-Identifier: GPL-2.0

//! kTLS records: sending a record of a given type, and reading the record type and payload of a
//! received one. The 7.3 `kernel` crate has no socket I/O; an upstream version would sit with
//! a `kernel::net` socket type.
//!
//! C headers: [`include/linux/socket.h`](srctree/include/linux/socket.h),
//! [`include/net/tls_prot.h`](srctree/include/net/tls_prot.h)

use super::{
    helpers,
    socket::Socket, //
};
use kernel::{
    bindings,
    prelude::*,
    types::Opaque, //
};

/// `SOL_TLS`.
pub(crate) const SOL_TLS: i32 = bindings::SOL_TLS as i32;
/// `TLS_SET_RECORD_TYPE` (asserted in `rust/helpers/exports.c`).
pub(crate) const TLS_SET_RECORD_TYPE: i32 = 1;
/// `TLS_GET_RECORD_TYPE` (asserted in `rust/helpers/exports.c`).
pub(crate) const TLS_GET_RECORD_TYPE: i32 = 2;

/// A control message carrying one byte, laid out as `CMSG_SPACE(1)` bytes: the header, then the
/// data at `CMSG_DATA`, padded to the alignment of `long`.
#[repr(C)]
struct ByteCmsg {
    hdr: bindings::cmsghdr,
    data: [u8; core::mem::size_of::<kernel::ffi::c_long>()],
}

// The header is a multiple of `long` in size, so the data starts right after it (`CMSG_DATA`).
const _: () = assert!(
    core::mem::size_of::<bindings::cmsghdr>() % core::mem::size_of::<kernel::ffi::c_long>() == 0
);

/// Sends `data` as one record of type `record_type` on a kTLS socket, without blocking.
pub(crate) fn send_record(sock: &Socket, record_type: u8, data: &[u8]) -> Result {
    let mut cmsg = ByteCmsg {
        hdr: bindings::cmsghdr {
            // `CMSG_LEN(1)`.
            cmsg_len: core::mem::size_of::<bindings::cmsghdr>() + 1,
            cmsg_level: SOL_TLS,
            cmsg_type: TLS_SET_RECORD_TYPE,
        },
        data: [0; core::mem::size_of::<kernel::ffi::c_long>()],
    };
    cmsg.data[0] = record_type;
    let iov = bindings::kvec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    let mut msg = bindings::msghdr {
        msg_flags: bindings::MSG_DONTWAIT,
        msg_controllen: core::mem::size_of::<ByteCmsg>(),
        ..Default::default()
    };
    msg.__bindgen_anon_1.msg_control = (&raw mut cmsg).cast();
    // SAFETY: `msg.msg_iter` is ours to initialise; `iov` describes `data`, which is only read
    // (`ITER_SOURCE`) and outlives the send below.
    unsafe {
        bindings::iov_iter_kvec(
            &mut msg.msg_iter,
            bindings::ITER_SOURCE,
            &iov,
            1,
            data.len(),
        )
    };
    // SAFETY: The socket is alive (type invariant of `Socket`); `msg`, its control message and
    // its data are valid for the duration of the call.
    let ret = unsafe { bindings::sock_sendmsg(sock.as_ptr(), &mut msg) };
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok(())
    }
}

/// A control message received with a record (`struct cmsghdr`).
///
/// # Invariants
///
/// The header is valid, and a message of level `SOL_TLS` and type `TLS_GET_RECORD_TYPE` has at
/// least one byte of data.
#[repr(transparent)]
pub(crate) struct ControlMessage(Opaque<bindings::cmsghdr>);

impl ControlMessage {
    /// Borrows a control message.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid control message for `'a`, with at least one byte of data if
    /// it is a TLS record type message (as the TLS layer delivers it).
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::cmsghdr) -> &'a Self {
        // SAFETY: Transparent wrapper; validity is guaranteed by the caller.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The TLS record type the message carries, if it is a TLS record type message.
    pub(crate) fn tls_record_type(&self) -> Option<u8> {
        // SAFETY: The header is valid by the type invariant.
        let hdr = unsafe { &*self.0.get() };
        if hdr.cmsg_level != SOL_TLS || hdr.cmsg_type != TLS_GET_RECORD_TYPE {
            return None;
        }
        // SAFETY: A TLS record type message has one byte of data (type invariant).
        Some(unsafe { *helpers::hs_cmsg_data(self.0.get()) })
    }
}

/// A received kernel message whose data is in a `kvec` (`struct msghdr`).
///
/// # Invariants
///
/// The message is valid and its iterator is a kvec iterator whose first segment is readable
/// for its length.
#[repr(transparent)]
pub(crate) struct KvecMessage(Opaque<bindings::msghdr>);

impl KvecMessage {
    /// Borrows a message.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid message for `'a` whose iterator is a kvec iterator with at
    /// least one segment, readable for its length, such as the message a consumer received a
    /// record into.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::msghdr) -> &'a Self {
        // SAFETY: Transparent wrapper; validity is guaranteed by the caller.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The first two bytes of the first segment, if it has two (an alert's level and
    /// description).
    pub(crate) fn first_two_bytes(&self) -> Option<[u8; 2]> {
        // SAFETY: The message is valid and its iterator a kvec iterator (type invariant).
        let kvec = unsafe { &*helpers::hs_msg_first_kvec(self.0.get()) };
        if kvec.iov_base.is_null() || kvec.iov_len < 2 {
            return None;
        }
        let base = kvec.iov_base.cast::<u8>();
        // SAFETY: The segment is readable for `iov_len` bytes (type invariant), at least two.
        // The bytes are read, not borrowed: the consumer's buffer may be only partly filled.
        Some(unsafe { [base.read_volatile(), base.add(1).read_volatile()] })
    }
}
