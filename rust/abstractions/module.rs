// SPDX-License-Identifier: GPL-2.0

//! References on this module, and waiting for its code to be left at unload.
//!
//! The 7.3 `kernel` crate has `ThisModule` (a pointer to the module) but no way to take a
//! reference on it (`try_module_get`), which a module needs when it leaves a pointer to its own
//! code in a kernel object that outlives any call into it (here: a socket's destructor).
//!
//! C header: [`include/linux/module.h`](srctree/include/linux/module.h)

use super::helpers;
use kernel::ThisModule;
#[cfg(MODULE)]
use kernel::{
    bindings,
    types::Opaque, //
};

/// A reference on this module, keeping it loaded.
///
/// # Invariants
///
/// The object owns one reference on this module, taken with `try_module_get`.
pub(crate) struct ModuleRef(());

impl ModuleRef {
    /// Takes a reference, or `None` while the module is being removed.
    pub(crate) fn get() -> Option<Self> {
        // SAFETY: No preconditions.
        if unsafe { helpers::hs_module_get() } {
            // INVARIANT: `try_module_get` succeeded.
            Some(ModuleRef(()))
        } else {
            None
        }
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: We own one reference by the type invariant.
        unsafe { helpers::hs_module_put() };
    }
}

/// Waits until no task still executes the last instructions of a function of this module that
/// dropped the module's last [`ModuleRef`] (such as a socket destructor), so that the module's
/// text can be freed.
///
/// The module loader already waits for an RCU grace period after exit, which covers code that
/// ran with preemption or bottom halves disabled. A preemptible task can be preempted between
/// the `module_put` and its return: with `CONFIG_TASKS_RCU` an RCU-tasks grace period, which
/// ends only once every such task scheduled voluntarily, covers it. Without it (no tracing, no
/// BPF, no kprobes) the kernel itself relies on the same window for every module that puts its
/// own reference, and the plain grace period is what is available.
pub(crate) fn quiesce_text() {
    #[cfg(CONFIG_TASKS_RCU)]
    // SAFETY: Called from process context (module exit); no lock is held.
    unsafe {
        kernel::bindings::synchronize_rcu_tasks()
    };
    #[cfg(not(CONFIG_TASKS_RCU))]
    kernel::sync::rcu::synchronize_rcu();
}

/// This module (`THIS_MODULE`), for kernel structures that record their owner.
///
/// The `module!` macro gives the same value as `ThisModule` of the module's type; a constant of
/// its own lets the code that builds such structures (the family) not depend on the crate root.
#[cfg(MODULE)]
pub(crate) const THIS_MODULE: ThisModule = {
    // Only the address is used; the structure's layout does not cross the boundary.
    #[allow(improper_ctypes)]
    extern "C" {
        static __this_module: Opaque<bindings::module>;
    }
    // SAFETY: `__this_module` is built by the module loader and lives until the module is
    // unloaded; only its address is taken.
    unsafe { ThisModule::from_ptr(__this_module.get()) }
};

/// This module (`THIS_MODULE`): none when built into the kernel.
#[cfg(not(MODULE))]
// SAFETY: A null pointer stands for the kernel itself, as `THIS_MODULE` does in C.
pub(crate) const THIS_MODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };

/// Room enough for a symbol's description (`KSYM_SYMBOL_LEN`, which `rust/helpers/helpers.c`
/// checks against it).
pub(crate) const SYMBOL_LEN: usize = 1024;

/// The function at `addr` and the module its code is in, as the kernel's symbol table names
/// them: `(function, module)`, with `vmlinux` for the kernel's own code. `None` if the kernel
/// cannot name it (no function there, or no symbol table). `buf` is the room the description is
/// written to, [`SYMBOL_LEN`] bytes at least.
#[cfg(CONFIG_KALLSYMS)]
pub(crate) fn code_owner(addr: usize, buf: &mut [u8]) -> Option<(&[u8], &[u8])> {
    if buf.len() < SYMBOL_LEN {
        return None;
    }
    // SAFETY: `buf` is writable for `SYMBOL_LEN` bytes, at least `KSYM_SYMBOL_LEN`; any
    // address may be looked up.
    let len = unsafe {
        kernel::bindings::sprint_symbol_no_offset(
            buf.as_mut_ptr().cast(),
            addr as kernel::ffi::c_ulong,
        )
    };
    let text = &buf[..usize::try_from(len).ok()?.min(SYMBOL_LEN)];
    // `name [module]`, or `name` for the kernel's own code, or the address in hex if no
    // function is there.
    if text.is_empty() || text.starts_with(b"0x") {
        return None;
    }
    match text.iter().position(|&c| c == b' ') {
        None => Some((text, b"vmlinux")),
        Some(i) => {
            let (name, rest) = text.split_at(i);
            let module = rest
                .strip_prefix(b" [")?
                .split(|&c| c == b']' || c == b' ')
                .next()?;
            Some((name, module))
        }
    }
}

/// Without a symbol table the kernel cannot name any code.
#[cfg(not(CONFIG_KALLSYMS))]
pub(crate) fn code_owner(_addr: usize, _buf: &mut [u8]) -> Option<(&[u8], &[u8])> {
    None
}
