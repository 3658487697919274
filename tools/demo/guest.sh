#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The demo, in the guest: what a person should see in ten seconds.
echo "=== demo begin ==="
echo "kernel $(uname -r), handshake module: $(cat /sys/module/handshake/initstate 2>/dev/null || echo missing)"
genl ctrl get name handshake | sed -n '1,2p;/multicast groups/,$p' | sed 's/^/  /'
echo "=== demo end ==="
grep -q live /sys/module/handshake/initstate
