// SPDX-License-Identifier: GPL-2.0

//! Memory information (`si_meminfo`), which the 7.3 `kernel` crate does not expose.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h)

use kernel::bindings;

/// The total RAM of the system, in units of `unit` bytes; `unit` is at least 1.
pub(crate) struct TotalRam {
    /// The number of units.
    pub(crate) units: u64,
    /// The size of a unit in bytes (the page size on most systems).
    pub(crate) unit: u64,
}

/// The total usable RAM, as `sysinfo(2)` reports it.
pub(crate) fn total_ram() -> TotalRam {
    let mut si = bindings::sysinfo::default();
    // SAFETY: `si` is a valid, exclusive out parameter for the duration of the call.
    unsafe { bindings::si_meminfo(&mut si) };
    TotalRam {
        units: si.totalram as u64,
        unit: u64::from(si.mem_unit).max(1),
    }
}
