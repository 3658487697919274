#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "kunit": the module's KUnit suites (handshake.ko built with
# CONFIG_HANDSHAKE_RS_KUNIT_TEST), which run when it is inserted, then its
# removal. On the reference kernel: the C service's own built-in
# KUnit suite (net/handshake/handshake-test.c).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
args=(--initramfs --kunit --timeout 300)
if [ "$FLAVOUR" = reference ]; then
	args+=(--kunit-boot 'Handshake*')
elif [ -n "${KUNIT_MODULE:-}" ]; then
	args+=(--module "$KUNIT_MODULE")
else
	tier_no_module handshake_kunit
	exit
fi
tier_run kunit "${args[@]}" "$here/guest.sh" "$FLAVOUR"
