//! Timbral's native trainer: data readers, parallel implicit ALS (rayon
//! around `timbral-core`'s row solve), evaluation, tuning, benchmarks and the
//! bundle writer. The `timbral` binary (src/main.rs) is a thin CLI over it.

pub mod bench;
pub mod bpr;
pub mod cf_budget;
pub mod cf_tune;
#[cfg(feature = "content")]
pub mod cli_content;
pub mod compact;
#[cfg(feature = "content")]
pub mod content;
#[cfg(feature = "content")]
pub mod credits;
pub mod data;
pub mod ease;
pub mod eval;
#[cfg(feature = "content")]
pub mod facts;
pub mod fit;
pub mod fuzzing;
pub mod genre_clusters;
pub mod hybrid;
pub mod item_item;
pub mod lightgcn;
#[cfg(feature = "content")]
pub mod mood;
pub mod playlists;
pub mod ridge;
pub mod rp3beta;
#[cfg(feature = "content")]
pub mod search_eval;
pub mod shortlist;
pub mod simulate;
pub mod sketch;
#[cfg(feature = "parquet")]
pub mod spark;
pub mod split;
pub mod synth;
pub mod synth_catalogue;
pub mod tune;
pub mod write;

use timbral_core::model::Meta;
use timbral_core::{AlsParams, Csr, Model, ModelParts, Popularity, QMatrix};

pub use fit::{train_factors, Factors};

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
            user_reference: factors.user_reference,
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
        item_aliases: Vec::new(),
        facts: None,
        credits: None,
        genre_clusters: None,
        item_item: None,
        cf_choice: None,
        shortlist: None,
    })
    .expect("a freshly trained model is consistent")
}

/// Trains on a whole data set and returns the model to write. A catalogue
/// nobody has played ranks by its own popularity, which stands in for
/// listener counts: Spotify's 0–100 is about logarithmic in plays, so a
/// popularity `p` counts `e^(p/10)` listeners (1 to 22,026), and the
/// log-scaled popularity term sees it linearly.
pub fn train_dataset(ds: &data::Dataset, params: AlsParams, progress: bool) -> Model {
    model_from_factors(ds, &train_factors(&ds.plays, &params, progress), params)
}

/// [`train_dataset`]'s model from factors trained by `params`, here or
/// elsewhere (`spark`).
pub fn model_from_factors(ds: &data::Dataset, factors: &Factors, params: AlsParams) -> Model {
    let model = build_model(
        &ds.user_ids,
        &ds.item_ids,
        &ds.item_names,
        &ds.plays,
        factors,
        params,
        &ds.source,
    );
    let mut parts = model.into_parts();
    // Merged ids still find their item in every runtime.
    let index: std::collections::HashMap<&str, u32> = ds
        .item_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i as u32))
        .collect();
    parts.item_aliases = ds
        .aliases
        .iter()
        .filter_map(|(from, to)| Some((from.clone(), *index.get(to.as_str())?)))
        .filter(|(from, _)| !index.contains_key(from.as_str()))
        .collect();
    parts.item_aliases.sort();
    let Some(c) = ds.catalogue.as_ref().filter(|_| ds.plays.nnz() == 0) else {
        return Model::from_parts(parts).expect("aliases point at items");
    };
    for (i, id) in ds.item_ids.iter().enumerate() {
        if let Some(p) = c.get(id).and_then(|c| c.popularity) {
            parts.popularity.listeners[i] = (p.clamp(0.0, 200.0) / 10.0).exp().round() as u32;
        }
    }
    Model::from_parts(parts).expect("popularity keeps the model valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{canonical, Dataset, LoadReport};

    #[test]
    fn a_merged_id_finds_its_item_in_the_bundle() {
        let plays = Csr::from_triplets(2, 3, vec![(0, 0, 3.0), (1, 1, 5.0), (1, 2, 1.0)]);
        let ds = Dataset {
            user_ids: vec!["u0".into(), "u1".into()],
            item_ids: vec!["1".into(), "2".into(), "3".into()],
            item_names: vec!["The Killers".into(), "Killers".into(), "Muse".into()],
            plays,
            source: "test".into(),
            report: LoadReport::default(),
            aliases: Default::default(),
            catalogue: None,
        };
        let (ds, report) = canonical::merge(ds, None, true).unwrap();
        assert_eq!(report.merged, 1);
        let params = AlsParams {
            factors: 2,
            iterations: 2,
            ..AlsParams::default()
        };
        let bytes = train_dataset(&ds, params, false).client().to_bytes();
        let m = Model::from_bytes(&bytes).unwrap();
        assert_eq!(m.n_items(), 2);
        assert_eq!(m.item_index("1").unwrap(), m.item_index("2").unwrap());
    }
}
