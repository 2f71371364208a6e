//! Spark MLlib ALS in, with real Spark: `tools/spark/train_als.py` trains
//! in local mode (pyspark from PyPI, the Python that `TIMBRAL_SPARK_PYTHON`
//! names; .ci/setup makes it), `timbral import spark-als` writes the bundle,
//! and the bundle's known users' top-10 are Spark's own
//! `recommendForAllUsers` with each user's plays left out, as Timbral
//! serves them. On HetRec where ../shared is beside the checkout, else on
//! the synthetic generator's plays.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fails, ok, s};

/// The Python with pyspark, or `None` (skipped, saying so) where there is
/// none and `TIMBRAL_REQUIRE_SPARK` is unset.
fn spark_python() -> Option<PathBuf> {
    let python = std::env::var_os("TIMBRAL_SPARK_PYTHON").map(PathBuf::from);
    let works = python.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import pyspark"])
            .status()
            .is_ok_and(|s| s.success())
    });
    if !works {
        assert!(
            std::env::var_os("TIMBRAL_REQUIRE_SPARK").is_none(),
            "TIMBRAL_REQUIRE_SPARK is set but TIMBRAL_SPARK_PYTHON ({python:?}) cannot import pyspark"
        );
        eprintln!(
            "SKIPPED: no TIMBRAL_SPARK_PYTHON with pyspark (.ci/setup makes target/spark-venv)"
        );
        return None;
    }
    python
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The plays to train on: HetRec where it is beside the checkout, else a
/// synthetic set written into `dir`.
fn plays(dir: &Path) -> PathBuf {
    let hetrec = repo().join("../shared/data/hetrec2011-lastfm-2k");
    if hetrec.join("user_artists.dat").is_file() {
        return hetrec;
    }
    eprintln!("../shared/data is absent: Spark trains on synthetic plays instead of HetRec");
    let p = dir.join("plays.tsv");
    ok(&["synth", "--out", s(&p), "--users", "400", "--items", "600"]);
    p
}

/// `user → items` of a TSV whose first two columns are user and item.
fn read_pairs(path: &Path) -> HashMap<String, Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        m.entry(f[0].into()).or_default().push(f[1].into());
    }
    m
}

/// The job's `recommendForAllUsers`: user → items, best first.
fn spark_lists(dir: &Path) -> HashMap<String, Vec<String>> {
    let mut m = HashMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("part-") && name.ends_with(".json")) {
            continue;
        }
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let items = v["items"].as_array().unwrap();
            m.insert(
                v["id"].as_str().unwrap().to_string(),
                items
                    .iter()
                    .map(|i| i.as_str().unwrap().to_string())
                    .collect(),
            );
        }
    }
    m
}

fn overlap(a: &[String], b: &[String]) -> f64 {
    let b: HashSet<&String> = b.iter().collect();
    a.iter().filter(|x| b.contains(x)).count() as f64 / a.len().max(1) as f64
}

#[test]
fn a_spark_als_model_imports_and_ranks_as_spark_does() {
    let Some(python) = spark_python() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = plays(dir);
    let split = dir.join("split");
    ok(&[
        "-q",
        "eval",
        "--data",
        s(&data),
        "--seed",
        "42",
        "--write-split",
        s(&split),
    ]);
    let train = split.join("train.tsv");
    let heard = read_pairs(&train);
    let longest = heard.values().map(Vec::len).max().unwrap();

    // Spark, local mode, on the split's training plays; its own top lists
    // long enough to leave each user's plays out and keep 10.
    let started = std::time::Instant::now();
    let job = Command::new(&python)
        .arg(repo().join("tools/spark/train_als.py"))
        .args(["--plays", s(&train), "--out", s(&dir.join("spark"))])
        .args(["--master", "local[2]", "--rank", "32", "--iterations", "10"])
        .args(["--recommend", &(longest + 10).to_string()])
        .output()
        .expect("run the Spark job");
    assert!(
        job.status.success(),
        "the Spark job failed:\n{}",
        String::from_utf8_lossy(&job.stderr)
    );
    eprintln!("Spark job: {:.1} s", started.elapsed().as_secs_f64());

    let bundle = dir.join("spark.bundle");
    let said = ok(&[
        "import",
        "spark-als",
        "--model",
        s(&dir.join("spark")),
        "--plays",
        s(&train),
        "--no-content",
        "--out",
        s(&bundle),
    ]);
    assert!(
        said.contains("rank 32") && said.contains("alpha 3"),
        "{said}"
    );
    // Every user and every played item has its Spark factor.
    assert!(
        said.contains(": 0 of ") && said.contains("users and 0 of"),
        "{said}"
    );
    let info = ok(&["inspect", s(&bundle)]);
    assert!(info.contains("Spark 4."), "{info}");

    // Known users: Timbral's top-10 against Spark's, plays left out.
    let spark = spark_lists(&dir.join("spark/recommendations"));
    let ours = ok(&[
        "recommend",
        "--bundle",
        s(&bundle),
        "--all-users",
        "--k",
        "10",
    ]);
    let mut mine: HashMap<String, Vec<String>> = HashMap::new();
    for line in ours.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        mine.entry(f[0].into()).or_default().push(f[1].into());
    }
    let spark_top = |u: &str| -> Vec<String> {
        let played: HashSet<&String> = heard[u].iter().collect();
        spark[u]
            .iter()
            .filter(|i| !played.contains(i))
            .take(10)
            .cloned()
            .collect()
    };
    let users: Vec<&String> = heard.keys().collect();
    let mean = users
        .iter()
        .map(|u| overlap(&mine[u.as_str()], &spark_top(u)))
        .sum::<f64>()
        / users.len() as f64;
    eprintln!(
        "known users' top-10 overlap with Spark's recommendForAllUsers: {mean:.4} ({} users)",
        users.len()
    );
    assert!(mean >= 0.9, "overlap {mean:.4} < 0.9");
    // Where the lists part: listeners whose Spark factor is all but zero
    // (their only items have no other listener), whom Spark ranks by
    // scores of 1e-24 and Timbral by popularity; and near-ties that the
    // int8 item factors swap at the tenth place.
    let parted = users
        .iter()
        .filter(|u| overlap(&mine[u.as_str()], &spark_top(u)) < 0.5)
        .count();
    eprintln!(
        "{parted} listeners overlap under 0.5 (no CF signal in their Spark factor: served by popularity)"
    );

    // A new listener folded in with Spark's λ·n and α: the same top-10 as
    // Spark's for the user with that history.
    let mut sample: Vec<&String> = users.clone();
    sample.sort();
    let sample: Vec<&String> = sample.into_iter().step_by(users.len() / 20 + 1).collect();
    let mut folded = 0.0;
    let plays_of = read_plays(&train);
    for u in &sample {
        let h = dir.join("history.csv");
        let rows: Vec<String> = plays_of[u.as_str()]
            .iter()
            .map(|(i, p)| format!("{i},{p}"))
            .collect();
        std::fs::write(&h, rows.join("\n")).unwrap();
        let out = ok(&[
            "recommend",
            "--bundle",
            s(&bundle),
            "--history",
            s(&h),
            "--k",
            "10",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let list: Vec<String> = v["items"]
            .as_array()
            .or_else(|| v.as_array())
            .unwrap()
            .iter()
            .map(|r| r["item"].as_str().unwrap().to_string())
            .collect();
        folded += overlap(&list, &spark_top(u));
    }
    folded /= sample.len() as f64;
    eprintln!(
        "folded-in listeners' top-10 overlap with Spark's: {folded:.4} ({} listeners)",
        sample.len()
    );
    assert!(folded >= 0.9, "fold-in overlap {folded:.4} < 0.9");

    // The same split scored beside Timbral's own ALS.
    let table = ok(&[
        "-q",
        "eval",
        "--data",
        s(&data),
        "--seed",
        "42",
        "--no-content",
        "--no-tune",
        "--cf",
        "als",
        "--models",
        "popularity,als",
        "--bundle",
        s(&bundle),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&table).unwrap();
    let ndcg = |name: &str| {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == name)
            .unwrap_or_else(|| panic!("no row {name}: {table}"))["metrics"][0]["ndcg"]
            .as_f64()
            .unwrap()
    };
    let (pop, als, imported) = (ndcg("popularity"), ndcg("als"), ndcg("spark.bundle"));
    eprintln!(
        "nDCG@10: popularity {pop:.4}, Timbral ALS {als:.4}, Spark ALS imported {imported:.4}"
    );
    assert!(imported > pop, "{imported} ≤ popularity's {pop}");
}

/// `user → (item, plays)` of the split's train.tsv.
fn read_plays(path: &Path) -> HashMap<String, Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut m: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        m.entry(f[0].into())
            .or_default()
            .push((f[1].into(), f[2].into()));
    }
    m
}

#[test]
fn what_is_not_a_spark_als_model_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = dir.join("x.bundle");
    // `import spark-als --model MODEL [extra] --out x.bundle`, which must fail.
    let import = |model: &Path, extra: &[&str]| {
        let mut args = vec!["import", "spark-als", "--model", s(model)];
        args.extend_from_slice(extra);
        args.extend(["--out", s(&out)]);
        fails(&args)
    };
    let err = import(dir, &[]);
    assert!(err.contains("not a Spark ALS model"), "{err}");

    // A model whose estimator says explicit ratings.
    let model = dir.join("job");
    let meta = |d: &Path, json: &str| {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("part-00000"), json).unwrap();
    };
    meta(
        &model.join("model/metadata"),
        r#"{"class":"org.apache.spark.ml.recommendation.ALSModel","sparkVersion":"4.1.4","paramMap":{},"defaultParamMap":{},"rank":8}"#,
    );
    meta(
        &model.join("als/metadata"),
        r#"{"class":"org.apache.spark.ml.recommendation.ALS","paramMap":{"implicitPrefs":false,"rank":8},"defaultParamMap":{"regParam":0.1,"alpha":1.0}}"#,
    );
    let err = import(&model, &[]);
    assert!(err.contains("explicit ratings"), "{err}");

    // Without an estimator: regParam and alpha must be given.
    std::fs::remove_dir_all(model.join("als")).unwrap();
    let err = import(&model, &[]);
    assert!(
        err.contains("no regParam") && err.contains("--reg-param"),
        "{err}"
    );

    // Given, the factors are read next: none there is the error.
    let err = import(&model, &["--reg-param", "0.1", "--alpha", "1"]);
    assert!(err.contains("userFactors"), "{err}");
    assert!(!out.exists(), "nothing is written on an error");
}
