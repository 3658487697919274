#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Tier "e2e-sid": the e2e tier's cases with the newest agent, tlshd 1.4.0
# from a Debian sid guest root (configured through /etc/tlshd/config), and
# what that agent probes of the kernel when it starts.
E2E_AGENT=sid exec bash "$(dirname "$0")/../e2e/tier.sh"
