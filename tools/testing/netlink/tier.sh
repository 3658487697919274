#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "netlink": the family seen from user space (upstream YNL CLI and spec,
# iproute2's genl, tlshd) against the module, or the C service on the
# reference kernel.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
args=(--timeout 300)
if [ "$FLAVOUR" = test ]; then
	[ -n "$MODULE" ] || { tier_no_module handshake_netlink; exit; }
	args+=(--module "$MODULE")
fi
tier_run netlink "${args[@]}" "$here/guest.sh"
