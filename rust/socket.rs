// SPDX-License-Identifier: GPL-2.0

//! Sockets, the files that keep them alive, and the socket destructor hook.
//!
//! C headers: [`include/linux/net.h`](srctree/include/linux/net.h),
//! [`include/net/sock.h`](srctree/include/net/sock.h)

use crate::{
    glue,
    net::Net, //
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    fs::File,
    prelude::*,
    sync::aref::ARef,
    types::Opaque, //
};

/// A socket (`struct socket`).
///
/// `&Socket` is only handed out while the socket is alive.
#[repr(transparent)]
pub(crate) struct Socket(Opaque<bindings::socket>);

impl Socket {
    /// Borrows a socket.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a socket that stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::socket) -> &'a Socket {
        // SAFETY: Transparent wrapper; validity is guaranteed by the caller.
        unsafe { &*ptr.cast::<Socket>() }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::socket {
        self.0.get()
    }

    /// The file of the socket, if it has one.
    pub(crate) fn file(&self) -> Option<&File> {
        // SAFETY: The socket is alive.
        let file = unsafe { (*self.as_ptr()).file };
        if file.is_null() {
            return None;
        }
        // SAFETY: `sock->file` lives as long as the socket it belongs to.
        Some(unsafe { File::from_raw_file(file) })
    }

    /// The network-layer socket, if any.
    pub(crate) fn sk(&self) -> Option<SockKey> {
        // SAFETY: The socket is alive.
        NonNull::new(unsafe { (*self.as_ptr()).sk }).map(SockKey)
    }

    /// The namespace of the socket.
    pub(crate) fn net(&self) -> Option<&Net> {
        let sk = self.sk()?;
        // SAFETY: `sk` belongs to this live socket, so its namespace is alive too.
        Some(unsafe { Net::from_raw(glue::hs_sock_net(sk.as_ptr())) })
    }
}

/// The identity of a `struct sock`: the key of the request table.
///
/// Holding a `SockKey` does not keep the socket alive; it is dereferenced only by code that
/// holds a reference (see [`Socket`], [`FilePin`], [`DestructHook`]).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct SockKey(NonNull<bindings::sock>);

// SAFETY: The key is an address; it is only dereferenced under the rules above.
unsafe impl Send for SockKey {}
// SAFETY: As above.
unsafe impl Sync for SockKey {}

impl SockKey {
    /// Builds a key from a raw pointer.
    pub(crate) fn from_raw(sk: *mut bindings::sock) -> Option<Self> {
        NonNull::new(sk).map(SockKey)
    }

    /// The raw pointer (for tracing and lookups).
    pub(crate) fn as_ptr(self) -> *mut bindings::sock {
        self.0.as_ptr()
    }
}

/// A reference on the file of a socket, held by a request from submit to completion.
///
/// Not `Clone`: there is exactly one pin per request, so it can be released only once.
pub(crate) struct FilePin(ARef<File>);

impl FilePin {
    /// Takes a new reference on `file`.
    pub(crate) fn new(file: &File) -> Self {
        FilePin(file.into())
    }

    /// A new reference on the pinned file, for someone who outlives the pin (the agent's fd).
    pub(crate) fn share(&self) -> ARef<File> {
        self.0.clone()
    }

    /// The pinned file.
    pub(crate) fn file(&self) -> &File {
        &self.0
    }
}

/// A socket found by file descriptor (`sockfd_lookup`); the reference is dropped on drop.
///
/// # Invariants
///
/// `sock` is a live socket whose file reference this object owns.
pub(crate) struct SocketRef {
    sock: NonNull<bindings::socket>,
}

impl SocketRef {
    /// Looks up the socket behind `fd` in the caller's file table.
    pub(crate) fn lookup(fd: i32) -> Result<Self> {
        let mut err: c_int = 0;
        // SAFETY: `err` is a valid out pointer; any `fd` value is accepted.
        let sock = unsafe { bindings::sockfd_lookup(fd, &mut err) };
        match NonNull::new(sock) {
            // INVARIANT: `sockfd_lookup` returned a socket with a file reference.
            Some(sock) => Ok(SocketRef { sock }),
            None => Err(Error::from_errno(err)),
        }
    }
}

impl core::ops::Deref for SocketRef {
    type Target = Socket;

    fn deref(&self) -> &Socket {
        // SAFETY: Alive while we hold the reference.
        unsafe { Socket::from_raw(self.sock.as_ptr()) }
    }
}

impl Drop for SocketRef {
    fn drop(&mut self) {
        // SAFETY: We own the reference taken by `sockfd_lookup`.
        unsafe { glue::hs_sockfd_put(self.sock.as_ptr()) };
    }
}

/// A reference on this module, keeping it loaded.
pub(crate) struct ModuleRef(());

impl ModuleRef {
    /// Takes a reference, or `None` while the module is being removed.
    pub(crate) fn get() -> Option<Self> {
        // SAFETY: No preconditions.
        if unsafe { glue::hs_module_get() } {
            Some(ModuleRef(()))
        } else {
            None
        }
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: We own one reference.
        unsafe { glue::hs_module_put() };
    }
}

/// The type of `sk->sk_destruct`.
pub(crate) type DestructFn = unsafe extern "C" fn(*mut bindings::sock);

/// Our function installed in `sk->sk_destruct`, chaining to the saved one.
///
/// Installing it takes a module reference that is released only after the chained destructor
/// has run, so this module cannot be unloaded while a socket points at its code.
///
/// # Invariants
///
/// While the hook exists, `sk->sk_destruct` is `ours` and `saved` is what it was before.
pub(crate) struct DestructHook {
    sk: SockKey,
    saved: Option<DestructFn>,
    _module: ModuleRef,
}

impl DestructHook {
    /// Installs `ours` as the destructor of `sk`.
    ///
    /// # Safety
    ///
    /// `sk` must be alive, and the caller must keep it alive until the hook is either dropped
    /// (restoring the old destructor) or passed to [`DestructHook::fire`] from `ours`.
    pub(crate) unsafe fn install(sk: SockKey, ours: DestructFn, module: ModuleRef) -> Self {
        // SAFETY: `sk` is alive (caller's guarantee).
        let saved = unsafe { glue::hs_sk_get_destruct(sk.as_ptr()) };
        // SAFETY: As above; the socket's owner is the only writer and calls us.
        unsafe { glue::hs_sk_set_destruct(sk.as_ptr(), Some(ours)) };
        // INVARIANT: `ours` is installed and the old value saved.
        DestructHook {
            sk,
            saved,
            _module: module,
        }
    }

    /// Runs the saved destructor on the socket being destroyed, then releases the module.
    ///
    /// # Safety
    ///
    /// Must be called from our destructor, for the socket this hook was installed on.
    pub(crate) unsafe fn fire(self) {
        let me = core::mem::ManuallyDrop::new(self);
        if let Some(destruct) = me.saved {
            // SAFETY: The socket is being destroyed and this is its original destructor.
            unsafe { destruct(me.sk.as_ptr()) };
        }
        // SAFETY: Read once; `me` is not dropped, so the reference is released exactly once,
        // last, after the chained destructor returned.
        drop(unsafe { core::ptr::read(&me._module) });
    }
}

impl Drop for DestructHook {
    fn drop(&mut self) {
        // The socket is alive (see `install`): put the old destructor back.
        // SAFETY: By the type invariant and the contract of `install`.
        unsafe { glue::hs_sk_set_destruct(self.sk.as_ptr(), self.saved) };
    }
}

/// The current destructor of a live socket.
pub(crate) fn sk_destruct_of(sock: &Socket) -> Option<DestructFn> {
    let sk = sock.sk()?;
    // SAFETY: `sk` belongs to a live socket.
    unsafe { glue::hs_sk_get_destruct(sk.as_ptr()) }
}

/// The current number of references on `file`.
pub(crate) fn file_count(file: &File) -> i64 {
    // SAFETY: `file` is valid.
    let count = unsafe { glue::hs_file_count(file.as_ptr()) };
    i64::try_from(count).unwrap_or(i64::MAX)
}
