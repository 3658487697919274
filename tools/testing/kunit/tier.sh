#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "kunit": the module's KUnit suites (handshake.ko built with
# CONFIG_HANDSHAKE_RS_KUNIT_TEST), which run when it is inserted; then, in
# the guest root, the suites again while a consumer's request is pending in
# the initial namespace (they must leave it alone: it completes normally
# afterwards), and the module's removal. On the reference kernel: the C
# service's own built-in KUnit suite (net/handshake/handshake-test.c).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
if [ "$FLAVOUR" = reference ]; then
	tier_run kunit --initramfs --kunit --kmemleak --timeout 300 --kunit-boot 'Handshake*' \
		"$here/guest.sh" "$FLAVOUR"
	exit
fi
[ -n "${KUNIT_MODULE:-}" ] || { tier_no_module handshake_kunit_live; exit; }

build=$RESULTS/kunit-consumers
rm -rf "$build"
MODULE=$KUNIT_MODULE tier_build handshake_kunit_live "$build" \
	"$TOP"/tools/consumers/Kbuild "$TOP"/tools/consumers/*.c || exit 1
# Two CPUs for the race cases.
tier_run kunit --cpus 2 --kunit --kmemleak --timeout 300 --module "$KUNIT_MODULE" \
	--module "$build/handshake_e2e.ko" "$here/guest.sh" "$FLAVOUR"
