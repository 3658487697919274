// SPDX-License-Identifier: GPL-2.0

//! A spinlock that also disables bottom halves (`spin_lock_bh`): a backend for the kernel's
//! `Lock`, the counterpart of `SpinLockBackend` that the 7.3 `kernel` crate does not have.
//!
//! Consumers cancel handshakes from socket callbacks that run in softirq context, so every lock
//! that cancellation takes must keep softirqs off while held; otherwise a softirq on the same CPU
//! spins forever on a lock its own CPU holds.

use super::helpers;
use kernel::{
    bindings,
    ffi::c_char,
    sync::{
        atomic::{
            Acquire,
            Atomic,
            Release, //
        },
        lock::{
            Backend,
            Lock, //
        },
        GlobalGuard,
        GlobalLock,
        GlobalLockBackend, //
    },
};

/// A spinlock taken with bottom halves disabled.
pub(crate) type SpinLockBh<T> = Lock<T, SpinLockBhBackend>;

/// The `spin_lock_bh` backend of [`SpinLockBh`].
pub(crate) struct SpinLockBhBackend;

// SAFETY: `spinlock_t` provides mutual exclusion; `relock` uses the default, which calls `lock`,
// the same method as the original acquisition.
unsafe impl Backend for SpinLockBhBackend {
    type State = bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(ptr: *mut Self::State, name: *const c_char, key: *mut bindings::lock_class_key) {
        // SAFETY: The caller guarantees `ptr` is valid for writes and `name`/`key` live forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The caller guarantees `ptr` is an initialised lock.
        unsafe { helpers::hs_spin_lock_bh(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: The caller guarantees `ptr` is an initialised lock.
        if unsafe { helpers::hs_spin_trylock_bh(ptr) } != 0 {
            Some(())
        } else {
            None
        }
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: The caller owns the lock.
        unsafe { helpers::hs_spin_unlock_bh(ptr) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: The caller guarantees `ptr` is an initialised lock.
        unsafe { bindings::spin_assert_is_held(ptr) }
    }
}

/// Creates a [`SpinLockBh`] initialiser with a lock class of its own.
macro_rules! new_spinlock_bh {
    ($inner:expr, $name:literal $(,)?) => {
        $crate::abstractions::sync::SpinLockBh::new(
            $inner,
            kernel::c_str!($name),
            kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_spinlock_bh;

/// A global [`SpinLockBh`]-protected value, for state that callbacks without a context argument
/// (a socket destructor) must reach.
///
/// The kernel's `global_lock!` covers only its own backends, and its `GlobalLock` must be
/// initialised by an `unsafe` call before first use. This wrapper makes the initialisation part
/// of the type: [`GlobalLockBh::init`] (at module init) or, failing that, the first
/// [`GlobalLockBh::lock`] initialises the lock exactly once. Its guard does not hand out the
/// kernel's `GlobalGuard`, so no `GlobalLockedBy` can be tied to it.
///
/// # Invariants
///
/// `state` goes from `NEW` to `INITIALISING` (won by exactly one caller, who then initialises
/// `lock` with bottom halves, and so preemption, disabled) to `READY`; `lock` is initialised
/// once `state` is `READY`.
pub(crate) struct GlobalLockBh<B: GlobalLockBackend<Backend = SpinLockBhBackend>> {
    lock: GlobalLock<B>,
    state: Atomic<i32>,
}

const NEW: i32 = 0;
const INITIALISING: i32 = 1;
const READY: i32 = 2;

impl<B: GlobalLockBackend<Backend = SpinLockBhBackend>> GlobalLockBh<B> {
    /// A lock holding `data`, to be initialised on first use.
    ///
    /// `B` names this lock's class. Several locks may share one `B` (the request table's
    /// buckets do) only because the kernel's guard never leaves this type: a
    /// `GlobalLockedBy<_, B>` would take any of them for all, so this type must never hand out
    /// its `GlobalGuard`.
    pub(crate) const fn new(data: B::Item) -> Self {
        Self {
            // SAFETY: `lock` is used only through `lock()`, which initialises it first. `B` must
            // not be used with another lock because `GlobalLockedBy` trusts a `GlobalGuard<B>`
            // to prove that this lock is held; the kernel's guard never leaves this type (see
            // `GlobalLockBhGuard`), so no `GlobalLockedBy` can rely on it, whatever `B` is.
            lock: unsafe { GlobalLock::new(data) },
            state: Atomic::new(NEW),
        }
    }

    /// Initialises the lock if nobody did yet; returns once it is initialised.
    pub(crate) fn init(&'static self) {
        if self.state.load(Acquire) == READY {
            return;
        }
        // The initialising caller must not be interrupted by a softirq (or preempted) that
        // could then spin below on its own CPU.
        // SAFETY: Paired with the enable below; nothing in between sleeps.
        unsafe { helpers::hs_local_bh_disable() };
        if self.state.cmpxchg(NEW, INITIALISING, Acquire).is_ok() {
            // SAFETY: This caller alone moved `state` from `NEW`, so `init` runs once, and
            // nobody locks before `state` is `READY`.
            unsafe { self.lock.init() };
            // INVARIANT: Initialised.
            self.state.store(READY, Release);
        } else {
            // Another CPU is initialising with bottom halves off: a few instructions.
            while self.state.load(Acquire) != READY {
                kernel::processor::cpu_relax();
            }
        }
        // SAFETY: Paired with the disable above.
        unsafe { helpers::hs_local_bh_enable() };
    }

    /// Locks the value.
    pub(crate) fn lock(&'static self) -> GlobalLockBhGuard<B> {
        self.init();
        GlobalLockBhGuard(self.lock.lock())
    }
}

/// A guard of a [`GlobalLockBh`]: access to the value while the lock is held.
pub(crate) struct GlobalLockBhGuard<B: GlobalLockBackend>(GlobalGuard<B>);

impl<B: GlobalLockBackend> core::ops::Deref for GlobalLockBhGuard<B> {
    type Target = B::Item;

    fn deref(&self) -> &B::Item {
        &self.0
    }
}

impl<B: GlobalLockBackend> core::ops::DerefMut for GlobalLockBhGuard<B>
where
    B::Item: Unpin,
{
    fn deref_mut(&mut self) -> &mut B::Item {
        &mut self.0
    }
}
