// SPDX-License-Identifier: GPL-2.0

//! Sockets, the file references that keep them alive, and the socket destructor hook.
//!
//! The 7.3 `kernel` crate has `File` and `ARef<File>` (used here) but no socket types. An
//! upstream `kernel::net` would want [`Socket`], [`Sock`] and [`SocketRef`] as they are; the
//! destructor hook is specific to services that must learn when a socket they do not own goes
//! away (the C service hooks `sk_destruct` the same way).
//!
//! C headers: [`include/linux/net.h`](srctree/include/linux/net.h),
//! [`include/net/sock.h`](srctree/include/net/sock.h)

use super::{
    helpers,
    module::ModuleRef,
    net::Net, //
};
use core::{
    marker::PhantomData,
    mem::ManuallyDrop,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    fs::File,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{
            Atomic,
            Full, //
        },
    },
    types::Opaque, //
};

/// A socket (`struct socket`).
///
/// # Invariants
///
/// A `&Socket` is only handed out while the socket is alive and, if it has a file, while a
/// reference on that file is held by whoever handed it out.
#[repr(transparent)]
pub(crate) struct Socket(Opaque<bindings::socket>);

impl Socket {
    /// Borrows a socket.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a socket that stays alive for `'a`; if it has a file, the caller must
    /// hold a reference on that file for `'a` (as a consumer of the handshake API does for the
    /// duration of a call).
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
        // SAFETY: The socket is alive by the type invariant.
        let file = unsafe { (*self.as_ptr()).file };
        if file.is_null() {
            return None;
        }
        // SAFETY: By the type invariant a reference on the socket's file is held for as long as
        // `self` is borrowed. `File` also asks that `fdget_pos` callers hold `f_pos_lock`; socket
        // files do not take it (no `FMODE_ATOMIC_POS`), but that rule protects the file
        // position, which sockets do not use and nothing here reads: the file is only pinned
        // and handed to an agent's descriptor table.
        Some(unsafe { File::from_raw_file(file) })
    }

    /// The network-layer socket, if any.
    pub(crate) fn sk(&self) -> Option<&Sock> {
        // SAFETY: The socket is alive by the type invariant.
        let sk = unsafe { (*self.as_ptr()).sk };
        if sk.is_null() {
            return None;
        }
        // SAFETY: `sock->sk` of a live socket whose file is held lives as long as the socket;
        // it is released only when the file is.
        Some(unsafe { Sock::from_raw(sk) })
    }
}

/// A network-layer socket (`struct sock`).
///
/// # Invariants
///
/// A `&Sock` is only handed out while the sock and its namespace are alive.
#[repr(transparent)]
pub(crate) struct Sock(Opaque<bindings::sock>);

impl Sock {
    /// Borrows a sock.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a sock that, with its namespace, stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::sock) -> &'a Sock {
        // SAFETY: Transparent wrapper; validity is guaranteed by the caller.
        unsafe { &*ptr.cast::<Sock>() }
    }

    /// The identity of the sock.
    pub(crate) fn key(&self) -> SockKey {
        // INVARIANT: The address of a live sock.
        SockKey(NonNull::from(self).cast())
    }

    /// The namespace of the sock.
    pub(crate) fn net(&self) -> &Net {
        // SAFETY: The sock is alive, and by the type invariant so is its namespace for as long
        // as `self` is borrowed.
        unsafe { Net::from_raw(helpers::hs_sock_net(self.0.get())) }
    }

    /// The address of the current destructor (function pointers compare by address).
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn destructor_addr(&self) -> Option<usize> {
        // SAFETY: The sock is alive.
        let f = unsafe { helpers::hs_sk_get_destruct(self.0.get()) };
        f.map(|f| f as usize)
    }
}

/// The identity of a `struct sock`: its address, the key of the request table.
///
/// Holding a `SockKey` does not keep the socket alive and gives no access to it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct SockKey(NonNull<bindings::sock>);

// SAFETY: The key is an address; it is never dereferenced.
unsafe impl Send for SockKey {}
// SAFETY: As above.
unsafe impl Sync for SockKey {}

impl SockKey {
    /// The key of the sock at `sk`, if not null. The pointer is not dereferenced.
    pub(crate) fn from_raw(sk: *mut bindings::sock) -> Option<Self> {
        NonNull::new(sk).map(SockKey)
    }

    /// The address, for trace events that record it.
    pub(crate) fn as_ptr(self) -> *const bindings::sock {
        self.0.as_ptr().cast_const()
    }

    /// The shard of the socket's destructor: which [`DestructHooks`] may change it. A hash of
    /// the address, below [`DESTRUCT_SHARDS`].
    pub(crate) fn shard(self) -> usize {
        // The multiplicative hash of `hash_ptr()`; socks are cache-line aligned, so the low bits
        // say nothing.
        const GOLDEN_RATIO_64: u64 = 0x61c8_8646_80b5_83eb;
        let addr = self.0.as_ptr() as usize as u64;
        (addr.wrapping_mul(GOLDEN_RATIO_64) >> (u64::BITS - DESTRUCT_SHARD_BITS)) as usize
    }
}

/// log2 of [`DESTRUCT_SHARDS`].
const DESTRUCT_SHARD_BITS: u32 = 8;

/// How many shards the sockets' destructors are divided into: see [`DestructHooks`].
pub(crate) const DESTRUCT_SHARDS: usize = 1 << DESTRUCT_SHARD_BITS;

/// A reference on the file of a socket, which keeps the socket, its sock and the sock's
/// namespace alive: held by a handshake request from submit to completion.
///
/// Not `Clone`: there is exactly one pin per request, so it can be released only once.
///
/// # Invariants
///
/// `file` is the file of a socket whose sock is `sk`; the reference on `file` is owned by the
/// pin.
pub(crate) struct SocketPin {
    file: ARef<File>,
    sk: NonNull<bindings::sock>,
}

// SAFETY: The pin owns a file reference, which may be released from any context; the pointers
// are only dereferenced while that reference is held.
unsafe impl Send for SocketPin {}
// SAFETY: Shared access only reads through the pointers.
unsafe impl Sync for SocketPin {}

impl SocketPin {
    /// Pins `sock` by taking a new reference on its file; `EINVAL` if it has no file or sock.
    pub(crate) fn new(sock: &Socket) -> Result<Self> {
        let file = sock.file().ok_or(EINVAL)?;
        let sk = sock.sk().ok_or(EINVAL)?;
        // INVARIANT: `file` is `sock`'s file and `sk` its sock.
        Ok(SocketPin {
            file: file.into(),
            sk: NonNull::from(sk).cast(),
        })
    }

    /// The sock of the pinned socket.
    pub(crate) fn sock(&self) -> &Sock {
        // SAFETY: The sock of a socket whose file we hold is released only with that file.
        unsafe { Sock::from_raw(self.sk.as_ptr()) }
    }

    /// The identity of the pinned sock.
    pub(crate) fn key(&self) -> SockKey {
        SockKey(self.sk)
    }

    /// The namespace of the pinned socket.
    pub(crate) fn net(&self) -> &Net {
        self.sock().net()
    }

    /// A new reference on the pinned file, for someone who outlives the pin (the agent's fd).
    pub(crate) fn share(&self) -> ARef<File> {
        self.file.clone()
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
        // SAFETY: Alive, and its file held, while we hold the reference.
        unsafe { Socket::from_raw(self.sock.as_ptr()) }
    }
}

impl Drop for SocketRef {
    fn drop(&mut self) {
        // SAFETY: We own the reference taken by `sockfd_lookup`.
        unsafe { helpers::hs_sockfd_put(self.sock.as_ptr()) };
    }
}

/// The type of `sk->sk_destruct`.
type DestructFn = unsafe extern "C" fn(*mut bindings::sock);

/// What a hooked socket's destruction calls: the owner of the socket's [`DestructHook`].
pub(crate) trait SockDestructor: Sized {
    /// `sk`, on which the hook of this type was installed, is being destroyed: hand its hook
    /// back. The hook then runs the socket's previous destructor and releases the module.
    fn take_hook(sk: &Sock) -> Option<DestructHook<Self>>;
}

/// Our function installed in a socket's `sk->sk_destruct` by `D`, chaining to the saved one.
///
/// Installing it takes a module reference that is released only after the chained destructor
/// has run (or the hook was uninstalled), so this module cannot be unloaded while a socket
/// points at its code.
///
/// # Invariants
///
/// While the hook exists, the `sk_destruct` of `sk` is its registry's `ours` unless
/// someone else replaced it since (then the hook is never removed and keeps the module), and
/// `saved` is what it was before; `module` is released only by [`DestructHooks::uninstall`]
/// (which restores `saved` first) or after the chained destructor ran.
pub(crate) struct DestructHook<D: SockDestructor> {
    sk: SockKey,
    saved: Option<DestructFn>,
    module: ManuallyDrop<ModuleRef>,
    _owner: PhantomData<fn() -> D>,
}

/// The right to install and remove the destructor hooks of `D` on the sockets of one shard
/// ([`SockKey::shard`]). Whoever holds it (under a lock) serialises every change this module
/// makes to the `sk_destruct` of those sockets.
///
/// # Invariants
///
/// At most one `DestructHooks` is ever created per shard, for one `D`; `shard` is below
/// [`DESTRUCT_SHARDS`]. `ours` is `destruct_trampoline::<D>`, taken once, so that `uninstall`
/// compares with the very address `install` wrote (a generic function's address is not
/// guaranteed to be the same everywhere it is taken).
pub(crate) struct DestructHooks<D: SockDestructor> {
    shard: usize,
    ours: DestructFn,
    _owner: PhantomData<fn() -> D>,
}

/// Whether the shards' [`DestructHooks`] were created.
static HOOKS_CLAIMED: Atomic<bool> = Atomic::new(false);

impl<D: SockDestructor> DestructHooks<D> {
    /// The module's hook registries, one per shard in shard order: `None` after the first
    /// call.
    pub(crate) fn claim() -> Option<impl Iterator<Item = Self>> {
        HOOKS_CLAIMED.cmpxchg(false, true, Full).ok()?;
        let ours: DestructFn = destruct_trampoline::<D>;
        // INVARIANT: Only the caller that flipped the flag gets them, one per shard.
        Some((0..DESTRUCT_SHARDS).map(move |shard| DestructHooks {
            shard,
            ours,
            _owner: PhantomData,
        }))
    }

    /// Whether this registry may change the destructor of `pin`'s socket.
    fn covers(&self, pin: &SocketPin) -> bool {
        pin.key().shard() == self.shard
    }

    /// Installs the destructor of `D` in the pinned socket; `EBUSY` if it is already there,
    /// `EINVAL` if the socket is not in this registry's shard.
    pub(crate) fn install(
        &mut self,
        pin: &SocketPin,
        module: ModuleRef,
    ) -> Result<DestructHook<D>> {
        if kernel::warn_on!(!self.covers(pin)) {
            return Err(EINVAL);
        }
        let sk = pin.sk.as_ptr();
        let ours = self.ours;
        // SAFETY: The pin keeps the sock alive. This module's changes of this socket's
        // `sk_destruct` are serialised by `&mut self` (one registry per shard, checked above);
        // the socket's owner, the only other writer, is the consumer calling us and does not
        // change it meanwhile.
        let saved = unsafe { helpers::hs_sk_get_destruct(sk) };
        if saved.is_some_and(|f| f as usize == ours as usize) {
            return Err(EBUSY);
        }
        // SAFETY: As above.
        unsafe { helpers::hs_sk_set_destruct(sk, Some(ours)) };
        // INVARIANT: Ours is installed and the old value saved.
        Ok(DestructHook {
            sk: pin.key(),
            saved,
            module: ManuallyDrop::new(module),
            _owner: PhantomData,
        })
    }

    /// Puts the old destructor back into the pinned socket and releases the module.
    ///
    /// A `pin` of another shard, or a destructor that is no longer ours, is a bug: the hook is
    /// then kept, loudly, as [`Drop`] does.
    pub(crate) fn uninstall(&mut self, hook: DestructHook<D>, pin: &SocketPin) {
        if kernel::warn_on!(!self.covers(pin) || pin.key() != hook.sk) {
            return;
        }
        // SAFETY: As in `install`.
        let current = unsafe { helpers::hs_sk_get_destruct(pin.sk.as_ptr()) };
        if kernel::warn_on!(current.is_none_or(|f| f as usize != self.ours as usize)) {
            return;
        }
        let mut me = ManuallyDrop::new(hook);
        // SAFETY: As in `install`.
        unsafe { helpers::hs_sk_set_destruct(pin.sk.as_ptr(), me.saved) };
        // SAFETY: `me` is not dropped, so the reference is taken out exactly once.
        drop(unsafe { ManuallyDrop::take(&mut me.module) });
    }
}

impl<D: SockDestructor> DestructHook<D> {
    /// Runs the saved destructor on the socket being destroyed, then releases the module.
    fn fire(self, sk: &Sock) {
        let mut me = ManuallyDrop::new(self);
        if kernel::warn_on!(sk.key() != me.sk) {
            return;
        }
        if let Some(destruct) = me.saved {
            // SAFETY: The socket is being destroyed and this was its destructor.
            unsafe { destruct(sk.0.get()) };
        }
        // SAFETY: `me` is not dropped, so the reference is taken out exactly once, last, after
        // the chained destructor returned.
        drop(unsafe { ManuallyDrop::take(&mut me.module) });
    }
}

impl<D: SockDestructor> Drop for DestructHook<D> {
    /// A hook dropped without [`DestructHooks::uninstall`] is a bug: the socket may still point at
    /// this module's code, so the module reference is kept (the module stays loaded) and the
    /// kernel warns.
    fn drop(&mut self) {
        kernel::warn_on!(true);
    }
}

/// The destructor installed by [`DestructHooks::install`].
///
/// # Safety
///
/// Called by the socket core only, once, with a sock being destroyed on which the hook of `D`
/// was installed.
unsafe extern "C" fn destruct_trampoline<D: SockDestructor>(sk: *mut bindings::sock) {
    // SAFETY: A sock being destroyed, and its namespace, are valid while its destructors run.
    let sock = unsafe { Sock::from_raw(sk) };
    // The hook is installed only together with its owner's record of it.
    if let Some(hook) = D::take_hook(sock) {
        hook.fire(sock);
    } else {
        kernel::warn_on!(true);
    }
}

/// The current number of references on `file`.
#[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
pub(crate) fn file_count(file: &File) -> i64 {
    // SAFETY: `file` is valid.
    let count = unsafe { helpers::hs_file_count(file.as_ptr()) };
    i64::try_from(count).unwrap_or(i64::MAX)
}
