// SPDX-License-Identifier: GPL-2.0

//! Handshake upcall service: the `handshake` generic netlink family used by `tlshd`, and the
//! TLS handshake API of `include/net/handshake.h` for in-kernel consumers (SunRPC, NVMe/TCP).
//!
//! A drop-in replacement for the C service in `net/handshake/`. See
//! `Documentation/handshake-rs.rst` for the design.

use kernel::prelude::*;

mod alert;
mod genl;
mod genl_tables;
mod glue;
mod keys;
mod net;
mod netlink;
mod request;
mod socket;
mod sync;
mod tlshd;
mod trace;

#[cfg(CONFIG_KUNIT)]
mod tests;

module! {
    type: HandshakeModule,
    name: "handshake",
    authors: ["The handshake-rs authors"],
    description: "Generic netlink handshake service (TLS handshake upcalls)",
    license: "GPL",
    params: {
        pending_max: u32 {
            default: 0,
            description: "Pending requests per network namespace (0: scale with memory, 3..50)",
        },
    },
}

/// Waits, at unload, until no task is still executing this module's socket destructor.
///
/// The destructor drops the module reference of its socket as its very last action; the few
/// instructions after that are covered by an RCU-tasks grace period, which ends only once every
/// task that might have been preempted there has scheduled voluntarily.
struct TextQuiesce;

impl Drop for TextQuiesce {
    fn drop(&mut self) {
        // Every request holds a module reference until its socket is gone, so none is left.
        if !request::table_is_empty() {
            pr_warn!("unloading with live handshake requests\n");
        }
        // SAFETY: Called from process context at module exit.
        unsafe { kernel::bindings::synchronize_rcu_tasks() };
    }
}

/// The loaded service. Fields are dropped in order: the family first (waiting for running
/// operations), then the namespaces (draining what is pending), then the quiescence wait.
///
/// Init registers in the opposite order: every namespace has its state before the family can
/// deliver the first ACCEPT or DONE.
pub(crate) struct HandshakeModule {
    _family: genl::Registration,
    _pernet: net::PernetRegistration<netlink::HandshakeNet>,
    _quiesce: TextQuiesce,
}

impl kernel::Module for HandshakeModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Called once, before anything can reach the table.
        unsafe { request::init() };
        let pernet = netlink::pernet_ops().register()?;
        let family = netlink::FAMILY.register()?;
        pr_info!("handshake service ready\n");
        Ok(HandshakeModule {
            _family: family,
            _pernet: pernet,
            _quiesce: TextQuiesce,
        })
    }
}
