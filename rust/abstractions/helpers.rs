// SPDX-License-Identifier: GPL-2.0

//! Declarations of the module's C helpers (`include/handshake_glue.h`).
//!
//! Out-of-tree code cannot add to the kernel's generated bindings, so the few C wrappers the
//! module needs are declared here, once, with the types of the kernel bindings. Each forwards to
//! one static inline kernel function or macro (`rust/helpers/helpers.c`); the tracepoint
//! wrappers of `rust/helpers/trace.c` are declared with their events in `tracepoints.rs`. Only
//! the abstractions call them.
//!
//! Like the kernel's own bindings, these declarations pass pointers to kernel structures whose
//! Rust mirrors contain types the FFI lint cannot vouch for; only pointers cross the boundary.
#![allow(improper_ctypes)]

use kernel::{
    bindings,
    ffi::{
        c_int,
        c_uint,
        c_void, //
    },
};

extern "C" {
    pub(crate) fn hs_spin_lock_bh(lock: *mut bindings::spinlock_t);
    pub(crate) fn hs_spin_unlock_bh(lock: *mut bindings::spinlock_t);
    pub(crate) fn hs_spin_trylock_bh(lock: *mut bindings::spinlock_t) -> c_int;
    pub(crate) fn hs_local_bh_disable();
    pub(crate) fn hs_local_bh_enable();

    pub(crate) fn hs_module_get() -> bool;
    pub(crate) fn hs_module_put();

    pub(crate) fn hs_sock_net(sk: *const bindings::sock) -> *mut bindings::net;
    pub(crate) fn hs_net_generic(net: *const bindings::net, id: c_uint) -> *mut *mut c_void;

    pub(crate) fn hs_genl_info_net(info: *const bindings::genl_info) -> *mut bindings::net;
    pub(crate) fn hs_current_net_get() -> *mut bindings::net;
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn hs_maybe_get_net(net: *mut bindings::net) -> *mut bindings::net;
    pub(crate) fn hs_current_tgid_get() -> *mut bindings::pid;
    pub(crate) fn hs_pid_alive(pid: *mut bindings::pid) -> bool;
    pub(crate) fn hs_put_net(net: *mut bindings::net);
    pub(crate) fn hs_genlmsg_reply(
        skb: *mut bindings::sk_buff,
        info: *mut bindings::genl_info,
    ) -> c_int;
    pub(crate) fn hs_genlmsg_multicast_netns(
        family: *const bindings::genl_family,
        net: *mut bindings::net,
        skb: *mut bindings::sk_buff,
        group: c_uint,
        flags: bindings::gfp_t,
    ) -> c_int;
    pub(crate) fn hs_nla_nest_start(
        skb: *mut bindings::sk_buff,
        attrtype: c_int,
    ) -> *mut bindings::nlattr;
    pub(crate) fn hs_nla_nest_end(skb: *mut bindings::sk_buff, start: *mut bindings::nlattr);
    pub(crate) fn hs_nla_nest_cancel(skb: *mut bindings::sk_buff, start: *mut bindings::nlattr);

    pub(crate) fn hs_sk_get_destruct(
        sk: *const bindings::sock,
    ) -> Option<unsafe extern "C" fn(*mut bindings::sock)>;
    pub(crate) fn hs_sk_set_destruct(
        sk: *mut bindings::sock,
        destruct: Option<unsafe extern "C" fn(*mut bindings::sock)>,
    );
    pub(crate) fn hs_sockfd_put(sock: *mut bindings::socket);
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn hs_file_count(file: *mut bindings::file) -> kernel::ffi::c_long;
    #[cfg(CONFIG_KEYS)]
    pub(crate) fn hs_key_ref_put(key_ref: bindings::key_ref_t);
    pub(crate) fn hs_cmsg_data(cmsg: *const bindings::cmsghdr) -> *const u8;
    pub(crate) fn hs_msg_first_kvec(msg: *const bindings::msghdr) -> *const bindings::kvec;
}
