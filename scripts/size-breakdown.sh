#!/usr/bin/env bash
# What takes the room in the optimized wasm, by origin: the release module through wasm-bindgen
# and wasm-opt -Oz like the package, but with names kept (-g), then twiggy (crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PWD/.tools/bin:$PATH"
command -v twiggy >/dev/null || cargo install twiggy --root .tools >/dev/null
out=$(mktemp -d)
# no build-machine paths in the shipped module's panic locations (and a few bytes less)
RUSTFLAGS="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src/= --remap-path-prefix=$PWD/=" \
  cargo build --release --target wasm32-unknown-unknown --lib -q --no-default-features --features nostd-wasm
wasm-bindgen --target web --keep-debug --out-dir "$out" target/wasm32-unknown-unknown/release/mcp_oauth_wasm.wasm
node_modules/.bin/wasm-opt -Oz -g --strip-dwarf --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue "$out/mcp_oauth_wasm_bg.wasm" -o "$out/named.wasm"
twiggy top -n 100000 "$out/named.wasm" | awk -F'┊' 'NR>2 && $3 !~ /Σ|and [0-9]+ more|custom section|names/ {
  b=$1+0; n=$3; c="other"
  if (n ~ /serde/) c="serde"; else if (n ~ /flt2dec|dec2flt|float/) c="float"
  else if (n ~ /fmt/) c="core::fmt"; else if (n ~ /future_to_promise|facade/) c="facade (+ futures)"
  else if (n ~ /mcp_oauth_wasm::flow/) c="flow"; else if (n ~ /mcp_oauth_wasm::core/) c="core"
  else if (n ~ /mcp_oauth_wasm::browser/) c="browser"; else if (n ~ /wasm_bindgen|js_sys|web_sys|externref|__wbg/) c="wasm-bindgen"
  else if (n ~ /sha2|base64|getrandom/) c="crypto"; else if (n ~ /dlmalloc|alloc/) c="alloc"; else if (n ~ /data\[/) c="data"
  s[c]+=b; t+=b } END { for (k in s) printf "%-20s %8d\n", k, s[k]; printf "%-20s %8d\n", "total (raw bytes)", t }' | sort -k2 -n -r
[ "${1:-}" = "--top" ] && twiggy top -n 40 "$out/named.wasm"
rm -rf "$out"
