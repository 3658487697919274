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
}

/// A counted reference on a namespace (`get_net`), which keeps it from being dismantled.
///
/// Not an `ARef<Net>`: a `&Net` may be borrowed from a namespace whose count already dropped to
/// zero (its exit runs then), so a reference can only be taken where the namespace may refuse.
///
/// # Invariants
///
/// `net` is a namespace this object holds one reference on.
pub(crate) struct NetRef {
    net: NonNull<bindings::net>,
}

// SAFETY: A namespace reference may be used and released from any thread; `Net`'s methods go
// through functions that synchronise themselves.
unsafe impl Send for NetRef {}
// SAFETY: As above; shared access only reads.
unsafe impl Sync for NetRef {}

impl NetRef {
    /// A reference on `net`, or `None` if it is being dismantled (`maybe_get_net`).
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn get(net: &Net) -> Option<Self> {
        // SAFETY: `net` is alive while borrowed; the namespace comes with a reference of its
        // own, or is null.
        let net = NonNull::new(unsafe { helpers::hs_maybe_get_net(net.as_ptr()) })?;
        // INVARIANT: `maybe_get_net` took the reference.
        Some(NetRef { net })
    }

    /// A reference on the namespace of the calling task, or `None` if it is being dismantled or
    /// the task has none (as when it is exiting).
    pub(crate) fn current() -> Option<Self> {
        // SAFETY: No preconditions; the namespace comes with a reference of its own, or is null.
        let net = NonNull::new(unsafe { helpers::hs_current_net_get() })?;
        // INVARIANT: `maybe_get_net` took the reference.
        Some(NetRef { net })
    }
}

impl core::ops::Deref for NetRef {
    type Target = Net;

    fn deref(&self) -> &Net {
        // SAFETY: Our reference keeps the namespace alive while `self` is borrowed.
        unsafe { Net::from_raw(self.net.as_ptr()) }
    }
}

impl Drop for NetRef {
    fn drop(&mut self) {
        // SAFETY: We own one reference by the type invariant; the last one queues the
        // namespace's dismantling, which may be done from any context.
        unsafe { helpers::hs_put_net(self.net.as_ptr()) };
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

    /// The directory under `/proc/sys` of the namespace's [`PernetData::SYSCTLS`], such as
    /// `net/handshake`.
    // Without `CONFIG_SYSCTL` nothing reads the settings' declarations.
    #[cfg_attr(not(CONFIG_SYSCTL), allow(dead_code))]
    const SYSCTL_PATH: &'static CStr = c"";

    /// Settings of every namespace, shown and written as files in [`PernetData::SYSCTL_PATH`]
    /// of its `/proc/sys`; their values live in the namespace's data.
    #[cfg_attr(not(CONFIG_SYSCTL), allow(dead_code))]
    const SYSCTLS: &'static [SysctlU32<Self>] = &[];
}

/// An unsigned setting of each namespace's data, a file of its `/proc/sys` (mode 0644 for the
/// namespace's root; `proc_douintvec_minmax` refuses values outside `min..=max` with `EINVAL`).
///
/// The file reads and writes the value directly, with plain loads and stores as every `sysctl`
/// does; readers load it with [`Relaxed`] ordering, as C reads such a value with `READ_ONCE`.
#[cfg_attr(not(CONFIG_SYSCTL), allow(dead_code))]
pub(crate) struct SysctlU32<T> {
    /// The file name.
    pub(crate) name: &'static CStr,
    /// The smallest value a write may set.
    pub(crate) min: u32,
    /// The largest value a write may set.
    pub(crate) max: u32,
    /// The value in the namespace's data.
    pub(crate) value: fn(&T) -> &Atomic<u32>,
    /// Whether only writers with `CAP_NET_ADMIN` in the initial user namespace may set it: the
    /// root of the user namespace that owns the network namespace, which may open the file for
    /// writing, then gets `EPERM` from the write.
    pub(crate) initial_admin_writes: bool,
    /// Called with the new value after each successful write, in the writer's context.
    pub(crate) written: Option<fn(u32)>,
}

impl<T> SysctlU32<T> {
    /// Whether the file needs more than `proc_douintvec_minmax`.
    #[cfg(CONFIG_SYSCTL)]
    fn needs_handler(&self) -> bool {
        self.initial_admin_writes || self.written.is_some()
    }
}

/// The `proc_handler` of the settings of `T` that need more than `proc_douintvec_minmax`
/// (see [`SysctlU32`]): the setting is the entry of `T::SYSCTLS` named by the file.
///
/// # Safety
///
/// Called by the sysctl core only, with a file of a table made by `register_sysctls::<T>` and
/// the core's arguments for it.
#[cfg(CONFIG_SYSCTL)]
unsafe extern "C" fn sysctl_handler<T: PernetData>(
    ctl: *const bindings::ctl_table,
    dir: c_int,
    buf: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    // SAFETY: The core passes the registered entry, valid for the call.
    let (procname, data) = unsafe { ((*ctl).procname, (*ctl).data) };
    // SAFETY: `register_sysctls` set `procname` to the name of an entry of `T::SYSCTLS`, a
    // static NUL-terminated string.
    let name = unsafe { CStr::from_char_ptr(procname) };
    let Some(entry) = T::SYSCTLS.iter().find(|e| e.name == name) else {
        return EINVAL.to_errno();
    };
    // `SYSCTL_USER_TO_KERN(dir)`.
    let write = dir != 0;
    // SAFETY: No preconditions; the writer is the calling task.
    if write && entry.initial_admin_writes && !unsafe { bindings::capable(CAP_NET_ADMIN) } {
        return EPERM.to_errno();
    }
    // SAFETY: The arguments are the core's, for an entry made for this handler.
    let ret = unsafe { bindings::proc_douintvec_minmax(ctl, dir, buf, lenp, ppos) };
    if ret == 0 && write {
        if let Some(written) = entry.written {
            // SAFETY: `data` points to the setting's `Atomic<u32>` inside the namespace's data,
            // which outlives the table's registration (see `Slot`), and the core does not return
            // from unregistering it while a handler runs.
            written(unsafe { Atomic::<u32>::from_ptr(data.cast()) }.load(Relaxed));
        }
    }
    ret
}

/// `CAP_NET_ADMIN` as the capability functions take it.
#[cfg(CONFIG_SYSCTL)]
const CAP_NET_ADMIN: c_int = bindings::CAP_NET_ADMIN as c_int;

/// The block the namespace core allocates for us in every namespace (`ops.size` bytes, zeroed).
///
/// Two pointers to the same data: `live` is what readers see, `owned` is the reference the
/// block holds. `pre_exit` clears `live`; the core then waits for an RCU grace period before it
/// calls `exit`, which releases `owned`. A reader that found `live` set inside an RCU read-side
/// section has therefore taken its own reference before the block's is released.
///
/// `sysctl` is the registration of the data's [`PernetData::SYSCTLS`] (null if there are none)
/// and `table` the files it registered, a [`KVec`] given up with `into_raw_parts` (null, or
/// `T::SYSCTLS.len()` entries with capacity `table_cap`); both are released in `exit`, before
/// `owned`.
#[repr(C)]
struct Slot {
    live: Atomic<*mut c_void>,
    owned: *mut c_void,
    sysctl: *mut bindings::ctl_table_header,
    table: *mut bindings::ctl_table,
    table_cap: usize,
}

/// Without `CONFIG_SYSCTL` there are no files: the settings keep their initial values.
#[cfg(not(CONFIG_SYSCTL))]
fn register_sysctls<T: PernetData>(
    _net: &Net,
    _data: &T,
) -> Result<(
    *mut bindings::ctl_table_header,
    *mut bindings::ctl_table,
    usize,
)> {
    Ok((core::ptr::null_mut(), core::ptr::null_mut(), 0))
}

/// The files of `T::SYSCTLS` for `data`, registered in `net`: the registration and the table it
/// uses (a vector given up with `into_raw_parts`: pointer, length, capacity); null pointers if
/// there are no settings.
#[cfg(CONFIG_SYSCTL)]
fn register_sysctls<T: PernetData>(
    net: &Net,
    data: &T,
) -> Result<(
    *mut bindings::ctl_table_header,
    *mut bindings::ctl_table,
    usize,
)> {
    let entries = T::SYSCTLS;
    if entries.is_empty() {
        return Ok((core::ptr::null_mut(), core::ptr::null_mut(), 0));
    }
    let mut table = KVec::with_capacity(entries.len(), GFP_KERNEL)?;
    for e in entries {
        let mut t: bindings::ctl_table = pin_init::zeroed();
        t.procname = e.name.as_char_ptr();
        t.data = (e.value)(data).as_ptr().cast();
        t.maxlen = core::mem::size_of::<u32>() as c_int;
        t.mode = 0o644;
        t.proc_handler = Some(if e.needs_handler() {
            sysctl_handler::<T>
        } else {
            bindings::proc_douintvec_minmax
        });
        t.extra1 = (&raw const e.min).cast_mut().cast();
        t.extra2 = (&raw const e.max).cast_mut().cast();
        table.push(t, GFP_KERNEL)?;
    }
    let (ptr, len, cap) = table.into_raw_parts();
    // SAFETY: `net` is being set up; the path is a static string; the table has `len` entries,
    // each naming a static string and a value inside `data`, which the slot keeps until `exit`
    // has unregistered the table (see `Slot`), and static bounds.
    let header = unsafe {
        bindings::register_net_sysctl_sz(net.as_ptr(), T::SYSCTL_PATH.as_char_ptr(), ptr, len)
    };
    if header.is_null() {
        // SAFETY: Given up just above and not registered.
        drop(unsafe { KVec::from_raw_parts(ptr, len, cap) });
        return Err(ENOMEM);
    }
    Ok((header, ptr, cap))
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
/// which the core calls an RCU grace period after `pre_exit` cleared `live`, and after the
/// slot's settings, whose values are inside it, are unregistered.
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
        let init = T::init(net).and_then(|data| {
            let sysctls = register_sysctls(net, &*data)?;
            Ok((data, sysctls))
        });
        match init {
            Ok((data, (sysctl, table, table_cap))) => {
                let ptr = Arc::into_raw(data).cast_mut().cast::<c_void>();
                // INVARIANT: The slot takes ownership of one reference, and of the settings'
                // files, whose values are inside it, and publishes the reference.
                // SAFETY: The block is valid and ours; nobody reads it before init returns.
                unsafe {
                    (*slot).owned = ptr;
                    (*slot).sysctl = sysctl;
                    (*slot).table = table;
                    (*slot).table_cap = table_cap;
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
        let (was_live, ptr, sysctl, table, table_cap) = unsafe {
            (
                (*slot).live.xchg(core::ptr::null_mut(), Full),
                core::ptr::replace(&raw mut (*slot).owned, core::ptr::null_mut()),
                core::ptr::replace(&raw mut (*slot).sysctl, core::ptr::null_mut()),
                core::ptr::replace(&raw mut (*slot).table, core::ptr::null_mut()),
                (*slot).table_cap,
            )
        };
        #[cfg(not(CONFIG_SYSCTL))]
        let _ = (sysctl, table, table_cap);
        #[cfg(CONFIG_SYSCTL)]
        if !sysctl.is_null() {
            // SAFETY: Registered by `init` and not since unregistered (the slot gave it up just
            // above). This waits for every reader and writer of the files to leave.
            unsafe { bindings::unregister_net_sysctl_table(sysctl) };
            // SAFETY: By the `Slot` invariant, `table` came from `into_raw_parts` with these
            // parts, and nothing uses it any more.
            drop(unsafe { KVec::from_raw_parts(table, T::SYSCTLS.len(), table_cap) });
        }
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
