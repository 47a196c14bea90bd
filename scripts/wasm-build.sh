# Sourced by build-pkg.sh and size-breakdown.sh, so what is measured is what ships.

# The release wasm (Cargo.toml's [profile.release]: opt-level z, LTO, one codegen unit, abort on
# panic), with no build-machine paths in its panic locations. wasm-opt strips the names and the
# producers section afterwards (not Cargo's `strip`: wasm-bindgen reads the target_features section).
build_release_wasm() {
  RUSTFLAGS="--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src/= --remap-path-prefix=$PWD/=" \
    cargo build --release --target wasm32-unknown-unknown --lib "$@"
}
RELEASE_WASM=target/wasm32-unknown-unknown/release/mcp_oauth_wasm.wasm

# wasm-opt (binaryen from npm; never Debian's wasm-opt 108, which writes broken modules).
# --low-memory-unused: Rust puts its 1 MB stack below its data and the stack never reaches the
# first 1 KB, so binaryen may fold pointer offsets; flatten + rereloop and a second -Oz find more.
WASM_OPT_PASSES=(--low-memory-unused -Oz --flatten --rereloop -Oz -Oz --converge)
WASM_OPT_FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)
