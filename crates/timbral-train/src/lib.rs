//! Timbral's native trainer: data readers, parallel implicit ALS (rayon
//! around `timbral-core`'s row solve), evaluation, tuning, benchmarks and the
//! bundle writer. The `timbral` binary (src/main.rs) is a thin CLI over it.

pub mod bench;
#[cfg(feature = "content")]
pub mod cli_content;
#[cfg(feature = "content")]
pub mod content;
pub mod data;
pub mod eval;
pub mod fit;
pub mod hybrid;
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

/// Trains on a whole data set and returns the model to write.
pub fn train_dataset(ds: &data::Dataset, params: AlsParams, progress: bool) -> Model {
    let factors = train_als(&ds.plays, &params, progress);
    build_model(
        &ds.user_ids,
        &ds.item_ids,
        &ds.item_names,
        &ds.plays,
        &factors,
        params,
        &ds.source,
    )
}
