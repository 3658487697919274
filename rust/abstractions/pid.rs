// SPDX-License-Identifier: GPL-2.0

//! Processes by their `struct pid`, and whether they still run.
//!
//! The 7.3 `kernel` crate has `Task` and the numeric `Pid`, but no counted reference on a
//! `struct pid`, which outlives its process and so can be asked later whether the process is
//! gone (as a pidfd does).
//!
//! C header: [`include/linux/pid.h`](srctree/include/linux/pid.h)

use super::helpers;
use core::ptr::NonNull;
use kernel::bindings;

/// A process (a thread group), referenced by its `struct pid`.
///
/// # Invariants
///
/// `pid` is a `struct pid` the object holds one reference on, taken by `get_task_pid`.
pub(crate) struct Process {
    pid: NonNull<bindings::pid>,
}

// SAFETY: A `struct pid` reference may be used and released from any thread.
unsafe impl Send for Process {}
// SAFETY: The methods only read the pid and, under RCU, the process's state.
unsafe impl Sync for Process {}

impl Process {
    /// The calling task's process, or `None` when the task has no thread group pid any more
    /// (as while it exits).
    pub(crate) fn current() -> Option<Self> {
        // SAFETY: No preconditions; the pid comes with a reference of its own, or is null.
        let pid = NonNull::new(unsafe { helpers::hs_current_tgid_get() })?;
        // INVARIANT: `get_task_pid` took the reference.
        Some(Process { pid })
    }

    /// The process's number in the calling task's pid namespace, or `None` if it has none
    /// there (the process is not visible from it).
    pub(crate) fn nr_here(&self) -> Option<u32> {
        // SAFETY: The pid is valid while we hold our reference; `pid_vnr` only reads it and the
        // calling task's namespace.
        let nr = unsafe { bindings::pid_vnr(self.pid.as_ptr()) };
        u32::try_from(nr).ok().filter(|&nr| nr != 0)
    }

    /// Whether a thread of the process still runs: false once its last thread has begun to
    /// exit, killed, crashed or done.
    pub(crate) fn alive(&self) -> bool {
        // SAFETY: The pid is valid while we hold our reference.
        unsafe { helpers::hs_pid_alive(self.pid.as_ptr()) }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SAFETY: We own one reference by the type invariant.
        unsafe { bindings::put_pid(self.pid.as_ptr()) };
    }
}
