#!/usr/bin/env bash
# Runs every test: formatting, the core's wasm32 build, the workspace's
# unit, integration and system tests (those needing ../shared/data skip,
# saying so, when it is absent; among them the fuzz smoke, every fuzz
# target on its corpus and mutations of it), the bindings in wasm32
# (Node, Chromium), the browser app (the shipped encoder module against
# onnxruntime's fixture, Playwright, conformance, benchmark) and
# the Workers on a local workerd (HTTP suite, conformance, load test).
# The README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says how long it took, and the summary at exit (pass or fail)
# lists them all, so a slow CI run shows where its time went.
steps=()
step() {
  finish_step
  step_name=$1 step_started=$SECONDS
  echo "== $1"
}
finish_step() {
  if [ -n "${step_name:-}" ]; then
    steps+=("$(printf '%5d s  %s' $((SECONDS - step_started)) "$step_name")")
    echo "-- ${steps[-1]}"
    step_name=
  fi
}
summary() {
  finish_step
  echo "== time by step"
  printf '%s\n' "${steps[@]}"
}
trap summary EXIT

step "cargo fmt --check"
cargo fmt --all -- --check

# `cargo clippy` is `cargo check` with clippy-driver as the workspace's
# rustc wrapper. Here the wrapper is on the test build itself: the same
# lints on every target of every workspace crate, warnings as errors, and
# the dependencies (tract, tokenizers, parquet: most of CI's compile time)
# compile once, not once checked for clippy and again built for the tests.
export RUSTC_WORKSPACE_WRAPPER
RUSTC_WORKSPACE_WRAPPER="$(dirname "$(rustup which cargo)")/clippy-driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
step "cargo clippy on the test build (workspace, all targets, warnings are errors)"
cargo test --locked --workspace --all-targets --no-run

step "timbral-core for wasm32-unknown-unknown"
cargo build --locked -p timbral-core --target wasm32-unknown-unknown

step "cargo test (workspace): run"
# .ci/setup installed redis-server: its tests may not skip here.
export TIMBRAL_REQUIRE_REDIS=1
# .ci/setup made the Spark venv: the Spark import test may not skip either.
export TIMBRAL_SPARK_PYTHON="$PWD/target/spark-venv/bin/python" TIMBRAL_REQUIRE_SPARK=1
cargo test --locked --workspace --all-targets
cargo test --locked --workspace --doc
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
# The CLI that build just made, for the app's and the Workers' builds and
# conformance tests: `cargo run -p timbral-train` alone unifies features
# differently and would build tract and tokenizers a second time.
export TIMBRAL_BIN="$PWD/target/debug/timbral"

step "timbral-wasm bindings under Node and in headless Chromium, wasm-bindgen-test"
cargo test --locked -p timbral-wasm --target wasm32-unknown-unknown
CHROMEDRIVER=$(command -v chromedriver) WASM_BINDGEN_USE_BROWSER=1 \
  WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/crates/timbral-wasm/webdriver.json" \
  cargo test --locked -p timbral-wasm --target wasm32-unknown-unknown

# The app on the embedded default, as a clone without ../shared builds it
# (without ../shared the next step does exactly this, so it runs once).
if [ -d "${TIMBRAL_SHARED_DATA:-../shared/data}/hetrec2011-lastfm-2k" ]; then
  step "www on the embedded default catalogue: build, Playwright end to end, conformance"
  (
    cd www
    mkdir -p ../target/www
    [ -f ../target/www/default-client.bundle ] ||
      "$TIMBRAL_BIN" -q train --client --out ../target/www/default-client.bundle
    TIMBRAL_BUNDLE=../target/www/default-client.bundle npm run build
    npm test
  )
fi

step "www: build the package and the app"
(cd www && npm run build)
step "www: Playwright end to end, conformance"
(cd www && npm test)
step "www: benchmark"
(cd www && npm run bench)

step "worker: build both Workers"
(cd worker && npm run build)
step "worker: HTTP tests, conformance and a load test on a local workerd"
(cd worker && npm test)
