// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel's C interfaces, one file per kernel concept.
//!
//! This directory is the only place besides the C ABI entry points (`rust/capi.rs`) where the
//! crate uses `unsafe`. Every type here documents its invariants and every `unsafe` block its
//! justification; the service logic above (`rust/*.rs`) is written in safe Rust
//! (`#![forbid(unsafe_code)]`). Each file says what the 7.3 `kernel` crate already has of its
//! concept and is shaped so that it could go there; `Documentation/handshake-rs.rst` lists
//! what an upstream version would need.

pub(crate) mod genl;
pub(crate) mod helpers;
pub(crate) mod keys;
pub(crate) mod mem;
pub(crate) mod module;
pub(crate) mod net;
pub(crate) mod pid;
pub(crate) mod socket;
pub(crate) mod sync;
pub(crate) mod tls;
pub(crate) mod tracepoints;
