//! On the embedded default, whose ground truth is known, ALS must recover
//! the listeners' tastes: recommendations land in a listener's favourite
//! genre far more often than chance, and beat popularity offline.

use timbral_core::{AlsParams, FactorModel};
use timbral_train::cf_tune::Search;
use timbral_train::{eval, synth};

#[test]
fn als_recovers_genre_tastes() {
    recovers_genre_tastes(AlsParams::default());
}

#[test]
fn nmf_recovers_genre_tastes_with_non_negative_parts() {
    let p = AlsParams {
        model: FactorModel::Nmf,
        regularization: 20.0,
        alpha: 0.3,
        ..AlsParams::default()
    };
    let model = recovers_genre_tastes(p);
    assert_eq!(model.cf_kind(), "nmf");
    // Parts, never differences: every trained factor is ≥ 0 (int8 rounding
    // keeps 0 at 0).
    for u in 0..50 {
        assert!(model.user_factor(u).iter().all(|&v| v >= 0.0));
    }
}

#[test]
fn bpr_recovers_genre_tastes() {
    let model = recovers_genre_tastes(AlsParams::defaults_for(FactorModel::Bpr));
    assert_eq!(model.cf_kind(), "bpr");
}

#[test]
fn lightgcn_recovers_genre_tastes() {
    let model = recovers_genre_tastes(AlsParams::defaults_for(FactorModel::LightGcn));
    assert_eq!(model.cf_kind(), "lightgcn");
}

/// Trains on the embedded default and checks that recommendations land in
/// each listener's favourite genre far more often than chance.
fn recovers_genre_tastes(p: AlsParams) -> timbral_core::Model {
    let s = synth::generate(synth::SynthConfig::default());
    let model = timbral_train::train_dataset(&s.data, p, false);
    let (mut hits, mut total) = (0usize, 0usize);
    for u in 0..s.data.n_users() as u32 {
        for r in model.recommend_user(u, 10) {
            total += 1;
            hits += usize::from(s.item_genre[r.index as usize] == s.user_genre[u as usize]);
        }
    }
    let share = hits as f64 / total as f64;
    // Chance is about 1/12; a listener's favourite genre gets ~60% of their plays.
    assert!(
        share > 0.4,
        "{}: only {share:.2} of recommendations are in the favourite genre",
        model.cf_kind()
    );
    model
}

#[test]
fn als_beats_popularity_on_the_embedded_default() {
    let s = synth::generate(synth::SynthConfig::default());
    let r = eval::run(
        &s.data,
        AlsParams::default(),
        0.2,
        42,
        &[10],
        &eval::MODELS,
        Search::default(),
        false,
    );
    let (pop, als) = (&r.results[0].metrics[0], &r.results[1].metrics[0]);
    assert!(
        als.ndcg > pop.ndcg * 1.2,
        "ALS {} vs popularity {}",
        als.ndcg,
        pop.ndcg
    );
    assert!(als.coverage > pop.coverage);
}

#[test]
fn the_cf_tuner_reads_only_the_training_split_and_recovers_a_sparse_shape() {
    // Few plays a listener, as in playlists: the hand-set defaults
    // over-regularise; the tuner, on a validation split of the training
    // plays alone, must find the better model.
    let s = synth::generate(synth::SynthConfig {
        users: 800,
        items: 1500,
        plays_per_user: 8,
        ..synth::SynthConfig::default()
    });
    let r = eval::run(
        &s.data,
        AlsParams::default(),
        0.2,
        42,
        &[10],
        &eval::MODELS,
        Search::default(),
        false,
    );
    let split = timbral_train::split::holdout(&s.data.plays, 0.2, 42);
    let alone =
        timbral_train::cf_tune::choose(&split.train, AlsParams::default(), 42, Search::default());
    assert_eq!(r.item_item.table, alone.table);
    assert_eq!(r.item_item.als_table, alone.als_table);
    let ndcg = |m: &str| r.results.iter().find(|x| x.model == m).unwrap().metrics[0].ndcg;
    assert!(
        ndcg("blend") > ndcg("als"),
        "blend {} vs ALS at the defaults {}",
        ndcg("blend"),
        ndcg("als")
    );
}
