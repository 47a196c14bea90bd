#!/usr/bin/env bash
# Builds the npm package into pkg/: release wasm → wasm-bindgen --target web → wasm-opt (both as
# scripts/wasm-build.sh says) → terser on the JS glue and the shell snippet → package.json and
# README rendered from pkg-template/.
# Nothing changed since the last build (the sources, the manifests, the template, these scripts,
# the tools): pkg/ is reused, so `make demo` starts in a second. --force rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=target/pkg.stamp
inputs=$( (find src pkg-template -type f -print0; printf '%s\0' Cargo.toml Cargo.lock scripts/build-pkg.sh scripts/wasm-build.sh) \
  | sort -z | xargs -0 sha256sum; .tools/bin/wasm-bindgen --version; cat node_modules/binaryen/package.json node_modules/terser/package.json | grep '"version"')
inputs=$(printf '%s' "$inputs" | sha256sum | cut -d' ' -f1)
if [ "${1:-}" != "--force" ] && [ -f pkg/mcp_oauth_wasm_bg.wasm ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
  echo "pkg/ is up to date (make clean, or scripts/build-pkg.sh --force, rebuilds it)"
  exit 0
fi
echo "building the package into pkg/: release wasm, wasm-bindgen, wasm-opt, terser (about 30 s; minutes the first time)"

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
mkdir -p target && printf '%s\n' "$inputs" > "$stamp"
printf 'pkg/ built: %s\n' "$(cd pkg && ls | tr '\n' ' ')"
