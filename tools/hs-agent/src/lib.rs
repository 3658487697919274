// SPDX-License-Identifier: GPL-2.0
//! What the agent (`hs-agent`) and the fuzzer (`hs-fuzz`) share: the
//! `handshake` family on top of neli, and a seeded generator.

pub mod nl;
pub mod rng;
