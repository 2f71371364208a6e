//! The onnxruntime fixture (fixtures/minilm.json), shared by the native and
//! the wasm32 encoder tests.

use timbral_core::linalg::cosine;
use timbral_encoder::{Encoder, DIM};

/// Checks every fixture text: token ids exactly, embedding cosine ≥ 0.999.
/// Returns the worst cosine.
pub fn check_fixture(enc: &Encoder) -> f32 {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/minilm.json")).unwrap();
    let numbers = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let mut worst = 1f32;
    for case in fixture["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want_ids: Vec<u32> = numbers(&case["ids"])
            .into_iter()
            .map(|v| v as u32)
            .collect();
        assert_eq!(enc.tokenize(text).unwrap(), want_ids, "ids of {text:?}");
        let want: Vec<f32> = numbers(&case["embedding"])
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let got = enc.embed(text).unwrap();
        assert_eq!(got.len(), DIM);
        let c = cosine(&got, &want);
        worst = worst.min(c);
        assert!(c >= 0.999, "cosine {c} for {text:?}");
    }
    worst
}
