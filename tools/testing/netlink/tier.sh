#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "netlink": the family seen from user space (upstream YNL CLI and spec,
# iproute2's genl, tlshd) against the module, or the C service on the
# reference kernel.
here=$(dirname "$0")
. "$here/../../../scripts/lib.sh"
. "$TOP/scripts/guest/ktap.sh"
args=(--kernel "$KDIR" --timeout 300 --log "$RESULTS/netlink.console")
if [ "$FLAVOUR" = test ]; then
	if [ -z "$MODULE" ]; then
		ktap_no_module handshake_netlink
		exit
	fi
	args+=(--module "$MODULE")
fi
"$TOP/scripts/run-qemu.sh" "${args[@]}" "$here/guest.sh" >&2
rc=$?
cat "$RESULTS/netlink.console"
exit $rc
