#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "build": host-side checks of handshake.ko and its sources: no
# warnings from rustc or clippy (with and without the KUnit suites), rustfmt
# and checkpatch clean, netlink tables that match the YNL spec and the uapi
# header, every unsafe block justified, the layers of the crate (no import
# cycle, the service logic forbids unsafe and holds 40% of the code), no test
# code in the production module, and the consumer API exported as the C
# service does; and it builds against a minimal kernel.
here=$(dirname "$0")
. "$here/../../../scripts/tier-lib.sh"
# The C reference has no module to check.
[ "$FLAVOUR" = reference ] && { tier_skip handshake_build "the reference kernel has no module to build"; exit 0; }
[ -n "$MODULE" ] || { tier_no_module handshake_build; exit; }
ksrc=$(ksrc_dir)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fresh_build NAME MAKE-ARGS...: build the sources in a fresh copy, so that
# every object is compiled (and checked) again; no warning and no error
# allowed, from the compilers or from modpost (in capitals), except the
# lines matching $allowed if set. The log is $RESULTS/NAME.log. The kernel
# is $build_kdir if set.
fresh_build() {
	local name=$1
	shift
	rm -rf "$tmp/$name"
	(cd "$TOP" && git ls-files -co --exclude-standard | cpio -pdm --quiet "$tmp/$name")
	make -C "${build_kdir:-$KDIR}" M="$tmp/$name" "${KMAKE_FLAGS[@]}" "$@" modules \
		> "$RESULTS/$name.log" 2>&1 || { tail -20 "$RESULTS/$name.log"; return 1; }
	! grep -v -E "${allowed:-^\$}" "$RESULTS/$name.log" | grep -i -E -A5 'warning[:\[]|error[:\[]'
}

no_warnings() { fresh_build module-rebuild; }

kunit_no_warnings() { fresh_build kunit-rebuild CONFIG_HANDSHAKE_RS_KUNIT_TEST=y; }

# Clippy on the production module and on the one with the KUnit suites.
clippy_clean() {
	fresh_build clippy CLIPPY=1 &&
		fresh_build clippy-kunit CLIPPY=1 CONFIG_HANDSHAKE_RS_KUNIT_TEST=y
}

# Against the least kernel the module supports (scripts/kernel.sh minimal:
# tinyconfig with 64BIT, MODULES, MODULE_UNLOAD, NET, INET and RUST; no keys,
# no tracing and so no RCU-tasks, no KUnit), prepared by scripts/check.sh.
# It compiles without a warning. Only modules_prepare ran there, so there is
# no Module.symvers and modpost cannot resolve the kernel's symbols: it is
# told to warn, and those warnings alone are allowed.
minimal_kernel_build() {
	local kdir
	kdir=$("$TOP/scripts/kernel.sh" minimal 2>"$RESULTS/minimal-kernel.log") ||
		{ tail -20 "$RESULTS/minimal-kernel.log"; return 1; }
	grep -q '^CONFIG_TASKS_RCU=y' "$kdir/.config" &&
		{ echo "the minimal kernel has RCU-tasks"; return 1; }
	build_kdir=$kdir allowed="Module.symvers is missing|unresolved symbol errors|KBUILD_MODPOST_WARN=1 to turn errors|^WARNING: modpost: handshake\.ko: symbol '[^']+' undefined!\$|^WARNING: modpost: suppressed [0-9]+ unresolved symbol warnings" \
		fresh_build minimal-build KBUILD_MODPOST_WARN=1
}

no_import_cycles() { python3 "$TOP/scripts/module-graph.py"; }

# Every service-logic file forbids unsafe; together they hold 40% or more of
# the crate's code lines (tests excluded).
logic_forbids_unsafe_and_holds_its_share() {
	python3 "$TOP/scripts/crate-stats.py" --min-logic 40
}

# The production module carries no KUnit suite (nor any KUnit symbol); the
# one built with CONFIG_HANDSHAKE_RS_KUNIT_TEST does.
no_test_code_without_the_option() {
	if readelf -SW "$MODULE" | grep -q kunit_test_suites ||
		readelf -sW "$MODULE" | grep -qi kunit; then
		echo "$MODULE contains KUnit code"
		return 1
	fi
	[ -n "${KUNIT_MODULE:-}" ] && readelf -SW "$KUNIT_MODULE" | grep -q kunit_test_suites ||
		{ echo "the KUnit build has no suites: ${KUNIT_MODULE:-not built}"; return 1; }
}

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
		--check "$TOP/rust/genl_tables.rs" --uapi "$ksrc/include/uapi/linux/handshake.h" &&
	python3 "$TOP/tools/genl_tables.py" "$TOP/Documentation/netlink/specs/handshake-diag.yaml" \
		--source-name Documentation/netlink/specs/handshake-diag.yaml \
		--check "$TOP/rust/diag_tables.rs"
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

ktap_suite handshake_build 12
ktap_check builds_without_warnings no_warnings
ktap_check builds_with_kunit_suites_without_warnings kunit_no_warnings
ktap_check clippy_clean clippy_clean
ktap_check builds_against_a_minimal_kernel minimal_kernel_build
ktap_check rustfmt_clean rustfmt_clean
ktap_check checkpatch_clean checkpatch_clean
ktap_check netlink_tables_generated_from_the_ynl_spec tables_match_the_spec
ktap_check every_unsafe_block_has_a_safety_comment unsafe_justified
ktap_check no_import_cycles_between_modules no_import_cycles
ktap_check logic_forbids_unsafe_and_holds_its_share logic_forbids_unsafe_and_holds_its_share
ktap_check no_test_code_without_the_option no_test_code_without_the_option
ktap_check consumer_api_exported_like_the_c_service consumer_api_exported
ktap_end
