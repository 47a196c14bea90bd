#!/usr/bin/env bash
# Prints the gzipped (-9) size of the built package's wasm and JS.
set -euo pipefail
cd "$(dirname "$0")/.."
total=0
for f in pkg/mcp_oauth_wasm_bg.wasm pkg/mcp_oauth_wasm.js $(find pkg/snippets -name '*.js' | sort); do
  gz=$(gzip -9c "$f" | wc -c)
  total=$((total + gz))
  printf '%-32s %7d bytes raw  %6d bytes gzip -9\n' "$f" "$(wc -c < "$f")" "$gz"
done
printf '%-32s %7s            %6d bytes gzip -9\n' "total" "" "$total"
