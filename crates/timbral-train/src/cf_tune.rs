//! How `timbral train` chooses its CF model, the same way on every data
//! set: on a validation split carved from the training plays alone (a 20%
//! per-user holdout of them), the factor model's regularisation and
//! confidence scale from a fixed grid, then the item-item model (RP3beta's
//! α and β, or EASE's λ where the catalogue is small enough to solve it
//! densely; `item_item.rs`) and the weight of the factors in the blend with
//! it, each by nDCG@10 on a
//! deterministic sample of the validation listeners. A fixed grid, not a
//! clock: the same plays and seed choose the same model on any machine.

use std::fmt;

use rayon::prelude::*;
use serde::Serialize;
use timbral_core::model::{factor_kind, CfCandidate, CfChoice};
use timbral_core::{AlsParams, Csr, FactorModel, Model};

use crate::cf_budget::{Plan, Shape};
use crate::item_item::{CfKinds, Neighbours};
use crate::split::holdout;

/// Blend weights of the factors tried against the neighbours.
const BLENDS: [f32; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
/// The factor model's regularisation and confidence scale (c = 1 + α·ln(1 +
/// plays)) the tuner tries, each over a decade or so: wide enough for plays
/// and ratings alike.
pub const REGULARIZATIONS: [f32; 5] = [1.0, 5.0, 20.0, 80.0, 320.0];
pub const ALPHAS_ALS: [f32; 4] = [1.0, 3.0, 10.0, 30.0];
/// ν of the frequency-scaled regularisation (`AlsParams::reg_exponent`):
/// plain ALS, and iALS as Rendle et al. (2022) tune it. On HetRec ν = 0.75
/// at λ 20 ranked 2% above the best plain λ, with twice the catalogue
/// coverage; ν = 1.5 collapsed.
pub const REG_EXPONENTS: [f32; 3] = [0.0, 0.5, 1.0];
/// NMF's regularisation and target scale (v = 1 + α·ln(1 + plays)), tried
/// after ALS's grid. With every cell weighed alike, λ and α trade off
/// (α scales the targets λ shrinks): on HetRec's validation split the best
/// were λ 20 at α 0.3 and λ 200 at α 3 (`timbral tune --factor-model nmf`;
/// nDCG@10 0.15–0.17, against ALS's 0.18–0.19).
pub const REGULARIZATIONS_NMF: [f32; 4] = [5.0, 20.0, 80.0, 320.0];
pub const ALPHAS_NMF: [f32; 2] = [0.3, 3.0];
/// BPR's λ (per SGD step, so on another scale), tried last, with plays
/// weighted (α 1; unweighted ranked within 1% of it). On HetRec's
/// validation split 1e-4 ranked best, and more epochs than ALS's
/// iterations overfitted at every λ (`timbral tune --factor-model bpr`).
pub const REGULARIZATIONS_BPR: [f32; 3] = [1e-4, 1e-3, 1e-2];
pub const ALPHA_BPR: f32 = 1.0;
/// LightGCN's weight decay, with plays weighted (α 1): on HetRec's
/// validation split 1e-6 ranked above 1e-5 (and both far above 1e-4), and
/// α 1 above 0, 2 and 3 (`timbral tune --factor-model lightgcn`).
pub const REGULARIZATIONS_LIGHTGCN: [f32; 2] = [1e-6, 1e-5];
pub const ALPHA_LIGHTGCN: f32 = 1.0;
/// Above this many plays the tuner works on a seeded sample of whole
/// listeners holding about this many, so that its cost (the grid's ALS
/// fits) stays bounded by the data, not by a clock: a million plays take
/// about three seconds a fit on two cores. Each listener keeps all their
/// plays and every item stays, so the bundle's items are the ones tuned.
pub const TUNE_MAX_PLAYS: usize = 1_000_000;
/// Validation listeners the tuner ranks for (a deterministic sample).
const TUNE_USERS: usize = 800;

/// What the tuner searches: `--no-tune` (the ALS grid or the given
/// parameters alone), `--cf` and `--budget`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Search {
    pub tune_als: bool,
    pub kinds: CfKinds,
    /// Seconds of estimated work (`cf_budget.rs`).
    pub budget_s: f64,
}

impl Default for Search {
    fn default() -> Self {
        Search {
            tune_als: true,
            kinds: CfKinds::Auto,
            budget_s: crate::cf_budget::DEFAULT_SECONDS,
        }
    }
}

/// What the tuner chose and what it saw.
#[derive(Clone, Debug, Serialize)]
pub struct Choice {
    /// (listeners, plays) of the sample tuned on, where the plays were more
    /// than [`TUNE_MAX_PLAYS`].
    pub sampled: Option<(usize, usize)>,
    /// (listeners, plays) tuned on, and the validation listeners ranked.
    pub tuned_on: (usize, usize),
    pub validation_listeners: usize,
    /// How long the choice took.
    pub seconds: f64,
    /// The factor model's parameters: the given ones, with regularisation,
    /// confidence scale and its frequency scaling chosen from
    /// [`REGULARIZATIONS`] × [`ALPHAS_ALS`] × [`REG_EXPONENTS`] where tuned.
    pub als: AlsParams,
    /// Every factor model tried, with its validation nDCG@10.
    pub als_table: Vec<(AlsParams, f64)>,
    /// The item-item model blended with the factors.
    pub neighbours: Neighbours,
    /// The best item-item model on its own (what `eval` reports it with).
    pub alone: Neighbours,
    /// Weight of the factors in the CF blend (1: factors alone).
    pub blend: f32,
    /// Validation nDCG@10 of the choice, of the factors alone, and of the
    /// neighbours alone at their best (α, β).
    pub ndcg10: f64,
    pub factors_ndcg10: f64,
    pub neighbours_ndcg10: f64,
    /// Every (item-item model, blend) tried, with its validation nDCG@10.
    pub table: Vec<(Neighbours, f32, f64)>,
    /// The kinds the choice was made among (`--cf`).
    pub kinds: CfKinds,
    /// What the budget let it try.
    pub plan: Plan,
}

impl Choice {
    /// The choice as the bundle's `cf_choice` section records it, for a
    /// model whose CF ended as `chosen` (`Model::cf_kind`).
    pub fn record(&self, chosen: String, notes: Vec<String>) -> CfChoice {
        let als = self.als_table.iter().map(|&(p, s)| CfCandidate {
            model: factor_kind(&p).into(),
            params: vec![
                ("regularization".into(), p.regularization),
                ("alpha".into(), p.alpha),
                ("reg_exponent".into(), p.reg_exponent),
            ],
            ndcg10: s as f32,
        });
        let blends = self.table.iter().map(|&(n, b, s)| {
            let mut params = n.params();
            params.push(("blend".into(), b));
            CfCandidate {
                model: format!("{}+{}", factor_kind(&self.als), n.method()),
                params,
                ndcg10: s as f32,
            }
        });
        CfChoice {
            kinds: self.kinds.to_string(),
            chosen,
            ndcg10: self.ndcg10 as f32,
            factors_ndcg10: self.factors_ndcg10 as f32,
            listeners: self.tuned_on.0 as u64,
            plays: self.tuned_on.1 as u64,
            validation_listeners: self.validation_listeners as u64,
            table: als.chain(blends).collect(),
            notes,
        }
    }

    /// The best factor model of `kind` (`als`, `ials` or `nmf`) on validation,
    /// with its score, where one was tried.
    pub fn best_factors(&self, kind: &str) -> Option<(AlsParams, f64)> {
        self.als_table
            .iter()
            .filter(|(p, _)| factor_kind(p) == kind)
            .fold(None, |best: Option<(AlsParams, f64)>, &(p, s)| match best {
                Some((_, t)) if t >= s - 1e-4 => best,
                _ => Some((p, s)),
            })
    }

    /// The best item-item model of `method` on its own on validation, where
    /// one was tried.
    pub fn best_alone(&self, method: &str) -> Option<Neighbours> {
        self.table
            .iter()
            .filter(|(n, b, _)| *b == 0.0 && n.method() == method)
            .fold(
                None,
                |best: Option<(Neighbours, f64)>, &(n, _, s)| match best {
                    Some((_, t)) if t >= s - 1e-4 => best,
                    _ => Some((n, s)),
                },
            )
            .map(|(n, _)| n)
    }

    /// The fitted item-item model on `plays`, as the bundle stores it.
    pub fn fit(&self, plays: &Csr) -> timbral_core::model::ItemItem {
        self.neighbours.fit(plays, self.blend)
    }

    /// `model` with the item-item model fitted on `plays` (the plays it was
    /// trained on) attached.
    /// Where the factors alone won, nothing is attached: no bytes for a
    /// model that would weigh nothing.
    pub fn attach(&self, model: Model, plays: &Csr) -> Model {
        if self.blend >= 1.0 {
            return model;
        }
        let mut parts = model.into_parts();
        parts.item_item = Some(self.fit(plays));
        Model::from_parts(parts).expect("an item-item model fitted on the model's own items")
    }
}

/// A seeded sample of whole listeners with at most `max_plays` plays in
/// all, or `None` where `plays` already has no more.
fn listener_sample(plays: &Csr, max_plays: usize, seed: u64) -> Option<Csr> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    if plays.nnz() <= max_plays {
        return None;
    }
    let mut order: Vec<usize> = (0..plays.n_rows()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5a3b1e));
    let (mut kept, mut total) = (Vec::new(), 0usize);
    for u in order {
        let len = plays.row_len(u);
        if total + len > max_plays {
            continue;
        }
        total += len;
        kept.push(u);
    }
    kept.sort_unstable();
    let triplets = kept
        .iter()
        .enumerate()
        .flat_map(|(r, &u)| {
            let (items, values) = plays.row(u);
            items
                .iter()
                .zip(values)
                .map(move |(&i, &v)| (r as u32, i, v))
        })
        .collect();
    Some(Csr::from_triplets(kept.len(), plays.n_cols(), triplets))
}

/// `(x − mean)/std` over `keep`, in place (as the runtimes standardise).
fn standardized(mut x: Vec<f32>, keep: &[bool]) -> Vec<f32> {
    timbral_core::content::standardize(&mut x, keep);
    x
}

/// nDCG@10 of `score` over the kept items against `held` (sorted).
fn ndcg10(score: impl Fn(usize) -> f32, keep: &[bool], held: &[u32]) -> f64 {
    let kept = (0..keep.len()).filter(|&i| keep[i]);
    crate::hybrid::ndcg10(kept.map(|i| (i as u32, score(i))), held)
}

/// Chooses ALS's λ and α, the item-item model (`Neighbours::candidates_of`
/// `kinds`) and its blend with the factors on a
/// validation split carved from `plays` alone (a 20% per-user holdout of
/// it), ranking a sample of the validation listeners with factors trained
/// with `params` on the rest. Only `plays` is read, so whatever an
/// evaluation holds out of it never reaches the choice. Where `kinds`
/// forces an item-item model, the factors alone are not a candidate.
///
/// Panics where `kinds` cannot apply (`CfKinds::check` says why first).
pub fn choose(plays: &Csr, params: AlsParams, seed: u64, search: Search) -> Choice {
    let Search {
        tune_als, kinds, ..
    } = search;
    let started = std::time::Instant::now();
    let sample = listener_sample(plays, TUNE_MAX_PLAYS, seed);
    let plays = sample.as_ref().unwrap_or(plays);
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
        let factors = crate::train_factors(&inner.train, p, false);
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
        // Each model's grid point keeps the given factors and seed, and the
        // iterations given for its own model, else that model's default
        // (LightGCN's full-batch epochs are not ALS's sweeps).
        let point = |model: FactorModel, regularization: f32, alpha: f32, reg_exponent: f32| {
            let iterations = if model == params.model {
                params.iterations
            } else {
                AlsParams::defaults_for(model).iterations
            };
            AlsParams {
                model,
                regularization,
                alpha,
                reg_exponent,
                iterations,
                ..params
            }
        };
        let mut points = Vec::new();
        for reg_exponent in REG_EXPONENTS {
            for regularization in REGULARIZATIONS {
                for alpha in ALPHAS_ALS {
                    points.push(point(FactorModel::Als, regularization, alpha, reg_exponent));
                }
            }
        }
        for regularization in REGULARIZATIONS_NMF {
            for alpha in ALPHAS_NMF {
                points.push(point(FactorModel::Nmf, regularization, alpha, 0.0));
            }
        }
        for regularization in REGULARIZATIONS_BPR {
            points.push(point(FactorModel::Bpr, regularization, ALPHA_BPR, 0.0));
        }
        for regularization in REGULARIZATIONS_LIGHTGCN {
            points.push(point(
                FactorModel::LightGcn,
                regularization,
                ALPHA_LIGHTGCN,
                0.0,
            ));
        }
        grid.extend(points.into_iter().filter(|p| *p != params));
    }
    let candidates = Neighbours::candidates_of(kinds, n);
    let shape = Shape {
        users: inner.train.n_rows(),
        items: n,
        plays: inner.train.nnz(),
        walks: (0..inner.train.n_rows())
            .map(|u| (inner.train.row_len(u) as f64).powi(2))
            .sum(),
        validation: users.len(),
    };
    let forced = kinds.forces_item_item();
    let plan = crate::cf_budget::plan(
        search.budget_s,
        &shape,
        &grid,
        &candidates,
        BLENDS.len(),
        forced,
    );
    let mut als_table = Vec::new();
    let mut chosen: Option<(AlsParams, Vec<Vec<f32>>, f64)> = None;
    for &p in &plan.als {
        let z = factor_scores(&p);
        let s = score(&z);
        als_table.push((p, s));
        if chosen.as_ref().is_none_or(|c| s > c.2 + 1e-4) {
            chosen = Some((p, z, s));
        }
    }
    let (als, base, factors_ndcg10) = chosen.expect("the grid holds the given parameters");
    let mut table = Vec::new();
    let candidates = &plan.neighbours;
    let first = *Neighbours::candidates(n)
        .first()
        .expect("RP3beta has candidates for any catalogue");
    assert!(
        !kinds.forces_item_item() || !candidates.is_empty(),
        "{kinds:?} for {n} items"
    );
    // Forced, the neighbours take part however little they add.
    let floor = if kinds.forces_item_item() {
        f64::MIN
    } else {
        factors_ndcg10
    };
    let mut best = (candidates.first().copied().unwrap_or(first), 1.0f32, floor);
    let mut neighbours_ndcg10 = f64::NAN;
    let mut alone = best.0;
    for &cand in candidates {
        let ii = cand.fit(&inner.train, 0.0);
        let near: Vec<Vec<f32>> = users
            .par_iter()
            .zip(&keeps)
            .map(|((u, _), keep)| {
                let (items, plays) = inner.train.row(*u as usize);
                let h: Vec<(u32, f32)> = items.iter().copied().zip(plays.iter().copied()).collect();
                standardized(ii.scores(&h), keep)
            })
            .collect();
        for b in BLENDS {
            if b >= 1.0 && kinds.forces_item_item() {
                continue;
            }
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
            table.push((cand, b, s));
            if b == 0.0 && (neighbours_ndcg10.is_nan() || s > neighbours_ndcg10 + 1e-4) {
                neighbours_ndcg10 = s;
                alone = cand;
            }
            // The first of equals wins; the factors alone are the
            // default, beaten only by a clear margin.
            if s > best.2 + 1e-4 {
                best = (cand, b, s);
            }
        }
    }
    let (neighbours, blend, ndcg10) = best;
    let choice = Choice {
        sampled: sample.as_ref().map(|p| (p.n_rows(), p.nnz())),
        tuned_on: (plays.n_rows(), plays.nnz()),
        validation_listeners: users.len(),
        seconds: started.elapsed().as_secs_f64(),
        als,
        als_table,
        neighbours,
        alone,
        blend,
        ndcg10,
        factors_ndcg10,
        neighbours_ndcg10,
        table,
        kinds,
        plan,
    };
    tracing::info!(
        ?als,
        ?neighbours,
        blend,
        ndcg10,
        factors_ndcg10,
        "chose the CF model"
    );
    choice
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plan = &self.plan;
        write!(
            f,
            "CF tuning: budget {:.0} s of estimated work on the reference machine, {:.1} s planned for {} factor fits (ALS, NMF, BPR, LightGCN) and {} item-item models",
            plan.budget_s,
            plan.estimate_s,
            plan.als.len(),
            plan.neighbours.len()
        )?;
        if plan.skipped != (0, 0) {
            write!(
                f,
                " ({} factor and {} item-item candidates left out for the budget)",
                plan.skipped.0, plan.skipped.1
            )?;
        }
        write!(f, "; took {:.1} s here", self.seconds)?;
        match self.sampled {
            Some((users, plays)) => {
                writeln!(f, " on a sample of {users} listeners ({plays} plays)")?
            }
            None => writeln!(f)?,
        }
        if self.als_table.len() > 1 {
            let mut line = format!(
                "factors chosen on a validation split of the training plays: {}, regularization {}, alpha {}, reg_exponent {}; nDCG@10 by (model, regularization, alpha, reg_exponent):",
                factor_kind(&self.als),
                self.als.regularization,
                self.als.alpha,
                self.als.reg_exponent
            );
            for (p, s) in &self.als_table {
                line += &format!(
                    " ({} {}, {}, {}) {s:.3}",
                    p.model.name(),
                    p.regularization,
                    p.alpha,
                    p.reg_exponent
                );
            }
            writeln!(f, "{line}")?;
        }
        if self.table.is_empty() {
            return writeln!(f, "item-item CF: none (--cf als)");
        }
        if self.blend >= 1.0 {
            writeln!(
                f,
                "item-item CF chosen on a validation split of the training plays: none, the factors alone ranked best"
            )?;
        } else {
            writeln!(
                f,
                "item-item CF chosen on a validation split of the training plays: {}, {} neighbours, blend {:.1}·factors + {:.1}·neighbours",
                self.neighbours,
                crate::item_item::NEIGHBOURS,
                self.blend,
                1.0 - self.blend
            )?;
        }
        writeln!(
            f,
            "  validation nDCG@10: blend {:.4}, factors alone {:.4}, neighbours alone {:.4} ({})",
            self.ndcg10, self.factors_ndcg10, self.neighbours_ndcg10, self.alone
        )?;
        let mut line = String::from("  neighbours alone / best blend:");
        for (m, w, s) in &self.table {
            if *w == 0.0 {
                let best = self
                    .table
                    .iter()
                    .filter(|t| t.0 == *m)
                    .map(|t| t.2)
                    .fold(f64::MIN, f64::max);
                line += &format!(" [{m}] {s:.3}/{best:.3}");
            }
        }
        writeln!(f, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cf_kinds_bound_what_the_tuner_may_choose() {
        let data = crate::synth::generate(crate::synth::SynthConfig {
            users: 300,
            items: 200,
            plays_per_user: 12,
            seed: 3,
        })
        .data;
        let p = AlsParams {
            factors: 8,
            iterations: 4,
            ..AlsParams::default()
        };
        let search = |kinds| Search {
            tune_als: false,
            kinds,
            ..Search::default()
        };
        let als = choose(&data.plays, p, 1, search(CfKinds::Als));
        assert!(als.table.is_empty() && als.blend == 1.0, "{als}");
        for (kinds, method) in [(CfKinds::AlsEase, "ease"), (CfKinds::AlsRp3beta, "rp3beta")] {
            let c = choose(&data.plays, p, 1, search(kinds));
            assert_eq!(c.neighbours.method(), method);
            assert!(c.blend < 1.0, "{kinds:?}: blend {}", c.blend);
            assert!(c
                .table
                .iter()
                .all(|(n, b, _)| n.method() == method && *b < 1.0));
            assert_eq!(c.best_alone(method), Some(c.alone));
            let other = if method == "ease" { "rp3beta" } else { "ease" };
            assert_eq!(c.best_alone(other), None);
        }
        assert!(CfKinds::AlsEase.check(crate::ease::MAX_ITEMS + 1).is_err());
        assert!(CfKinds::AlsRp3beta
            .check(crate::ease::MAX_ITEMS + 1)
            .is_ok());
    }

    #[test]
    fn a_large_data_set_is_tuned_on_whole_listeners_within_the_cap() {
        let t: Vec<(u32, u32, f32)> = (0..50u32)
            .flat_map(|u| (0..(u % 7 + 1)).map(move |i| (u, (u + i) % 30, 1.0 + i as f32)))
            .collect();
        let plays = Csr::from_triplets(50, 30, t);
        assert!(listener_sample(&plays, plays.nnz(), 1).is_none());
        let s = listener_sample(&plays, 60, 1).unwrap();
        assert!(s.nnz() <= 60 && s.nnz() > 40, "{}", s.nnz());
        assert_eq!(s.n_cols(), 30);
        // Every sampled row is one listener's row, whole.
        let rows: Vec<_> = (0..plays.n_rows()).map(|u| plays.row(u)).collect();
        for r in 0..s.n_rows() {
            assert!(rows.contains(&s.row(r)));
        }
        assert_eq!(listener_sample(&plays, 60, 1), Some(s));
    }
}
