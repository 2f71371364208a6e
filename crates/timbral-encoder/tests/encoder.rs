//! The MiniLM encoder against onnxruntime's answers on the same files
//! (tests/fixtures/minilm.json, made by make_minilm_fixture.py).

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use timbral_core::linalg::cosine;
use timbral_encoder::{sha256_hex, Encoder, DIM};

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/minilm")
}

fn encoder() -> &'static Encoder {
    static E: OnceLock<Encoder> = OnceLock::new();
    E.get_or_init(|| {
        let dir = model_dir();
        let read = |f: &str| {
            std::fs::read(dir.join(f)).unwrap_or_else(|e| {
                panic!("{}/{f}: {e}; run `bash .ci/setup` first", dir.display())
            })
        };
        Encoder::from_bytes(read("model.onnx"), &read("tokenizer.json")).expect("the encoder loads")
    })
}

fn fixture() -> serde_json::Value {
    serde_json::from_str(include_str!("fixtures/minilm.json")).unwrap()
}

#[test]
fn the_fixture_was_made_from_these_files() {
    let f = fixture();
    assert_eq!(encoder().model_sha256(), f["model_sha256"]);
    assert_eq!(encoder().tokenizer_sha256(), f["tokenizer_sha256"]);
    let model = std::fs::read(model_dir().join("model.onnx")).unwrap();
    assert_eq!(
        sha256_hex(&model),
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
    );
}

#[test]
fn token_ids_match_exactly_and_embeddings_within_cosine_0_999() {
    let worst = common::check_fixture(encoder());
    eprintln!("worst cosine against onnxruntime: {worst:.6}");
}

#[test]
fn batches_equal_single_texts_and_long_texts_are_truncated() {
    let texts = ["sad acoustic songs", "90s grunge with heavy guitars", "a"];
    let batch = encoder().embed_batch(&texts).unwrap();
    for (t, b) in texts.iter().zip(&batch) {
        let single = encoder().embed(t).unwrap();
        assert!(cosine(&single, b) > 0.9999, "{t}");
    }
    // Texts of one token length run as one batch natively: 40 of them
    // make a full batch of MAX_BATCH and a rest.
    let same: Vec<String> = (0..40).map(|i| format!("genre {i}")).collect();
    let same: Vec<&str> = same.iter().map(String::as_str).collect();
    let lens: Vec<usize> = same
        .iter()
        .map(|t| encoder().tokenize(t).unwrap().len())
        .collect();
    assert!(lens.iter().all(|&l| l == lens[0]), "{lens:?}");
    assert!(same.len() > timbral_encoder::MAX_BATCH);
    for (t, b) in same.iter().zip(encoder().embed_batch(&same).unwrap()) {
        let single = encoder().embed(t).unwrap();
        assert!(cosine(&single, &b) > 0.99999, "{t}");
    }
    let long = "shoegaze ".repeat(1000);
    assert_eq!(encoder().tokenize(&long).unwrap().len(), 128);
    assert_eq!(encoder().embed(&long).unwrap().len(), DIM);
}

#[test]
fn empty_text_is_a_clear_error() {
    for t in ["", "   \n\t"] {
        let e = encoder().embed(t).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
    }
    assert!(Encoder::from_bytes(b"not an onnx file", b"{}").is_err());
}
