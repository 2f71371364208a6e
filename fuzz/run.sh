#!/usr/bin/env bash
# Runs every fuzz target from its committed seeds (corpus/TARGET/seed-*),
# growing a scratch corpus under target/ so the committed one stays small.
#   bash fuzz/run.sh 20              20 s a target
#   bash fuzz/run.sh --runs 1000000  the long run: 1M executions a target
# A crash leaves its input in fuzz/artifacts/TARGET/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
# cargo-fuzz passes -Z flags (sanitizer, coverage); the machine's one
# toolchain is stable, and RUSTC_BOOTSTRAP lets it take them.
export RUSTC_BOOTSTRAP=1
# cargo-fuzz, pinned; installed here, on first use (CI's smoke,
# crates/timbral-train/tests/fuzz_corpus.rs, needs no sanitizer build).
CARGO_FUZZ=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ"; then
  cargo install cargo-fuzz --version "=$CARGO_FUZZ" --locked
fi
TARGETS="bundle profile table_text table_jsonl table_parquet"
if [ "${1:-}" = "--runs" ]; then LIMIT="-runs=${2:?--runs N}"; else LIMIT="-max_total_time=${1:-20}"; fi
cargo fuzz build --fuzz-dir fuzz -O
for t in $TARGETS; do
  work="fuzz/target/corpus/$t"
  mkdir -p "$work"
  cp fuzz/corpus/"$t"/seed-* "$work"/
  echo "== fuzz $t ($LIMIT)"
  cargo fuzz run --fuzz-dir fuzz -O "$t" "$work" -- "$LIMIT" -max_len=65536 -timeout=20 \
    -rss_limit_mb=4096 -print_final_stats=1 2>&1 | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done|==|SUMMARY|.*(panicked|ERROR|deadly))" || true
  if ls fuzz/artifacts/"$t"/crash-* fuzz/artifacts/"$t"/oom-* fuzz/artifacts/"$t"/timeout-* >/dev/null 2>&1; then
    echo "error: fuzz target $t found a failing input: $(ls fuzz/artifacts/"$t"/)" >&2
    exit 1
  fi
done
