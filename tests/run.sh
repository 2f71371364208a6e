#!/usr/bin/env bash
# Runs every test: formatting, the core's wasm32 build, the workspace's
# unit, integration and system tests (those needing ../shared/data skip,
# saying so, when it is absent), a short smoke of each fuzz target, the encoder and the bindings in wasm32
# (Node, Chromium), the browser app (Playwright, conformance, benchmark) and
# the Workers on a local workerd (HTTP suite, conformance, load test).
# The README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (workspace, all targets, warnings are errors)"
cargo clippy --locked --workspace --all-targets -- -D warnings

echo "== timbral-core for wasm32-unknown-unknown"
cargo build --locked -p timbral-core --target wasm32-unknown-unknown

echo "== cargo test (workspace)"
cargo test --locked --workspace

echo "== fuzz smoke: every decoder target from its seeds, 15 s each (the long run: bash fuzz/run.sh --runs 1000000)"
bash fuzz/run.sh 15

echo "== MiniLM encoder in wasm32 (simd128) under Node, wasm-bindgen-test"
cargo test --locked -p timbral-encoder --target wasm32-unknown-unknown --test encoder_wasm

echo "== timbral-wasm bindings under Node and in headless Chromium, wasm-bindgen-test"
cargo test --locked -p timbral-wasm --target wasm32-unknown-unknown
CHROMEDRIVER=$(command -v chromedriver) WASM_BINDGEN_USE_BROWSER=1 \
  WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/crates/timbral-wasm/webdriver.json" \
  cargo test --locked -p timbral-wasm --target wasm32-unknown-unknown

# The app on the embedded default, as a clone without ../shared builds it
# (without ../shared the next step does exactly this, so it runs once).
if [ -d "${TIMBRAL_SHARED_DATA:-../shared/data}/hetrec2011-lastfm-2k" ]; then
  echo "== www on the embedded default catalogue: build, Playwright end to end, conformance"
  (
    cd www
    mkdir -p ../target/www
    [ -f ../target/www/default-client.bundle ] ||
      cargo run -q --locked -p timbral-train -- -q train --client --out ../target/www/default-client.bundle
    TIMBRAL_BUNDLE=../target/www/default-client.bundle npm run build
    npm test
  )
fi

echo "== www: build the package and the app, then Playwright end to end, conformance, benchmark"
(
  cd www
  npm run build
  npm test
  npm run bench
)

echo "== worker: build both Workers, then HTTP tests, conformance and a load test on a local workerd"
(
  cd worker
  npm run build
  npm test
)
