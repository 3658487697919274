#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "e2e": in-kernel TLS consumers (tools/consumers/handshake_e2e.ko)
# doing real handshakes through the service, the real tlshd and real TLS
# peers.  On the test kernel handshake.ko is loaded first and the consumer
# links against its exports; on the reference kernel the C service is built in.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
[ "$FLAVOUR" = test ] && [ -z "$MODULE" ] && { tier_no_module handshake_e2e; exit; }

build=$RESULTS/consumers
rm -rf "$build"
tier_build handshake_e2e "$build" "$TOP"/tools/consumers/Kbuild "$TOP"/tools/consumers/*.c ||
	exit 1
args=(--timeout 400 --kmemleak)
[ "$FLAVOUR" = test ] && args+=(--module "$MODULE")
tier_run e2e "${args[@]}" --module "$build/handshake_e2e.ko" "$here/guest.sh"
