#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "agent": handshake.ko in a guest root with a test consumer
# (hs_consumer.ko), the real tlshd and a scripted agent; trace events,
# per-namespace queues and unloading under a live socket. The C reference
# is built in and has none of this module's events: skipped there.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
[ "$FLAVOUR" = reference ] && { tier_skip handshake_agent "the C service has none of the module's events or unloading"; exit 0; }
[ -n "$MODULE" ] || { tier_no_module handshake_agent; exit; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tier_build handshake_agent "$tmp/build" "$here/hs_consumer.c" "$here/Kbuild" || exit 1
# The certificates the guest's cases use, made here with the e2e tier's
# recipe: openssl takes seconds in the guest.
if ! (. "$TOP/tools/testing/e2e/pki.sh" && pki_files "$tmp/files/certs"); then
	ktap_suite handshake_agent 1
	ktap_fail certificates_made "openssl could not make them on the host"
	ktap_end
	exit 1
fi
# handshake.ko too: a case unloads and reloads it.
cp "$MODULE" "$tmp/build/hs_consumer.ko" "$tmp/files/"
RUN_FILES=$tmp/files tier_run agent --timeout 600 --module "$MODULE" --kmemleak \
	"$here/guest.sh" /mnt/run/files
