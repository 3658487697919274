#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Format the module's Rust sources as the kernel does (its .rustfmt.toml).
#   scripts/rustfmt.sh          rewrite them in place
#   scripts/rustfmt.sh --check  only show what would change; fail if anything would
set -euo pipefail
. "$(dirname "$0")/lib.sh"

check=()
[ "${1:-}" = --check ] && check=(--check)
config=$(ksrc_dir)/.rustfmt.toml
[ -f "$config" ] || die "no $config: run scripts/prereqs.sh"
cd "$TOP"
mapfile -t files < <(git ls-files -co --exclude-standard 'rust/*.rs' 'rust/**/*.rs')
/usr/bin/rustfmt "${check[@]}" --edition 2021 --config-path "$config" "${files[@]}"
