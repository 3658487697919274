# SPDX-License-Identifier: GPL-2.0
# Common settings for the scripts: paths, tool locations and cache keys.
# Sourced, never run.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME
CACHE=${HANDSHAKE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust-handshake}

KVER=7.3
KSRC_DEB_VERSION=7.3.4-1~bpo13+1
KSRC_PKG=linux-source-$KVER

# The LLVM toolchain: Debian's clang 19, or HS_LLVM=22 (make bench
# --inline-helpers) for benchmark kernels built with clang on rustc's own
# LLVM, which lets the kernel inline its C helpers into Rust code.
LLVM_SUFFIX=-${HS_LLVM:-19}
export LIBCLANG_PATH=/usr/lib/llvm$LLVM_SUFFIX/lib
BINDGEN=${BINDGEN:-$HOME/.cargo/bin/bindgen}
KMAKE_FLAGS=(LLVM=$LLVM_SUFFIX RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
	     BINDGEN="$BINDGEN" HOSTRUSTC=/usr/bin/rustc
	     CLIPPY_DRIVER=/usr/bin/clippy-driver RUSTFMT=/usr/bin/rustfmt)

JOBS=${JOBS:-$(nproc)}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The unpacked and patched kernel source, one per package version and patch set.
patches_key() { cat "$TOP"/scripts/kernel/patches/*.patch | sha256sum | cut -c1-8; }
ksrc_dir() { echo "$CACHE/src/linux-source-$KSRC_DEB_VERSION-$(patches_key)"; }

rustc_version() { /usr/bin/rustc --version 2>/dev/null || echo none; }

# The config fragments of a kernel flavour, in merge order (the last wins).
kernel_fragments() {
	local k=$TOP/scripts/kernel
	case $1 in
	minimal) echo "$k/minimal.fragment" ;;
	test) echo "$k/config.fragment" ;;
	reference) printf '%s\n' "$k/config.fragment" "$k/reference.fragment" ;;
	bench) printf '%s\n' "$k/config.fragment" "$k/bench.fragment" ;;
	bench-reference) printf '%s\n' "$k/config.fragment" \
		"$k/reference.fragment" "$k/bench.fragment" ;;
	esac
	case $1:${HS_LLVM:-19} in
	bench*:19) ;;
	bench*:*) echo "$k/inline-helpers.fragment" ;;
	esac
}

# Cache key of a kernel build: source version, config inputs, patches, the
# recipe (scripts/kernel.sh), toolchain.
# $1: flavour (see scripts/kernel.sh)
kernel_key() {
	local flavour=$1
	{
		echo "$KSRC_DEB_VERSION $flavour"
		cat "$TOP"/scripts/kernel.sh
		kernel_fragments "$flavour" | xargs cat
		cat "$TOP"/scripts/kernel/patches/*.patch 2>/dev/null
		rustc_version
		"$BINDGEN" --version 2>/dev/null
		clang$LLVM_SUFFIX --version 2>/dev/null | sed -n 1p
	} | sha256sum | cut -c1-16
}

kernel_dir() { echo "$CACHE/kernel-$1-$(kernel_key "$1")"; }

# kernel_module KDIR NAME: the path of the kernel's own module NAME.ko, as
# scripts/kernel.sh installed it (the test and reference kernels).
kernel_module() { find "$1/modroot/lib/modules" -name "$2.ko" -print -quit 2>/dev/null; }

# source_copy DIR: copy the tree's sources (what git tracks or would track,
# less build/) into DIR, for a build that must not share the tree's objects.
source_copy() {
	mkdir -p "$1"
	(cd "$TOP" && git ls-files -co --exclude-standard | grep -v '^build/' |
		cpio -pdm --quiet "$1")
}

# $1: trixie or sid
rootfs_key() {
	{ echo "$1"; cat "$TOP"/scripts/rootfs.sh; } | sha256sum | cut -c1-16
}
rootfs_dir() { echo "$CACHE/rootfs-$1-$(rootfs_key "$1")"; }

# cache_used DIR: mark a cached build as used now, and remove the builds of
# the same kind (same name up to the key) that no run has used for a week,
# so that changing a key does not leave gigabytes behind.
cache_used() {
	local dir=$1 old
	touch "$dir/.used"
	for old in "${dir%-*}"-*; do
		[ "$old" = "$dir" ] || [ ! -d "$old" ] && continue
		if [ -z "$(find "$old" -maxdepth 1 -name .used -mtime -7)" ] &&
		   [ -z "$(find "$old" -maxdepth 0 -mtime -7)" ]; then
			say "cache: removing $(basename "$old"), unused for a week"
			rm -rf "$old"
		fi
	done
}
