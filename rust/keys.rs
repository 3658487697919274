// SPDX-License-Identifier: GPL-2.0

//! Keys and keyrings.
//!
//! C header: [`include/linux/key.h`](srctree/include/linux/key.h)

use crate::glue::{
    self,
    KeySerial, //
};
use kernel::{
    error::to_result,
    prelude::*, //
};

/// Links `keyring` into the calling process's keyring (creating that keyring if needed), so the
/// agent can use the keys a consumer put there. Needs write access to the process keyring and
/// link permission on `keyring`.
pub(crate) fn link_to_process_keyring(keyring: KeySerial) -> Result {
    // SAFETY: Any serial is accepted; the lookup checks it.
    to_result(unsafe { glue::hs_keyring_link_to_process(keyring) })
}
