#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "build": host-side checks of handshake.ko and its sources: no
# warnings from rustc or clippy, rustfmt and checkpatch clean, netlink tables
# that match the YNL spec and the uapi header, every unsafe block justified,
# and the consumer API exported as the C service does.
here=$(dirname "$0")
. "$here/../../../scripts/tier-lib.sh"
# The C reference has no module to check.
[ "$FLAVOUR" = reference ] && exit 0
[ -n "$MODULE" ] || { tier_no_module handshake_build; exit; }
ksrc=$(ksrc_dir)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fresh_build NAME MAKE-ARGS...: build the sources in a fresh copy, so that
# every object is compiled (and checked) again; no warning and no error
# allowed. The log is $RESULTS/NAME.log.
fresh_build() {
	local name=$1
	shift
	rm -rf "$tmp/$name"
	(cd "$TOP" && git ls-files -co --exclude-standard | cpio -pdm --quiet "$tmp/$name")
	make -C "$KDIR" M="$tmp/$name" "${KMAKE_FLAGS[@]}" "$@" modules \
		> "$RESULTS/$name.log" 2>&1 || { tail -20 "$RESULTS/$name.log"; return 1; }
	! grep -E -A5 'warning[:\[]|error[:\[]' "$RESULTS/$name.log"
}

no_warnings() { fresh_build module-rebuild; }

clippy_clean() { fresh_build clippy CLIPPY=1; }

rust_files() { (cd "$TOP" && git ls-files -co --exclude-standard 'rust/*.rs' 'rust/**/*.rs'); }

rustfmt_clean() { "$TOP/scripts/rustfmt.sh" --check; }

checkpatch_clean() {
	# --strict for C files; headers in the default mode, as the trace event
	# macros cannot follow --strict's parenthesis rules.
	local c h out
	c=$(cd "$TOP" && git ls-files -co --exclude-standard '*.c')
	h=$(cd "$TOP" && git ls-files -co --exclude-standard '*.h')
	out=$(cd "$TOP" &&
		{ [ -z "$c" ] || perl "$ksrc/scripts/checkpatch.pl" --no-tree --terse --strict \
			--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f $c
		  [ -z "$h" ] || perl "$ksrc/scripts/checkpatch.pl" --no-tree --terse \
			--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f $h; } |
		grep -E 'ERROR|WARNING|CHECK')
	[ -z "$out" ] || { echo "$out"; return 1; }
}

tables_match_the_spec() {
	python3 "$TOP/tools/genl_tables.py" "$ksrc/Documentation/netlink/specs/handshake.yaml" \
		--check "$TOP/rust/genl_tables.rs" --uapi "$ksrc/include/uapi/linux/handshake.h"
}

unsafe_justified() {
	local f missing=
	for f in $(rust_files); do
		missing+=$(awk -v f="$f" '
			/^[[:space:]]*\/\/ SAFETY:/ { seen = NR }
			/unsafe[[:space:]]*\{/ && !/^[[:space:]]*\/\// {
				if (!seen || NR - seen > 8) print f ":" NR
			}' "$TOP/$f")
	done
	[ -z "$missing" ] || { echo "unsafe blocks without SAFETY: $missing"; return 1; }
}

consumer_api_exported() {
	local sym line rc=0
	for sym in tls_client_hello_anon tls_client_hello_x509 tls_client_hello_psk \
		   tls_server_hello_x509 tls_server_hello_psk tls_handshake_cancel \
		   tls_handshake_close tls_get_record_type tls_alert_recv; do
		line=$(awk -v s="$sym" '$2 == s' "$TOP/Module.symvers")
		case $line in
		*"	EXPORT_SYMBOL"|*"	EXPORT_SYMBOL	"*) ;;
		*) echo "$sym: '${line:-not exported}'"; rc=1 ;;
		esac
	done
	return $rc
}

ktap_suite handshake_build 7
ktap_check builds_without_warnings no_warnings
ktap_check clippy_clean clippy_clean
ktap_check rustfmt_clean rustfmt_clean
ktap_check checkpatch_clean checkpatch_clean
ktap_check netlink_tables_generated_from_the_ynl_spec tables_match_the_spec
ktap_check every_unsafe_block_has_a_safety_comment unsafe_justified
ktap_check consumer_api_exported_like_the_c_service consumer_api_exported
ktap_end
