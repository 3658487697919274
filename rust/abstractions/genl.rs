// SPDX-License-Identifier: GPL-2.0

//! Generic netlink families with `do` and `dump` operations, strict policies, replies and
//! per-namespace multicast.
//!
//! An extension of the 7.3 `kernel::net::netlink`, which covers multicast-only families in the
//! initial namespace: it keeps that module's names ([`Family::const_new`], [`Family::register`],
//! [`Registration`], [`GenlMsg`] with `put_u32`/`put_string`/`multicast`) for what it adds:
//! [`Policy`] entries, [`SplitOp`]s dispatching to a [`DoHandler`] or a [`DumpHandler`], groups
//! that require a capability to join ([`McGroup`]), a callback when a group is joined
//! ([`BindHandler`]), the request side ([`Info`], [`Attr`]), replies, dumps ([`Dump`]), nests
//! and multicast to one namespace. Upstream, these would be new methods and types of that module
//! (its `Family` would take the operations and the callback, its `MulticastGroup` the flags, its
//! `GenlMsg` would gain `reply` and `multicast_netns`).
//!
//! C header: [`include/net/genetlink.h`](srctree/include/net/genetlink.h)

use super::{
    helpers,
    net::Net, //
};
use core::{
    ffi::c_void,
    marker::PhantomData,
    mem::ManuallyDrop,
    ptr::NonNull, //
};
use kernel::{
    bindings,
    error::to_result,
    prelude::*,
    sync::atomic::{
        Atomic,
        Relaxed, //
    },
    types::Opaque,
    ThisModule, //
};

/// A raw `gfp_t` as passed by C callers.
///
/// The kernel's `alloc::Flags` cannot be built from a raw value, but messages must be allocated
/// with exactly the flags a consumer gave (a consumer in atomic context passes `GFP_ATOMIC`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Gfp(pub(crate) bindings::gfp_t);

impl Gfp {
    /// `GFP_KERNEL`.
    pub(crate) const KERNEL: Gfp = Gfp(bindings::GFP_KERNEL);
    /// `GFP_ATOMIC`.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) const ATOMIC: Gfp = Gfp(bindings::GFP_ATOMIC);

    /// The closest Rust allocation flags that never do more than `self` allows.
    ///
    /// Full `GFP_KERNEL` maps to `GFP_KERNEL`; anything weaker (no reclaim, no I/O or no file
    /// system recursion) maps to `GFP_ATOMIC`, which never sleeps nor recurses.
    pub(crate) fn to_flags(self) -> kernel::alloc::Flags {
        if self.0 & bindings::GFP_KERNEL == bindings::GFP_KERNEL {
            GFP_KERNEL
        } else {
            GFP_ATOMIC
        }
    }
}

/// One entry of an attribute policy (`struct nla_policy`).
///
/// Built in const context from the tables generated out of the YNL spec.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub(crate) struct Policy(bindings::nla_policy);

// SAFETY: A policy entry is immutable plain data; the pointers it may hold are `'static`.
unsafe impl Sync for Policy {}

impl Policy {
    const fn with(type_: u32, validation: u32, max: i16) -> Self {
        let mut p: bindings::nla_policy = pin_init::zeroed();
        p.type_ = type_ as u8;
        p.validation_type = validation as u8;
        p.__bindgen_anon_1 = bindings::nla_policy__bindgen_ty_1 {
            __bindgen_anon_1: bindings::nla_policy__bindgen_ty_1__bindgen_ty_1 { min: 0, max },
        };
        Policy(p)
    }

    /// An attribute that is not accepted (strict validation rejects it).
    pub(crate) const fn unspec() -> Self {
        Self::with(bindings::NLA_UNSPEC, 0, 0)
    }

    /// A `u32` attribute.
    pub(crate) const fn u32() -> Self {
        Self::with(bindings::NLA_U32, 0, 0)
    }

    /// A `u32` attribute with an upper bound (`NLA_POLICY_MAX`); larger values are `ERANGE`.
    pub(crate) const fn u32_max(max: u32) -> Self {
        if max > i16::MAX as u32 {
            panic!("policy maximum does not fit the policy entry");
        }
        Self::with(
            bindings::NLA_U32,
            bindings::nla_policy_validation_NLA_VALIDATE_MAX,
            max as i16,
        )
    }

    /// An `s32` attribute.
    pub(crate) const fn s32() -> Self {
        Self::with(bindings::NLA_S32, 0, 0)
    }

    /// The netlink attribute type of this entry.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn nla_type(&self) -> u8 {
        self.0.type_
    }

    /// The validation kind of this entry.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn validation(&self) -> u8 {
        self.0.validation_type
    }

    /// The upper bound checked by the netlink core, if any.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn max(&self) -> Option<i16> {
        if u32::from(self.0.validation_type) == bindings::nla_policy_validation_NLA_VALIDATE_MAX {
            // SAFETY: `with` always initialises the `min`/`max` member of the union.
            Some(unsafe { self.0.__bindgen_anon_1.__bindgen_anon_1.max })
        } else {
            None
        }
    }
}

/// The handler of one `do` operation.
pub(crate) trait DoHandler {
    /// Highest attribute number in the operation's policy.
    const MAXATTR: u16;

    /// The operation's policy, `MAXATTR + 1` entries indexed by attribute number.
    const POLICY: &'static [Policy];

    /// Whether a request may carry attribute types beyond `MAXATTR` (or type 0): when true they
    /// are skipped and counted ([`Info::unknown_attrs`]) instead of failing the request with
    /// `EINVAL`. The known attributes are validated as strictly either way, and the policy the
    /// family reports is the same.
    ///
    /// The core parses such an operation liberally, which it allows only for commands below the
    /// family's `resv_start_op`; the family then starts reserved-field checks after the highest
    /// such command, and [`do_trampoline`] makes the header checks the core skips for them.
    const TOLERATE_UNKNOWN: bool = false;

    /// For an operation registered with [`Perm::Admin`] that may be loosened to
    /// [`Perm::UnsAdmin`] ([`SplitOp::set_perm`]): the namespaces whose own administrators may
    /// call it. The callers in any other namespace must have what [`Perm::Admin`] asks,
    /// `CAP_NET_ADMIN` in the initial user namespace, or get `EPERM` as the core refuses them
    /// (without an extended ack message). [`do_trampoline`] checks this before anything else,
    /// whatever the operation's permission now, so the answers do not depend on it.
    const USERNS_ADMIN_ALLOWED: Option<fn(&Net) -> bool> = None;

    /// Handles one request. The returned error is sent back to user space as the netlink
    /// acknowledgement.
    fn doit(info: &Info<'_>) -> Result;
}

/// The handler of one `dump` operation: a reply of many messages, written a buffer at a time.
///
/// The core calls [`DumpHandler::start`] once, in the caller's context, then
/// [`DumpHandler::dumpit`] for each buffer until it adds nothing, and drops the cursor when the
/// dump ends or its socket goes away, whichever comes first.
pub(crate) trait DumpHandler {
    /// Highest attribute number in the operation's policy.
    const MAXATTR: u16;

    /// The operation's policy, `MAXATTR + 1` entries indexed by attribute number.
    const POLICY: &'static [Policy];

    /// Where the dump is, from one buffer to the next.
    type Cursor: Send;

    /// Starts a dump of the request `info`. The error is sent back as the acknowledgement.
    fn start(info: &Info<'_>) -> Result<Self::Cursor>;

    /// Adds the entries after `cursor` with [`Dump::entry`] until one does not fit or none is
    /// left, moving `cursor` past each one added. An error ends the dump with it.
    fn dumpit(cursor: &mut Self::Cursor, dump: &mut Dump<'_>) -> Result;
}

/// Who may call an operation (every operation of the module's families is privileged).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Perm {
    /// Callers with `CAP_NET_ADMIN` in the initial user namespace (`GENL_ADMIN_PERM`).
    Admin,
    /// Callers with `CAP_NET_ADMIN` over the user namespace that owns the network namespace
    /// (`GENL_UNS_ADMIN_PERM`).
    UnsAdmin,
}

impl Perm {
    /// The operation flag.
    const fn flag(self) -> u8 {
        match self {
            Perm::Admin => bindings::GENL_ADMIN_PERM as u8,
            Perm::UnsAdmin => bindings::GENL_UNS_ADMIN_PERM as u8,
        }
    }
}

/// A `do` operation of a family (`struct genl_split_ops`).
///
/// Not in read-only memory: [`SplitOp::set_perm`] may change who may call it while the family is
/// registered.
#[repr(transparent)]
pub(crate) struct SplitOp(Opaque<bindings::genl_split_ops>);

// SAFETY: After construction only the permission bits of `flags` are written, by
// `SplitOp::set_perm` with single-byte atomic stores; its pointers are `'static`.
unsafe impl Sync for SplitOp {}

impl SplitOp {
    /// A `do` operation for `cmd` validated against `H::POLICY`, handled by `H`, which the
    /// callers `perm` allows may call.
    pub(crate) const fn new_do<H: DoHandler>(cmd: u8, perm: Perm) -> Self {
        let mut op = Self::base(cmd, perm, bindings::GENL_CMD_CAP_DO, H::POLICY, H::MAXATTR);
        op.__bindgen_anon_1.__bindgen_anon_1 =
            bindings::genl_split_ops__bindgen_ty_1__bindgen_ty_1 {
                pre_doit: None,
                doit: Some(do_trampoline::<H>),
                post_doit: None,
            };
        if H::TOLERATE_UNKNOWN {
            // The core parses liberally; `do_trampoline` then validates strictly but for the
            // unknown types.
            op.validate = bindings::genl_validate_flags_GENL_DONT_VALIDATE_STRICT as u8;
        }
        let op = Opaque::new(op);
        SplitOp(op)
    }

    /// A `dump` operation for `cmd` validated against `H::POLICY`, handled by `H`, which the
    /// callers `perm` allows may call.
    pub(crate) const fn new_dump<H: DumpHandler>(cmd: u8, perm: Perm) -> Self {
        let mut op = Self::base(
            cmd,
            perm,
            bindings::GENL_CMD_CAP_DUMP,
            H::POLICY,
            H::MAXATTR,
        );
        op.__bindgen_anon_1.__bindgen_anon_2 =
            bindings::genl_split_ops__bindgen_ty_1__bindgen_ty_2 {
                start: Some(dump_start::<H>),
                dumpit: Some(dump_next::<H>),
                done: Some(dump_done::<H>),
            };
        let op = Opaque::new(op);
        SplitOp(op)
    }

    /// What operations of either kind have: the command, its policy of `maxattr + 1` entries,
    /// the `GENL_CMD_CAP_*` bit `cap` and the permission.
    const fn base(
        cmd: u8,
        perm: Perm,
        cap: u32,
        policy: &'static [Policy],
        maxattr: u16,
    ) -> bindings::genl_split_ops {
        if policy.len() != maxattr as usize + 1 {
            panic!("policy length and maxattr disagree");
        }
        let mut op: bindings::genl_split_ops = pin_init::zeroed();
        op.policy = policy.as_ptr().cast();
        op.maxattr = maxattr as u32;
        op.cmd = cmd;
        op.flags = cap as u8 | perm.flag();
        op
    }

    /// The command number.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn cmd(&self) -> u8 {
        // SAFETY: The pointer is valid; the field is never written after construction.
        unsafe { (*self.0.get()).cmd }
    }

    /// The `GENL_*` flags of the operation.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn flags(&self) -> u8 {
        self.flags_ref().load(Relaxed) as u8
    }

    /// The `GENL_DONT_VALIDATE_*` flags of the operation.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn validate(&self) -> u8 {
        // SAFETY: The pointer is valid; the field is never written after construction.
        unsafe { (*self.0.get()).validate }
    }

    /// The highest attribute of the policy.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn maxattr(&self) -> u32 {
        // SAFETY: The pointer is valid; the field is never written after construction.
        unsafe { (*self.0.get()).maxattr }
    }

    /// The flags byte, which [`SplitOp::set_perm`] writes.
    fn flags_ref(&self) -> &Atomic<i8> {
        // SAFETY: The pointer is valid and aligned for as long as `self` is borrowed. After
        // construction the byte is only written by `set_perm` and read by us, both atomically;
        // the core reads it too, with plain loads, which `set_perm` explains.
        unsafe { Atomic::from_ptr((&raw mut (*self.0.get()).flags).cast::<i8>()) }
    }

    /// Changes who may call the operation from now on; a request the core is dispatching
    /// meanwhile is checked against the old or the new permission.
    ///
    /// The core reads the operation when it dispatches each request, with a plain copy of the
    /// whole entry (`genl_get_cmd_split`), and when it reports the family (`CTRL_CMD_GETFAMILY`);
    /// it never writes it. A copy made while the byte is stored holds either value: an aligned
    /// single-byte store cannot tear, and both values are valid flags with the same
    /// `GENL_CMD_CAP_*` bits the core checked at registration. Whoever loosens an operation must
    /// make either answer acceptable (see [`DoHandler::USERNS_ADMIN_ALLOWED`]).
    pub(crate) fn set_perm(&'static self, perm: Perm) {
        let perms = (bindings::GENL_ADMIN_PERM | bindings::GENL_UNS_ADMIN_PERM) as u8;
        let flags = self.flags_ref();
        // Nothing else in the byte ever changes, so two calls at once lose nothing of it; the
        // permission of the last store stays.
        let old = flags.load(Relaxed) as u8;
        flags.store(((old & !perms) | perm.flag()) as i8, Relaxed);
    }
}

/// `CAP_NET_ADMIN` as the capability functions take it.
const CAP_NET_ADMIN: c_int = bindings::CAP_NET_ADMIN as c_int;

/// # Safety
///
/// Called by the generic netlink core only, with a valid request whose attributes were parsed
/// with the policy of length `H::MAXATTR + 1`.
unsafe extern "C" fn do_trampoline<H: DoHandler>(
    skb: *mut bindings::sk_buff,
    info: *mut bindings::genl_info,
) -> c_int {
    // INVARIANT: `info` is valid for the duration of the callback, and its `attrs` array has
    // `H::MAXATTR + 1` entries as the operation was registered with that policy.
    let info = Info {
        info: NonNull::from(
            // SAFETY: The core passes a valid, exclusive `genl_info` for this call.
            unsafe { &*info },
        ),
        maxattr: H::MAXATTR,
        _p: PhantomData,
    };
    if let Some(allowed) = H::USERNS_ADMIN_ALLOWED {
        // What the core checks for `GENL_ADMIN_PERM`: the sending socket's opener and the
        // sending task both have the capability in the initial user namespace.
        // SAFETY: `skb` is the request being handled, valid for the call.
        let initial_admin = || unsafe { bindings::netlink_capable(skb, CAP_NET_ADMIN) };
        if !allowed(info.net()) && !initial_admin() {
            return EPERM.to_errno();
        }
    }
    if let Err(e) = info.check_header() {
        return e.to_errno();
    }
    if H::TOLERATE_UNKNOWN {
        if let Err(e) = info.validate_known(H::POLICY) {
            return e.to_errno();
        }
    }
    match H::doit(&info) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// The cursor of a running dump, kept in the first bytes of `cb->ctx`.
///
/// # Safety
///
/// `cb` must be the callback of a dump of an operation made by [`SplitOp::new_dump`].
unsafe fn dump_cursor(cb: *mut bindings::netlink_callback) -> *mut *mut c_void {
    const _: () =
        assert!(core::mem::size_of::<*mut c_void>() <= bindings::NETLINK_CTX_SIZE as usize);
    // SAFETY: `cb` is valid (function safety requirements); `ctx` is at least a pointer long
    // and suitably aligned (it is in a union with `long` arguments).
    unsafe { (&raw mut (*cb).__bindgen_anon_1.ctx).cast::<*mut c_void>() }
}

/// # Safety
///
/// Called by the generic netlink core only, once per dump of an operation made by
/// [`SplitOp::new_dump::<H>`], with `cb->data` its `genl_dumpit_info`.
unsafe extern "C" fn dump_start<H: DumpHandler>(cb: *mut bindings::netlink_callback) -> c_int {
    // SAFETY: The core set `cb->data` to the dump's `genl_dumpit_info`, which lives until the
    // dump's `done`.
    let dinfo = unsafe { (*cb).data.cast::<bindings::genl_dumpit_info>() };
    // INVARIANT: The request lives for the call; the core parsed its attributes with the
    // operation's policy of `H::MAXATTR + 1` entries (or none, leaving `attrs` null).
    let info = Info {
        // SAFETY: `dinfo` is valid, see above.
        info: NonNull::from(unsafe { &(*dinfo).info }),
        maxattr: H::MAXATTR,
        _p: PhantomData,
    };
    match H::start(&info).and_then(|cursor| Ok(KBox::new(cursor, GFP_KERNEL)?)) {
        Ok(cursor) => {
            // SAFETY: This is the operation's callback; the core zeroed `ctx` for the dump and
            // nothing else writes it.
            unsafe { *dump_cursor(cb) = KBox::into_raw(cursor).cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the generic netlink core only, for a dump whose `dump_start::<H>` succeeded, with
/// the buffer to fill; never concurrently with another call for the same dump.
unsafe extern "C" fn dump_next<H: DumpHandler>(
    skb: *mut bindings::sk_buff,
    cb: *mut bindings::netlink_callback,
) -> c_int {
    // SAFETY: `start` stored a cursor of `H` there, which `done` alone frees; the core
    // serialises the callbacks of one dump, so the reference is exclusive.
    let cursor = unsafe { &mut *(*dump_cursor(cb)).cast::<H::Cursor>() };
    let Some(skb) = NonNull::new(skb) else {
        return EINVAL.to_errno();
    };
    // INVARIANT: The core lends us `skb` to append to for this call; `cb` is the dump's.
    let mut dump = Dump {
        skb,
        cb: NonNull::from(
            // SAFETY: `cb` is valid for the call.
            unsafe { &*cb },
        ),
        full: false,
        _p: PhantomData,
    };
    if let Err(e) = H::dumpit(cursor, &mut dump) {
        return e.to_errno();
    }
    // SAFETY: `skb` is valid for the call.
    let len = unsafe { (*skb.as_ptr()).len };
    if len == 0 && dump.full {
        // One entry alone does not fit an empty buffer: it never will.
        return EMSGSIZE.to_errno();
    }
    // Something added: the core calls again. Nothing: the dump is over.
    c_int::try_from(len).unwrap_or(c_int::MAX)
}

/// # Safety
///
/// Called by the generic netlink core only, once, when a dump of an operation made by
/// [`SplitOp::new_dump::<H>`] ends or its socket is released.
unsafe extern "C" fn dump_done<H: DumpHandler>(cb: *mut bindings::netlink_callback) -> c_int {
    // SAFETY: The dump is ending: nothing else uses `ctx` any more.
    let slot = unsafe { &mut *dump_cursor(cb) };
    let cursor = core::mem::take(slot);
    if !cursor.is_null() {
        // SAFETY: `start` stored it from `KBox::into_raw` of a `KBox<H::Cursor>`; taken out of
        // the slot just above, so it is freed once.
        drop(unsafe { KBox::from_raw(cursor.cast::<H::Cursor>()) });
    }
    0
}

/// An entry of a dump being written, with [`PutAttrs`].
///
/// Only [`Dump::entry`] makes one, and lends it for the entry's attributes; nothing can take the
/// buffer out of it.
///
/// # Invariants
///
/// `skb` is the buffer the core lent the dump's callback, which may append to it for `'a`.
pub(crate) struct DumpEntry<'a> {
    skb: NonNull<bindings::sk_buff>,
    _p: PhantomData<&'a mut bindings::sk_buff>,
}

impl sealed::Sealed for DumpEntry<'_> {
    fn buffer(&mut self) -> NonNull<bindings::sk_buff> {
        // Lent for `'a` (type invariant).
        self.skb
    }
}

impl PutAttrs for DumpEntry<'_> {}

/// The buffer a dump fills in one call of [`DumpHandler::dumpit`].
///
/// # Invariants
///
/// `skb` is the buffer the core lent for the call, `cb` the dump's callback, whose `data` is the
/// dump's `genl_dumpit_info`.
pub(crate) struct Dump<'a> {
    skb: NonNull<bindings::sk_buff>,
    cb: NonNull<bindings::netlink_callback>,
    /// An entry did not fit: no more are added in this call.
    full: bool,
    _p: PhantomData<&'a mut bindings::sk_buff>,
}

impl Dump<'_> {
    /// Adds one entry, a message with the attributes `fill` writes: true if it was added, false
    /// if it does not fit in this buffer (then nothing of it was added, and no later entry is
    /// in this call). `fill` may be called again for the same entry in the next call.
    pub(crate) fn entry(
        &mut self,
        fill: impl FnOnce(&mut DumpEntry<'_>) -> Result,
    ) -> Result<bool> {
        if self.full {
            return Ok(false);
        }
        // SAFETY: `cb` and its `data` are valid for the call by the type invariants.
        let info = unsafe {
            &(*(*self.cb.as_ptr())
                .data
                .cast::<bindings::genl_dumpit_info>())
        };
        // SAFETY: We may append to `skb`; the family of a running dump is registered.
        let hdr = unsafe {
            bindings::genlmsg_put(
                self.skb.as_ptr(),
                info.info.snd_portid,
                info.info.snd_seq,
                info.info.family.cast_mut(),
                bindings::NLM_F_MULTI as c_int,
                info.op.cmd,
            )
        };
        if hdr.is_null() {
            self.full = true;
            return Ok(false);
        }
        // INVARIANT: We may append to `skb` for this call, which outlives the entry.
        let mut w = DumpEntry {
            skb: self.skb,
            _p: PhantomData,
        };
        match fill(&mut w) {
            Ok(()) => {
                // SAFETY: `hdr` is the header just put in `skb`.
                unsafe { bindings::genlmsg_end(self.skb.as_ptr(), hdr) };
                Ok(true)
            }
            Err(e) => {
                // SAFETY: `hdr` is the header just put in `skb`; this removes the entry.
                unsafe { bindings::genlmsg_cancel(self.skb.as_ptr(), hdr) };
                if e == EMSGSIZE {
                    self.full = true;
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// A multicast group of a family (`struct genl_multicast_group`), with the capability a socket
/// needs to join it.
#[repr(transparent)]
pub(crate) struct McGroup(bindings::genl_multicast_group);

// SAFETY: A group is immutable plain data.
unsafe impl Sync for McGroup {}

impl McGroup {
    /// `GENL_MCAST_CAP_NET_ADMIN` (`include/net/genetlink.h`; bindgen does not expand `BIT()`):
    /// joining needs `CAP_NET_ADMIN` over the user namespace that owns the socket's network
    /// namespace.
    const CAP_NET_ADMIN: u8 = 1 << 0;

    /// A group anyone who may open the family's socket can join.
    pub(crate) const fn new(name: &CStr) -> Self {
        Self::with_flags(name, 0)
    }

    /// A group only callers with `CAP_NET_ADMIN` in the namespace's user namespace can join;
    /// others get `EPERM` from the bind or `setsockopt`.
    pub(crate) const fn admin(name: &CStr) -> Self {
        Self::with_flags(name, Self::CAP_NET_ADMIN)
    }

    const fn with_flags(name: &CStr, flags: u8) -> Self {
        let mut group: bindings::genl_multicast_group = pin_init::zeroed();
        let name = name.to_bytes_with_nul();
        if name.len() > group.name.len() {
            panic!("multicast group name must fit GENL_NAMSIZ");
        }
        let mut i = 0;
        while i < name.len() {
            group.name[i] = name[i] as kernel::ffi::c_char;
            i += 1;
        }
        group.flags = flags;
        McGroup(group)
    }

    /// Whether joining requires `CAP_NET_ADMIN`.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn needs_net_admin(&self) -> bool {
        self.0.flags & Self::CAP_NET_ADMIN != 0
    }
}

/// What a family does when a socket joins one of its groups.
pub(crate) trait BindHandler {
    /// A socket of the calling task is about to join group `group` (an index into the family's
    /// groups). The core calls this after the capability check and before the socket receives
    /// anything sent to the group; it cannot refuse.
    fn bind(group: u32);
}

/// # Safety
///
/// Called by the generic netlink core only, in process context.
unsafe extern "C" fn bind_trampoline<H: BindHandler>(group: c_int) -> c_int {
    if let Ok(group) = u32::try_from(group) {
        H::bind(group);
    }
    0
}

/// The family's `resv_start_op`: one past the highest command parsed liberally, which the core
/// allows only below it, or 0 (every command checked), as the core asks of new families.
const fn resv_start_op(ops: &[SplitOp]) -> u8 {
    let mut start = 0;
    let mut i = 0;
    while i < ops.len() {
        // SAFETY: The pointer is valid; neither field is written after construction.
        let (validate, cmd) = unsafe { ((*ops[i].0.get()).validate, (*ops[i].0.get()).cmd) };
        if validate != 0 && cmd >= start {
            if cmd == u8::MAX {
                panic!("no command can follow the last one");
            }
            start = cmd + 1;
        }
        i += 1;
    }
    start
}

/// A generic netlink family with operations and multicast groups.
///
/// # Invariants
///
/// `inner` is a `genl_family` whose operation and group pointers reference `'static` tables.
#[repr(transparent)]
pub(crate) struct Family {
    inner: Opaque<bindings::genl_family>,
}

// SAFETY: The family is only mutated by the generic netlink core under its own locking.
unsafe impl Sync for Family {}

impl Family {
    /// Creates a family with the given operations and multicast groups; `netnsok` and
    /// `parallel_ops` are set.
    ///
    /// Intended for const context; panics (at build time) on invalid arguments.
    pub(crate) const fn const_new(
        module: &ThisModule,
        name: &[u8],
        version: u32,
        ops: &'static [SplitOp],
        mcgrps: &'static [McGroup],
    ) -> Family {
        Self::build(module, name, version, ops, mcgrps, None)
    }

    /// Creates a family as [`Family::const_new`] does, with `H` told whenever a socket joins
    /// one of its groups.
    ///
    /// Intended for const context; panics (at build time) on invalid arguments.
    pub(crate) const fn const_new_with_bind<H: BindHandler>(
        module: &ThisModule,
        name: &[u8],
        version: u32,
        ops: &'static [SplitOp],
        mcgrps: &'static [McGroup],
    ) -> Family {
        Self::build(
            module,
            name,
            version,
            ops,
            mcgrps,
            Some(bind_trampoline::<H>),
        )
    }

    const fn build(
        module: &ThisModule,
        name: &[u8],
        version: u32,
        ops: &'static [SplitOp],
        mcgrps: &'static [McGroup],
        bind: Option<unsafe extern "C" fn(c_int) -> c_int>,
    ) -> Family {
        if ops.len() > u8::MAX as usize || mcgrps.len() > u8::MAX as usize {
            panic!("too many operations or groups");
        }
        let mut fam = bindings::genl_family {
            version,
            module: module.as_ptr(),
            split_ops: ops.as_ptr().cast(),
            n_split_ops: ops.len() as u8,
            mcgrps: mcgrps.as_ptr().cast(),
            n_mcgrps: mcgrps.len() as u8,
            resv_start_op: resv_start_op(ops),
            bind,
            // Bit 0 is `netnsok`, bit 1 `parallel_ops` (checked by a KUnit case).
            // SAFETY: The bitfield unit is a single byte.
            _bitfield_1: unsafe {
                core::mem::transmute::<u8, bindings::__BindgenBitfieldUnit<[u8; 1]>>(0b11)
            },
            ..pin_init::zeroed()
        };
        if name.len() > fam.name.len() || name.is_empty() || name[name.len() - 1] != 0 {
            panic!("family name must be NUL-terminated and fit GENL_NAMSIZ");
        }
        let mut i = 0;
        while i < name.len() {
            fam.name[i] = name[i] as kernel::ffi::c_char;
            i += 1;
        }
        // INVARIANT: `ops` and `mcgrps` are `'static`.
        Family {
            inner: Opaque::new(fam),
        }
    }

    /// Returns the raw `genl_family`.
    pub(crate) fn as_raw(&self) -> *mut bindings::genl_family {
        self.inner.get()
    }

    /// Registers the family.
    pub(crate) fn register(&'static self) -> Result<Registration> {
        // SAFETY: The family is static and its tables are `'static` by the type invariants.
        to_result(unsafe { bindings::genl_register_family(self.as_raw()) })?;
        // INVARIANT: Registration just succeeded.
        Ok(Registration { family: self })
    }

    /// Whether anyone in `net` listens to multicast group `group` (the kernel's
    /// `Family::has_listeners` asks about the initial namespace only).
    pub(crate) fn has_listeners_netns(&self, net: &Net, group: u32) -> bool {
        // SAFETY: The family and the namespace are valid.
        unsafe { bindings::genl_has_listeners(self.as_raw(), net.as_ptr(), group) != 0 }
    }

    /// Whether the netlink flags of this family are `netnsok` and `parallel_ops`.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn netnsok_parallel(&self) -> (bool, bool) {
        // SAFETY: The family is valid; only the flag byte, which the core never writes, is read
        // (no reference to the family is formed).
        let bits = unsafe { (&raw const (*self.as_raw())._bitfield_1).read() };
        let bits = bits.get(0, 8) as u8;
        (bits & 1 != 0, bits & 2 != 0)
    }
}

/// A registered family; unregistered on drop.
///
/// # Invariants
///
/// `family` is registered with the generic netlink core.
pub(crate) struct Registration {
    family: &'static Family,
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the family is registered. Unregistering waits for every
        // running operation of the family to return.
        unsafe { bindings::genl_unregister_family(self.family.as_raw()) };
    }
}

/// A received generic netlink request.
///
/// # Invariants
///
/// `info` is valid for `'a` and its `attrs` array is null (an operation without attributes) or
/// has `maxattr + 1` entries.
pub(crate) struct Info<'a> {
    info: NonNull<bindings::genl_info>,
    maxattr: u16,
    _p: PhantomData<&'a bindings::genl_info>,
}

/// `NLMSG_ALIGN`.
const fn nlmsg_align(len: usize) -> usize {
    (len + 3) & !3
}

impl<'a> Info<'a> {
    fn raw(&self) -> &'a bindings::genl_info {
        // SAFETY: Valid for `'a` by the type invariants.
        unsafe { self.info.as_ref() }
    }

    /// The parsed attribute `attrtype`, if present.
    pub(crate) fn attr(&self, attrtype: u16) -> Option<Attr<'a>> {
        // The core parses nothing (and `attrs` is null) for an operation whose policy has no
        // attribute.
        let attrs = self.raw().attrs;
        if attrtype > self.maxattr || attrs.is_null() {
            return None;
        }
        // SAFETY: `attrs` is not null, so it has `maxattr + 1` entries by the type invariants.
        let nla = unsafe { *attrs.add(usize::from(attrtype)) };
        if nla.is_null() {
            return None;
        }
        // SAFETY: The core validated the attribute inside the request, which lives for `'a`:
        // its header and `nla_len` bytes in all are readable.
        let bytes = unsafe {
            let len = usize::from((*nla).nla_len);
            core::slice::from_raw_parts(nla.cast::<u8>(), len)
        };
        Attrs::new(bytes).next()
    }

    /// The parsed attribute `attrtype`, which the operation requires: when it is missing the
    /// reply's extended ack names it (`GENL_REQ_ATTR_CHECK`) and the result is `EINVAL`.
    pub(crate) fn required_attr(&self, attrtype: u16) -> Result<Attr<'a>> {
        if let Some(attr) = self.attr(attrtype) {
            return Ok(attr);
        }
        let extack = self.raw().extack;
        if !extack.is_null() {
            // SAFETY: The core hands each operation its own extended ack, valid for the call
            // and not used by anyone else meanwhile.
            unsafe {
                (*extack).miss_nest = core::ptr::null();
                (*extack).miss_type = attrtype;
            }
        }
        Err(EINVAL)
    }

    /// Every attribute of type `attrtype` in the message, in message order (for multi-attrs).
    pub(crate) fn attrs_of_type(&self, attrtype: u16) -> impl Iterator<Item = Attr<'a>> {
        self.attr_bytes().filter(move |a| a.attrtype == attrtype)
    }

    /// The top-level attributes of the message.
    fn attr_bytes(&self) -> Attrs<'a> {
        let hdrlen = nlmsg_align(core::mem::size_of::<bindings::nlmsghdr>())
            + nlmsg_align(core::mem::size_of::<bindings::genlmsghdr>());
        let nlh = self.raw().nlhdr;
        // SAFETY: The core checked that the message is `nlmsg_len` bytes long, at least the two
        // headers, before dispatching to the operation; it lives for `'a`.
        let bytes = unsafe {
            let len = (*nlh).nlmsg_len as usize;
            let all = core::slice::from_raw_parts(nlh.cast::<u8>(), len);
            all.get(hdrlen..).unwrap_or(&[])
        };
        Attrs::new(bytes)
    }

    /// Checks the headers of a request as the core does for commands from the family's
    /// `resv_start_op` on (`genl_header_check`), for the commands below it, with the same errors
    /// and extended ack messages. The core makes its check first, before it looks the command up,
    /// checks the caller's permission and parses the attributes; this one runs after those, so a
    /// request that is wrong in two ways can get the other error (and a command the family does
    /// not have below `resv_start_op` gets `EOPNOTSUPP` whatever its header).
    fn check_header(&self) -> Result {
        let raw = self.raw();
        // SAFETY: The family of a request being handled is registered and valid.
        let start = unsafe { (*raw.family).resv_start_op };
        if self.cmd() >= start {
            // The core checked it.
            return Ok(());
        }
        // SAFETY: `genlhdr` of a valid request is valid.
        if unsafe { (*raw.genlhdr).reserved } != 0 {
            return self.fail(c"genlmsghdr.reserved field is not 0");
        }
        // SAFETY: `nlhdr` of a valid request is valid.
        let mut flags = u32::from(unsafe { (*raw.nlhdr).nlmsg_flags });
        if flags & bindings::NLM_F_DUMP == bindings::NLM_F_DUMP {
            flags &= !bindings::NLM_F_DUMP;
        }
        if flags & !(bindings::NLM_F_REQUEST | bindings::NLM_F_ACK | bindings::NLM_F_ECHO) != 0 {
            return self.fail(c"ambiguous or reserved bits set in nlmsg_flags");
        }
        Ok(())
    }

    /// `EINVAL`, with `msg` in the extended ack.
    fn fail(&self, msg: &'static CStr) -> Result {
        let extack = self.raw().extack;
        if !extack.is_null() {
            // SAFETY: The core hands each operation its own extended ack, valid for the call;
            // the message is static.
            unsafe { (*extack)._msg = msg.as_char_ptr() };
        }
        Err(EINVAL)
    }

    /// Validates the message's attributes as the core's strict parsing does (exact sizes, no
    /// trailing bytes, no unsupported types), except that types beyond `policy` or type 0 are
    /// skipped. Errors are reported through the extended ack as the core reports them.
    fn validate_known(&self, policy: &'static [Policy]) -> Result {
        let bytes = self.attr_bytes().rest;
        let len = c_int::try_from(bytes.len()).map_err(|_| EINVAL)?;
        let strict = bindings::netlink_validation_NL_VALIDATE_TRAILING
            | bindings::netlink_validation_NL_VALIDATE_UNSPEC
            | bindings::netlink_validation_NL_VALIDATE_STRICT_ATTRS
            | bindings::netlink_validation_NL_VALIDATE_NESTED;
        // SAFETY: `bytes` is the attribute stream of the request, valid for the call; `policy`
        // is a `'static` table of `maxattr + 1` entries (checked by `SplitOp::new_do`); the
        // extended ack is the operation's own (or null).
        to_result(unsafe {
            bindings::__nla_validate(
                bytes.as_ptr().cast(),
                len,
                c_int::from(self.maxattr),
                policy.as_ptr().cast(),
                strict,
                self.raw().extack,
            )
        })
    }

    /// The number of top-level attributes of a type the operation's policy does not know
    /// (beyond its highest or 0): none unless the operation tolerates them.
    pub(crate) fn unknown_attrs(&self) -> usize {
        self.attr_bytes()
            .filter(|a| a.attrtype == 0 || a.attrtype > self.maxattr)
            .count()
    }

    /// The namespace of the requesting socket.
    pub(crate) fn net(&self) -> &'a Net {
        // SAFETY: The request holds its socket, so the namespace lives as long as `'a`.
        unsafe { Net::from_raw(helpers::hs_genl_info_net(self.info.as_ptr())) }
    }

    /// The command of the request.
    pub(crate) fn cmd(&self) -> u8 {
        // SAFETY: `genlhdr` of a valid request is valid.
        unsafe { (*self.raw().genlhdr).cmd }
    }

    fn as_ptr(&self) -> *mut bindings::genl_info {
        self.info.as_ptr()
    }
}

/// One netlink attribute: its type (without the nested and byte-order flags) and payload.
#[derive(Clone, Copy)]
pub(crate) struct Attr<'a> {
    /// The attribute type.
    pub(crate) attrtype: u16,
    /// The payload.
    pub(crate) payload: &'a [u8],
}

impl<'a> Attr<'a> {
    /// The value as `u32`, or `EINVAL` if the payload is too short.
    pub(crate) fn get_u32(&self) -> Result<u32> {
        let bytes = self.payload.first_chunk::<4>().ok_or(EINVAL)?;
        Ok(u32::from_ne_bytes(*bytes))
    }

    /// The value as `s32`, or `EINVAL` if the payload is too short.
    pub(crate) fn get_s32(&self) -> Result<i32> {
        let bytes = self.payload.first_chunk::<4>().ok_or(EINVAL)?;
        Ok(i32::from_ne_bytes(*bytes))
    }

    /// The attributes nested in this one.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.payload)
    }
}

/// An iterator over the netlink attributes in a byte buffer; it stops at the first malformed
/// one, as `nla_for_each_attr` does.
pub(crate) struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// The attributes in `bytes`.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Attrs { rest: bytes }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        const HDR: usize = core::mem::size_of::<bindings::nlattr>();
        let hdr = self.rest.first_chunk::<HDR>()?;
        let len = usize::from(u16::from_ne_bytes([hdr[0], hdr[1]]));
        let attrtype = u16::from_ne_bytes([hdr[2], hdr[3]]) & (bindings::NLA_TYPE_MASK as u16);
        let payload = self.rest.get(HDR..len)?;
        self.rest = self.rest.get(nlmsg_align(len)..).unwrap_or(&[]);
        Some(Attr { attrtype, payload })
    }
}

/// Adding attributes to a generic netlink message: one being built ([`GenlMsg`]) or an entry of
/// a dump ([`DumpEntry`]).
///
/// Sealed: only the types of this module, which hold a buffer they may append to, implement it.
pub(crate) trait PutAttrs: sealed::Sealed {
    /// Adds a `u32` attribute.
    fn put_u32(&mut self, attrtype: u16, value: u32) -> Result {
        put_raw(self.buffer(), attrtype, &value.to_ne_bytes())
    }

    /// Adds a `u64` attribute, aligned with a `pad` attribute of type `pad` where needed.
    fn put_u64(&mut self, attrtype: u16, value: u64, pad: u16) -> Result {
        let bytes = value.to_ne_bytes();
        // SAFETY: The holder may append to its buffer (`Sealed::buffer`); `bytes` is readable
        // for its length.
        let ret = unsafe {
            bindings::nla_put_64bit(
                self.buffer().as_ptr(),
                c_int::from(attrtype),
                bytes.len() as c_int,
                bytes.as_ptr().cast(),
                c_int::from(pad),
            )
        };
        if ret < 0 {
            Err(EMSGSIZE)
        } else {
            Ok(())
        }
    }

    /// Adds an `s32` attribute.
    fn put_s32(&mut self, attrtype: u16, value: i32) -> Result {
        put_raw(self.buffer(), attrtype, &value.to_ne_bytes())
    }

    /// Adds a NUL-terminated string attribute.
    fn put_string(&mut self, attrtype: u16, value: &CStr) -> Result {
        put_raw(self.buffer(), attrtype, value.to_bytes_with_nul())
    }

    /// Adds a nested attribute whose content `fill` writes; cancelled as a whole on error.
    fn put_nest(&mut self, attrtype: u16, fill: impl FnOnce(&mut Self) -> Result) -> Result
    where
        Self: Sized,
    {
        let skb = self.buffer();
        // SAFETY: The holder may append to its buffer (`Sealed::buffer`).
        let start = unsafe { helpers::hs_nla_nest_start(skb.as_ptr(), c_int::from(attrtype)) };
        if start.is_null() {
            return Err(EMSGSIZE);
        }
        match fill(self) {
            Ok(()) => {
                // SAFETY: `start` was returned by `nla_nest_start` on this buffer, which `fill`
                // could only append to.
                unsafe { helpers::hs_nla_nest_end(skb.as_ptr(), start) };
                Ok(())
            }
            Err(e) => {
                // SAFETY: As above.
                unsafe { helpers::hs_nla_nest_cancel(skb.as_ptr(), start) };
                Err(e)
            }
        }
    }
}

mod sealed {
    use super::*;

    /// The buffer behind [`PutAttrs`](super::PutAttrs).
    pub(crate) trait Sealed {
        /// The buffer the holder appends to: a valid `sk_buff` it may append to for as long as
        /// it is borrowed mutably, the same one every time.
        fn buffer(&mut self) -> NonNull<bindings::sk_buff>;
    }
}

fn put_raw(skb: NonNull<bindings::sk_buff>, attrtype: u16, data: &[u8]) -> Result {
    let len = c_int::try_from(data.len()).map_err(|_| EMSGSIZE)?;
    // SAFETY: Callers pass the buffer of a `PutAttrs` holder, which may append to it; `data` is
    // readable for `len` bytes.
    let ret = unsafe {
        bindings::nla_put(
            skb.as_ptr(),
            c_int::from(attrtype),
            len,
            data.as_ptr().cast(),
        )
    };
    if ret < 0 {
        Err(EMSGSIZE)
    } else {
        Ok(())
    }
}

/// A generic netlink message under construction, with its header written (the kernel's
/// `GenlMsg`, with replies, nests and multicast to a namespace). Attributes are added with
/// [`PutAttrs`].
///
/// Dropping it frees the buffer, so a message whose construction failed cannot leak.
///
/// # Invariants
///
/// `skb` is an owned `sk_buff`; `hdr` is what `genlmsg_put` returned for it (the payload right
/// after the generic netlink header).
pub(crate) struct GenlMsg {
    skb: NonNull<bindings::sk_buff>,
    hdr: NonNull<c_void>,
}

impl sealed::Sealed for GenlMsg {
    fn buffer(&mut self) -> NonNull<bindings::sk_buff> {
        // We own it (type invariant).
        self.skb
    }
}

impl PutAttrs for GenlMsg {}

impl GenlMsg {
    fn new(family: &'static Family, portid: u32, seq: u32, cmd: u8, gfp: Gfp) -> Result<Self> {
        // SAFETY: Any size and flags are valid inputs.
        let skb = unsafe { bindings::genlmsg_new(bindings::GENLMSG_DEFAULT_SIZE, gfp.0) };
        let skb = NonNull::new(skb).ok_or(ENOMEM)?;
        // SAFETY: `skb` is a new buffer and the family is valid.
        let hdr =
            unsafe { bindings::genlmsg_put(skb.as_ptr(), portid, seq, family.as_raw(), 0, cmd) };
        match NonNull::new(hdr) {
            // INVARIANT: We own `skb` and `hdr` is its header.
            Some(hdr) => Ok(GenlMsg { skb, hdr }),
            None => {
                // SAFETY: We own `skb` and nobody else saw it.
                unsafe { bindings::nlmsg_free(skb.as_ptr()) };
                Err(EMSGSIZE)
            }
        }
    }

    /// A reply to `info`, allocated with `GFP_KERNEL` (operations run in process context).
    pub(crate) fn new_reply(family: &'static Family, info: &Info<'_>) -> Result<Self> {
        let raw = info.raw();
        Self::new(family, raw.snd_portid, raw.snd_seq, info.cmd(), Gfp::KERNEL)
    }

    /// A notification `cmd`, allocated with the caller's `gfp`.
    pub(crate) fn new_notify(family: &'static Family, cmd: u8, gfp: Gfp) -> Result<Self> {
        Self::new(family, 0, 0, cmd, gfp)
    }

    /// Finishes the message and hands the buffer over, returning it.
    fn finish(self) -> NonNull<bindings::sk_buff> {
        let me = ManuallyDrop::new(self);
        // SAFETY: `hdr` is the header of `skb`, which we own.
        unsafe { bindings::genlmsg_end(me.skb.as_ptr(), me.hdr.as_ptr()) };
        me.skb
    }

    /// Sends the message as the reply to `info`.
    pub(crate) fn reply(self, info: &Info<'_>) -> Result {
        let skb = self.finish();
        // SAFETY: `genlmsg_reply` consumes the buffer whatever it returns; `info` is valid.
        to_result(unsafe { helpers::hs_genlmsg_reply(skb.as_ptr(), info.as_ptr()) })
    }

    /// Multicasts the message to `group` of `family` in `net`.
    pub(crate) fn multicast_netns(
        self,
        family: &'static Family,
        net: &Net,
        group: u32,
        gfp: Gfp,
    ) -> Result {
        let skb = self.finish();
        // SAFETY: The call consumes the buffer whatever it returns; family and net are valid.
        to_result(unsafe {
            helpers::hs_genlmsg_multicast_netns(
                family.as_raw(),
                net.as_ptr(),
                skb.as_ptr(),
                group,
                gfp.0,
            )
        })
    }

    /// The attributes written so far, after the generic netlink header.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn attrs(&self) -> Attrs<'_> {
        // SAFETY: `genlmsg_put` returned `hdr` pointing right after the generic netlink header
        // inside the linear buffer, and the attributes follow up to the buffer's tail; the
        // buffer is not written while `self` is borrowed.
        let bytes = unsafe {
            let skb = self.skb.as_ptr();
            let start = self.hdr.as_ptr().cast::<u8>().cast_const();
            let end = (*skb).data.add((*skb).len as usize).cast_const();
            core::slice::from_raw_parts(start, end.offset_from(start) as usize)
        };
        Attrs::new(bytes)
    }

    /// Has `destructor` called when the buffer is freed, so a test can see that it was.
    #[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
    pub(crate) fn set_destructor(
        &mut self,
        destructor: unsafe extern "C" fn(*mut bindings::sk_buff),
    ) {
        // SAFETY: We own `skb`, which is not shared yet, so nothing reads the field while we
        // write it; a new netlink buffer has no destructor of its own to lose.
        unsafe {
            (*self.skb.as_ptr())
                .__bindgen_anon_3
                .__bindgen_anon_1
                .destructor = Some(destructor)
        };
    }
}

impl Drop for GenlMsg {
    fn drop(&mut self) {
        // SAFETY: We own `skb` by the type invariants.
        unsafe { bindings::nlmsg_free(self.skb.as_ptr()) };
    }
}

#[cfg(CONFIG_HANDSHAKE_RS_KUNIT_TEST)]
#[kunit_tests(handshake_genl_attrs)]
mod tests {
    use super::*;
    use crate::abstractions::module::THIS_MODULE;

    /// `nla_len` and `nla_type`, then the payload, padded to four bytes.
    fn attr(out: &mut KVec<u8>, attrtype: u16, payload: &[u8]) -> Result {
        let len = u16::try_from(4 + payload.len()).map_err(|_| EINVAL)?;
        out.extend_from_slice(&len.to_ne_bytes(), GFP_KERNEL)?;
        out.extend_from_slice(&attrtype.to_ne_bytes(), GFP_KERNEL)?;
        out.extend_from_slice(payload, GFP_KERNEL)?;
        while out.len() % 4 != 0 {
            out.push(0, GFP_KERNEL)?;
        }
        Ok(())
    }

    #[test]
    fn attrs_walk_types_payloads_and_padding() -> Result {
        let mut buf = KVec::new();
        attr(&mut buf, 2, &7u32.to_ne_bytes())?;
        attr(&mut buf, 8, b"abc\0\0")?;
        attr(&mut buf, 3 | bindings::NLA_F_NESTED as u16, &[])?;
        attr(&mut buf, 3, &(-5i32).to_ne_bytes())?;
        let mut it = Attrs::new(&buf);
        let a = it.next().ok_or(EINVAL)?;
        assert_eq!((a.attrtype, a.get_u32()), (2, Ok(7)));
        let b = it.next().ok_or(EINVAL)?;
        assert_eq!((b.attrtype, b.payload), (8, &b"abc\0\0"[..]));
        let c = it.next().ok_or(EINVAL)?;
        // The nested flag is not part of the type.
        assert_eq!((c.attrtype, c.payload.len()), (3, 0));
        assert_eq!(c.get_u32(), Err(EINVAL));
        let d = it.next().ok_or(EINVAL)?;
        assert_eq!(d.get_s32(), Ok(-5));
        assert!(it.next().is_none());
        Ok(())
    }

    /// A family for messages that are never sent (not registered: its id is 0).
    static TEST_FAMILY: Family = Family::const_new(&THIS_MODULE, b"hs_genl_test\0", 1, &[], &[]);

    /// Cursors of [`Numbers`] dropped.
    static NUMBERS_DROPPED: kernel::sync::atomic::Atomic<u32> =
        kernel::sync::atomic::Atomic::new(0);

    /// A dump of the numbers `next..end`, each an entry with the number and a string of `size`
    /// bytes.
    struct Numbers {
        next: u32,
        end: u32,
        size: usize,
    }

    impl Drop for Numbers {
        fn drop(&mut self) {
            NUMBERS_DROPPED.add(1, kernel::sync::atomic::Relaxed);
        }
    }

    impl DumpHandler for Numbers {
        const MAXATTR: u16 = 0;
        const POLICY: &'static [Policy] = &[Policy::unspec()];
        type Cursor = Numbers;

        fn start(_info: &Info<'_>) -> Result<Numbers> {
            Err(EINVAL)
        }

        fn dumpit(cursor: &mut Numbers, dump: &mut Dump<'_>) -> Result {
            let mut text = KVec::from_elem(b'x', cursor.size + 1, GFP_KERNEL)?;
            text[cursor.size] = 0;
            while cursor.next < cursor.end {
                let n = cursor.next;
                text[0] = b'a' + (n % 26) as u8;
                let s = CStr::from_bytes_with_nul(&text).map_err(|_| EINVAL)?;
                if !dump.entry(|e| {
                    e.put_u32(1, n)?;
                    e.put_string(2, s)
                })? {
                    break;
                }
                cursor.next += 1;
            }
            Ok(())
        }
    }

    /// The numbers of the entries in a dump's buffer, checking each message on the way.
    fn numbers_in(skb: NonNull<bindings::sk_buff>, size: usize, out: &mut KVec<u32>) -> Result {
        // SAFETY: The test owns the buffer; its `len` bytes from `data` are written.
        let mut rest = unsafe {
            let skb = skb.as_ptr();
            core::slice::from_raw_parts((*skb).data, (*skb).len as usize)
        };
        let hdrs = nlmsg_align(core::mem::size_of::<bindings::nlmsghdr>())
            + nlmsg_align(core::mem::size_of::<bindings::genlmsghdr>());
        while !rest.is_empty() {
            let len = u32::from_ne_bytes(
                rest.get(..4)
                    .ok_or(EINVAL)?
                    .try_into()
                    .map_err(|_| EINVAL)?,
            );
            let flags = u16::from_ne_bytes([rest[6], rest[7]]);
            assert_eq!(u32::from(flags), bindings::NLM_F_MULTI);
            let msg = rest.get(..len as usize).ok_or(EINVAL)?;
            let mut attrs = Attrs::new(msg.get(hdrs..).ok_or(EINVAL)?);
            let n = attrs.next().ok_or(EINVAL)?.get_u32()?;
            let text = attrs.next().ok_or(EINVAL)?;
            assert_eq!(text.payload.len(), size + 1);
            assert_eq!(text.payload[0], b'a' + (n % 26) as u8);
            assert!(attrs.next().is_none());
            out.push(n, GFP_KERNEL)?;
            rest = rest.get(nlmsg_align(len as usize)..).unwrap_or(&[]);
        }
        Ok(())
    }

    #[test]
    fn dump_fills_buffer_after_buffer_then_ends() -> Result {
        let mut dinfo: bindings::genl_dumpit_info = pin_init::zeroed();
        dinfo.info.family = TEST_FAMILY.as_raw();
        dinfo.op.cmd = 1;
        let mut cb: bindings::netlink_callback = pin_init::zeroed();
        cb.data = (&raw mut dinfo).cast();
        let cbp = &raw mut cb;
        let before = NUMBERS_DROPPED.load(kernel::sync::atomic::Relaxed);
        let cursor = KBox::new(
            Numbers {
                next: 0,
                end: 60,
                size: 100,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `cb` is the callback of a dump of a `Numbers` operation, as `dump_start` would
        // have left it.
        unsafe { *dump_cursor(cbp) = KBox::into_raw(cursor).cast() };
        let mut seen = KVec::new();
        let mut calls = 0;
        loop {
            // SAFETY: Any size and flags are valid.
            let skb = unsafe { bindings::genlmsg_new(400, Gfp::KERNEL.0) };
            let skb = NonNull::new(skb).ok_or(ENOMEM)?;
            // SAFETY: `cb` is set up as for the core's calls; the buffer is ours.
            let ret = unsafe { dump_next::<Numbers>(skb.as_ptr(), cbp) };
            let parsed = numbers_in(skb, 100, &mut seen);
            // SAFETY: Ours, and not used after.
            unsafe { bindings::nlmsg_free(skb.as_ptr()) };
            parsed?;
            calls += 1;
            if ret == 0 {
                break;
            }
            assert!(ret > 0 && calls < 100);
        }
        // Several buffers, every number once and in order, then an empty one.
        assert!(calls > 2);
        assert_eq!(seen.len(), 60);
        assert!(seen.iter().enumerate().all(|(i, &n)| n as usize == i));

        // An entry larger than an empty buffer can never be sent: EMSGSIZE, not an endless dump.
        // SAFETY: As above.
        let numbers = unsafe { &mut *(*dump_cursor(cbp)).cast::<Numbers>() };
        numbers.end = 61;
        numbers.size = 8000;
        // SAFETY: Any size and flags are valid.
        let skb =
            NonNull::new(unsafe { bindings::genlmsg_new(400, Gfp::KERNEL.0) }).ok_or(ENOMEM)?;
        // SAFETY: As above.
        let ret = unsafe { dump_next::<Numbers>(skb.as_ptr(), cbp) };
        // SAFETY: Ours, and not used after.
        let len = unsafe { (*skb.as_ptr()).len };
        // SAFETY: As above.
        unsafe { bindings::nlmsg_free(skb.as_ptr()) };
        assert_eq!((ret, len), (EMSGSIZE.to_errno(), 0));

        // The end frees the cursor, once.
        // SAFETY: The dump is over.
        unsafe { dump_done::<Numbers>(cbp) };
        // SAFETY: As above; the cursor is gone.
        unsafe { dump_done::<Numbers>(cbp) };
        let dropped = NUMBERS_DROPPED.load(kernel::sync::atomic::Relaxed) - before;
        assert_eq!(dropped, 1);
        Ok(())
    }

    #[test]
    fn attrs_stop_at_malformed_lengths() -> Result {
        let mut buf = KVec::new();
        attr(&mut buf, 1, &1u32.to_ne_bytes())?;
        // A length beyond the buffer, then one shorter than the header, then a lone byte.
        for bad in [[64u8, 0, 2, 0], [2, 0, 2, 0]] {
            let mut b = KVec::new();
            b.extend_from_slice(&buf, GFP_KERNEL)?;
            b.extend_from_slice(&bad, GFP_KERNEL)?;
            let types: KVec<u16> = {
                let mut v = KVec::new();
                for a in Attrs::new(&b) {
                    v.push(a.attrtype, GFP_KERNEL)?;
                }
                v
            };
            assert_eq!(&types[..], &[1u16][..]);
        }
        assert!(Attrs::new(&[4u8]).next().is_none());
        assert!(Attrs::new(&[]).next().is_none());
        Ok(())
    }
}
