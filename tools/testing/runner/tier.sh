#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "runner": the test runner's own tests (see selftest.sh), on the test
# kernel only.
[ "$FLAVOUR" = reference ] && exit 0
exec "$(dirname "$0")/selftest.sh" "$KDIR"
