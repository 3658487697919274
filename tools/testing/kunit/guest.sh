#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# After the KUnit suites ran at insmod: the module must unload cleanly.
[ "$1" = reference ] && exit 0
. /mnt/src/scripts/guest/ktap.sh
ktap_suite handshake_kunit_unload 1
ktap_check module_unloads_after_kunit rmmod handshake
ktap_end
