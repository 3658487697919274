// SPDX-License-Identifier: GPL-2.0

//! Keys and keyrings: the 7.3 `kernel` crate has none of it yet.
//!
//! C header: [`include/linux/key.h`](srctree/include/linux/key.h)

use kernel::prelude::*;

/// `key_serial_t`: the user-visible number of a key.
pub(crate) type KeySerial = i32;

/// `KEY_SPEC_PROCESS_KEYRING`: the calling process's keyring (asserted in
/// `rust/helpers/exports.c`).
pub(crate) const KEY_SPEC_PROCESS_KEYRING: KeySerial = -2;

/// The permission a lookup checks (`enum key_need_perm`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Need {
    /// `KEY_NEED_WRITE`.
    Write,
    /// `KEY_NEED_LINK`.
    Link,
}

/// A reference on a key found by its serial for the calling task (`key_ref_t`).
///
/// # Invariants
///
/// `key_ref` was returned by `lookup_user_key` and its reference is owned by this object.
#[cfg(CONFIG_KEYS)]
pub(crate) struct KeyRef {
    key_ref: core::ptr::NonNull<kernel::bindings::__key_reference_with_attributes>,
}

#[cfg(CONFIG_KEYS)]
impl KeyRef {
    /// Looks up `serial` (which may be a special keyring such as the process keyring) in the
    /// context of the calling task, creating a special keyring if it does not exist yet, and
    /// checking the `need` permission.
    pub(crate) fn lookup_or_create(serial: KeySerial, need: Need) -> Result<Self> {
        use kernel::bindings;
        let need = match need {
            Need::Write => bindings::key_need_perm_KEY_NEED_WRITE,
            Need::Link => bindings::key_need_perm_KEY_NEED_LINK,
        };
        let flags = bindings::key_lookup_flag_KEY_LOOKUP_CREATE as kernel::ffi::c_ulong;
        // SAFETY: Any serial, flags and permission are valid inputs; the result is a key
        // reference or an error pointer.
        let key_ref =
            kernel::error::from_err_ptr(unsafe { bindings::lookup_user_key(serial, flags, need) })?;
        // INVARIANT: A successful lookup returns an owned reference.
        Ok(KeyRef {
            key_ref: core::ptr::NonNull::new(key_ref).ok_or(ENOKEY)?,
        })
    }

    fn key(&self) -> *mut kernel::bindings::key {
        // `key_ref_to_ptr`: the low bit of a key reference is a flag ("possessed").
        self.key_ref.as_ptr().map_addr(|a| a & !1).cast()
    }

    /// Links `key` into this keyring (`key_link`).
    pub(crate) fn link(&self, key: &KeyRef) -> Result {
        // SAFETY: Both references are owned, so both keys are alive; `key_link` checks that
        // `self` is a keyring and the permissions.
        kernel::error::to_result(unsafe { kernel::bindings::key_link(self.key(), key.key()) })
    }
}

#[cfg(CONFIG_KEYS)]
impl Drop for KeyRef {
    fn drop(&mut self) {
        // SAFETY: We own the reference by the type invariant.
        unsafe { super::helpers::hs_key_ref_put(self.key_ref.as_ptr()) };
    }
}

/// Without key support there are no keys: every lookup fails with `ENOKEY`.
#[cfg(not(CONFIG_KEYS))]
pub(crate) struct KeyRef(());

#[cfg(not(CONFIG_KEYS))]
impl KeyRef {
    /// No key can be found.
    pub(crate) fn lookup_or_create(_serial: KeySerial, _need: Need) -> Result<Self> {
        Err(ENOKEY)
    }

    /// Nothing to link.
    pub(crate) fn link(&self, _key: &KeyRef) -> Result {
        Err(ENOKEY)
    }
}
