//! Small bundles for the adapters' tests (the wasm bindings, the Worker),
//! so every runtime is tested on the same model. Behind the `fixtures`
//! feature, which only dev-dependencies turn on.

use crate::credits::{Credit, ItemCredits};
use crate::facts::{AudioSource, ItemFacts};
use crate::model::Meta;
use crate::sketch::{ContentSketch, Moments};
use crate::taste::clusters::{excluded_keys, GenreClusters, DEFAULT_EXCLUDED};
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
            user_reference: 0.0,
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
        genre_clusters: None,
        item_item: None,
        cf_choice: None,
        shortlist: None,
    };
    Model::from_parts(parts)
        .expect("the fixture is a valid model")
        .to_bytes()
}

/// The styles of [`many_styles`], with each style's energy.
pub const STYLES: [(&str, f32); 4] = [
    ("metal", 0.95),
    ("j-pop", 0.6),
    ("latin", 0.75),
    ("ambient", 0.1),
];

/// Songs per style in [`many_styles`].
pub const PER_STYLE: usize = 30;

/// A catalogue of songs in four styles (`metal`, `j-pop`, `latin` and
/// `ambient`, 30 each: ids `s0`…`s119`, style `i / 30`), three songs per
/// artist, content vectors along each style's axis with a seeded wobble,
/// measured audio (energy by style), genre clusters (one per style, ambient
/// kept out of pools), popularity falling within each style; no listener.
/// For the tastes' tests in every runtime.
pub fn many_styles() -> Model {
    let n = STYLES.len() * PER_STYLE;
    let dim = 8;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut text = vec![0f32; n * dim];
    let mut audio = vec![0f32; n];
    let mut facts = ItemFacts::unknown(n);
    for i in 0..n {
        let s = i / PER_STYLE;
        for d in 0..dim {
            text[i * dim + d] = if d == s { 1.0 } else { 0.35 * noise() };
        }
        // Within a style, two sub-styles along axis 4 + s % 2.
        text[i * dim + 4 + (i % 2)] += 0.4;
        let energy = (STYLES[s].1 + 0.1 * noise()).clamp(0.0, 1.0);
        audio[i] = energy - 0.5;
        let mut v = [0.5f32; 9];
        v[crate::facts::ENERGY] = energy;
        v[5] = -8.0;
        v[7] = 120.0;
        facts.set_audio(i, AudioSource::Measured, 1.0, &v);
    }
    let labels: Vec<Vec<String>> = (0..n)
        .map(|i| vec![STYLES[i / PER_STYLE].0.to_string(), format!("sub{}", i % 2)])
        .collect();
    let content = Content {
        text: QMatrix::quantize(&text, n, dim),
        audio: QMatrix::quantize(&audio, n, 1),
        audio_weight: 0.3,
        label_weights: vec![vec![5, 1]; n],
        labels,
        model_sha256: "m".into(),
        tokenizer_sha256: "t".into(),
        projection: None,
    };
    let artists: Vec<String> = (0..n).map(|i| format!("Artist {}", i / 3)).collect();
    let no_genres: Vec<String> = Vec::new();
    let credits = ItemCredits::from_items(artists.iter().map(|a| Credit {
        artist: Some(a),
        album: None,
        genres: &no_genres,
    }));
    let mut clusters: Vec<(String, u16)> = STYLES
        .iter()
        .enumerate()
        .map(|(c, (s, _))| (crate::search::label_key(s), c as u16))
        .collect();
    clusters.sort();
    let genre_clusters = GenreClusters {
        names: STYLES.iter().map(|(s, _)| s.to_string()).collect(),
        labels: clusters,
        excluded: excluded_keys(&DEFAULT_EXCLUDED),
        criterion: vec![(4, 0.5)],
    };
    let mut popularity = Popularity {
        listeners: vec![0; n],
        plays: vec![0.0; n],
    };
    for i in 0..n {
        popularity.listeners[i] = (PER_STYLE - i % PER_STYLE) as u32 * 10;
        popularity.plays[i] = f64::from(popularity.listeners[i]) * 3.0;
    }
    let parts = ModelParts {
        meta: Meta {
            params: AlsParams {
                factors: 2,
                ..AlsParams::default()
            },
            source: "many styles".into(),
            trainer: "test".into(),
            user_reference: 0.0,
        },
        item_ids: (0..n).map(|i| format!("s{i}")).collect(),
        item_names: (0..n).map(|i| format!("Song {i}")).collect(),
        popularity,
        item_factors: QMatrix::quantize(&vec![0.0; n * 2], n, 2),
        user_ids: Vec::new(),
        user_factors: QMatrix::quantize(&[], 0, 2),
        user_items: Csr::from_triplets(0, n, Vec::new()),
        content: Some(content),
        fusion: None,
        content_sketch: None,
        item_aliases: Vec::new(),
        facts: Some(facts),
        credits,
        genre_clusters: Some(genre_clusters),
        item_item: None,
        cf_choice: None,
        shortlist: None,
    };
    Model::from_parts(parts).expect("the fixture is a valid model")
}
