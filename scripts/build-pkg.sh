#!/usr/bin/env bash
# Builds the npm package into pkg/: release wasm → wasm-bindgen --target web → wasm-opt (both as
# scripts/wasm-build.sh says) → terser on the JS glue and the shell snippet → package.json and
# README rendered from pkg-template/.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/wasm-build.sh
build_release_wasm
rm -rf pkg
.tools/bin/wasm-bindgen --target web --out-dir pkg "$RELEASE_WASM"
node_modules/.bin/wasm-opt "${WASM_OPT_PASSES[@]}" --strip-producers --strip-target-features "${WASM_OPT_FEATURES[@]}" \
  pkg/mcp_oauth_wasm_bg.wasm -o pkg/mcp_oauth_wasm_bg.wasm
# the JS minified (terser from npm): generated glue and our snippet; the .d.ts keeps the docs
for f in pkg/mcp_oauth_wasm.js $(find pkg/snippets -name '*.js'); do
  node_modules/.bin/terser "$f" --module --compress passes=2 --mangle -o "$f.min"
  mv "$f.min" "$f"
done
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
sed "s/{{VERSION}}/$version/" pkg-template/package.json > pkg/package.json
cp pkg-template/README.md pkg/README.md
rm -f pkg/.gitignore
printf 'pkg/ built: %s\n' "$(cd pkg && ls | tr '\n' ' ')"
