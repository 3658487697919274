#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: the module against the C service, on production-like kernels
# (scripts/kernel.sh bench and bench-reference: the test and reference
# kernels without their debug options). Boots the two alternately, ROUNDS
# times each (module, C, module, C, ...), runs the same workloads with the
# same binaries in each boot (tools/bench/guest.sh), and reports the ratio
# module/C of the medians over the rounds, with the spread of the rounds.
#
# usage: scripts/bench.sh [--rounds N] [--workloads LIST] [--handshakes N] [--profile]
#                         [--inline-helpers]
#   --rounds N        boots per service (default 3)
#   --workloads LIST  floor,closed,netns,backlog,slab,tlshd (default: all)
#   --handshakes N    handshakes per closed-loop row (default 2000)
#   --profile         instead: one boot per service with the function
#                     profiler on the service's functions during a closed
#                     loop, then perf sampling every CPU during another
#                     (tools/bench/profile.sh); prints both profiles
#   --inline-helpers  both kernels built with clang 22, rustc's LLVM, and
#                     CONFIG_RUST_INLINE_HELPERS, which inlines the kernel
#                     crate's C helpers into Rust code (scripts/kernel/
#                     inline-helpers.fragment); the C service is built with
#                     the same compiler
# Writes build/bench/results.json, build/bench/throughput.png and the
# consoles of the boots; prints the table.
set -euo pipefail
# The compiler is chosen before lib.sh sets up the tool paths, by the
# option alone.
unset HS_LLVM
for a in "$@"; do [ "$a" = --inline-helpers ] && export HS_LLVM=22; done
. "$(dirname "$0")/lib.sh"

rounds=3 workloads=floor,closed,netns,backlog,slab,tlshd handshakes=2000 profile=0
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--workloads) workloads=$2; shift 2 ;;
	--handshakes) handshakes=$2; shift 2 ;;
	--profile) profile=1; shift ;;
	--inline-helpers) shift ;;
	*) die "usage: $0 [--rounds N] [--workloads LIST] [--handshakes N] [--profile] [--inline-helpers]" ;;
	esac
done

out=$TOP/build/bench
start=$(date +%s)
step() { say "[$(($(date +%s) - start)) s] $*"; }

step "prerequisites (python3-matplotlib draws the plot; perf needs zlib and liblzma)"
llvm=()
[ "$LLVM_SUFFIX" = -19 ] ||
	llvm=("clang$LLVM_SUFFIX" "lld$LLVM_SUFFIX" "llvm$LLVM_SUFFIX" "libclang$LLVM_SUFFIX-dev")
"$TOP"/scripts/prereqs.sh python3-matplotlib zlib1g-dev liblzma-dev "${llvm[@]}"

# The two kernels, one after the other (each takes both cores).
step "benchmark kernels (cold: about 8 min each on 2 cores)"
kmod=$("$TOP"/scripts/kernel.sh bench)
kref=$("$TOP"/scripts/kernel.sh bench-reference)

rm -rf "$out"
mkdir -p "$out"
# handshake.ko for the module's kernel, built from a copy of the tree.
step "building handshake.ko for the benchmark kernel"
tree=$out/module
source_copy "$tree"
make -C "$kmod" M="$tree" "${KMAKE_FLAGS[@]}" modules > "$out/module-build.log" 2>&1 ||
	{ tail -30 "$out/module-build.log" >&2; die "handshake.ko did not build"; }

# The consumer, the same source for both kernels.
for svc in module c; do
	kdir=$kmod extra=()
	[ $svc = c ] && kdir=$kref
	[ $svc = module ] && extra=(KBUILD_EXTRA_SYMBOLS="$tree/Module.symvers")
	d=$out/consumer-$svc
	mkdir -p "$d"
	cp "$TOP/tools/bench/hs_bench.c" "$d/"
	echo 'obj-m := hs_bench.o' > "$d/Kbuild"
	make -C "$kdir" M="$d" "${KMAKE_FLAGS[@]}" "${extra[@]}" modules > "$d/build.log" 2>&1 ||
		{ tail -30 "$d/build.log" >&2; die "hs_bench.ko did not build for $svc"; }
done

step "building tools/hs-agent (null agent and floor)"
target=${HS_AGENT_TARGET:-$TOP/build/hs-agent}
CARGO_TARGET_DIR=$target cargo build --release --locked -q \
	--manifest-path "$TOP/tools/hs-agent/Cargo.toml"

# The guests read the host's time-stamp counter but cannot calibrate it:
# without its frequency they would time everything in jiffies (4 ms).
khz=$("$target/release/tsc-khz")
step "certificates for tlshd and gnutls-serv"
for svc in module c; do
	f=$out/files-$svc
	mkdir -p "$f"
	cp "$target/release/hs-agent" "$target/release/hs-floor" "$out/consumer-$svc/hs_bench.ko" "$f/"
	[ $svc = module ] && cp "$tree/handshake.ko" "$f/"
done
(. "$TOP/tools/testing/e2e/pki.sh" && pki_files "$out/files-module/pki") ||
	die "openssl could not make the certificates"
cp -r "$out/files-module/pki" "$out/files-c/pki"
"$TOP"/scripts/rootfs.sh trixie >/dev/null

# boot SERVICE NAME SCRIPT ARGS...: one guest on the service's kernel.
boot() {
	local svc=$1 name=$2 kdir=$kmod
	shift 2
	[ "$svc" = c ] && kdir=$kref
	if ! RUN_FILES=$out/files-$svc RUN_OUT=$out/out-$name \
		"$TOP"/scripts/run-qemu.sh --kernel "$kdir" --cpus 2 --mem 21504 \
		--timeout 1200 --quiet --log "$out/console-$name.log" \
		--cmdline "tsc_early_khz=$khz tsc=reliable" "$@"; then
		grep -E '^bench:|FAILED' "$out/console-$name.log" | tail -20 >&2 || true
		die "$name failed (console: $out/console-$name.log)"
	fi
}

if [ $profile = 1 ]; then
	# perf from the kernel's own tools/perf with its optional libraries off:
	# it needs only libelf, zlib and liblzma, which the guest root has too.
	# It sees the module's Rust functions, which the function profiler
	# cannot (no fentry calls in Rust code in 7.3). Cached with the sources.
	pdir=$CACHE/perf-$KSRC_DEB_VERSION-$(patches_key)
	if [ ! -x "$pdir/perf" ]; then
		step "perf from the kernel's tools/perf (cold: under a minute)"
		rm -rf "$pdir.tmp"
		mkdir -p "$pdir.tmp"
		make -C "$(ksrc_dir)/tools/perf" O="$pdir.tmp" -j"$JOBS" NO_RUST=1 \
			NO_LIBTRACEEVENT=1 NO_LIBPYTHON=1 NO_LIBPERL=1 NO_JEVENTS=1 \
			NO_LIBBPF=1 NO_BPF_SKEL=1 NO_SLANG=1 NO_GTK2=1 NO_LIBNUMA=1 \
			NO_LIBCAP=1 NO_BABELTRACE=1 NO_LIBUNWIND=1 NO_DEMANGLE=1 \
			NO_LIBCRYPTO=1 NO_SDT=1 NO_LIBLLVM=1 NO_CAPSTONE=1 \
			> "$out/perf-build.log" 2>&1 ||
			{ tail -30 "$out/perf-build.log" >&2; die "perf did not build"; }
		rm -rf "$pdir"
		mv "$pdir.tmp" "$pdir"
	fi
	for svc in module c; do
		cp "$pdir/perf" "$out/files-$svc/"
	done
	for svc in module c; do
		step "profile: $svc"
		boot "$svc" "profile-$svc" "$TOP/tools/bench/profile.sh" "$svc" "$handshakes"
		cat "$out/out-profile-$svc/profile-$svc.txt"
	done
	step "done in $(($(date +%s) - start)) s"
	exit 0
fi

# 21 GiB of guest memory: both services size their per-namespace limit of
# pending requests from the memory (one per 400 MiB, at most 50); with
# less, a closed loop of 8 threads would hit the limit. The emulator only
# allocates what the guest touches.
for r in $(seq "$rounds"); do
	for svc in module c; do
		step "round $r of $rounds: $svc"
		boot "$svc" "$svc-$r" "$TOP/tools/bench/guest.sh" "$svc" "$r" "$workloads" "$handshakes"
	done
done

step "report"
/usr/bin/python3 "$TOP/tools/bench/report.py" "$out"
step "done in $(($(date +%s) - start)) s"
