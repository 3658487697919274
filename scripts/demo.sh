#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: build what is missing, boot the test kernel with the guest root,
# load handshake.ko and an in-kernel TLS client, and show a real handshake
# through tlshd.
#
#   scripts/demo.sh               test kernel + handshake.ko
#   scripts/demo.sh --reference   reference kernel (the in-tree C service)
set -euo pipefail
# Only make bench --inline-helpers builds with another compiler.
unset HS_LLVM
. "$(dirname "$0")/lib.sh"

flavour=test
[ "${1:-}" = --reference ] && flavour=reference
"$TOP"/scripts/prereqs.sh
mkdir -p "$TOP/build"
# The guest root is made beside the kernel (debootstrap mostly downloads
# and unpacks); its progress goes to build/demo-rootfs.log.
"$TOP"/scripts/rootfs.sh >/dev/null 2>"$TOP/build/demo-rootfs.log" &
rootfs=$!
kdir=$("$TOP"/scripts/kernel.sh $flavour)
wait $rootfs || { tail -20 "$TOP/build/demo-rootfs.log" >&2; die "guest root failed"; }
modules=()
extra=()
if [ $flavour = test ]; then
	[ -f "$TOP/Kbuild" ] || die "no handshake.ko in this tree (try: scripts/demo.sh --reference)"
	say "building handshake.ko"
	make -s -C "$kdir" M="$TOP" "${KMAKE_FLAGS[@]}" modules
	modules+=(--module "$TOP/handshake.ko")
	extra=(KBUILD_EXTRA_SYMBOLS="$TOP/Module.symvers")
fi
say "building the in-kernel TLS client (tools/consumers)"
build=$TOP/build/demo-consumer
rm -rf "$build"
mkdir -p "$build"
cp "$TOP"/tools/consumers/Kbuild "$TOP"/tools/consumers/*.c "$build/"
make -s -C "$kdir" M="$build" "${KMAKE_FLAGS[@]}" "${extra[@]}" modules
# tlshd's PSKs are keys of the "psk" type, which nvme-keyring provides.
modules+=(--module "$(kernel_module "$kdir" nvme-keyring)" --module "$build/handshake_e2e.ko")
say "booting the $flavour kernel (the console is saved in build/demo.console)"
set +e
rm -rf "$TOP/build/demo-out"
RUN_OUT=$TOP/build/demo-out "$TOP"/scripts/run-qemu.sh --kernel "$kdir" --timeout 300 --quiet \
	--log "$TOP/build/demo.console" "${modules[@]}" \
	"$TOP/tools/demo/guest.sh"
rc=$?
set -e
echo
cat "$TOP/build/demo-out/story" 2>/dev/null || echo "(the guest told no story: see build/demo.console)"
exit $rc
