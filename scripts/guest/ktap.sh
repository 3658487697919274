# SPDX-License-Identifier: GPL-2.0
# KTAP output for test scripts, sourced. Lines go to stdout; in the guest
# the init passes a script's output to /dev/kmsg line by line, so they reach
# the console whole, with the same prefix as the kernel's own KUnit output.
# The host parses both with kunit.py.
#
#   ktap_suite NAME COUNT; ktap_ok NAME; ktap_fail NAME WHY; ktap_skip NAME WHY
#   ktap_end  (prints the suite's result; returns non-zero if a case failed)
#   ktap_check NAME CMD...  runs CMD, ok when it succeeds

_ktap_n=0
_ktap_failed=0
_ktap_suite=

_ktap() { printf '%s\n' "$1"; }

ktap_suite() {
	_ktap_suite=$1 _ktap_n=0 _ktap_failed=0
	_ktap "    KTAP version 1"
	_ktap "    # Subtest: $1"
	_ktap "    1..$2"
}

ktap_ok() { _ktap_n=$((_ktap_n + 1)); _ktap "    ok $_ktap_n $1"; }

ktap_fail() {
	_ktap_n=$((_ktap_n + 1)); _ktap_failed=$((_ktap_failed + 1))
	_ktap "    # $1: $2"
	_ktap "    not ok $_ktap_n $1"
}

ktap_skip() { _ktap_n=$((_ktap_n + 1)); _ktap "    ok $_ktap_n $1 # SKIP $2"; }

ktap_check() {
	_name=$1; shift
	if _out=$("$@" 2>&1); then
		ktap_ok "$_name"
	else
		ktap_fail "$_name" "$(echo "$_out" | tail -3 | tr '\n' ' ')"
	fi
}

ktap_end() {
	if [ $_ktap_failed = 0 ]; then
		_ktap "ok 1 $_ktap_suite"
	else
		_ktap "not ok 1 $_ktap_suite"
	fi
	[ $_ktap_failed = 0 ]
}

