#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what the build and the tests need, if it is missing, and check
# versions. Idempotent: a second run only checks.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

PKGS=(clang-19 lld-19 llvm-19 libclang-19-dev rustc-web rust-web-src rust-web-clippy rustfmt-web
      qemu-system-x86 busybox-static debootstrap flex bison bc libelf-dev
      libssl-dev cpio kmod make gcc python3 python3-yaml xz-utils lz4
      ca-certificates openssl git patch)
# More packages a caller needs (scripts/bench.sh: its plot).
PKGS+=("$@")

missing=()
for p in "${PKGS[@]}"; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) in
	*"ok installed") ;;
	*) missing+=("$p") ;;
	esac
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing Debian packages: ${missing[*]}"
	$SUDO apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}"
fi

# bindgen for the kernel's Rust bindings.
if ! "$BINDGEN" --version >/dev/null 2>&1; then
	say "installing bindgen-cli with cargo (about 80 s)"
	cargo install bindgen-cli --locked
fi

# The kernel source: Debian's linux-source-7.3 from trixie-backports, pinned
# low so nothing else upgrades; fall back to the project's copy of the exact
# package. The checksum is verified either way.
src=$(ksrc_dir)
if [ ! -f "$src/.unpacked" ]; then
	deb="$KSRC_PKG"_"$KSRC_DEB_VERSION"_all.deb
	sums=$TOP/../shared/debs/SHA256SUMS
	want=703e369ddd4cce971452f5a593ee55df3a5c10c83caf0fa0df039633ed181ee3
	mkdir -p "$CACHE/debs"
	if [ ! -f "$CACHE/debs/$deb" ]; then
		if [ ! -f /etc/apt/sources.list.d/trixie-backports.sources ]; then
			say "adding trixie-backports (pinned to priority 100)"
			$SUDO tee /etc/apt/sources.list.d/trixie-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
			$SUDO tee /etc/apt/preferences.d/trixie-backports >/dev/null <<'PIN'
Package: *
Pin: release n=trixie-backports
Pin-Priority: 100
PIN
			$SUDO apt-get update -q || true
		fi
		say "downloading $KSRC_PKG=$KSRC_DEB_VERSION"
		(cd "$CACHE/debs" &&
		 apt-get download -q "$KSRC_PKG=$KSRC_DEB_VERSION" 2>/dev/null) ||
			true
		if [ ! -f "$CACHE/debs/$deb" ] && [ -f "$TOP/../shared/debs/$deb" ]; then
			say "archive has no $KSRC_DEB_VERSION: using ../shared/debs"
			cp "$TOP/../shared/debs/$deb" "$CACHE/debs/"
		fi
	fi
	[ -f "$CACHE/debs/$deb" ] || die "cannot get $deb"
	[ -f "$sums" ] && grep -q "$deb" "$sums" && want=$(grep "$deb" "$sums" | cut -d' ' -f1)
	echo "$want  $CACHE/debs/$deb" | sha256sum -c --quiet ||
		die "checksum mismatch for $deb"
	say "unpacking the kernel source"
	rm -rf "$src" && mkdir -p "$src"
	tmp=$(mktemp -d)
	dpkg-deb -x "$CACHE/debs/$deb" "$tmp"
	tar -C "$src" --strip-components=1 -xJf "$tmp"/usr/src/linux-source-$KVER.tar.xz
	rm -rf "$tmp"
	for p in "$TOP"/scripts/kernel/patches/*.patch; do
		say "applying $(basename "$p")"
		patch -s -d "$src" -p1 < "$p"
	done
	touch "$src/.unpacked"
fi
# (the sources of other patch sets go once unused for a week)
cache_used "$src"

# Versions.
v=$(/usr/bin/rustc --version) || die "no /usr/bin/rustc (rustc-web)"
[ -d /usr/lib/rustlib/src/rust/library ] || die "no Rust library source (rust-web-src)"
clang-19 --version >/dev/null || die "no clang-19"
echo "prereqs ok: $v, $("$BINDGEN" --version), $(qemu-system-x86_64 --version | sed -n 1p), kernel source $KSRC_DEB_VERSION"
