#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: build what is missing, boot the test kernel with the guest root,
# load handshake.ko and show the service at work.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$TOP"/scripts/prereqs.sh
kdir=$("$TOP"/scripts/kernel.sh test)
"$TOP"/scripts/rootfs.sh >/dev/null
say "building handshake.ko"
make -s -C "$TOP" KDIR="$kdir" modules
mkdir -p "$TOP/build"
say "booting the test kernel (the console is saved in build/demo.console)"
set +e
"$TOP"/scripts/run-qemu.sh --kernel "$kdir" --timeout 300 --quiet \
	--log "$TOP/build/demo.console" --module "$TOP/handshake.ko" \
	"$TOP/tools/demo/guest.sh"
rc=$?
set -e
# The story is what the guest printed between its markers.
sed -E 's/^\[ *[0-9]+\.[0-9]+\] //' "$TOP/build/demo.console" |
	sed -n '/^=== demo begin ===$/,/^=== demo end ===$/p' | grep -v '^=== demo'
exit $rc
