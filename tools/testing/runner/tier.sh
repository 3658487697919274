#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "runner": the test runner's own tests (see selftest.sh), on the test
# kernel only.
. "$(dirname "$0")/../../../scripts/tier-lib.sh"
[ "$FLAVOUR" = reference ] && { tier_skip runner_selftest "the runner is tested on the test kernel"; exit 0; }
exec "$(dirname "$0")/selftest.sh" "$KDIR"
