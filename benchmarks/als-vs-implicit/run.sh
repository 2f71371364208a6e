#!/usr/bin/env bash
# ALS speed, side by side with implicit 0.7.3 (PyPI), as a user runs each:
# the whole process on one plays file, `timbral train --no-content
# --no-tune` against implicit_train.py (read, map ids, CSR, fit), at 64 and
# 128 factors, 15 iterations, the same thread count, runs alternated in one
# window, best of $REPEATS each. Peak memory is each process's maximum
# resident set (GNU time). Prints a table; JSON to target/bench/.
#
#   benchmarks/als-vs-implicit/run.sh            # 10.5M plays: 200k × 50k
#   PLAYS_USERS=20000 PLAYS_ITEMS=5000 benchmarks/als-vs-implicit/run.sh
#
# Not part of CI (minutes of both cores); the CI smoke is the trainer's
# own tests. Needs PyPI for the virtual environment, once.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-2}
USERS=${PLAYS_USERS:-200000}
ITEMS=${PLAYS_ITEMS:-50000}
PER_USER=${PLAYS_PER_USER:-68}
REPEATS=${REPEATS:-2}
FACTORS=${FACTORS:-"64 128"}
out=target/bench/als-vs-implicit
mkdir -p "$out"

venv=target/bench/venv-implicit
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import implicit, pandas, threadpoolctl" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "implicit==0.7.3" pandas threadpoolctl
fi

# The CLI without the text encoder (no tract), as `--no-content` needs.
cargo build -q --locked --release -p timbral-train --bin timbral --no-default-features
bin=target/release/timbral

plays="$out/plays-${USERS}x${ITEMS}x${PER_USER}.tsv"
[ -f "$plays" ] || "$bin" -q synth --out "$plays" --users "$USERS" --items "$ITEMS" --plays-per-user "$PER_USER"
echo "plays file: $plays ($(($(wc -l < "$plays") - 1)) rows, $(du -h "$plays" | cut -f1))"

# One run: wall seconds and peak RSS (MiB) on one line.
measure() {
  local log=$1; shift
  /usr/bin/time -f '%e %M' -o "$log.time" "$@" > "$log.out" 2> "$log.err"
  awk '{printf "%s %.0f\n", $1, $2 / 1024}' "$log.time"
}

results="$out/results.jsonl"
: > "$results"
for f in $FACTORS; do
  for r in $(seq "$REPEATS"); do
    read -r ts tm < <(measure "$out/timbral-$f-$r" "$bin" -q --threads "$THREADS" train --no-content --no-tune \
      --data "$plays" --factors "$f" --iterations 15 --out "$out/timbral-$f.bundle")
    read -r is im < <(measure "$out/implicit-$f-$r" "$venv/bin/python" benchmarks/als-vs-implicit/implicit_train.py \
      "$plays" --factors "$f" --iterations 15 --threads "$THREADS")
    echo "factors $f, run $r: timbral ${ts} s (${tm} MiB), implicit ${is} s (${im} MiB); implicit phases $(cat "$out/implicit-$f-$r.out")"
    printf '{"factors":%s,"run":%s,"timbral_s":%s,"timbral_mib":%s,"implicit_s":%s,"implicit_mib":%s,"implicit":%s}\n' \
      "$f" "$r" "$ts" "$tm" "$is" "$im" "$(cat "$out/implicit-$f-$r.out")" >> "$results"
  done
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\n| factors | timbral s (best) | implicit s (best) | ratio | timbral peak MiB | implicit peak MiB | implicit fit s |")
print("|---|---|---|---|---|---|---|")
for f in sorted({r["factors"] for r in rows}):
    rs = [r for r in rows if r["factors"] == f]
    t = min(r["timbral_s"] for r in rs); i = min(r["implicit_s"] for r in rs)
    print(f"| {f} | {t:.1f} | {i:.1f} | {t / i:.2f} | {max(r['timbral_mib'] for r in rs)} | {max(r['implicit_mib'] for r in rs)} | {min(r['implicit']['fit_s'] for r in rs):.1f} |")
PY
