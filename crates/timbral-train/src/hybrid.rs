//! Hybrid fusion: learning α, β, γ on a validation split, and the hybrid
//! evaluation (CF-only, content-only, fusion; cold items; cold users).
//! Needs content vectors but not the encoder: the vectors are computed once.

use std::fmt;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use timbral_core::{AlsParams, Content, Csr, FusionParts, FusionWeights, Model};

use crate::data::Dataset;
use crate::eval::{evaluate, AtK};
use crate::split::{holdout, Split};

/// Validation users used to learn the weights (a deterministic sample).
const MAX_TUNE_USERS: usize = 800;

fn with_content(model: Model, content: &Content, fusion: Option<FusionWeights>) -> Model {
    let mut parts = model.into_parts();
    parts.content = Some(content.clone());
    parts.fusion = fusion;
    Model::from_parts(parts).expect("content matches the catalogue")
}

/// Trains CF on `train` and attaches the content vectors.
pub fn hybrid_model(ds: &Dataset, train: &Csr, content: &Content, params: AlsParams) -> Model {
    let f = crate::train_als(train, &params, false);
    let m = crate::build_model(
        &ds.user_ids,
        &ds.item_ids,
        &ds.item_names,
        train,
        &f,
        params,
        &ds.source,
    );
    with_content(m, content, None)
}

fn history(train: &Csr, u: u32) -> Vec<(u32, f32)> {
    let (i, p) = train.row(u as usize);
    i.iter().copied().zip(p.iter().copied()).collect()
}

fn ndcg10(scores: impl Iterator<Item = (u32, f32)>, held: &[u32]) -> f64 {
    let top = timbral_core::top_k(
        scores
            .map(|(index, score)| timbral_core::Scored { index, score })
            .collect(),
        10,
    );
    let dcg: f64 = top
        .iter()
        .enumerate()
        .filter(|(_, s)| held.binary_search(&s.index).is_ok())
        .map(|(r, _)| 1.0 / ((r + 2) as f64).log2())
        .sum();
    let idcg: f64 = (0..held.len().min(10))
        .map(|r| 1.0 / ((r + 2) as f64).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Learned {
    pub weights: FusionWeights,
    /// Validation nDCG@10 of the learned weights and of CF alone.
    pub ndcg10: f64,
    pub cf_ndcg10: f64,
}

/// Learns fusion weights on a validation split carved from `plays` (never
/// from anything held out of it). Scale does not change a ranking, so
/// α + β = 1 and γ varies separately.
pub fn learn_weights(
    ds: &Dataset,
    plays: &Csr,
    content: &Content,
    params: AlsParams,
    seed: u64,
) -> Learned {
    let inner = holdout(plays, 0.2, seed ^ 0xf05e_0f05);
    let model = hybrid_model(ds, &inner.train, content, params);
    let step = (inner.test.len() / MAX_TUNE_USERS).max(1);
    let users: Vec<&(u32, Vec<u32>)> = inner.test.iter().step_by(step).collect();
    let parts: Vec<FusionParts> = users
        .par_iter()
        .map(|(u, _)| {
            let h = history(&inner.train, *u);
            model.fusion_parts(&model.user_factor(*u), &h, inner.train.row(*u as usize).0)
        })
        .collect();
    let pop = model.popularity_term();
    let score = |w: FusionWeights| -> f64 {
        let per: Vec<f64> = parts
            .par_iter()
            .zip(&users)
            .map(|(p, (_, held))| {
                let it = (0..p.keep.len()).filter(|&i| p.keep[i]).map(|i| {
                    (
                        i as u32,
                        w.alpha * p.cf[i] + w.beta * p.content[i] + w.gamma * pop[i],
                    )
                });
                ndcg10(it, held)
            })
            .collect();
        per.iter().sum::<f64>() / per.len().max(1) as f64
    };
    let mut best = (
        FusionWeights {
            alpha: 1.0,
            beta: 0.0,
            gamma: 0.0,
        },
        f64::MIN,
    );
    for a in 0..=20 {
        for g in -8..=8 {
            let w = FusionWeights {
                alpha: a as f32 / 20.0,
                beta: 1.0 - a as f32 / 20.0,
                gamma: g as f32 / 20.0,
            };
            let s = score(w);
            if s > best.1 + 1e-9 {
                best = (w, s);
            }
        }
    }
    let cf = score(FusionWeights {
        alpha: 1.0,
        beta: 0.0,
        gamma: 0.0,
    });
    tracing::info!(
        alpha = best.0.alpha,
        beta = best.0.beta,
        gamma = best.0.gamma,
        ndcg10 = best.1,
        cf_ndcg10 = cf,
        "learned fusion weights"
    );
    Learned {
        weights: best.0,
        ndcg10: best.1,
        cf_ndcg10: cf,
    }
}

/// A ranker per model for one split, all on the same trained model.
fn rank_three(
    model: &Model,
    split: &Split,
    n_items: usize,
    w: FusionWeights,
    ks: &[usize],
    folded: bool,
) -> [Vec<AtK>; 3] {
    let run = |w: FusionWeights| {
        evaluate(split, n_items, ks, |u, k| {
            let h = history(&split.train, u);
            let x = if folded {
                model.fold_in(&h).unwrap_or_default()
            } else {
                model.user_factor(u)
            };
            let x = if x.is_empty() {
                vec![0.0; model.factors()]
            } else {
                x
            };
            model
                .recommend_fused(&x, &h, split.train.row(u as usize).0, k, w)
                .iter()
                .map(|r| r.index)
                .collect()
        })
    };
    [
        run(FusionWeights {
            alpha: 1.0,
            beta: 0.0,
            gamma: 0.0,
        }),
        run(FusionWeights {
            alpha: 0.0,
            beta: 1.0,
            gamma: 0.0,
        }),
        run(w),
    ]
}

#[derive(Clone, Debug, Serialize)]
pub struct Slice {
    pub name: String,
    pub users: usize,
    /// cf, content, fusion
    pub results: Vec<(String, Vec<AtK>)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HybridReport {
    pub learned: Learned,
    pub slices: Vec<Slice>,
}

fn slice(name: &str, r: [Vec<AtK>; 3], users: usize) -> Slice {
    let [a, b, c] = r;
    Slice {
        name: name.into(),
        users,
        results: vec![
            ("cf".into(), a),
            ("content".into(), b),
            ("fusion".into(), c),
        ],
    }
}

/// The hybrid evaluation on the same per-user holdout as `eval::run`.
pub fn run(
    ds: &Dataset,
    content: &Content,
    params: AlsParams,
    fraction: f64,
    seed: u64,
    ks: &[usize],
) -> HybridReport {
    let n = ds.n_items();
    let split = holdout(&ds.plays, fraction, seed);
    let learned = learn_weights(ds, &split.train, content, params, seed);
    let w = learned.weights;
    let model = hybrid_model(ds, &split.train, content, params);
    let mut slices = vec![slice(
        "all users",
        rank_three(&model, &split, n, w, ks, false),
        split.test.len(),
    )];

    // (a) Cold items: 10% of the played items leave training entirely.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xc01d);
    let listeners = timbral_core::Popularity::from_plays(&ds.plays).listeners;
    let mut items: Vec<u32> = (0..n as u32)
        .filter(|&i| listeners[i as usize] > 0)
        .collect();
    items.shuffle(&mut rng);
    let mut cold = vec![false; n];
    items
        .iter()
        .take(items.len() / 10)
        .for_each(|&i| cold[i as usize] = true);
    let mut train = Vec::new();
    let mut test = Vec::new();
    for u in 0..ds.n_users() {
        let (cols, vals) = ds.plays.row(u);
        let held: Vec<u32> = cols.iter().copied().filter(|&i| cold[i as usize]).collect();
        train.extend(
            cols.iter()
                .zip(vals)
                .filter(|(i, _)| !cold[**i as usize])
                .map(|(&i, &v)| (u as u32, i, v)),
        );
        if !held.is_empty() && held.len() < cols.len() {
            test.push((u as u32, held));
        }
    }
    let cold_split = Split {
        train: Csr::from_triplets(ds.n_users(), n, train),
        test,
    };
    let cold_model = hybrid_model(ds, &cold_split.train, content, params);
    slices.push(slice(
        "cold items",
        rank_three(&cold_model, &cold_split, n, w, ks, false),
        cold_split.test.len(),
    ));

    // (b) Cold users: evaluated users keep only 3 training items; the
    // model is retrained without the rest and they are folded in.
    let mut train = Vec::new();
    let mut sparse = vec![false; ds.n_users()];
    for (k, (u, _)) in split.test.iter().enumerate() {
        if k % 3 == 0 {
            sparse[*u as usize] = true;
        }
    }
    for (u, &is_sparse) in sparse.iter().enumerate() {
        let (cols, vals) = split.train.row(u);
        let mut rows: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
        if is_sparse {
            rows.shuffle(&mut rng);
            rows.truncate(3);
        }
        train.extend(rows.into_iter().map(|(i, v)| (u as u32, i, v)));
    }
    let sparse_split = Split {
        train: Csr::from_triplets(ds.n_users(), n, train),
        test: split
            .test
            .iter()
            .filter(|(u, _)| sparse[*u as usize])
            .cloned()
            .collect(),
    };
    let sparse_model = hybrid_model(ds, &sparse_split.train, content, params);
    slices.push(slice(
        "users with ≤ 3 items",
        rank_three(&sparse_model, &sparse_split, n, w, ks, true),
        sparse_split.test.len(),
    ));
    HybridReport { learned, slices }
}

impl fmt::Display for HybridReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.learned.weights;
        writeln!(
            f,
            "fusion weights learned on a validation split of the training data: α {:.2}, β {:.2}, γ {:.2} (validation nDCG@10 {:.4}, CF alone {:.4})",
            w.alpha, w.beta, w.gamma, self.learned.ndcg10, self.learned.cf_ndcg10
        )?;
        for s in &self.slices {
            writeln!(f)?;
            writeln!(f, "{} ({} users)", s.name, s.users)?;
            let rows: Vec<(&str, &[AtK])> = s
                .results
                .iter()
                .map(|(n, m)| (n.as_str(), &m[..]))
                .collect();
            crate::eval::write_tables(f, &rows)?;
        }
        Ok(())
    }
}
