//! What the CF tuner (`cf_tune.rs`) may spend: `--budget`, in seconds of
//! estimated work on a reference machine (two cores of the CI machine),
//! never read off a clock. Each candidate's cost is estimated from the
//! shape of the data (listeners, items, plays, factors), so the same plays,
//! seed and budget try the same candidates on any machine and with any
//! thread count, and training stays deterministic; the time it really
//! took is printed beside the estimate.
//!
//! The order of spending: the given ALS parameters always; then the
//! item-item candidates up to half the budget; then the rest of the ALS
//! grid, nearest the given parameters first; then whatever item-item
//! candidates are left.

use serde::Serialize;
use timbral_core::{bpr, AlsParams, FactorModel};

use crate::item_item::Neighbours;

/// The default `--budget`.
pub const DEFAULT_SECONDS: f64 = 60.0;

/// Reference rates, measured on two cores of the CI machine (fits of the
/// embedded default catalogue and of HetRec): ALS's conjugate-gradient
/// rows (AVX2, `fit.rs`), dense gemm (EASE), and scans that are
/// memory-bound (scoring every item for a validation listener, RP3beta's
/// co-occurrence sums).
const ALS_FLOPS: f64 = 16e9;
const GEMM_FLOPS: f64 = 30e9;
const SCAN_OPS: f64 = 1e9;
/// Sweeps an NMF row's warm-started solve is budgeted for. Measured
/// (`timbral -v train --factor-model nmf`, its `steps_per_row`): 6 on
/// average over 15 iterations on HetRec, 8 on a MovieLens-1M-shaped
/// synthetic set, up to 21 in the first iterations; 12 errs on the side of
/// trying less.
const NMF_SWEEPS: f64 = 12.0;

/// BPR's closing solve, per (play, shared negative) pair, in reference
/// flops: about 7 Newton steps of an `expf` and up to 16 Hessian products
/// each. Measured (`timbral -v train --factor-model bpr`, "BPR listeners
/// solved"): 14.1 s for 536k plays × 512 negatives on a
/// MovieLens-1M-shaped synthetic set, two cores.
const BPR_PAIR_FLOPS: f64 = 820.0;

/// One LightGCN epoch, per play and factor, in reference flops: about 24
/// flops of sparse products, which run at memory speed, not ALS's.
/// Measured (`timbral -v train --factor-model lightgcn`, "trained
/// factors"): 5.8 s for 200 epochs of HetRec's 92.7k plays at 64 factors,
/// two cores.
const LIGHTGCN_PLAY_FLOPS: f64 = 80.0;

/// The tuning data's shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Shape {
    pub users: usize,
    pub items: usize,
    pub plays: usize,
    /// Σ over listeners of their play count squared (RP3beta's walk).
    pub walks: f64,
    /// Validation listeners ranked per candidate.
    pub validation: usize,
}

impl Shape {
    /// Estimated seconds to fit ALS with `p` and rank the validation
    /// listeners with it.
    pub fn als_seconds(&self, p: &AlsParams) -> f64 {
        let (f, cg) = (f64::from(p.factors), f64::from(p.cg_steps));
        let rows = (self.users + self.items) as f64;
        let per_iteration = match p.model {
            FactorModel::Als => rows * f * f * (1.0 + cg) + 4.0 * self.plays as f64 * cg * f,
            // Coordinate-descent sweeps over f × f, NMF_SWEEPS a row, and
            // one pass over the plays for `b`.
            FactorModel::Nmf => rows * f * f * (1.0 + NMF_SWEEPS) + 2.0 * self.plays as f64 * f,
            // One SGD step a play: about 20 flops a factor, measured.
            FactorModel::Bpr => 20.0 * self.plays as f64 * f,
            // A dozen sparse products over the plays (forward and back)
            // and the negatives' sort, per factor; Adam over the items.
            FactorModel::LightGcn => {
                LIGHTGCN_PLAY_FLOPS * self.plays as f64 * f + 10.0 * self.items as f64 * f
            }
        };
        // BPR's closing solve of every listener: each Newton step passes
        // over every (play, shared negative) pair.
        let closing = match p.model {
            FactorModel::Bpr => self.plays as f64 * bpr::NEGATIVES as f64 * BPR_PAIR_FLOPS,
            _ => 0.0,
        };
        let ranked = (self.validation * self.items) as f64;
        (f64::from(p.iterations) * per_iteration + closing + ranked * 2.0 * f) / ALS_FLOPS
            + self.rank_seconds(1.0)
    }

    /// Estimated seconds to fit an item-item model and rank the validation
    /// listeners with it at every blend weight.
    pub fn neighbours_seconds(&self, n: &Neighbours, blends: usize) -> f64 {
        let items = self.items as f64;
        let fit = match n {
            Neighbours::Rp3beta { .. } => (2.0 * self.walks + items * items) / SCAN_OPS,
            Neighbours::Ease { .. } => 1.67 * items.powi(3) / GEMM_FLOPS + items * items / SCAN_OPS,
        };
        fit + self.rank_seconds(blends as f64)
    }

    /// Standardising and ranking every item for each validation listener,
    /// `times` over.
    fn rank_seconds(&self, times: f64) -> f64 {
        let ops = 4.0 * times;
        self.validation as f64 * self.items as f64 * ops / SCAN_OPS
    }
}

/// What the budget let the tuner try.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub budget_s: f64,
    /// Estimated seconds of what is tried, on the reference machine.
    pub estimate_s: f64,
    pub als: Vec<AlsParams>,
    pub neighbours: Vec<Neighbours>,
    /// Candidates left out for the budget: ALS parameter pairs and
    /// item-item models.
    pub skipped: (usize, usize),
}

/// Chooses within `budget_s` which of `grid` (the given ALS parameters
/// first) and `candidates` to try, in the order the module's doc gives;
/// `forced` keeps the first item-item candidate whatever it costs.
pub fn plan(
    budget_s: f64,
    shape: &Shape,
    grid: &[AlsParams],
    candidates: &[Neighbours],
    blends: usize,
    forced: bool,
) -> Plan {
    let given = grid[0];
    let mut spent = shape.als_seconds(&given);
    let ii_cost: Vec<f64> = candidates
        .iter()
        .map(|n| shape.neighbours_seconds(n, blends))
        .collect();
    let mut take_ii = vec![false; candidates.len()];
    let spend_ii = |spent: &mut f64, limit: f64, take: &mut [bool]| {
        for (j, &c) in ii_cost.iter().enumerate() {
            if !take[j] && (*spent + c <= limit || (forced && j == 0)) {
                take[j] = true;
                *spent += c;
            }
        }
    };
    spend_ii(&mut spent, budget_s / 2.0, &mut take_ii);
    // Nearest the given parameters first, in log-space; grid order breaks ties.
    // Another factor model is measured from its own defaults (BPR's λ is on
    // another scale), and comes after every step of the given one's grid.
    let distance = |p: &AlsParams| {
        let (from, other) = if p.model == given.model {
            (given, 0.0)
        } else {
            (AlsParams::defaults_for(p.model), 10.0)
        };
        // Half a unit of ν weighs about one step of the λ grid (×4).
        (p.regularization / from.regularization).ln().abs()
            + (p.alpha / from.alpha).ln().abs()
            + 2.8 * (p.reg_exponent - from.reg_exponent).abs()
            + other
    };
    let mut rest: Vec<(usize, AlsParams)> = grid.iter().copied().enumerate().skip(1).collect();
    rest.sort_by(|a, b| {
        distance(&a.1)
            .total_cmp(&distance(&b.1))
            .then(a.0.cmp(&b.0))
    });
    let mut take_als = vec![false; grid.len()];
    take_als[0] = true;
    for (j, p) in rest {
        let c = shape.als_seconds(&p);
        if spent + c <= budget_s {
            take_als[j] = true;
            spent += c;
        }
    }
    spend_ii(&mut spent, budget_s, &mut take_ii);
    let als: Vec<AlsParams> = grid
        .iter()
        .zip(&take_als)
        .filter_map(|(p, &t)| t.then_some(*p))
        .collect();
    let neighbours: Vec<Neighbours> = candidates
        .iter()
        .zip(&take_ii)
        .filter_map(|(n, &t)| t.then_some(*n))
        .collect();
    Plan {
        budget_s,
        estimate_s: spent,
        skipped: (grid.len() - als.len(), candidates.len() - neighbours.len()),
        als,
        neighbours,
    }
}

/// Reads `--budget`: seconds, as `90`, `90s`, `5m` or `1h`.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    if num.trim().is_empty() {
        return Err(format!(
            "`{s}`: a budget is a positive duration, e.g. 60s or 5m"
        ));
    }
    let scale = match unit.trim() {
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        u => {
            return Err(format!(
                "`{s}`: unknown unit `{u}` (use s, m or h, e.g. 60s)"
            ))
        }
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v * scale),
        _ => Err(format!(
            "`{s}`: a budget is a positive duration, e.g. 60s or 5m"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(users: usize, items: usize, plays: usize) -> Shape {
        Shape {
            users,
            items,
            plays,
            walks: plays as f64 * (plays / users) as f64,
            validation: 800.min(users),
        }
    }

    fn grid() -> Vec<AlsParams> {
        let given = AlsParams::default();
        let mut g = vec![given];
        for regularization in [1.0, 5.0, 20.0, 80.0, 320.0] {
            for alpha in [1.0, 3.0, 10.0, 30.0] {
                let p = AlsParams {
                    regularization,
                    alpha,
                    ..given
                };
                if p != given {
                    g.push(p);
                }
            }
        }
        g
    }

    #[test]
    fn a_small_data_set_tries_everything_and_a_large_one_within_the_budget() {
        let cands = Neighbours::candidates(3000);
        let small = plan(60.0, &shape(2000, 3000, 40_000), &grid(), &cands, 6, false);
        assert_eq!(small.skipped, (0, 0), "{small:?}");
        assert!(small.estimate_s <= 60.0);

        let big = shape(200_000, 50_000, 1_000_000);
        let p = plan(
            60.0,
            &big,
            &grid(),
            &Neighbours::candidates(50_000),
            6,
            false,
        );
        assert!(p.skipped.0 > 0, "{p:?}");
        assert!(p.estimate_s <= 60.0, "{p:?}");
        assert_eq!(
            p.als[0],
            AlsParams::default(),
            "the given parameters always"
        );
        // The nearest neighbours of the given (λ 80, α 3) come before far ones.
        let near = |r: f32, a: f32| p.als.iter().any(|q| q.regularization == r && q.alpha == a);
        assert!(!near(1.0, 30.0) || near(80.0, 1.0), "{:?}", p.als);
        // More budget, never fewer candidates.
        let more = plan(
            600.0,
            &big,
            &grid(),
            &Neighbours::candidates(50_000),
            6,
            false,
        );
        assert!(more.als.len() >= p.als.len() && more.neighbours.len() >= p.neighbours.len());
    }

    #[test]
    fn a_forced_item_item_model_is_tried_however_small_the_budget() {
        let cands = Neighbours::candidates(3000);
        let p = plan(
            0.001,
            &shape(2000, 3000, 40_000),
            &grid(),
            &cands[8..],
            6,
            true,
        );
        assert_eq!((p.als.len(), p.neighbours.len()), (1, 1), "{p:?}");
        let p = plan(0.001, &shape(2000, 3000, 40_000), &grid(), &cands, 6, false);
        assert_eq!((p.als.len(), p.neighbours.len()), (1, 0), "{p:?}");
    }

    #[test]
    fn budgets_parse_with_their_units() {
        assert_eq!(parse_seconds("60s"), Ok(60.0));
        assert_eq!(parse_seconds("90"), Ok(90.0));
        assert_eq!(parse_seconds("5m"), Ok(300.0));
        assert_eq!(parse_seconds("1.5h"), Ok(5400.0));
        assert!(parse_seconds("0s").is_err());
        assert!(parse_seconds("ten").unwrap_err().contains("positive"));
        assert!(parse_seconds("10d").unwrap_err().contains("unknown unit"));
    }
}
