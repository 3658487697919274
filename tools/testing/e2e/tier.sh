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
# The certificates and keys are made here: openssl takes seconds in the guest.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (. "$here/pki.sh" && pki_files "$tmp/files/pki"); then
	ktap_suite handshake_e2e 1
	ktap_fail certificates_made "openssl could not make them on the host"
	ktap_end
	exit 1
fi
args=(--timeout 600 --kmemleak)
[ "$FLAVOUR" = test ] && args+=(--module "$MODULE")
RUN_FILES=$tmp/files tier_run e2e "${args[@]}" --module "$build/handshake_e2e.ko" "$here/guest.sh"
