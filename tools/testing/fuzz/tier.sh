#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "fuzz": tools/hs-agent's hs-fuzz sends generated and damaged
# messages of the handshake family, as root, as an unprivileged user and as
# root of a user namespace, while a consumer (the stress tier's hs_stress.ko)
# keeps real requests pending and an agent accepts some of them. Afterwards
# every request must have ended exactly once, the fuzzer's descriptor table
# must be what it was, and the real tlshd must still complete a handshake.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
[ "$FLAVOUR" = reference ] && { tier_skip handshake_fuzz "not yet compared on the reference kernel"; exit 0; }
[ -n "$MODULE" ] || { tier_no_module handshake_fuzz; exit; }
tier_tool handshake_fuzz hs-fuzz || exit 1
fuzz=$tool

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'obj-m := hs_stress.o' > "$tmp/Kbuild"
tier_build handshake_fuzz "$tmp/stress" "$TOP/tools/testing/stress/hs_stress.c" "$tmp/Kbuild" ||
	exit 1
tier_build handshake_fuzz "$tmp/consumers" "$TOP"/tools/consumers/Kbuild "$TOP"/tools/consumers/*.c ||
	exit 1
mkdir -p "$tmp/files"
if ! (. "$TOP/tools/testing/e2e/pki.sh" && pki_files "$tmp/files/pki"); then
	ktap_suite handshake_fuzz 1
	ktap_fail certificates_made "openssl could not make them on the host"
	ktap_end
	exit 1
fi
cp "$MODULE" "$tmp/stress/hs_stress.ko" "$tmp/consumers/handshake_e2e.ko" "$HS_AGENT" "$fuzz" \
	"$(kernel_module "$KDIR" nvme-keyring)" "$tmp/files/"
# FUZZ_SEED replays a run; the seed used is printed either way.
RUN_FILES=$tmp/files tier_run fuzz --timeout 500 "$here/guest.sh" \
	"${FUZZ_COUNT:-100000}" "${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
