#!/usr/bin/env bash
# Builds the npm package into pkg/: release wasm → wasm-bindgen --target web → wasm-opt -Oz
# → terser on the JS glue → short import names (scripts/minify-imports.mjs)
# (binaryen from npm; never Debian's wasm-opt 108, which writes broken modules) → package.json
# and README rendered from pkg-template/.
set -euo pipefail
cd "$(dirname "$0")/.."

# without `std` (see Cargo.toml [features]): the shipped module has no std panic/format code
# no build-machine paths in the shipped module's panic locations (and a few bytes less)
RUSTFLAGS="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src/= --remap-path-prefix=$PWD/=" \
  cargo build --release --target wasm32-unknown-unknown --lib --no-default-features --features nostd-wasm
rm -rf pkg
.tools/bin/wasm-bindgen --target web --out-dir pkg target/wasm32-unknown-unknown/release/mcp_oauth_wasm.wasm
# --low-memory-unused: Rust puts a 1 MB stack below its data and the stack never reaches the first
# 1 KB, so binaryen may fold pointer offsets; flatten + rereloop and a second -Oz find ~0.5 KB more
node_modules/.bin/wasm-opt --low-memory-unused -Oz --flatten --rereloop -Oz -Oz --converge --strip-producers --strip-target-features --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/mcp_oauth_wasm_bg.wasm -o pkg/mcp_oauth_wasm_bg.wasm
# the JS glue minified (terser from npm): it is generated code; the .d.ts keeps the docs
node_modules/.bin/terser pkg/mcp_oauth_wasm.js --module --compress passes=2 --mangle -o pkg/mcp_oauth_wasm.js.min
mv pkg/mcp_oauth_wasm.js.min pkg/mcp_oauth_wasm.js
# the shell's own JS snippet (src/browser/shell.js, copied by wasm-bindgen under pkg/snippets/)
for f in $(find pkg/snippets -name '*.js'); do
  node_modules/.bin/terser "$f" --module --compress passes=2 --mangle -o "$f.min"
  mv "$f.min" "$f"
done
# short import names in both the wasm and the glue (checked by instantiating the result in Node)
node scripts/minify-imports.mjs pkg
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
sed "s/{{VERSION}}/$version/" pkg-template/package.json > pkg/package.json
cp pkg-template/README.md pkg/README.md
rm -f pkg/.gitignore
printf 'pkg/ built: %s\n' "$(cd pkg && ls | tr '\n' ' ')"
