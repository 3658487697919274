#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "e2e": in-kernel TLS consumers (tools/consumers/handshake_e2e.ko)
# doing real handshakes through the service, the real tlshd and real TLS
# peers.  On the test kernel handshake.ko is loaded first and the consumer
# links against its exports; on the reference kernel the C service is built in.
# With E2E_AGENT=sid (tier "e2e-sid"), the same cases run with tlshd 1.4.0
# from a Debian sid guest root instead of trixie's 1.0.0.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
agent=${E2E_AGENT:-trixie}
name=e2e suite=handshake_e2e
[ "$agent" = trixie ] || name=e2e-$agent suite=handshake_e2e_$agent
[ "$FLAVOUR" = test ] && [ -z "$MODULE" ] && { tier_no_module "$suite"; exit; }

build=$RESULTS/$name-consumers
rm -rf "$build"
tier_build "$suite" "$build" "$TOP"/tools/consumers/Kbuild "$TOP"/tools/consumers/*.c ||
	exit 1
# The certificates and keys are made here: openssl takes seconds in the guest.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! (. "$here/pki.sh" && pki_files "$tmp/files/pki"); then
	ktap_suite "$suite" 1
	ktap_fail certificates_made "openssl could not make them on the host"
	ktap_end
	exit 1
fi
# kmemleak watches the e2e tier; the e2e-sid tier is about the agent and
# runs without it (a third faster: every program start and the end scan).
args=(--timeout 600 --root "$agent")
[ "$agent" = trixie ] && args+=(--kmemleak)
[ "$FLAVOUR" = test ] && args+=(--module "$MODULE")
# The "psk" key type for tlshd's PSKs: nvme-keyring, the kernel's own.
args+=(--module "$(kernel_module "$KDIR" nvme-keyring)")
RUN_FILES=$tmp/files tier_run "$name" "${args[@]}" --module "$build/handshake_e2e.ko" \
	"$here/guest.sh" "$agent"
