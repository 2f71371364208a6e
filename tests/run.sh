#!/usr/bin/env bash
# Runs every test: formatting, the core's wasm32 build, the workspace's
# unit, integration and system tests (those needing ../shared/data skip,
# saying so, when it is absent), a short smoke of each fuzz target, the encoder and the bindings in wasm32
# (Node, Chromium), the browser app (Playwright, conformance, benchmark) and
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

step "cargo clippy (workspace, all targets, warnings are errors)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "timbral-core for wasm32-unknown-unknown"
cargo build --locked -p timbral-core --target wasm32-unknown-unknown

step "cargo test (workspace): build"
cargo test --locked --workspace --no-run
step "cargo test (workspace): run"
cargo test --locked --workspace

step "fuzz smoke: every decoder target from its seeds, 15 s each (the long run: bash fuzz/run.sh --runs 1000000)"
bash fuzz/run.sh 15

step "MiniLM encoder in wasm32 (simd128) under Node, wasm-bindgen-test"
cargo test --locked -p timbral-encoder --target wasm32-unknown-unknown --test encoder_wasm

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
      cargo run -q --locked -p timbral-train -- -q train --client --out ../target/www/default-client.bundle
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
