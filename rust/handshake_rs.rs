// SPDX-License-Identifier: GPL-2.0

//! Handshake upcall service: the `handshake` generic netlink family used by `tlshd`, and the
//! TLS handshake API of `include/net/handshake.h` for in-kernel consumers (SunRPC, NVMe/TCP).
//!
//! A drop-in replacement for the C service in `net/handshake/`. See
//! `Documentation/handshake-rs.rst` for the design.
//!
//! Two layers: `abstractions/` wraps the kernel's C interfaces (all of the crate's `unsafe` but
//! the C entry points of `capi`); the service logic (`request`, `netlink`, `tlshd`, `alert`,
//! `stats`, `diag`, the generated `genl_tables` and `diag_tables`) is safe Rust and says so with
//! `#![forbid(unsafe_code)]`.

use kernel::prelude::*;

mod abstractions;
mod alert;
mod capi;
mod diag;
mod diag_tables;
mod genl_tables;
mod netlink;
mod request;
mod stats;
mod tlshd;

#[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
mod tests;

module! {
    type: HandshakeModule,
    name: "handshake",
    authors: ["The handshake-rs authors"],
    description: "Generic netlink handshake service (TLS handshake upcalls)",
    license: "GPL",
    // MODULE_ALIAS_GENL_FAMILY("handshake"): generic netlink asks for this alias
    // (PF_NETLINK 16, NETLINK_GENERIC 16) when an agent resolves a family it does not know,
    // so an agent loads the service.
    alias: ["net-pf-16-proto-16-family-handshake"],
    params: {
        pending_max: u32 {
            default: 0,
            description: "Pending requests per network namespace, the initial value of its \
                net.handshake.pending_max (0: scale with memory, 3..50)",
        },
    },
}

/// Waits, at unload, until no task is still executing this module's socket destructor.
///
/// The destructor drops the module reference of its socket as its very last action; see
/// [`abstractions::module::quiesce_text`] for the few instructions after that.
struct TextQuiesce;

impl Drop for TextQuiesce {
    fn drop(&mut self) {
        // Every request holds a module reference until its socket is gone, so none is left.
        kernel::warn_on!(!request::table_is_empty());
        // With nothing live, every ticker stops at its next tick.
        request::wait_for_tickers();
        abstractions::module::quiesce_text();
    }
}

/// The loaded service. Fields are dropped in order: the families first (waiting for running
/// operations), then the namespaces (draining what is pending), then the quiescence wait.
///
/// Init registers in the opposite order: every namespace has its state before the family can
/// deliver the first ACCEPT or DONE.
struct HandshakeModule {
    _diag: abstractions::genl::Registration,
    _family: abstractions::genl::Registration,
    _pernet: abstractions::net::PernetRegistration<request::HandshakeNet>,
    _quiesce: TextQuiesce,
}

impl kernel::Module for HandshakeModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let pernet = request::register(
            module_parameters::pending_max.value(),
            netlink::allow_userns_agents,
        )?;
        let family = netlink::FAMILY.register()?;
        let diag = diag::FAMILY.register()?;
        pr_info!("handshake service ready\n");
        Ok(HandshakeModule {
            _diag: diag,
            _family: family,
            _pernet: pernet,
            _quiesce: TextQuiesce,
        })
    }
}
