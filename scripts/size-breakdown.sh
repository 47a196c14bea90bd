#!/usr/bin/env bash
# What takes the room in the optimized wasm, by origin: the release module through wasm-bindgen
# and wasm-opt like the package (scripts/wasm-build.sh), but with names kept (-g), then twiggy
# (crates.io). `--top` also lists the 40 biggest items.
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
twiggy top -n 100000 "$out/named.wasm" | awk -F'┊' 'NR>2 && $3 !~ /Σ|and [0-9]+ more|custom section|names" subsection/ {
  b=$1+0; n=$3; c="other"
  if (n ~ /data segment/) c="data (strings, tables)"
  else if (n ~ /serde_wasm_bindgen/) c="serde-wasm-bindgen"
  else if (n ~ /<impl serde_core::(de|ser)::(Deserialize|Serialize) for mcp_oauth/) c="serde derives (ours)"
  else if (n ~ /serde_json|zmij|itoa/) c="serde_json"
  else if (n ~ /serde_core/) c="serde"
  else if (n ~ /url::|idna|form_urlencoded|percent_encoding/) c="url"
  else if (n ~ /mcp_oauth_wasm::facade/) c="ours: facade"
  else if (n ~ /mcp_oauth_wasm::flow/) c="ours: flow"
  else if (n ~ /mcp_oauth_wasm::core/) c="ours: core"
  else if (n ~ /mcp_oauth_wasm::browser/) c="ours: browser"
  else if (n ~ /mcpauth_|externref|wasm_bindgen|js_sys|web_sys|__wbg/) c="wasm-bindgen glue, js-sys, web-sys"
  else if (n ~ /gloo/) c="gloo-storage"
  else if (n ~ /dlmalloc|__rdl_|__rust_(alloc|dealloc|realloc)/) c="allocator"
  else if (n ~ /fmt|flt2dec|Formatter|Display|Debug/) c="core::fmt"
  else if (n ~ /sha2|base64|getrandom/) c="sha2, base64, getrandom"
  else if (n ~ /core::|core\[|alloc::|alloc\[|std::|std\[/) c="std, core, alloc (generic)"
  s[c]+=b; t+=b } END { for (k in s) printf "%8d  %s\n", s[k], k; printf "%8d  %s\n", t, "total (raw bytes, names stripped)" }' | sort -n -r
if [ "${1:-}" = "--top" ]; then twiggy top -n 40 "$out/named.wasm"; fi
