// SPDX-License-Identifier: GPL-2.0

//! Keys and keyrings: the 7.3 `kernel` crate has none of it yet.
//!
//! C header: [`include/linux/key.h`](srctree/include/linux/key.h)

use kernel::prelude::*;

/// `key_serial_t`: the user-visible number of a key.
pub(crate) type KeySerial = i32;

/// `KEY_SPEC_PROCESS_KEYRING`: the calling process's keyring (asserted in
/// `rust/helpers/exports.c`).
#[cfg_attr(not(CONFIG_KEYS), allow(dead_code))]
pub(crate) const KEY_SPEC_PROCESS_KEYRING: KeySerial = -2;

#[cfg(CONFIG_KEYS)]
mod imp {
    use crate::abstractions::{
        helpers,
        keys::KeySerial, //
    };
    use core::ptr::NonNull;
    use kernel::{
        bindings,
        error::{
            from_err_ptr,
            to_result, //
        },
        prelude::*,
    };

    /// A reference on a key found by its serial for the calling task (`key_ref_t`).
    ///
    /// # Invariants
    ///
    /// `key_ref` was returned by `lookup_user_key` and its reference is owned by this object.
    pub(super) struct KeyRef {
        key_ref: NonNull<bindings::__key_reference_with_attributes>,
    }

    impl KeyRef {
        /// Looks up `serial` (which may be a special keyring such as the process keyring) in the
        /// context of the calling task, checking `need` permission.
        pub(super) fn lookup(
            serial: KeySerial,
            flags: bindings::key_lookup_flag,
            need: bindings::key_need_perm,
        ) -> Result<Self> {
            // SAFETY: Any serial, flags and permission are valid inputs; the result is a key
            // reference or an error pointer.
            let key_ref = from_err_ptr(unsafe {
                bindings::lookup_user_key(serial, flags as kernel::ffi::c_ulong, need)
            })?;
            // INVARIANT: A successful lookup returns an owned reference.
            Ok(KeyRef {
                key_ref: NonNull::new(key_ref).ok_or(ENOKEY)?,
            })
        }

        fn key(&self) -> *mut bindings::key {
            // `key_ref_to_ptr`: the low bit of a key reference is a flag ("possessed").
            self.key_ref.as_ptr().map_addr(|a| a & !1).cast()
        }

        /// Links `key` into this keyring (`key_link`).
        pub(super) fn link(&self, key: &KeyRef) -> Result {
            // SAFETY: Both references are owned, so both keys are alive; `key_link` checks that
            // `self` is a keyring and the permissions.
            to_result(unsafe { bindings::key_link(self.key(), key.key()) })
        }
    }

    impl Drop for KeyRef {
        fn drop(&mut self) {
            // SAFETY: We own the reference by the type invariant.
            unsafe { helpers::hs_key_ref_put(self.key_ref.as_ptr()) };
        }
    }
}

/// Links `keyring` into the calling process's keyring (creating that keyring if needed), so the
/// agent can use the keys a consumer put there. Needs write access to the process keyring and
/// link permission on `keyring`.
#[cfg(CONFIG_KEYS)]
pub(crate) fn link_to_process_keyring(keyring: KeySerial) -> Result {
    use kernel::bindings;
    let process = imp::KeyRef::lookup(
        KEY_SPEC_PROCESS_KEYRING,
        bindings::key_lookup_flag_KEY_LOOKUP_CREATE,
        bindings::key_need_perm_KEY_NEED_WRITE,
    )?;
    let linked = imp::KeyRef::lookup(
        keyring,
        bindings::key_lookup_flag_KEY_LOOKUP_CREATE,
        bindings::key_need_perm_KEY_NEED_LINK,
    )?;
    process.link(&linked)
}

/// Without key support there is nothing to link.
#[cfg(not(CONFIG_KEYS))]
pub(crate) fn link_to_process_keyring(_keyring: KeySerial) -> Result {
    Ok(())
}
