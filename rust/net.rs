// SPDX-License-Identifier: GPL-2.0

//! Network namespaces and per-namespace data.
//!
//! C header: [`include/net/net_namespace.h`](srctree/include/net/net_namespace.h)

use crate::glue;
use core::{
    ffi::c_void,
    marker::PhantomData, //
};
use kernel::{
    bindings,
    error::to_result,
    prelude::*,
    sync::Arc,
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
    pub(crate) fn init_net() -> &'static Net {
        // SAFETY: `init_net` is never freed.
        unsafe { Net::from_raw(&raw mut bindings::init_net) }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }
}

/// Data that the module keeps for every network namespace.
pub(crate) trait PernetData: Send + Sync + Sized + 'static {
    /// The registration this data belongs to.
    fn pernet() -> &'static Pernet<Self>;

    /// Creates the data of a new namespace.
    fn init(net: &Net) -> Result<Arc<Self>>;

    /// Called when the namespace goes away, before the data is released.
    fn exit(this: &Arc<Self>, net: &Net);
}

/// Per-namespace operations (`struct pernet_operations`) holding an [`Arc<T>`] per namespace.
///
/// # Invariants
///
/// While registered, the generic slot `id` of every namespace holds either null or a pointer
/// obtained from [`Arc::into_raw`] for a `T`, owned by the slot.
pub(crate) struct Pernet<T: PernetData> {
    ops: Opaque<bindings::pernet_operations>,
    id: Opaque<u32>,
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
            id: Opaque::new(0),
            _p: PhantomData,
        }
    }

    /// Registers the operations: `T::init` runs for every existing namespace now and for every
    /// new one later.
    pub(crate) fn register(&'static self) -> Result<PernetRegistration<T>> {
        let ops = self.ops.get();
        // SAFETY: Not registered yet, so nobody else accesses `ops`.
        unsafe {
            (*ops).init = Some(Self::init_trampoline);
            (*ops).exit = Some(Self::exit_trampoline);
            (*ops).id = self.id.get();
            (*ops).size = core::mem::size_of::<*mut c_void>();
        }
        // SAFETY: `ops` is static and fully initialised.
        to_result(unsafe { bindings::register_pernet_subsys(ops) })?;
        // INVARIANT: Registered; the trampolines keep the slot invariant.
        Ok(PernetRegistration { pernet: self })
    }

    fn slot(&self, net: &Net) -> Option<*mut *mut c_void> {
        // SAFETY: The id is written once by the core before any namespace init runs.
        let id = unsafe { core::ptr::read_volatile(self.id.get()) };
        if id == 0 {
            return None;
        }
        // SAFETY: `id` is a registered generic slot and `net` is alive.
        Some(unsafe { glue::hs_net_generic(net.as_ptr(), id) })
    }

    /// The data of `net`, if the operations are registered and the namespace initialised.
    pub(crate) fn get(&self, net: &Net) -> Option<Arc<T>> {
        let slot = self.slot(net)?;
        // SAFETY: The slot is valid while the namespace lives.
        let ptr = unsafe { *slot }.cast::<T>();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: By the type invariant the slot owns a reference obtained from `into_raw`; we
        // take a new one without consuming the slot's.
        let borrowed = unsafe { kernel::sync::ArcBorrow::from_raw(ptr) };
        Some(borrowed.into())
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
                // INVARIANT: The slot takes ownership of one reference.
                // SAFETY: The slot is valid and ours.
                unsafe { *slot = Arc::into_raw(data).cast_mut().cast() };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the namespace core only, with a namespace being dismantled.
    unsafe extern "C" fn exit_trampoline(net: *mut bindings::net) {
        // SAFETY: The core calls this with a namespace being dismantled.
        let net = unsafe { Net::from_raw(net) };
        let Some(slot) = T::pernet().slot(net) else {
            return;
        };
        // SAFETY: The slot is valid and ours.
        let ptr = unsafe { core::ptr::replace(slot, core::ptr::null_mut()) }.cast::<T>();
        if ptr.is_null() {
            return;
        }
        // SAFETY: By the type invariant, `ptr` came from `Arc::into_raw` and the slot owned it.
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
        // SAFETY: No namespace can reach the slot id any more.
        unsafe { core::ptr::write_volatile(self.pernet.id.get(), 0) };
    }
}
