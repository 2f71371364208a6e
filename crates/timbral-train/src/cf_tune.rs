//! How `timbral train` chooses its CF model, the same way on every data
//! set: on a validation split carved from the training plays alone (a 20%
//! per-user holdout of them), the factor model's regularisation and
//! confidence scale from a fixed grid, then RP3beta's (α, β) and the weight
//! of the factors in the blend with it (`item_item.rs`), each by nDCG@10 on a
//! deterministic sample of the validation listeners. A fixed grid, not a
//! clock: the same plays and seed choose the same model on any machine.

use std::fmt;

use rayon::prelude::*;
use serde::Serialize;
use timbral_core::model::ItemItem;
use timbral_core::{AlsParams, Csr, Model, Scored};

use crate::item_item::{fit, Rp3, NEIGHBOURS};
use crate::split::holdout;

/// The candidates the tuner tries (α × β), each with [`NEIGHBOURS`].
const ALPHAS: [f32; 2] = [0.6, 1.0];
const BETAS: [f32; 4] = [0.0, 0.25, 0.5, 0.7];
/// Blend weights of the factors tried against the neighbours.
const BLENDS: [f32; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
/// The factor model's regularisation and confidence scale (c = 1 + α·ln(1 +
/// plays)) the tuner tries, each over a decade or so: wide enough for plays
/// and ratings alike.
pub const REGULARIZATIONS: [f32; 5] = [1.0, 5.0, 20.0, 80.0, 320.0];
pub const ALPHAS_ALS: [f32; 4] = [1.0, 3.0, 10.0, 30.0];
/// Validation listeners the tuner ranks for (a deterministic sample).
const TUNE_USERS: usize = 800;

/// What the tuner chose and what it saw.
#[derive(Clone, Debug, Serialize)]
pub struct Choice {
    /// The factor model's parameters: the given ones, with regularisation
    /// and confidence scale chosen from [`REGULARIZATIONS`] × [`ALPHAS_ALS`]
    /// where tuned.
    pub als: AlsParams,
    /// Every (regularisation, confidence) tried, with its validation nDCG@10.
    pub als_table: Vec<(f32, f32, f64)>,
    pub rp3: Rp3,
    /// RP3beta's best (α, β) on its own (what `eval` reports it with).
    pub alone: Rp3,
    /// Weight of the factors in the CF blend (1: factors alone).
    pub blend: f32,
    /// Validation nDCG@10 of the choice, of the factors alone, and of the
    /// neighbours alone at their best (α, β).
    pub ndcg10: f64,
    pub factors_ndcg10: f64,
    pub neighbours_ndcg10: f64,
    /// Every (α, β, blend) tried, with its validation nDCG@10.
    pub table: Vec<(f32, f32, f32, f64)>,
}

impl Choice {
    /// The fitted model on `plays`, as the bundle stores it.
    pub fn fit(&self, plays: &Csr) -> ItemItem {
        let rows = fit(plays, self.rp3);
        ItemItem::from_rows(
            "rp3beta",
            vec![
                ("alpha".into(), self.rp3.alpha),
                ("beta".into(), self.rp3.beta),
                ("k".into(), self.rp3.k as f32),
            ],
            self.blend,
            &rows,
        )
    }

    /// `model` with the item-item model fitted on `plays` (the plays it was
    /// trained on) attached.
    pub fn attach(&self, model: Model, plays: &Csr) -> Model {
        let mut parts = model.into_parts();
        parts.item_item = Some(self.fit(plays));
        Model::from_parts(parts).expect("an item-item model fitted on the model's own items")
    }
}

/// `(x − mean)/std` over `keep`, in place (as the runtimes standardise).
fn standardized(mut x: Vec<f32>, keep: &[bool]) -> Vec<f32> {
    timbral_core::content::standardize(&mut x, keep);
    x
}

/// nDCG@10 of `score` over the kept items against `held` (sorted).
fn ndcg10(score: impl Fn(usize) -> f32, keep: &[bool], held: &[u32]) -> f64 {
    let cands = (0..keep.len())
        .filter(|&i| keep[i])
        .map(|i| Scored {
            index: i as u32,
            score: score(i),
        })
        .collect();
    crate::eval::ndcg_at(&timbral_core::top_k(cands, 10), held, 10)
}

/// Chooses RP3beta's (α, β) and its blend with the factors on a
/// validation split carved from `plays` alone (a 20% per-user holdout of
/// it), ranking a sample of the validation listeners with factors trained
/// with `params` on the rest. Only `plays` is read, so whatever an
/// evaluation holds out of it never reaches the choice.
pub fn choose(plays: &Csr, params: AlsParams, seed: u64, tune_als: bool) -> Choice {
    let inner = holdout(plays, 0.2, seed ^ 0x17e3_17e3);
    let n = plays.n_cols();
    let step = (inner.test.len() / TUNE_USERS).max(1);
    let users: Vec<&(u32, Vec<u32>)> = inner.test.iter().step_by(step).collect();
    let keeps: Vec<Vec<bool>> = users
        .par_iter()
        .map(|(u, _)| {
            let mut keep = vec![true; n];
            for &i in inner.train.row(*u as usize).0 {
                keep[i as usize] = false;
            }
            keep
        })
        .collect();
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
    // Each validation listener's standardised factor scores, for `p`.
    let factor_scores = |p: &AlsParams| -> Vec<Vec<f32>> {
        let factors = crate::train_als(&inner.train, p, false);
        let (y, f) = (&factors.items, factors.dim);
        users
            .par_iter()
            .zip(&keeps)
            .map(|((u, _), keep)| {
                let x = &factors.users[*u as usize * f..(*u as usize + 1) * f];
                let s = (0..n)
                    .map(|i| timbral_core::linalg::dot(x, &y[i * f..(i + 1) * f]))
                    .collect();
                standardized(s, keep)
            })
            .collect()
    };
    let score = |z: &[Vec<f32>]| {
        mean(
            z.par_iter()
                .zip(&keeps)
                .zip(&users)
                .map(|((z, keep), (_, held))| ndcg10(|i| z[i], keep, held))
                .collect(),
        )
    };
    // The given parameters first, so that they win ties.
    let mut grid = vec![params];
    if tune_als {
        for regularization in REGULARIZATIONS {
            for alpha in ALPHAS_ALS {
                let p = AlsParams {
                    regularization,
                    alpha,
                    ..params
                };
                if p != params {
                    grid.push(p);
                }
            }
        }
    }
    let mut als_table = Vec::new();
    let mut chosen: Option<(AlsParams, Vec<Vec<f32>>, f64)> = None;
    for p in grid {
        let z = factor_scores(&p);
        let s = score(&z);
        als_table.push((p.regularization, p.alpha, s));
        if chosen.as_ref().is_none_or(|c| s > c.2 + 1e-4) {
            chosen = Some((p, z, s));
        }
    }
    let (als, base, factors_ndcg10) = chosen.expect("the grid holds the given parameters");
    let mut table = Vec::new();
    let mut best = (
        Rp3 {
            alpha: ALPHAS[0],
            beta: BETAS[0],
            k: NEIGHBOURS,
        },
        1.0f32,
        factors_ndcg10,
    );
    let mut neighbours_ndcg10 = f64::MIN;
    let mut alone = best.0;
    for alpha in ALPHAS {
        for beta in BETAS {
            let rp3 = Rp3 {
                alpha,
                beta,
                k: NEIGHBOURS,
            };
            let ii = ItemItem::from_rows("rp3beta", Vec::new(), 0.0, &fit(&inner.train, rp3));
            let near: Vec<Vec<f32>> = users
                .par_iter()
                .zip(&keeps)
                .map(|((u, _), keep)| {
                    let (items, plays) = inner.train.row(*u as usize);
                    let h: Vec<(u32, f32)> =
                        items.iter().copied().zip(plays.iter().copied()).collect();
                    standardized(ii.scores(&h), keep)
                })
                .collect();
            for b in BLENDS {
                let s = mean(
                    base.par_iter()
                        .zip(&near)
                        .zip(&keeps)
                        .zip(&users)
                        .map(|(((z, zi), keep), (_, held))| {
                            ndcg10(|i| b * z[i] + (1.0 - b) * zi[i], keep, held)
                        })
                        .collect(),
                );
                table.push((alpha, beta, b, s));
                if b == 0.0 && s > neighbours_ndcg10 + 1e-4 {
                    neighbours_ndcg10 = s;
                    alone = rp3;
                }
                // The first of equals wins; the factors alone are the
                // default, beaten only by a clear margin.
                if s > best.2 + 1e-4 {
                    best = (rp3, b, s);
                }
            }
        }
    }
    let (rp3, blend, ndcg10) = best;
    let choice = Choice {
        als,
        als_table,
        rp3,
        alone,
        blend,
        ndcg10,
        factors_ndcg10,
        neighbours_ndcg10,
        table,
    };
    tracing::info!(
        ?als,
        ?rp3,
        blend,
        ndcg10,
        factors_ndcg10,
        "chose the CF model"
    );
    choice
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.als_table.len() > 1 {
            let mut line = format!(
                "ALS chosen on a validation split of the training plays: regularization {}, alpha {}; nDCG@10 by (regularization, alpha):",
                self.als.regularization, self.als.alpha
            );
            for (r, a, s) in &self.als_table {
                line += &format!(" ({r}, {a}) {s:.3}");
            }
            writeln!(f, "{line}")?;
        }
        writeln!(
            f,
            "item-item CF chosen on a validation split of the training plays: RP3beta α {} β {}, {} neighbours, blend {:.1}·factors + {:.1}·neighbours",
            self.rp3.alpha,
            self.rp3.beta,
            self.rp3.k,
            self.blend,
            1.0 - self.blend
        )?;
        writeln!(
            f,
            "  validation nDCG@10: blend {:.4}, factors alone {:.4}, neighbours alone {:.4}",
            self.ndcg10, self.factors_ndcg10, self.neighbours_ndcg10
        )?;
        let mut line = String::from("  by (α, β), neighbours alone / best blend:");
        for (a, b, w, s) in &self.table {
            if *w == 0.0 {
                let best = self
                    .table
                    .iter()
                    .filter(|t| t.0 == *a && t.1 == *b)
                    .map(|t| t.3)
                    .fold(f64::MIN, f64::max);
                line += &format!(" ({a}, {b}) {s:.3}/{best:.3}");
            }
        }
        writeln!(f, "{line}")
    }
}
