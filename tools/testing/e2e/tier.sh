#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "e2e": in-kernel TLS consumers (tools/consumers/handshake_e2e.ko)
# doing real handshakes through the service, the real tlshd and real TLS
# peers.  On the test kernel handshake.ko is loaded first and the consumer
# links against its exports; on the reference kernel the C service is built in.
here=$(dirname "$0")
. "$here/../../../scripts/lib.sh"
. "$TOP/scripts/guest/ktap.sh"
if [ "$FLAVOUR" = test ] && [ -z "$MODULE" ]; then
	ktap_no_module handshake_e2e
	exit
fi

# Build the consumer out of the source tree, once per flavour.
build=$RESULTS/consumers
rm -rf "$build"
mkdir -p "$build"
cp "$TOP"/tools/consumers/Kbuild "$TOP"/tools/consumers/*.c "$build/"
extra=()
[ "$FLAVOUR" = test ] && extra=(KBUILD_EXTRA_SYMBOLS="$(dirname "$MODULE")/Module.symvers")
if ! make -C "$KDIR" M="$build" "${KMAKE_FLAGS[@]}" "${extra[@]}" modules \
	> "$RESULTS/e2e-build.log" 2>&1; then
	cat "$RESULTS/e2e-build.log" >&2
	ktap_suite handshake_e2e 1
	ktap_fail consumer_built "handshake_e2e.ko did not build"
	ktap_end
	exit 1
fi

args=(--kernel "$KDIR" --timeout 400 --log "$RESULTS/e2e.console")
[ "$FLAVOUR" = test ] && args+=(--module "$MODULE")
args+=(--module "$build/handshake_e2e.ko")
"$TOP/scripts/run-qemu.sh" "${args[@]}" "$here/guest.sh" >&2
rc=$?
cat "$RESULTS/e2e.console"
exit $rc
