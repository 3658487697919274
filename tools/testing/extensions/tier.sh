#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "extensions": what the module does beyond the C service (the groups
# only agents may join, READY again for a joining agent, DONE from agents
# newer than the spec), in the agent tier's bed: handshake.ko, the test
# consumer hs_consumer.ko, the real tlshd and the scripted agent. Skipped
# on the reference kernel.
exec bash "$(dirname "$0")/../agent/tier.sh" extensions
