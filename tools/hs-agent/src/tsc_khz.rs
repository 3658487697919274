// SPDX-License-Identifier: GPL-2.0
//! tsc-khz: the frequency of this machine's time-stamp counter in kHz, measured against the
//! monotonic clock over half a second.
//!
//! The emulator's guests read the host's counter but cannot calibrate it (they have no timer
//! to calibrate against), so without `tsc_early_khz=` on their command line they fall back to
//! a clock that ticks in jiffies. The benchmark passes them this figure.

use std::time::{Duration, Instant};

#[cfg(target_arch = "x86_64")]
fn main() {
    use core::arch::x86_64::_rdtsc;

    let t0 = Instant::now();
    // SAFETY: RDTSC has no preconditions on x86_64 and touches no memory.
    let c0 = unsafe { _rdtsc() };
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: as above.
    let c1 = unsafe { _rdtsc() };
    let ns = t0.elapsed().as_nanos() as f64;
    println!("{:.0}", (c1 - c0) as f64 / ns * 1e6);
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("tsc-khz: x86_64 only");
    std::process::exit(1);
}
