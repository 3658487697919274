#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "consumers": the kernel's real TLS consumers, NFSv4.1 (SunRPC client
# and knfsd) and NVMe/TCP (host and target), over TLS through the service
# and the real tlshd, on loopback in one guest.
#
# The guest gets the kernel's modules as a system has them (modules_install
# into a tree mounted at /lib/modules); on the test kernel handshake.ko is
# installed there as an external module, never inserted by hand: depmod
# finds that the consumers need its tls_* symbols, so modprobe pulls it in.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../scripts/tier-lib.sh"
[ "$FLAVOUR" = test ] && [ -z "$MODULE" ] && { tier_no_module consumers; exit; }

tmp=$(mktemp -d "$RESULTS/consumers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail_setup() {
	ktap_suite consumers 1
	ktap_fail guest_prepared "$1"
	ktap_end
	exit 1
}
[ -d "$KDIR/modroot/lib/modules" ] || fail_setup "the kernel has no installed modules ($KDIR/modroot)"
# The kernel's modules (hard links when the cache is on the same file
# system), then handshake.ko the way its users install it.
cp -al "$KDIR/modroot/." "$tmp/tree/" 2>/dev/null ||
	{ rm -rf "$tmp/tree" && cp -a "$KDIR/modroot" "$tmp/tree"; } ||
	fail_setup "cannot copy the module tree"
cp "$KDIR/System.map" "$tmp/tree/lib/modules/" || fail_setup "no System.map in $KDIR"
if [ "$FLAVOUR" = test ]; then
	make -C "$KDIR" M="$(dirname "$MODULE")" "${KMAKE_FLAGS[@]}" INSTALL_MOD_PATH="$tmp/tree" \
		DEPMOD=/bin/true modules_install > "$tmp/install.log" 2>&1 ||
		{ cat "$tmp/install.log" >&2; fail_setup "modules_install of handshake.ko failed"; }
fi
# Certificates are made on the host: openssl takes seconds in the guest.
(. "$TOP/tools/testing/e2e/pki.sh" && pki_files "$tmp/files/pki") ||
	fail_setup "openssl could not make the certificates on the host"
RUN_FILES=$tmp/files tier_run consumers --timeout 600 --kmemleak --mem 1024 \
	--modules-tree "$tmp/tree" "$here/guest.sh" "$FLAVOUR"
