#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "unload": insert and remove handshake.ko 100 times, with requests
# pending or held by an agent on some iterations; no warning, no leak.
# The C reference is built in: nothing to unload there.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/lib.sh"
. "$TOP/scripts/guest/ktap.sh"
[ "$FLAVOUR" = reference ] && exit 0
[ -n "$MODULE" ] || { ktap_no_module handshake_unload; exit; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/hs_pending.c" "$tmp/"
echo 'obj-m := hs_pending.o' > "$tmp/Kbuild"
make -s -C "$KDIR" M="$tmp" "${KMAKE_FLAGS[@]}" \
	KBUILD_EXTRA_SYMBOLS="$(dirname "$MODULE")/Module.symvers" modules >&2 ||
	{ ktap_suite handshake_unload 1; ktap_fail consumer_builds "hs_pending.ko"; ktap_end; exit 1; }
mkdir -p "$tmp/mods"
cp "$MODULE" "$tmp/hs_pending.ko" "$tmp/mods/"
# The modules go in as files of the run directory, not through --module:
# the test loads and unloads them itself.
RUN_FILES=$tmp/mods "$TOP/scripts/run-qemu.sh" --kernel "$KDIR" --timeout 600 \
	--kmemleak --log "$RESULTS/unload.console" "$here/guest.sh" >&2
rc=$?
cat "$RESULTS/unload.console"
exit $rc
