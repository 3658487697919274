// SPDX-License-Identifier: GPL-2.0
//! What the agent (`hs-agent`), the fuzzer (`hs-fuzz`) and `hs-step` share: the
//! `handshake` family on top of neli, a seeded generator and a look at /proc.

pub mod cli;
pub mod nl;
pub mod procfs;
pub mod rng;
