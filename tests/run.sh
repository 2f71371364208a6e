#!/usr/bin/env bash
# Runs every test: formatting, the core's wasm32 build, and the workspace's
# unit, integration and system tests (those needing ../shared/data skip,
# saying so, when it is absent). The README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== timbral-core for wasm32-unknown-unknown"
cargo build --locked -p timbral-core --target wasm32-unknown-unknown

echo "== cargo test (workspace)"
cargo test --locked --workspace

echo "== MiniLM encoder in wasm32 (simd128) under Node, wasm-bindgen-test"
cargo test --locked -p timbral-core --features encoder --target wasm32-unknown-unknown --test encoder_wasm
