#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "kunit": the module's KUnit suites, which run when it is inserted,
# then its removal. On the reference kernel: the C service's own built-in
# KUnit suite (net/handshake/handshake-test.c).
here=$(dirname "$0")
. "$here/../../../scripts/lib.sh"
. "$TOP/scripts/guest/ktap.sh"
args=(--kernel "$KDIR" --initramfs --kunit --timeout 300 --log "$RESULTS/kunit.console")
if [ "$FLAVOUR" = reference ]; then
	args+=(--kunit-boot 'Handshake*')
elif [ -n "$MODULE" ]; then
	args+=(--module "$MODULE")
else
	ktap_no_module handshake_kunit
	exit
fi
"$TOP/scripts/run-qemu.sh" "${args[@]}" "$here/guest.sh" "$FLAVOUR" >&2
rc=$?
cat "$RESULTS/kunit.console"
exit $rc
