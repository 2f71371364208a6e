"""Train Spark MLlib's implicit ALS on a plays file, for `timbral import spark-als`.

Runs anywhere Spark runs: `spark-submit tools/spark/train_als.py …` on a
cluster, or `python tools/spark/train_als.py …` with `pyspark` from PyPI
(local mode). See tools/spark/README.md.

It writes, under --out:
  model/        ALSModel.save: metadata/, userFactors/, itemFactors/ (Parquet)
  als/          ALS.save, the estimator: regParam, alpha, implicitPrefs, maxIter
  ids/users/    Parquet (index: int, id: string): Spark's integer id → the
  ids/items/    data's own id (ALS takes integers; the data's ids are text)
  recommendations/  (with --recommend K) JSON Lines (id: string, items:
                array<string>, scores: array<float>): recommendForAllUsers(K),
                Spark's own ranking, for checking an imported bundle against.

The rating ALS sees is ln(1 + plays): its confidence is then
1 + alpha·ln(1 + plays), the same as Timbral's trainer, so a listener folded
into the imported bundle is scored as Spark scores the users it trained.
"""

import argparse
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plays", required=True,
                   help="plays table: CSV/TSV with a header (.tsv/.dat tab-separated), or Parquet")
    p.add_argument("--user-col", default=None, help="default: the first of user, userID, user_id")
    p.add_argument("--item-col", default=None, help="default: the first of item, artistID, item_id, track_id")
    p.add_argument("--plays-col", default=None,
                   help="default: the first of plays, weight, count; none: 1 play a row")
    p.add_argument("--out", required=True, help="output directory (model/, ids/, recommendations/)")
    p.add_argument("--rank", type=int, default=64)
    p.add_argument("--reg", type=float, default=0.05,
                   help="regParam; Spark scales it by each row's rating count")
    p.add_argument("--alpha", type=float, default=3.0)
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--partitions", type=int, default=0,
                   help="user and item blocks (default: Spark's parallelism)")
    p.add_argument("--recommend", type=int, default=0, metavar="K",
                   help="also write recommendForAllUsers(K)")
    p.add_argument("--master", default=None, help="e.g. local[2]; spark-submit sets it otherwise")
    return p.parse_args(argv)


def pick(columns, given, candidates, what):
    if given is not None:
        if given not in columns:
            sys.exit(f"error: --{what}-col {given!r} is not a column of the plays file (columns: {columns})")
        return given
    lower = {c.lower(): c for c in columns}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def main(argv):
    args = parse_args(argv)
    from pyspark.sql import SparkSession, Window
    from pyspark.sql import functions as F
    from pyspark.ml.recommendation import ALS

    builder = SparkSession.builder.appName("timbral-train-als")
    if args.master:
        builder = builder.master(args.master)
    # Local runs bind to the loopback address only.
    builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    builder = builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
    if (args.master or "").startswith("local"):
        # A few shuffle partitions suit one machine (Spark's 200 are for clusters).
        builder = builder.config("spark.sql.shuffle.partitions", "8")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")

    path = args.plays
    if path.endswith(".parquet") or path.endswith(".pq"):
        df = spark.read.parquet(path)
    else:
        sep = "\t" if path.endswith((".tsv", ".dat", ".tsv.gz", ".dat.gz")) else ","
        df = spark.read.option("header", True).option("sep", sep).csv(path)
    user = pick(df.columns, args.user_col, ["user", "userID", "user_id", "uid"], "user")
    item = pick(df.columns, args.item_col, ["item", "artistID", "item_id", "track_id", "artist"], "item")
    plays = pick(df.columns, args.plays_col, ["plays", "weight", "count", "playcount"], "plays")
    if user is None or item is None:
        sys.exit(f"error: {path}: no user or item column among {df.columns}: give --user-col and --item-col")

    rows = df.select(
        F.col(user).cast("string").alias("user"),
        F.col(item).cast("string").alias("item"),
        (F.col(plays).cast("double") if plays else F.lit(1.0)).alias("plays"),
    )
    ok = F.coalesce(F.col("user").isNotNull() & F.col("item").isNotNull() & F.col("plays").isNotNull()
          & ~F.isnan("plays") & (F.col("plays") > 0), F.lit(False))
    n_bad = rows.filter(~ok).count()
    if n_bad:
        print(f"{path}: skipped {n_bad} rows without a user, an item or a positive play count",
              file=sys.stderr)
    rows = rows.filter(ok).groupBy("user", "item").agg(F.sum("plays").alias("plays"))

    # Dense integer ids, in the data's id order (deterministic for a file).
    def index(col):
        ids = rows.select(F.col(col).alias("id")).distinct()
        return ids.withColumn("index", (F.row_number().over(Window.orderBy("id")) - 1).cast("int"))

    users, items = index("user"), index("item")
    users.cache()
    items.cache()
    ratings = (rows.join(users.withColumnRenamed("id", "user").withColumnRenamed("index", "u"), "user")
                   .join(items.withColumnRenamed("id", "item").withColumnRenamed("index", "i"), "item")
                   .select("u", "i", F.log1p("plays").alias("rating")))

    als = ALS(rank=args.rank, maxIter=args.iterations, regParam=args.reg, alpha=args.alpha,
              implicitPrefs=True, userCol="u", itemCol="i", ratingCol="rating",
              seed=args.seed, coldStartStrategy="drop")
    if args.partitions:
        als = als.setNumUserBlocks(args.partitions).setNumItemBlocks(args.partitions)
    model = als.fit(ratings)

    out = args.out.rstrip("/")
    model.write().overwrite().save(f"{out}/model")
    # The model's own metadata holds its rank but not how it was trained:
    # the estimator beside it holds regParam, alpha and implicitPrefs,
    # which a new listener's fold-in needs.
    als.write().overwrite().save(f"{out}/als")
    users.select("index", "id").coalesce(1).write.mode("overwrite").parquet(f"{out}/ids/users")
    items.select("index", "id").coalesce(1).write.mode("overwrite").parquet(f"{out}/ids/items")
    n_users, n_items, n_ratings = users.count(), items.count(), ratings.count()
    print(f"trained ALS rank {args.rank}, regParam {args.reg}, alpha {args.alpha}, "
          f"{args.iterations} iterations on {n_ratings} plays ({n_users} users, {n_items} items) "
          f"→ {out}/model")

    if args.recommend > 0:
        recs = model.recommendForAllUsers(args.recommend)
        exploded = (recs.select("u", F.posexplode("recommendations").alias("rank", "r"))
                        .select("u", "rank", F.col("r.i").alias("i"), F.col("r.rating").alias("score"))
                        .join(items.withColumnRenamed("index", "i").withColumnRenamed("id", "item"), "i"))
        grouped = (exploded.groupBy("u")
                   .agg(F.sort_array(F.collect_list(F.struct("rank", "item", "score"))).alias("l"))
                   .join(users.withColumnRenamed("index", "u"), "u")
                   .select("id", F.col("l.item").alias("items"), F.col("l.score").alias("scores")))
        grouped.coalesce(1).write.mode("overwrite").json(f"{out}/recommendations")
        print(f"recommendForAllUsers({args.recommend}) → {out}/recommendations")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
