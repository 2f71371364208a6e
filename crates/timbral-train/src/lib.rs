//! Timbral's native trainer: data readers, parallel implicit ALS (rayon
//! around `timbral-core`'s row solve), evaluation, tuning, benchmarks and the
//! bundle writer. The `timbral` binary (src/main.rs) is a thin CLI over it.

pub mod bench;
#[cfg(feature = "content")]
pub mod cli_content;
pub mod compact;
#[cfg(feature = "content")]
pub mod content;
pub mod data;
pub mod eval;
pub mod fit;
pub mod hybrid;
#[cfg(feature = "content")]
pub mod search_eval;
pub mod sketch;
pub mod split;
pub mod synth;
pub mod tune;
pub mod write;

use timbral_core::model::Meta;
use timbral_core::{AlsParams, Csr, Model, ModelParts, Popularity, QMatrix};

pub use fit::{train_als, Factors};

/// The trainer's name and version, recorded in every bundle.
pub const TRAINER: &str = concat!("timbral-train ", env!("CARGO_PKG_VERSION"));

/// Assembles a servable model from trained factors: quantizes them and
/// records the plays the users' recommendations must exclude.
pub fn build_model(
    user_ids: &[String],
    item_ids: &[String],
    item_names: &[String],
    plays: &Csr,
    factors: &Factors,
    params: AlsParams,
    source: &str,
) -> Model {
    let f = factors.dim;
    Model::from_parts(ModelParts {
        meta: Meta {
            params,
            source: source.to_string(),
            trainer: TRAINER.to_string(),
        },
        item_ids: item_ids.to_vec(),
        item_names: item_names.to_vec(),
        popularity: Popularity::from_plays(plays),
        item_factors: QMatrix::quantize(&factors.items, item_ids.len(), f),
        user_ids: user_ids.to_vec(),
        user_factors: QMatrix::quantize(&factors.users, user_ids.len(), f),
        user_items: plays.clone(),
        content: None,
        fusion: None,
        content_sketch: None,
    })
    .expect("a freshly trained model is consistent")
}

/// Trains on a whole data set and returns the model to write. A catalogue
/// nobody has played ranks by its own popularity (e.g. Spotify's 0–100),
/// which stands in for listener counts.
pub fn train_dataset(ds: &data::Dataset, params: AlsParams, progress: bool) -> Model {
    let factors = train_als(&ds.plays, &params, progress);
    let model = build_model(
        &ds.user_ids,
        &ds.item_ids,
        &ds.item_names,
        &ds.plays,
        &factors,
        params,
        &ds.source,
    );
    let Some(c) = ds.catalogue.as_ref().filter(|_| ds.plays.nnz() == 0) else {
        return model;
    };
    let mut parts = model.into_parts();
    for (i, id) in ds.item_ids.iter().enumerate() {
        if let Some(p) = c.get(id).and_then(|c| c.popularity) {
            parts.popularity.listeners[i] = p.round().max(0.0) as u32;
        }
    }
    Model::from_parts(parts).expect("popularity keeps the model valid")
}
