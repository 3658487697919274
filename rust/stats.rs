// SPDX-License-Identifier: GPL-2.0

//! Counters of the requests of a namespace and of their outcomes, which the `handshake-diag`
//! family reports (`Documentation/netlink/specs/handshake-diag.yaml`).
//!
//! Every counter is an atomic of its own, so counting takes no lock and can be done from any
//! context, softirq included (a consumer's cancel).

#![forbid(unsafe_code)]

use kernel::{
    error::Error,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
};

/// How many distinct errnos an [`ErrnoCounts`] tells apart; the rest are counted together.
pub(crate) const ERRNO_SLOTS: usize = 16;

/// Counts of outcomes by errno (0 for success): a slot per errno seen, in the order they were
/// first seen, and a count of the others once the slots are taken.
///
/// # Invariants
///
/// A slot's `key` is 0 while the slot is free, then the errno plus one for good; its count
/// belongs to that errno.
pub(crate) struct ErrnoCounts {
    slots: [(Atomic<u32>, Atomic<u64>); ERRNO_SLOTS],
    other: Atomic<u64>,
}

impl Default for ErrnoCounts {
    fn default() -> Self {
        Self::new()
    }
}

impl ErrnoCounts {
    const fn new() -> Self {
        ErrnoCounts {
            slots: [const { (Atomic::new(0), Atomic::new(0)) }; ERRNO_SLOTS],
            other: Atomic::new(0),
        }
    }

    /// Counts one outcome: `errno` is positive, or 0 for success.
    pub(crate) fn add(&self, errno: u32) {
        let key = errno.saturating_add(1);
        for (k, count) in &self.slots {
            let mut seen = k.load(Relaxed);
            if seen == 0 {
                // INVARIANT: A free slot is taken once, for one errno.
                seen = match k.cmpxchg(0, key, Relaxed) {
                    Ok(_) => key,
                    Err(other) => other,
                };
            }
            if seen == key {
                count.add(1, Relaxed);
                return;
            }
        }
        self.other.add(1, Relaxed);
    }

    /// Counts an error.
    pub(crate) fn add_error(&self, e: Error) {
        self.add(e.to_errno().unsigned_abs());
    }

    /// The errnos seen with their counts, in the order they were first seen.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.slots
            .iter()
            .filter_map(|(k, count)| match k.load(Relaxed) {
                0 => None,
                key => Some((key - 1, count.load(Relaxed))),
            })
    }

    /// The outcomes counted beyond the slots.
    pub(crate) fn other(&self) -> u64 {
        self.other.load(Relaxed)
    }
}

/// The counters of one namespace since the module was loaded (or the namespace made).
pub(crate) struct Counters {
    /// Requests queued.
    pub(crate) submitted: Atomic<u64>,
    /// Submits refused, by errno.
    pub(crate) refused: ErrnoCounts,
    /// Requests an agent accepted.
    pub(crate) accepted: Atomic<u64>,
    /// Requests completed by an agent's DONE, by the status it reported.
    pub(crate) done: ErrnoCounts,
    /// Requests cancelled by their consumer before they completed.
    pub(crate) cancelled: Atomic<u64>,
    /// Pending requests completed as the namespace went away.
    pub(crate) drained: Atomic<u64>,
    /// Attributes of unknown types in the DONEs received.
    pub(crate) unknown_done_attrs: Atomic<u64>,
    /// READYs sent again for agents that joined.
    pub(crate) ready_again: Atomic<u64>,
    /// Requests completed with `EIO` because their ACCEPT reply could not be made.
    pub(crate) accept_failed: Atomic<u64>,
    /// Requests completed with `ETIMEDOUT` at their deadline.
    pub(crate) timed_out: Atomic<u64>,
    /// Requests completed with `EIO` because the process that accepted them exited first.
    pub(crate) agent_died: Atomic<u64>,
}

impl Counters {
    /// All zero.
    pub(crate) const fn new() -> Self {
        Counters {
            submitted: Atomic::new(0),
            refused: ErrnoCounts::new(),
            accepted: Atomic::new(0),
            done: ErrnoCounts::new(),
            cancelled: Atomic::new(0),
            drained: Atomic::new(0),
            unknown_done_attrs: Atomic::new(0),
            ready_again: Atomic::new(0),
            accept_failed: Atomic::new(0),
            timed_out: Atomic::new(0),
            agent_died: Atomic::new(0),
        }
    }

    /// Adds one to `counter`.
    pub(crate) fn inc(counter: &Atomic<u64>) {
        counter.add(1, Relaxed);
    }
}
