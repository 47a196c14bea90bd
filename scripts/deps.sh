#!/usr/bin/env bash
# Installs what the build and the tests need, idempotently: the wasm target, wasm-bindgen-cli
# (the exact version in Cargo.lock, into .tools/), the npm packages, and — with `--browser` —
# Debian's chromium and chromium-driver; with `--interop`, the interop suite's stacks (a Python venv from
# PyPI, npm lock files of their own). Everything comes from crates.io, npm, PyPI or Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

[ -f Cargo.lock ] || cargo generate-lockfile
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
have=$(.tools/bin/wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  log "installing wasm-bindgen-cli $want into .tools/ (a few minutes, once)"
  # no --locked: the registry index can lag one of its dependencies
  cargo install wasm-bindgen-cli --version "$want" --root .tools --force
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "${1:-}" = "--browser" ]; then
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    log "installing Debian's chromium and chromium-driver"
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi

if [ "${1:-}" = "--interop" ]; then
  # the interop suite's third-party stacks (tests/interop/): Python packages from PyPI into a
  # virtual environment, npm packages from each stack's own lock file
  venv=.tools/interop-venv
  reqs=tests/interop/python/requirements.txt
  want=$(sha256sum "$reqs" | cut -d' ' -f1)
  if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$want" ]; then
    log "installing the interop suite's Python packages into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$reqs"
    echo "$want" > "$venv/.requirements"
  fi
  for stack in tests/interop/better-auth tests/interop/cloudflare; do
    if [ ! -f "$stack/node_modules/.package-lock.json" ] || [ "$stack/package-lock.json" -nt "$stack/node_modules/.package-lock.json" ]; then
      log "installing the npm packages of $stack"
      npm ci --prefix "$stack" --no-audit --no-fund --loglevel=error
    fi
  done
fi
