# The two front-door commands: `make demo` and `make test`. Everything they need is installed
# by scripts/deps.sh, idempotently.
.PHONY: lint demo test deps deps-browser deps-interop pkg size bench bench-smoke test-native test-browser test-e2e conformance interop fuzz fuzz-short clean
# one target at a time: deps.sh installs into the project and must not race itself under -j
.NOTPARALLEL:

WASM_BINDGEN_TEST_RUNNER := $(CURDIR)/.tools/bin/wasm-bindgen-test-runner

# make demo [TOKEN_TTL=60] [AUTO_APPROVE=1] [DPOP=1]: the debugger at http://127.0.0.1:9412
DEMO_ARGS := $(if $(TOKEN_TTL),--token-ttl=$(TOKEN_TTL)) $(if $(AUTO_APPROVE),--auto-approve) $(if $(DPOP),--dpop)

demo: deps pkg
	node tests/stack/stack.mjs $(DEMO_ARGS)

test: deps-browser deps-interop lint test-native fuzz-short pkg test-browser test-e2e conformance interop bench-smoke
	@echo "make test: all layers passed"

deps:
	bash scripts/deps.sh

deps-browser:
	bash scripts/deps.sh --browser

deps-interop:
	bash scripts/deps.sh --interop

pkg: deps
	bash scripts/build-pkg.sh

size: pkg
	bash scripts/size.sh

# this package against the MCP TypeScript SDK's client auth, side by side: bench/results.md
bench: deps-browser pkg
	node bench/run.mjs

# every measure of the benchmark runs, one round (nothing about time is asserted)
bench-smoke: deps-browser pkg
	node bench/run.mjs --smoke

# the lint gate: formatting, and clippy with every warning an error, native and wasm32
lint: deps
	cargo fmt --check
	cargo clippy --lib --tests -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --lib --tests -- -D warnings

test-native:
	cargo test --lib

test-browser: deps-browser
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=$(WASM_BINDGEN_TEST_RUNNER) \
	CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=120 \
	cargo test --target wasm32-unknown-unknown --test browser

test-e2e: pkg
	node --test --test-concurrency=1 tests/e2e/

# the MCP conformance suite's client-authorization scenarios, every revision, in headless Chromium
conformance: deps-browser pkg
	node tests/conformance/run.mjs

# third-party authorization stacks at their defaults (tests/interop/STACKS.md), in headless Chromium
interop: deps-browser deps-interop pkg
	node --test --test-concurrency=1 tests/interop/interop.test.mjs

# the fuzz harness (fuzz/, scripts/fuzz.sh) on stable Rust: ~10^7 executions per target, the
# corpus kept in fuzz/corpus/; fuzz-short is the ~10^5 round (a few minutes in all)
fuzz:
	bash scripts/fuzz.sh long

fuzz-short:
	bash scripts/fuzz.sh short

clean:
	rm -rf pkg target/wasm32-unknown-unknown
