//! Hyper-parameter search on a validation split carved from the training
//! part of the evaluation split — the test users' held-out items are never
//! looked at, so `timbral eval` stays an honest estimate.

use std::fmt;

use serde::Serialize;
use timbral_core::AlsParams;

use crate::data::Dataset;
use crate::eval::evaluate;
use crate::split::holdout;

#[derive(Clone, Debug)]
pub struct Grid {
    pub factors: Vec<u32>,
    pub regularization: Vec<f32>,
    pub alpha: Vec<f32>,
    pub iterations: Vec<u32>,
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            factors: vec![32, 64, 128],
            regularization: vec![0.1, 1.0, 5.0, 20.0],
            alpha: vec![1.0, 3.0, 10.0, 30.0],
            iterations: vec![15],
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    pub params: AlsParams,
    /// Mean validation nDCG@10 over the repeats.
    pub ndcg10: f64,
    pub recall20: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TuneReport {
    pub data: String,
    pub holdout: f64,
    pub seed: u64,
    pub repeats: u32,
    /// Best first.
    pub trials: Vec<Trial>,
}

/// Tries every grid point on `repeats` validation splits of the training
/// part of `holdout(plays, fraction, seed)`.
pub fn run(
    ds: &Dataset,
    grid: &Grid,
    fraction: f64,
    seed: u64,
    repeats: u32,
    base: AlsParams,
) -> TuneReport {
    let outer = holdout(&ds.plays, fraction, seed);
    // Validation splits differ from the test split and from each other.
    let inner: Vec<_> = (0..repeats.max(1))
        .map(|r| holdout(&outer.train, fraction, seed ^ 0x7a11_da7e ^ u64::from(r)))
        .collect();
    let mut trials = Vec::new();
    for &factors in &grid.factors {
        for &regularization in &grid.regularization {
            for &alpha in &grid.alpha {
                for &iterations in &grid.iterations {
                    let params = AlsParams {
                        factors,
                        regularization,
                        alpha,
                        iterations,
                        ..base
                    };
                    let (mut ndcg, mut recall) = (0.0, 0.0);
                    for s in &inner {
                        let f = crate::train_factors(&s.train, &params, false);
                        let model = crate::build_model(
                            &ds.user_ids,
                            &ds.item_ids,
                            &ds.item_names,
                            &s.train,
                            &f,
                            params,
                            &ds.source,
                        );
                        let m = evaluate(s, ds.n_items(), &[10, 20], |u, k| {
                            model.recommend_user(u, k).iter().map(|x| x.index).collect()
                        });
                        ndcg += m[0].ndcg;
                        recall += m[1].recall;
                    }
                    let n = inner.len() as f64;
                    let t = Trial {
                        params,
                        ndcg10: ndcg / n,
                        recall20: recall / n,
                    };
                    tracing::info!(
                        factors,
                        regularization,
                        alpha,
                        iterations,
                        ndcg10 = t.ndcg10,
                        "trial"
                    );
                    trials.push(t);
                }
            }
        }
    }
    trials.sort_by(|a, b| b.ndcg10.total_cmp(&a.ndcg10));
    TuneReport {
        data: ds.source.clone(),
        holdout: fraction,
        seed,
        repeats: repeats.max(1),
        trials,
    }
}

impl fmt::Display for TuneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: validation = {:.0}% of each user's training items (outer split seed {}), {} repeat(s)",
            self.data,
            self.holdout * 100.0,
            self.seed,
            self.repeats
        )?;
        writeln!(
            f,
            "{:>8} {:>8} {:>8} {:>6} {:>10} {:>10}",
            "factors", "reg", "alpha", "iters", "nDCG@10", "Recall@20"
        )?;
        for t in &self.trials {
            let p = &t.params;
            writeln!(
                f,
                "{:>8} {:>8} {:>8} {:>6} {:>10.4} {:>10.4}",
                p.factors, p.regularization, p.alpha, p.iterations, t.ndcg10, t.recall20
            )?;
        }
        Ok(())
    }
}
