#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build a kernel out of tree into the cache, or reuse the cached one.
#   scripts/kernel.sh test       the test kernel (NET_HANDSHAKE off)
#   scripts/kernel.sh reference  the C reference (NET_HANDSHAKE=y + its KUnit)
#   scripts/kernel.sh minimal    the least a kernel can have for the module (no
#                                keys, tracing, RCU-tasks or KUnit), prepared
#                                for module builds only (modules_prepare)
#   scripts/kernel.sh bench      the test kernel without its debug options
#   scripts/kernel.sh bench-reference  the reference kernel without them
#   scripts/kernel.sh --dir test print where it is (or would be); build nothing
# Prints the build directory on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

print_only=0
[ "${1:-}" = --dir ] && { print_only=1; shift; }
flavour=${1:-test}
case $flavour in test|reference|minimal|bench|bench-reference) ;; *) die "unknown kernel flavour $flavour";; esac

src=$(ksrc_dir)
[ -f "$src/.unpacked" ] || die "no kernel source in $src: run scripts/prereqs.sh"
out=$(kernel_dir "$flavour")
[ $print_only = 1 ] && { echo "$out"; exit 0; }
if [ -f "$out/.done" ]; then
	cache_used "$out"
	say "$flavour kernel: cached in $out"
	echo "$out"
	exit 0
fi

target=()
[ "$flavour" = minimal ] && target=(modules_prepare)
# The test kernel's NFS and NVMe/TCP modules use tls_* symbols that no
# in-tree object defines: handshake.ko provides them when it is loaded.
case $flavour in test|bench) target+=(KBUILD_MODPOST_WARN=1) ;; esac
say "$flavour kernel: building in $out (cold: $([ "$flavour" = minimal ] && echo 'about 2 min' || echo 'about 10 min') on 2 cores)"
rm -rf "$out"
mkdir -p "$out"
kmake() { make -s -C "$src" O="$out" "${KMAKE_FLAGS[@]}" "$@"; }

kmake tinyconfig >/dev/null
mapfile -t frags < <(kernel_fragments "$flavour")
(cd "$out" && "$src"/scripts/kconfig/merge_config.sh -m -O "$out" \
	"$out/.config" "${frags[@]}" >/dev/null)
kmake olddefconfig >/dev/null

# Every option the fragments ask for (the last fragment wins) must have
# survived olddefconfig.
declare -A want=()
for f in "${frags[@]}"; do
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) want[${line%%=*}]=${line#*=} ;;
		"# CONFIG_"*" is not set") opt=${line#\# }; want[${opt%% *}]=n ;;
		esac
	done < "$f"
done
bad=0
for opt in "${!want[@]}"; do
	have=$(grep "^$opt=" "$out/.config" | cut -d= -f2- || true)
	[ "${have:-n}" = "${want[$opt]}" ] ||
		{ echo "  $opt=${want[$opt]} wanted, got ${have:-n}" >&2; bad=1; }
done
[ $bad = 0 ] || die "kernel config does not have what the fragment asks for (see above)"

# Build with a progress line every 20 s instead of minutes of silence.
log=$out/build.log
start=$(date +%s)
set +e
make -C "$src" O="$out" "${KMAKE_FLAGS[@]}" -j"$JOBS" "${target[@]}" >"$log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
	sleep 20
	kill -0 $pid 2>/dev/null || break
	n=$(grep -cE '^\s+(CC|RUSTC|LD|AR|AS|BINDGEN)' "$log")
	printf '  [%4ds] %s: %d objects, last: %s\n' $(($(date +%s) - start)) \
		"$flavour" "$n" "$(tail -1 "$log" | cut -c1-60)" >&2
done
wait $pid
rc=$?
set -e
if [ $rc != 0 ]; then
	grep -m30 -E 'error|Error' "$log" >&2 || true
	die "$flavour kernel build failed (log: $log)"
fi
# The kernel's modules, installed as into a system's root, for the guests
# that load them by name (modprobe, and the kernel's own requests).
if [ "$flavour" != minimal ]; then
	make -s -C "$src" O="$out" "${KMAKE_FLAGS[@]}" INSTALL_MOD_PATH="$out/modroot" \
		INSTALL_MOD_STRIP=1 DEPMOD=/bin/true modules_install >>"$log" 2>&1 ||
		die "$flavour kernel: modules_install failed (log: $log)"
fi
say "$flavour kernel: built in $(($(date +%s) - start)) s"
touch "$out/.done"
cache_used "$out"
echo "$out"
