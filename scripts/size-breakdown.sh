#!/usr/bin/env bash
# What takes the room in the optimized wasm, by origin: the release module through wasm-bindgen
# and wasm-opt like the package (scripts/wasm-build.sh), but with names kept (-g), then twiggy (crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PWD/.tools/bin:$PATH"
command -v twiggy >/dev/null || cargo install twiggy --root .tools >/dev/null
source scripts/wasm-build.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
build_release_wasm -q
wasm-bindgen --target web --keep-debug --out-dir "$out" "$RELEASE_WASM"
# the package's passes, with names kept (-g)
node_modules/.bin/wasm-opt "${WASM_OPT_PASSES[@]}" -g --strip-dwarf "${WASM_OPT_FEATURES[@]}" "$out/mcp_oauth_wasm_bg.wasm" -o "$out/named.wasm"
twiggy top -n 100000 "$out/named.wasm" | awk -F'┊' 'NR>2 && $3 !~ /Σ|and [0-9]+ more|custom section|names/ {
  b=$1+0; n=$3; c="other"
  if (n ~ /serde/) c="serde"; else if (n ~ /flt2dec|dec2flt|float/) c="float"
  else if (n ~ /fmt/) c="core::fmt"; else if (n ~ /future_to_promise|facade/) c="facade (+ futures)"
  else if (n ~ /mcp_oauth_wasm::flow/) c="flow"; else if (n ~ /mcp_oauth_wasm::core/) c="core"
  else if (n ~ /mcp_oauth_wasm::browser/) c="browser"; else if (n ~ /wasm_bindgen|js_sys|web_sys|externref|__wbg/) c="wasm-bindgen"
  else if (n ~ /sha2|base64|getrandom/) c="crypto"; else if (n ~ /dlmalloc|alloc/) c="alloc"; else if (n ~ /data\[/) c="data"
  s[c]+=b; t+=b } END { for (k in s) printf "%8d  %s\n", s[k], k; printf "%8d  %s\n", t, "total (raw bytes)" }' | sort -n -r
if [ "${1:-}" = "--top" ]; then twiggy top -n 40 "$out/named.wasm"; fi
