//! Small bundles for the adapters' tests (the wasm bindings, the Worker),
//! so every runtime is tested on the same model. Behind the `fixtures`
//! feature, which only dev-dependencies turn on.

use crate::model::Meta;
use crate::sketch::{ContentSketch, Moments};
use crate::{AlsParams, Content, Csr, Model, ModelParts, Popularity, QMatrix};

/// A bundle of six artists in two styles (ids `a0`–`a5`: a0–a2 "folk",
/// a3–a5 "metal", each also tagged `tagN`), four listeners, content
/// vectors that follow the styles.
pub fn two_styles() -> Vec<u8> {
    let n = 6;
    let plays = Csr::from_triplets(
        4,
        n,
        vec![
            (0, 0, 5.0),
            (0, 1, 3.0),
            (1, 1, 2.0),
            (1, 2, 9.0),
            (2, 3, 4.0),
            (2, 4, 1.0),
            (3, 4, 7.0),
            (3, 5, 2.0),
        ],
    );
    let style = |i: usize| {
        if i < 3 {
            [1.0, 0.1 * i as f32]
        } else {
            [0.1 * i as f32, 1.0]
        }
    };
    let factors: Vec<f32> = (0..n).flat_map(style).collect();
    let labels: Vec<Vec<String>> = (0..n)
        .map(|i| {
            vec![
                if i < 3 { "folk" } else { "metal" }.to_string(),
                format!("tag{i}"),
            ]
        })
        .collect();
    let content = Content {
        text: QMatrix::quantize(&factors, n, 2),
        audio: QMatrix::quantize(&vec![0.0; n], n, 1),
        audio_weight: 0.5,
        label_weights: labels.iter().map(|l| vec![1; l.len()]).collect(),
        labels,
        model_sha256: "m".into(),
        tokenizer_sha256: "t".into(),
        projection: None,
    };
    let norms = content.norms();
    let parts = ModelParts {
        meta: Meta {
            params: AlsParams {
                factors: 2,
                ..AlsParams::default()
            },
            source: "bindings test".into(),
            trainer: "test".into(),
        },
        item_ids: (0..n).map(|i| format!("a{i}")).collect(),
        item_names: (0..n).map(|i| format!("Artist {i}")).collect(),
        popularity: Popularity::from_plays(&plays),
        item_factors: QMatrix::quantize(&factors, n, 2),
        user_ids: (0..4).map(|u| format!("u{u}")).collect(),
        user_factors: QMatrix::quantize(&[1.0, 0.0, 1.0, 0.2, 0.0, 1.0, 0.2, 1.0], 4, 2),
        user_items: plays,
        content: Some(content.clone()),
        fusion: None,
        // One axis of three dimensions, so fused recommendations in every
        // runtime go through the sketch's bounds.
        content_sketch: Some(ContentSketch::build(
            &content,
            &norms,
            vec![0.0, 1.0, 0.0],
            &Moments::of(&content, &norms),
        )),
        item_aliases: Vec::new(),
        facts: None,
        credits: None,
    };
    Model::from_parts(parts)
        .expect("the fixture is a valid model")
        .to_bytes()
}
