//! Fold-in of a training user reproduces that user's trained factor: the
//! runtime's one-off solve and the trainer's last half-step agree, through
//! the int8 bundle.

use timbral_core::{linalg::cosine, AlsParams, Model};
use timbral_train::synth::{self, SynthConfig};

fn check(model: &Model, users: impl Iterator<Item = u32>) -> (f32, f32) {
    let (mut worst_cos, mut worst_rel) = (1f32, 0f32);
    for u in users {
        let (items, plays) = model.user_history(u);
        if items.is_empty() {
            continue;
        }
        let history: Vec<(u32, f32)> = items.iter().copied().zip(plays.iter().copied()).collect();
        let folded = model.fold_in(&history).unwrap();
        let trained = model.user_factor(u);
        let diff: f32 = folded
            .iter()
            .zip(&trained)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f32>()
            .sqrt();
        let norm: f32 = trained.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm < 1e-4 {
            // An isolated listener (only artists nobody else played): ALS
            // shrinks both sides to ≈ 0, and so must fold-in.
            let folded_norm = folded.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!(
                folded_norm < 1e-3,
                "user {u}: trained ≈ 0 but folded-in norm {folded_norm}"
            );
            continue;
        }
        worst_cos = worst_cos.min(cosine(&folded, &trained));
        worst_rel = worst_rel.max(diff / norm);
        // Same recommendations, too.
        let a: Vec<u32> = model
            .recommend_cf(&folded, &history, items, 10)
            .iter()
            .map(|s| s.index)
            .collect();
        let b: Vec<u32> = model
            .recommend_user(u, 10)
            .iter()
            .map(|s| s.index)
            .collect();
        let overlap = a.iter().filter(|i| b.contains(i)).count();
        assert!(
            overlap >= 8,
            "user {u}: only {overlap}/10 recommendations agree"
        );
    }
    (worst_cos, worst_rel)
}

/// 600 synthetic listeners of 800 items, 25 plays each.
fn listeners() -> timbral_train::data::Dataset {
    synth::generate(SynthConfig {
        users: 600,
        items: 800,
        plays_per_user: 25,
        seed: 11,
    })
    .data
}

#[test]
fn fold_in_reproduces_trained_user_factors_on_synthetic_data() {
    let data = listeners();
    // Plain ALS, and iALS with frequency-scaled regularisation, where a
    // listener's λ depends on their play count and the bundle's reference.
    for (regularization, reg_exponent) in [(80.0, 0.0), (5.0, 1.0), (20.0, 0.5)] {
        let model = timbral_train::train_dataset(
            &data,
            AlsParams {
                factors: 32,
                regularization,
                reg_exponent,
                ..AlsParams::default()
            },
            false,
        );
        let model = Model::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(model.meta().params.reg_exponent, reg_exponent);
        let reference = model.meta().user_reference;
        assert!(reference > 5.0 && reference <= 25.0, "{reference}");
        let (cos, rel) = check(&model, 0..200);
        assert!(cos >= 0.99, "ν {reg_exponent}: worst cosine {cos}");
        assert!(rel <= 0.1, "ν {reg_exponent}: worst relative error {rel}");
    }
}

#[test]
fn nmf_fold_in_reproduces_trained_user_factors() {
    // NMF's last half-step solves each listener's non-negative least
    // squares from a warm start; fold-in solves it from zero, through the
    // int8 item factors, and must land on the same factor.
    let data = listeners();
    for (regularization, alpha) in [(20.0, 0.3), (200.0, 3.0)] {
        let p = AlsParams {
            model: timbral_core::FactorModel::Nmf,
            factors: 32,
            regularization,
            alpha,
            ..AlsParams::default()
        };
        let model = timbral_train::train_dataset(&data, p, false);
        let model = Model::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(model.cf_kind(), "nmf");
        for u in 0..50 {
            let (items, plays) = model.user_history(u);
            let h: Vec<(u32, f32)> = items.iter().copied().zip(plays.iter().copied()).collect();
            assert!(model.fold_in(&h).unwrap().iter().all(|&v| v >= 0.0));
        }
        let (cos, rel) = check(&model, 0..200);
        assert!(cos >= 0.99, "NMF λ {regularization}: worst cosine {cos}");
        assert!(
            rel <= 0.1,
            "NMF λ {regularization}: worst relative error {rel}"
        );
    }
}

#[test]
fn bpr_fold_in_reproduces_trained_user_factors() {
    // BPR's trainer closes by solving every listener from zero against the
    // item factors and the seed's shared negatives; fold-in runs that solve
    // through the int8 item factors, drawing the negatives itself.
    let data = listeners();
    for (regularization, alpha) in [(1e-4, 1.0), (1e-2, 0.0)] {
        let p = AlsParams {
            factors: 32,
            regularization,
            alpha,
            ..AlsParams::defaults_for(timbral_core::FactorModel::Bpr)
        };
        let model = timbral_train::train_dataset(&data, p, false);
        let model = Model::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(model.cf_kind(), "bpr");
        let (cos, rel) = check(&model, 0..200);
        assert!(cos >= 0.99, "BPR λ {regularization}: worst cosine {cos}");
        assert!(
            rel <= 0.1,
            "BPR λ {regularization}: worst relative error {rel}"
        );
    }
}

#[test]
fn lightgcn_fold_in_is_the_trained_propagation() {
    // LightGCN's listeners are their history propagated through the graph,
    // in training and at fold-in alike: only the int8 item factors and the
    // graph's degrees, read from the bundle's popularity, stand between
    // them.
    let data = listeners();
    for alpha in [1.0, 0.0] {
        let p = AlsParams {
            factors: 32,
            alpha,
            iterations: 60,
            ..AlsParams::defaults_for(timbral_core::FactorModel::LightGcn)
        };
        let model = timbral_train::train_dataset(&data, p, false);
        let model = Model::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(model.cf_kind(), "lightgcn");
        let (cos, rel) = check(&model, 0..200);
        assert!(cos >= 0.99, "LightGCN α {alpha}: worst cosine {cos}");
        assert!(rel <= 0.1, "LightGCN α {alpha}: worst relative error {rel}");
    }
}

#[test]
fn frequency_scaled_regularisation_changes_the_model_and_its_fold_in() {
    // The reference and ν must reach fold-in: a bundle that lost either
    // would fold heavy and light listeners in with one λ, and drift from
    // their trained factors.
    let data = synth::generate(SynthConfig {
        users: 400,
        items: 300,
        plays_per_user: 20,
        seed: 5,
    })
    .data;
    let p = AlsParams {
        factors: 16,
        regularization: 5.0,
        reg_exponent: 1.0,
        ..AlsParams::default()
    };
    let scaled = timbral_train::train_dataset(&data, p, false);
    let plain = timbral_train::train_dataset(
        &data,
        AlsParams {
            reg_exponent: 0.0,
            ..p
        },
        false,
    );
    assert_ne!(scaled.user_factor(0), plain.user_factor(0));
    assert_eq!(scaled.cf_kind(), "ials");
    assert_eq!(plain.cf_kind(), "als");
    let mut parts = scaled.parts().clone();
    parts.meta.params.reg_exponent = 0.0;
    let stripped = Model::from_parts(parts).unwrap();
    let drift = |m: &Model| -> f32 {
        (0..100u32)
            .map(|u| {
                let (items, plays) = scaled.user_history(u);
                let h: Vec<(u32, f32)> = items.iter().copied().zip(plays.iter().copied()).collect();
                1.0 - cosine(&m.fold_in(&h).unwrap(), &scaled.user_factor(u))
            })
            .fold(0.0, f32::max)
    };
    let (kept, lost) = (drift(&scaled), drift(&stripped));
    assert!(kept < 0.01, "{kept}");
    assert!(
        lost > 2.0 * kept,
        "stripped ν: worst 1 − cos {lost} vs {kept}"
    );
}

#[test]
fn fold_in_reproduces_trained_user_factors_on_hetrec() {
    let Some(data) = timbral_tests::hetrec("fold_in_reproduces_trained_user_factors_on_hetrec")
    else {
        return;
    };
    let model = timbral_train::train_dataset(&data, AlsParams::default(), false);
    let model = Model::from_bytes(&model.to_bytes()).unwrap();
    let (cos, rel) = check(&model, (0..data.n_users() as u32).step_by(9));
    assert!(cos >= 0.99, "worst cosine {cos}");
    assert!(rel <= 0.1, "worst relative error {rel}");
}
