//! The content side of the CLI on a small synthetic catalogue: training with
//! content vectors and learned fusion weights, fused recommendations,
//! similar items, semantic search, embeddings, and the errors around them.
#![cfg(feature = "content")]

mod common;

use common::{fails, ok, s};
use std::path::{Path, PathBuf};

fn json(text: &str) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn descending(rows: &[serde_json::Value]) -> bool {
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    scores.windows(2).all(|w| w[0] >= w[1])
}

struct Trained {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    cf_bundle: PathBuf,
}

fn trained() -> Trained {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("plays.tsv");
    ok(&[
        "synth",
        "--out",
        s(&data),
        "--users",
        "250",
        "--items",
        "160",
        "--plays-per-user",
        "12",
    ]);
    let bundle = dir.path().join("content.bundle");
    let out = ok(&[
        "-q",
        "train",
        "--data",
        s(&data),
        "--out",
        s(&bundle),
        "--factors",
        "16",
        "--iterations",
        "6",
    ]);
    assert!(
        out.contains("fusion weights learned") && out.contains("content vectors"),
        "{out}"
    );
    let cf_bundle = dir.path().join("cf.bundle");
    ok(&[
        "-q",
        "train",
        "--no-content",
        "--data",
        s(&data),
        "--out",
        s(&cf_bundle),
        "--factors",
        "16",
        "--iterations",
        "6",
    ]);
    Trained {
        dir,
        bundle,
        cf_bundle,
    }
}

#[test]
fn content_bundles_recommend_fused_find_similar_and_search() {
    let t = trained();
    let info = ok(&["inspect", s(&t.bundle)]);
    assert!(
        info.contains("content") && info.contains("fusion"),
        "{info}"
    );

    let recs = json(&ok(&[
        "recommend",
        "--bundle",
        s(&t.bundle),
        "--user",
        "listener-00001",
        "--json",
    ]));
    assert_eq!(recs.len(), 10);
    assert!(descending(&recs));
    assert!(recs
        .iter()
        .all(|r| r["parts"]["cf"].is_number() && r["parts"]["content"].is_number()));
    // Weights override: CF alone ranks like the CF-only bundle.
    let cf = json(&ok(&[
        "recommend",
        "--bundle",
        s(&t.bundle),
        "--user",
        "listener-00001",
        "--json",
        "--weights",
        "1,0,0",
    ]));
    let plain = json(&ok(&[
        "recommend",
        "--bundle",
        s(&t.cf_bundle),
        "--user",
        "listener-00001",
        "--json",
    ]));
    let ids = |v: &[serde_json::Value]| {
        v.iter()
            .map(|r| r["item"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&cf)[..5], ids(&plain)[..5]);

    let sim = json(&ok(&[
        "similar",
        "--bundle",
        s(&t.bundle),
        "--item",
        "artist-00001",
        "--k",
        "5",
        "--json",
    ]));
    assert_eq!(sim.len(), 5);
    assert!(descending(&sim));
    assert!(sim.iter().all(|r| r["item"] != "artist-00001"));

    let hits = json(&ok(&[
        "search",
        "--bundle",
        s(&t.bundle),
        "--k",
        "5",
        "--json",
        "velvet jazz quartet",
    ]));
    assert_eq!(hits.len(), 5);
    assert!(descending(&hits));
    assert!(hits.iter().all(|r| r["tags"].is_array()));
}

#[test]
fn content_errors_are_clear() {
    let t = trained();
    let err = fails(&[
        "similar",
        "--bundle",
        s(&t.cf_bundle),
        "--item",
        "artist-00001",
    ]);
    assert!(err.contains("no content vectors"), "{err}");
    let err = fails(&["similar", "--bundle", s(&t.bundle), "--item", "nope"]);
    assert!(err.contains("unknown item `nope`"), "{err}");
    let err = fails(&["search", "--bundle", s(&t.bundle), "   "]);
    assert!(err.contains("empty"), "{err}");
    let err = fails(&[
        "recommend",
        "--bundle",
        s(&t.bundle),
        "--user",
        "listener-00001",
        "--weights",
        "1,nan,0",
    ]);
    assert!(err.contains("weights"), "{err}");

    // A different tokenizer than the bundle was built with is refused.
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/minilm");
    let other = t.dir.path().join("other-model");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(models.join("model.onnx"), other.join("model.onnx")).unwrap();
    let mut tok = std::fs::read_to_string(models.join("tokenizer.json")).unwrap();
    tok.push('\n');
    std::fs::write(other.join("tokenizer.json"), tok).unwrap();
    let err = fails(&[
        "search",
        "--bundle",
        s(&t.bundle),
        "--model-dir",
        s(&other),
        "jazz",
    ]);
    assert!(err.contains("does not match the bundle"), "{err}");
    let err = fails(&[
        "search",
        "--bundle",
        s(&t.bundle),
        "--model-dir",
        s(t.dir.path()),
        "jazz",
    ]);
    assert!(
        err.contains("model.onnx") && err.contains(".ci/setup"),
        "{err}"
    );
}

#[test]
fn embed_prints_a_unit_vector() {
    let v: Vec<f64> = serde_json::from_str(&ok(&["embed", "sad acoustic songs"])).unwrap();
    assert_eq!(v.len(), 384);
    let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    let err = fails(&["embed", ""]);
    assert!(err.contains("empty"), "{err}");
}
