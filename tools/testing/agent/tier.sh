#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "agent": handshake.ko in a guest root with a test consumer
# (hs_consumer.ko), the real tlshd and a scripted agent; trace events,
# per-namespace queues and unloading under a live socket. The C reference
# is built in and has none of this module's events: skipped there.
#
# usage: tier.sh [TIER]   another tier (extensions) runs its own guest.sh
#                         in the same bed: tools/testing/TIER/guest.sh
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
tier=${1:-agent}
suite=handshake_$tier
why="the C service has none of the module's events or unloading"
[ "$tier" = agent ] || why="these are the module's own behaviours"
[ "$FLAVOUR" = reference ] && { tier_skip "$suite" "$why"; exit 0; }
[ -n "$MODULE" ] || { tier_no_module "$suite"; exit; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tier_build "$suite" "$tmp/build" "$here/hs_consumer.c" "$here/hs_consumer2.c" "$here/Kbuild" ||
	exit 1
# The certificates the guest's cases use, made here with the e2e tier's
# recipe: openssl takes seconds in the guest.
if ! (. "$TOP/tools/testing/e2e/pki.sh" && pki_files "$tmp/files/certs"); then
	ktap_suite "$suite" 1
	ktap_fail certificates_made "openssl could not make them on the host"
	ktap_end
	exit 1
fi
# handshake.ko too: a case unloads and reloads it.
cp "$MODULE" "$tmp/build/hs_consumer.ko" "$tmp/build/hs_consumer2.ko" "$tmp/files/"
RUN_FILES=$tmp/files tier_run "$tier" --timeout 600 --module "$MODULE" --kmemleak \
	"$here/../$tier/guest.sh" /mnt/run/files
