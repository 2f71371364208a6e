#!/usr/bin/env bash
# Spark MLlib ALS beside Timbral's own CF on HetRec, on the same per-user
# 20% holdouts (three split seeds): `timbral eval --write-split` writes each
# split's training plays; tools/spark/train_als.py fits Spark's implicit ALS
# on them in local mode; `timbral import spark-als` makes the bundle; `eval
# --bundle` scores it beside ALS and iALS on the same held-out items.
# Needs .ci/setup (target/spark-venv). About 10 minutes on two cores.
#
#   bash benchmarks/spark-als/run.sh [DATA] [REG_PARAM] [ALPHA]
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/hetrec2011-lastfm-2k}
reg=${2:-0.5}
alpha=${3:-1}
python=${TIMBRAL_SPARK_PYTHON:-target/spark-venv/bin/python}
out=target/spark-als
mkdir -p "$out"
cargo build --quiet --locked -p timbral-train
bin=target/debug/timbral
for seed in 42 1 7; do
  split="$out/split-$seed"
  "$bin" -q eval --data "$data" --seed "$seed" --write-split "$split"
  started=$SECONDS
  "$python" tools/spark/train_als.py --master 'local[2]' --plays "$split/train.tsv" \
    --out "$out/spark-$seed" --reg "$reg" --alpha "$alpha" --rank 64 --iterations 15 --seed "$seed" \
    2> >(grep -v WARN >&2)
  echo "Spark fit (JVM start, read, index, 15 iterations, save): $((SECONDS - started)) s"
  "$bin" -q import spark-als --model "$out/spark-$seed" --plays "$split/train.tsv" --no-content \
    --out "$out/spark-$seed.bundle"
  echo "== seed $seed"
  "$bin" -q eval --data "$data" --seed "$seed" --no-content --models popularity,als,ials \
    --bundle "$out/spark-$seed.bundle" | sed -n '/^model/,$p'
done
