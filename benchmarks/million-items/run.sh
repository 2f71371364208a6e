#!/usr/bin/env bash
# Timbral past its real data sets: client bundles of 100k and 1M synthetic
# items (`timbral synth-bundle`: CF factors, compact text vectors, audio,
# labels, Zipf popularity; nothing trained), then
#   natively (`timbral bench --content-only --bundle`): bytes, load time and
#     memory, fused top-50 through the shortlist (1M: `--shortlist auto`
#     builds one from 200k items) with its recall against the exact list,
#     exact with and without the content sketch, similar items, and
#     instant-distance HNSW against the exact int8 scan;
#   in headless Chromium (www/tests/bench-large.mjs, the wasm package):
#     load time, wasm memory, fused top-50 and similar items.
# Needs .ci/setup and `npm run build` in www/. Takes about 20 minutes on two
# cores, most of it building the 1M-item HNSW index.
#
#   bash benchmarks/million-items/run.sh [ITEMS …]   (default: 100000 1000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
out=target/million-items
mkdir -p "$out"
cargo build --quiet --locked -p timbral-train
bin=target/debug/timbral
bundles=()
for n in "${sizes[@]}"; do
  b="$out/synthetic-$n.bundle"
  [ -f "$b" ] || "$bin" synth-bundle --items "$n" --out "$b"
  bundles+=("$PWD/$b")
done
for b in "${bundles[@]}"; do
  echo "== native: $b"
  "$bin" -q bench --content-only --bundle "$b" | grep -v '^embed\|encoder'
done
echo "== wasm in Chromium"
(cd www && node tests/bench-large.mjs "${bundles[@]}")
