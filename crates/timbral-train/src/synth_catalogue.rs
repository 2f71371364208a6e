//! A client bundle of a synthetic catalogue of any size, for the figures
//! past real data (`timbral synth-bundle`, `benchmarks/million-items`):
//! what a browser downloads, loads and ranks at 100k or 1M items.
//!
//! Nothing is trained: embedding a million items' text with MiniLM, or
//! factorising their plays, would take hours on the two cores this runs
//! on, and neither changes what is measured (bytes, load, scan and index
//! costs). The items sit in `clusters` groups, so that similar items,
//! recall of an index and fused lists have structure to find: each item's
//! CF factor and text vector are its group's centre plus noise, its labels
//! are its group's genre and a neighbour's, its audio features its group's
//! plus noise, and its popularity Zipf-distributed over a shuffled order.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use timbral_core::content::{Content, TextProjection};
use timbral_core::model::Meta;
use timbral_core::{AlsParams, Csr, Model, ModelParts, Popularity, QMatrix};

/// The catalogue's shape.
#[derive(Clone, Copy, Debug)]
pub struct CatalogueConfig {
    pub items: usize,
    pub factors: usize,
    /// The shipped text vectors' dimensions (a client bundle's default).
    pub text_dims: usize,
    pub clusters: usize,
    pub seed: u64,
}

impl Default for CatalogueConfig {
    fn default() -> Self {
        CatalogueConfig {
            items: 1_000_000,
            factors: 64,
            text_dims: crate::compact::CLIENT_DIMS,
            clusters: 500,
            seed: 42,
        }
    }
}

/// The MiniLM embedding size the projection maps from.
const EMBEDDING: usize = 384;
const AUDIO: usize = timbral_core::facts::AUDIO_FEATURES.len();

/// `n` standard normal values (Box–Muller), from `rng`.
fn normals(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let (u, v): (f32, f32) = (rng.random::<f32>().max(1e-12), rng.random());
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        })
        .collect()
}

/// The client bundle's model. Deterministic for a seed, with any thread
/// count: every item draws from its own seeded stream.
pub fn client_model(cfg: CatalogueConfig) -> Model {
    let CatalogueConfig {
        items: n,
        factors: f,
        text_dims: d,
        clusters: k,
        seed,
    } = cfg;
    let k = k.clamp(1, n.max(1));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let factor_centres = normals(&mut rng, k * f);
    let text_centres = normals(&mut rng, k * d);
    let audio_centres: Vec<f32> = (0..k * AUDIO)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    // Zipf popularity over a shuffled order: a few hits, a long tail.
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut listeners = vec![0u32; n];
    for (rank, &i) in order.iter().enumerate() {
        listeners[i as usize] = (200_000.0 / (rank as f64 + 1.0).powf(0.9)).ceil() as u32;
    }
    // Item i's own stream for each part (`salt`).
    let stream = |i: usize, salt: u64| {
        ChaCha8Rng::seed_from_u64(
            seed.wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03))
                ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        )
    };
    let cluster = |i: usize| (i * 7919 + i / k) % k;
    let rows = |width: usize, centres: &[f32], noise: f32, salt: u64| -> Vec<f32> {
        let mut out = vec![0f32; n * width];
        out.par_chunks_mut(width).enumerate().for_each(|(i, row)| {
            let mut r = stream(i, salt);
            let c = cluster(i);
            for (x, (&m, z)) in row.iter_mut().zip(
                centres[c * width..(c + 1) * width]
                    .iter()
                    .zip(normals(&mut r, width)),
            ) {
                *x = m + noise * z;
            }
        });
        out
    };
    let item_factors = rows(f, &factor_centres, 0.6, 0);
    let text = rows(d, &text_centres, 0.5, 1);
    let audio = rows(AUDIO, &audio_centres, 0.15, 2);
    let labels: Vec<Vec<String>> = (0..n)
        .map(|i| {
            let c = cluster(i);
            vec![format!("genre {c}"), format!("genre {}", (c + 1) % k)]
        })
        .collect();
    let projection = TextProjection {
        input: EMBEDDING as u32,
        dims: d as u32,
        mean: vec![0.0; EMBEDDING],
        axes: normals(&mut rng, d * EMBEDDING)
            .into_iter()
            .map(|x| x / (EMBEDDING as f32).sqrt())
            .collect(),
    };
    let content = Content {
        text: QMatrix::quantize(&text, n, d),
        audio: QMatrix::quantize(&audio, n, AUDIO),
        audio_weight: 0.5,
        label_weights: labels.iter().map(|l| vec![1; l.len()]).collect(),
        labels,
        model_sha256: String::new(),
        tokenizer_sha256: String::new(),
        projection: Some(projection),
    };
    let sketch = crate::sketch::content_sketch(&content);
    let ids: Vec<String> = (0..n).map(|i| format!("item-{i:07}")).collect();
    let names: Vec<String> = (0..n).map(|i| format!("Synthetic {i}")).collect();
    let plays: Vec<f64> = listeners.iter().map(|&l| f64::from(l) * 12.0).collect();
    Model::from_parts(ModelParts {
        meta: Meta {
            params: AlsParams {
                factors: f as u32,
                ..AlsParams::default()
            },
            source: format!("synthetic catalogue of {n} items in {k} clusters"),
            trainer: crate::TRAINER.to_string(),
            user_reference: 0.0,
        },
        item_ids: ids,
        item_names: names,
        popularity: Popularity { listeners, plays },
        item_factors: QMatrix::quantize(&item_factors, n, f),
        user_ids: Vec::new(),
        user_factors: QMatrix::quantize(&[], 0, f),
        user_items: Csr::from_triplets(0, n, Vec::new()),
        content: Some(content),
        fusion: None,
        content_sketch: Some(sketch),
        item_aliases: Vec::new(),
        facts: None,
        credits: None,
        genre_clusters: None,
        item_item: None,
        cf_choice: None,
        shortlist: None,
    })
    .expect("a synthetic catalogue is a consistent model")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> CatalogueConfig {
        CatalogueConfig {
            items: 3_000,
            factors: 8,
            text_dims: 16,
            clusters: 30,
            seed: 7,
        }
    }

    #[test]
    fn the_catalogue_is_a_client_bundle_that_round_trips_and_is_seeded() {
        let m = client_model(small());
        assert!(m.is_client());
        let bytes = m.to_bytes();
        let back = Model::from_bytes(&bytes).unwrap();
        assert_eq!(back.n_items(), 3_000);
        assert_eq!(
            client_model(small()).to_bytes(),
            bytes,
            "same seed, same bytes"
        );
        let other = client_model(CatalogueConfig { seed: 8, ..small() });
        assert_ne!(other.to_bytes(), bytes);
    }

    #[test]
    fn similar_items_come_from_the_items_cluster() {
        let cfg = small();
        let m = client_model(cfg);
        let cluster = |i: usize| (i * 7919 + i / cfg.clusters) % cfg.clusters;
        let mut same = 0;
        for i in (0..3_000).step_by(97) {
            let sims = m.similar(i as u32, 10).unwrap();
            same += sims
                .iter()
                .filter(|s| cluster(s.index as usize) == cluster(i))
                .count();
        }
        // 31 queries × 10: far above the 1/30 a random list would share.
        assert!(
            same > 31 * 10 * 8 / 10,
            "{same} of 310 in the query's cluster"
        );
    }
}
