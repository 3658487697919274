// SPDX-License-Identifier: GPL-2.0
//! What the programs read of their own process in /proc.

use std::path::PathBuf;
use std::time::Duration;

/// Waits until this process has one thread. The netlink router that resolved the family ends
/// its thread shortly after it is dropped, and closes its descriptor then: fork(2) is only
/// safe, and the descriptor table only settled, once it has.
pub fn wait_single_threaded() -> Result<(), String> {
    for _ in 0..200 {
        if std::fs::read_dir("/proc/self/task")
            .map(|d| d.count())
            .unwrap_or(0)
            == 1
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err("the process still has helper threads".into())
}

/// The open descriptors as "FD->TARGET", sorted, as /proc/self/fd lists them (without the one
/// reading the directory).
pub fn fd_table() -> Vec<String> {
    let reader = PathBuf::from(format!("/proc/{}/fd", std::process::id()));
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let target = std::fs::read_link(e.path()).ok()?;
                    if target == reader {
                        return None;
                    }
                    Some(format!(
                        "{}->{}",
                        e.file_name().to_string_lossy(),
                        target.display()
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
