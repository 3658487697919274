#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "agent": handshake.ko in a guest root with a test consumer
# (hs_consumer.ko), the real tlshd and a scripted agent; trace events,
# per-namespace queues and unloading under a live socket. The C reference
# is built in and has none of this module's events: skipped there.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/lib.sh"
. "$TOP/scripts/guest/ktap.sh"
[ "$FLAVOUR" = reference ] && exit 0
[ -n "$MODULE" ] || { ktap_no_module handshake_agent; exit; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/hs_consumer.c" "$here/Kbuild" "$tmp/"
make -s -C "$KDIR" M="$tmp" "${KMAKE_FLAGS[@]}" \
	KBUILD_EXTRA_SYMBOLS="$(dirname "$MODULE")/Module.symvers" modules >&2 ||
	{ ktap_suite handshake_agent 1; ktap_fail consumer_builds "hs_consumer.ko"; ktap_end; exit 1; }
mkdir -p "$tmp/files"
cp "$tmp/hs_consumer.ko" "$here/agent.py" "$tmp/files/"
RUN_FILES=$tmp/files "$TOP/scripts/run-qemu.sh" --kernel "$KDIR" --timeout 600 \
	--module "$MODULE" --kmemleak --log "$RESULTS/agent.console" \
	"$here/guest.sh" /mnt/run/files >&2
rc=$?
cat "$RESULTS/agent.console"
exit $rc
