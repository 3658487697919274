// SPDX-License-Identifier: GPL-2.0

//! Network namespaces and per-namespace data.
//!
//! The 7.3 `kernel` crate has neither a namespace type nor per-namespace operations
//! (`register_pernet_subsys`); upstream versions would belong in `kernel::net`.
//!
//! C header: [`include/net/net_namespace.h`](srctree/include/net/net_namespace.h)

use super::helpers;
use core::{
    ffi::c_void,
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    prelude::*,
    sync::aref::{
        ARef,
        AlwaysRefCounted, //
    },
    sync::{
        atomic::{
            Acquire,
            Atomic,
            Full,
            Relaxed,
            Release, //
        },
        rcu,
        Arc,
        ArcBorrow, //
    },
    types::Opaque, //
};

/// A network namespace (`struct net`).
///
/// `&Net` is only handed out while the namespace is alive.
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

impl Net {
    /// Borrows a namespace.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a namespace that stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net) -> &'a Net {
        // SAFETY: `Net` is a transparent wrapper; the caller guarantees validity.
        unsafe { &*ptr.cast::<Net>() }
    }

    /// The initial namespace.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn init_net() -> &'static Net {
        // SAFETY: `init_net` is never freed.
        unsafe { Net::from_raw(&raw mut bindings::init_net) }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }

    /// A reference on the namespace of the calling task, or `None` if it is going away (or the
    /// task has none, as when it is exiting).
    pub(crate) fn current() -> Option<ARef<Net>> {
        // SAFETY: No preconditions; the namespace comes with a reference of its own.
        let net = NonNull::new(unsafe { helpers::hs_current_net_get() })?;
        // SAFETY: `maybe_get_net` took the reference that the `ARef` now owns.
        Some(unsafe { ARef::from_raw(net.cast()) })
    }
}

// SAFETY: `get_net` and `put_net` keep the namespace alive while its count is above zero; the
// last `put_net` queues its dismantling.
unsafe impl AlwaysRefCounted for Net {
    fn inc_ref(&self) {
        // SAFETY: The existence of `&self` means the namespace has a reference.
        unsafe { helpers::hs_get_net(self.as_ptr()) }
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns the reference it gives up.
        unsafe { helpers::hs_put_net(obj.as_ptr().cast()) }
    }
}

// SAFETY: A namespace may be used and released from any thread.
unsafe impl Send for Net {}
// SAFETY: `&Net` only reads the namespace through functions that synchronise themselves.
unsafe impl Sync for Net {}

/// Data that the module keeps for every network namespace.
pub(crate) trait PernetData: Send + Sync + Sized + 'static {
    /// The registration this data belongs to.
    fn pernet() -> &'static Pernet<Self>;

    /// Creates the data of a new namespace.
    fn init(net: &Net) -> Result<Arc<Self>>;

    /// Called when the namespace goes away, before the data is released.
    fn exit(this: &Arc<Self>, net: &Net);
}

/// The block the namespace core allocates for us in every namespace (`ops.size` bytes, zeroed).
///
/// Two pointers to the same data: `live` is what readers see, `owned` is the reference the
/// block holds. `pre_exit` clears `live`; the core then waits for an RCU grace period before it
/// calls `exit`, which releases `owned`. A reader that found `live` set inside an RCU read-side
/// section has therefore taken its own reference before the block's is released.
#[repr(C)]
struct Slot {
    live: Atomic<*mut c_void>,
    owned: *mut c_void,
}

/// Per-namespace operations (`struct pernet_operations`) holding an [`Arc<T>`] per namespace.
///
/// # Invariants
///
/// `registered` is true from the start of [`Pernet::register`] until the registration is dropped
/// (or the registration failed), so the operations are registered at most once at a time.
/// While registered, the generic slot `id` of every namespace is null (not set up yet) or a
/// [`Slot`] whose `owned` is null or a pointer obtained from [`Arc::into_raw`] for a `T`, owned
/// by the slot, and whose `live` is null or equal to `owned`. `owned` is released only in `exit`,
/// which the core calls an RCU grace period after `pre_exit` cleared `live`.
pub(crate) struct Pernet<T: PernetData> {
    ops: Opaque<bindings::pernet_operations>,
    /// Written by the namespace core at registration (through `ops.id`), read by lookups.
    id: Atomic<u32>,
    registered: Atomic<bool>,
    _p: PhantomData<T>,
}

// SAFETY: The operations are only written before registration and then by the core under
// `pernet_ops_rwsem`; the slots hold `Arc<T>` with `T: Send + Sync`.
unsafe impl<T: PernetData> Sync for Pernet<T> {}

impl<T: PernetData> Pernet<T> {
    /// Creates unregistered operations.
    pub(crate) const fn new() -> Self {
        Self {
            ops: Opaque::new(pin_init::zeroed()),
            id: Atomic::new(0),
            registered: Atomic::new(false),
            _p: PhantomData,
        }
    }

    /// Registers the operations: `T::init` runs for every existing namespace now and for every
    /// new one later.
    /// Fails with `EBUSY` if the operations are registered already.
    pub(crate) fn register(&'static self) -> Result<PernetRegistration<T>> {
        if self.registered.cmpxchg(false, true, Acquire).is_err() {
            return Err(EBUSY);
        }
        let ops = self.ops.get();
        // SAFETY: Not registered (we just claimed the registration), so nobody else accesses
        // `ops`.
        unsafe {
            (*ops).init = Some(Self::init_trampoline);
            (*ops).pre_exit = Some(Self::pre_exit_trampoline);
            (*ops).exit = Some(Self::exit_trampoline);
            (*ops).id = self.id.as_ptr();
            (*ops).size = core::mem::size_of::<Slot>();
        }
        // SAFETY: `ops` is static and fully initialised.
        let ret = unsafe { bindings::register_pernet_subsys(ops) };
        if ret != 0 {
            // The core gave the id back; do not look up slots with it.
            self.id.store(0, Relaxed);
            self.registered.store(false, Release);
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: Registered; the trampolines keep the slot invariant.
        Ok(PernetRegistration { pernet: self })
    }

    fn slot(&self, net: &Net) -> Option<*mut Slot> {
        // The core writes the id once, before any namespace init runs.
        let id = self.id.load(Acquire);
        if id == 0 {
            return None;
        }
        // SAFETY: `id` is a registered generic slot and `net` is alive.
        let slot = unsafe { helpers::hs_net_generic(net.as_ptr(), id) }.cast::<Slot>();
        // A namespace whose setup has not reached us yet has no block.
        (!slot.is_null()).then_some(slot)
    }

    /// The data of `net`, if the operations are registered and the namespace initialised and
    /// not yet going away.
    pub(crate) fn get(&self, net: &Net) -> Option<Arc<T>> {
        let rcu = rcu::read_lock();
        // A new reference is taken inside the read-side section; the slot's is kept.
        self.get_rcu(net, &rcu).map(Into::into)
    }

    /// The data of `net` as [`Pernet::get`] finds it, borrowed for as long as `rcu` is held
    /// instead of referenced.
    pub(crate) fn get_rcu<'a>(&self, net: &Net, _rcu: &'a rcu::Guard) -> Option<ArcBorrow<'a, T>> {
        let slot = self.slot(net)?;
        // SAFETY: The block is valid while the namespace lives.
        let ptr = unsafe { (*slot).live.load(Acquire) }.cast::<T>();
        if ptr.is_null() {
            return None;
        }
        // The slot's reference is released only a grace period after `live` is cleared, which
        // cannot end while `_rcu` is held.
        // SAFETY: By the type invariant `live` equals `owned`, obtained from `into_raw`, and its
        // reference outlives `'a` (above).
        Some(unsafe { ArcBorrow::from_raw(ptr) })
    }

    /// # Safety
    ///
    /// Called by the namespace core only, with a namespace being set up.
    unsafe extern "C" fn init_trampoline(net: *mut bindings::net) -> c_int {
        // SAFETY: The core calls this with a namespace being set up.
        let net = unsafe { Net::from_raw(net) };
        let Some(slot) = T::pernet().slot(net) else {
            return EINVAL.to_errno();
        };
        match T::init(net) {
            Ok(data) => {
                let ptr = Arc::into_raw(data).cast_mut().cast::<c_void>();
                // INVARIANT: The slot takes ownership of one reference and publishes it.
                // SAFETY: The block is valid and ours; nobody reads it before init returns.
                unsafe {
                    (*slot).owned = ptr;
                    (*slot).live.store(ptr, Release);
                }
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the namespace core only, with a namespace being dismantled, before the grace
    /// period that precedes `exit`.
    unsafe extern "C" fn pre_exit_trampoline(net: *mut bindings::net) {
        // SAFETY: The core calls this with a namespace being dismantled.
        let net = unsafe { Net::from_raw(net) };
        if let Some(slot) = T::pernet().slot(net) {
            // INVARIANT: `live` becomes null; `owned` stays until `exit`.
            // SAFETY: The block is valid and ours.
            unsafe { (*slot).live.store(core::ptr::null_mut(), Release) };
        }
    }

    /// # Safety
    ///
    /// Called by the namespace core only, with a namespace being dismantled, a grace period
    /// after `pre_exit`.
    unsafe extern "C" fn exit_trampoline(net: *mut bindings::net) {
        // SAFETY: The core calls this with a namespace being dismantled.
        let net = unsafe { Net::from_raw(net) };
        let Some(slot) = T::pernet().slot(net) else {
            return;
        };
        // SAFETY: The block is valid and ours.
        let (was_live, ptr) = unsafe {
            (
                (*slot).live.xchg(core::ptr::null_mut(), Full),
                core::ptr::replace(&raw mut (*slot).owned, core::ptr::null_mut()),
            )
        };
        // `pre_exit` clears `live` a grace period before `exit`. Should the core ever skip it,
        // say so and wait for the readers ourselves.
        if kernel::warn_on!(!was_live.is_null()) {
            kernel::sync::rcu::synchronize_rcu();
        }
        let ptr = ptr.cast::<T>();
        if ptr.is_null() {
            return;
        }
        // SAFETY: By the type invariant, `ptr` came from `Arc::into_raw` and the slot owned it;
        // no reader can still be taking a reference from `live` (see above).
        let data = unsafe { Arc::from_raw(ptr) };
        T::exit(&data, net);
    }
}

/// A registration of [`Pernet`] operations; unregistered on drop.
///
/// # Invariants
///
/// `pernet` is registered.
pub(crate) struct PernetRegistration<T: PernetData> {
    pernet: &'static Pernet<T>,
}

impl<T: PernetData> Drop for PernetRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered by the type invariant. This runs `exit` for every namespace.
        unsafe { bindings::unregister_pernet_subsys(self.pernet.ops.get()) };
        // No namespace can reach the slot id any more.
        self.pernet.id.store(0, Relaxed);
        self.pernet.registered.store(false, Release);
    }
}
