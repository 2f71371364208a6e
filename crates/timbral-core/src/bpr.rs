//! Bayesian personalised ranking (Rendle et al. 2009): factors fitted so
//! that a listener's played items score above the ones they did not play.
//! The trainer fits the item factors by stratified SGD (`timbral-train`'s
//! `bpr.rs`); this module holds what a runtime needs too, one listener's
//! factor given the item factors.
//!
//! That factor minimises BPR's loss over a *fixed* set of negatives,
//!
//! ```text
//!   Σ_i w_i · mean_{j ∈ N∖P} ln(1 + e^{−(x·y_i − x·y_j)}) / Σ_i w_i  +  λ/2 ‖x‖²
//! ```
//!
//! over the listener's played items `P` (weights `w_i = 1 + α·ln(1 +
//! plays_i)`, `als::confidence`: α = 0 is classic, unweighted BPR) and
//! `N`, [`NEGATIVES`] items every listener shares, chosen by the seed
//! ([`negatives`]). The mean over pairs and λ/2 are the expectation SGD
//! descends, so λ means the same in training and here. A fixed `N` makes
//! the problem deterministic and convex, so Newton's method (each step's
//! system solved by conjugate gradient on Hessian-vector products, which
//! cost O((|P| + |N|)·f + |P|·|N|)) reaches its unique minimum; the trainer
//! re-solves every listener this way after its last epoch, so fold-in of a
//! new listener is the training's own last step. This module never starts
//! a thread, and its exponentials are the pure-Rust libm's, so native and
//! wasm agree.

use crate::als::Factors;
use crate::linalg::{axpy, dot};

/// How many items every listener's solve ranks its plays against.
pub const NEGATIVES: usize = 512;
/// Newton steps before a solve stops unconverged.
pub const MAX_NEWTON: usize = 30;
/// Conjugate-gradient steps for one Newton direction.
const CG_STEPS: usize = 16;
/// A solve has converged once the gradient's norm is below this fraction of
/// its norm at zero.
const TOLERANCE: f32 = 1e-4;

/// SplitMix64's output function: a seeded, platform-independent hash.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The shared negatives: the [`NEGATIVES`] items (or all, if fewer) among
/// those `eligible` (someone played them) with the smallest seeded hash,
/// in index order. The same on every machine for a seed, so the bundle
/// stores the seed, not the list.
pub fn negatives(n_items: usize, seed: u64, eligible: impl Fn(usize) -> bool) -> Vec<u32> {
    let mut keyed: Vec<(u64, u32)> = (0..n_items)
        .filter(|&i| eligible(i))
        .map(|i| (mix(seed ^ mix(i as u64)), i as u32))
        .collect();
    if keyed.len() > NEGATIVES {
        keyed.select_nth_unstable(NEGATIVES);
        keyed.truncate(NEGATIVES);
    }
    let mut out: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
    out.sort_unstable();
    out
}

/// What the solve needs at one point `x`, from one pass over its pairs
/// (one `expf` each): the scores, the gradient and the curvatures, so that
/// an accepted line-search trial is the next Newton step's start.
#[derive(Default)]
struct Point {
    sp: Vec<f32>,
    sn: Vec<f32>,
    /// Per pair, the loss's curvature w·σ(δ)·σ(−δ), |P| × |N| row-major.
    h: Vec<f32>,
    /// Σ_j w·σ(−δ_ij) per played item, and Σ_i w·σ(−δ_ij) per negative.
    ap: Vec<f32>,
    an: Vec<f32>,
    grad: Vec<f32>,
}

/// Buffers one row's solve reuses.
#[derive(Default)]
pub struct Scratch {
    neg: Vec<u32>,
    at: Point,
    trial_at: Point,
    dir: Vec<f32>,
    r: Vec<f32>,
    p: Vec<f32>,
    hp: Vec<f32>,
    tp: Vec<f32>,
    tn: Vec<f32>,
    e: Vec<f32>,
    trial: Vec<f32>,
}

/// One listener's problem: its items, weights and negatives.
struct Row<'a, F: Factors> {
    y: &'a F,
    pos: &'a [u32],
    neg: &'a [u32],
    w: &'a [f32],
    /// `1 / (Σ w · |N|)`: the weighted mean over pairs.
    norm: f32,
    lambda: f32,
}

impl<F: Factors> Row<'_, F> {
    /// Fills `at` for `x`: a pair with margin `d` pulls with `σ(−d)`,
    /// from `e^{−|d|}` without overflow.
    fn evaluate(&self, x: &[f32], at: &mut Point) {
        let nn = self.neg.len();
        at.sp.clear();
        at.sp
            .extend(self.pos.iter().map(|&i| self.y.dot_row(i as usize, x)));
        at.sn.clear();
        at.sn
            .extend(self.neg.iter().map(|&j| self.y.dot_row(j as usize, x)));
        at.h.clear();
        at.h.resize(self.pos.len() * nn, 0.0);
        at.ap.clear();
        at.an.clear();
        at.an.resize(nn, 0.0);
        for (k, (&a, &w)) in at.sp.iter().zip(self.w).enumerate() {
            let mut pull = 0f32;
            let pairs = at.sn.iter().zip(&mut at.h[k * nn..(k + 1) * nn]);
            for ((&b, h), an) in pairs.zip(at.an.iter_mut()) {
                let d = a - b;
                let e = libm::expf(-d.abs());
                let g = if d > 0.0 {
                    e / (1.0 + e)
                } else {
                    1.0 / (1.0 + e)
                };
                *h = w * g * (1.0 - g);
                *an += w * g;
                pull += g;
            }
            at.ap.push(w * pull);
        }
        // λx − norm·(Σ_i a_i y_i − Σ_j b_j y_j).
        at.grad.clear();
        at.grad.extend(x.iter().map(|&v| v * self.lambda));
        for (&i, &a) in self.pos.iter().zip(&at.ap) {
            self.y
                .add_scaled_row(i as usize, -self.norm * a, &mut at.grad);
        }
        for (&j, &b) in self.neg.iter().zip(&at.an) {
            self.y
                .add_scaled_row(j as usize, self.norm * b, &mut at.grad);
        }
    }

    /// The objective at `x`, whose scores `at` holds: a pair with margin
    /// `d` loses `ln(1 + e^{−d})`.
    fn loss(&self, at: &Point, x: &[f32]) -> f32 {
        let mut total = 0f32;
        for (&a, &w) in at.sp.iter().zip(self.w) {
            let mut row = 0f32;
            for &b in &at.sn {
                let d = a - b;
                row += libm::log1pf(libm::expf(-d.abs())) + (-d).max(0.0);
            }
            total += w * row;
        }
        total * self.norm + 0.5 * self.lambda * dot(x, x)
    }
}

/// Improves `x` to the row's BPR factor against the fixed item factors `y`:
/// `cols` are the listener's items (sorted, distinct) and `values` their
/// weights; `negatives` is [`negatives`]' list, from which the listener's
/// own items are left out. Returns the Newton steps taken.
#[allow(clippy::too_many_arguments)]
pub fn solve_row<F: Factors>(
    y: &F,
    negatives: &[u32],
    cols: &[u32],
    values: &[f32],
    x: &mut [f32],
    lambda: f32,
    s: &mut Scratch,
) -> usize {
    // The listener's negatives live in the scratch between calls; taken
    // out here so that the solve below can borrow them beside it.
    let mut neg = std::mem::take(&mut s.neg);
    neg.clear();
    neg.extend(negatives.iter().filter(|j| cols.binary_search(j).is_err()));
    let steps = 'solve: {
        let f = x.len();
        let wsum: f32 = values.iter().sum();
        if cols.is_empty() || neg.is_empty() || wsum <= 0.0 {
            x.fill(0.0);
            break 'solve 0;
        }
        let row = Row {
            y,
            pos: cols,
            neg: &neg,
            w: values,
            norm: 1.0 / (wsum * neg.len() as f32),
            lambda,
        };
        for v in [&mut s.dir, &mut s.r, &mut s.p, &mut s.hp] {
            v.clear();
            v.resize(f, 0.0);
        }
        row.evaluate(x, &mut s.at);
        let g0 = dot(&s.at.grad, &s.at.grad).sqrt();
        for step in 1..=MAX_NEWTON {
            let gnorm = dot(&s.at.grad, &s.at.grad).sqrt();
            if gnorm <= TOLERANCE * g0 || gnorm.is_nan() {
                break 'solve step - 1;
            }
            // The Newton direction: H·dir = −grad by conjugate gradient.
            s.dir.fill(0.0);
            s.r.iter_mut().zip(&s.at.grad).for_each(|(r, g)| *r = -g);
            s.p.copy_from_slice(&s.r);
            let mut rr = dot(&s.r, &s.r);
            let stop = rr * 1e-4;
            for _ in 0..CG_STEPS {
                let t = (&mut s.tp, &mut s.tn, &mut s.e);
                hessian_times(&row, &s.at.h, &s.p, &mut s.hp, t);
                let php = dot(&s.p, &s.hp);
                if php <= 0.0 || php.is_nan() {
                    break;
                }
                let a = rr / php;
                axpy(a, &s.p, &mut s.dir);
                axpy(-a, &s.hp, &mut s.r);
                let next = dot(&s.r, &s.r);
                if next <= stop {
                    break;
                }
                let beta = next / rr;
                rr = next;
                for (p, &r) in s.p.iter_mut().zip(&s.r) {
                    *p = r + beta * *p;
                }
            }
            // Backtracking until the step lowers the loss. The loss is convex,
            // so a trial where it still falls along the direction (gradient ·
            // direction ≤ 0) lies below the start and needs no loss; only
            // past the minimum are both losses computed.
            let slope = dot(&s.at.grad, &s.dir);
            let mut now = None;
            let mut t = 1f32;
            let mut moved = false;
            for _ in 0..20 {
                s.trial.clear();
                s.trial
                    .extend(x.iter().zip(&s.dir).map(|(&x, &d)| x + t * d));
                row.evaluate(&s.trial, &mut s.trial_at);
                let accept = dot(&s.trial_at.grad, &s.dir) <= 0.0 || {
                    let now = *now.get_or_insert_with(|| row.loss(&s.at, x));
                    row.loss(&s.trial_at, &s.trial) <= now + 1e-4 * t * slope
                };
                if accept {
                    x.copy_from_slice(&s.trial);
                    std::mem::swap(&mut s.at, &mut s.trial_at);
                    moved = true;
                    break;
                }
                t *= 0.5;
            }
            if !moved {
                break 'solve step;
            }
        }
        MAX_NEWTON
    };
    s.neg = neg;
    steps
}

/// `out = H·v` for the Hessian at the point whose pair curvatures are `h`:
/// `λv + norm·(Σ_i c_i y_i − Σ_j e_j y_j)` with `c_i = Σ_j h_ij (t_i − t_j)`
/// and `e_j = Σ_i h_ij (t_i − t_j)`, `t = Y·v`.
fn hessian_times<F: Factors>(
    row: &Row<'_, F>,
    h: &[f32],
    v: &[f32],
    out: &mut [f32],
    (tp, tn, e): (&mut Vec<f32>, &mut Vec<f32>, &mut Vec<f32>),
) {
    let nn = row.neg.len();
    tp.clear();
    tp.extend(row.pos.iter().map(|&i| row.y.dot_row(i as usize, v)));
    tn.clear();
    tn.extend(row.neg.iter().map(|&j| row.y.dot_row(j as usize, v)));
    out.copy_from_slice(v);
    out.iter_mut().for_each(|o| *o *= row.lambda);
    e.clear();
    e.resize(nn, 0.0);
    for (k, &ti) in tp.iter().enumerate() {
        let mut c = 0f32;
        for ((&hij, &tj), e) in h[k * nn..(k + 1) * nn]
            .iter()
            .zip(tn.iter())
            .zip(e.iter_mut())
        {
            let d = hij * (ti - tj);
            c += d;
            *e += d;
        }
        row.y.add_scaled_row(row.pos[k] as usize, row.norm * c, out);
    }
    for (&j, &e) in row.neg.iter().zip(e.iter()) {
        row.y.add_scaled_row(j as usize, -row.norm * e, out);
    }
}

/// The BPR factor of a new listener from zero: the same solve the trainer
/// ran for every listener after its last epoch.
pub fn fold_in<F: Factors>(
    y: &F,
    negatives: &[u32],
    cols: &[u32],
    values: &[f32],
    lambda: f32,
) -> Vec<f32> {
    let mut x = vec![0.0; y.dim()];
    solve_row(
        y,
        negatives,
        cols,
        values,
        &mut x,
        lambda,
        &mut Scratch::default(),
    );
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::Dense;
    use rand::{Rng, SeedableRng};

    fn problem(seed: u64) -> (Vec<f32>, usize, Vec<u32>, Vec<f32>, Vec<u32>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (n, f) = (300, 8);
        let y: Vec<f32> = (0..n * f).map(|_| rng.random::<f32>() - 0.5).collect();
        let mut cols: Vec<u32> = (0..12).map(|_| rng.random_range(0..n as u32)).collect();
        cols.sort_unstable();
        cols.dedup();
        let values: Vec<f32> = cols.iter().map(|_| 1.0 + rng.random::<f32>()).collect();
        let negs = negatives(n, seed, |i| i % 7 != 0);
        (y, f, cols, values, negs)
    }

    fn loss(y: &[f32], f: usize, negs: &[u32], cols: &[u32], w: &[f32], l: f32, x: &[f32]) -> f32 {
        let d = Dense { data: y, dim: f };
        let neg: Vec<u32> = negs.iter().copied().filter(|j| !cols.contains(j)).collect();
        let row = Row {
            y: &d,
            pos: cols,
            neg: &neg,
            w,
            norm: 1.0 / (w.iter().sum::<f32>() * neg.len() as f32),
            lambda: l,
        };
        let mut at = Point::default();
        row.evaluate(x, &mut at);
        row.loss(&at, x)
    }

    #[test]
    fn negatives_are_seeded_eligible_and_bounded() {
        let a = negatives(5000, 1, |i| i % 3 != 0);
        assert_eq!(a.len(), NEGATIVES);
        assert!(a.iter().all(|&i| i % 3 != 0));
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, negatives(5000, 1, |i| i % 3 != 0));
        assert_ne!(a, negatives(5000, 2, |i| i % 3 != 0));
        assert_eq!(negatives(40, 1, |_| true).len(), 40);
    }

    /// Newton reaches the minimum: no small step in any coordinate, either
    /// way, lowers the loss, and the solve beats a zero factor.
    #[test]
    fn fold_in_is_the_minimum() {
        for seed in 0..4 {
            let (y, f, cols, values, negs) = problem(seed);
            let lambda = 0.05;
            let x = fold_in(&Dense { data: &y, dim: f }, &negs, &cols, &values, lambda);
            let best = loss(&y, f, &negs, &cols, &values, lambda, &x);
            assert!(best < loss(&y, f, &negs, &cols, &values, lambda, &vec![0.0; f]));
            for k in 0..f {
                for step in [-1e-2f32, 1e-2] {
                    let mut t = x.clone();
                    t[k] += step;
                    let other = loss(&y, f, &negs, &cols, &values, lambda, &t);
                    assert!(
                        other >= best - 1e-6,
                        "seed {seed}: coordinate {k} by {step}: {other} < {best}"
                    );
                }
            }
        }
    }

    /// Played items outrank the negatives for the solved factor, and a
    /// warm start reaches the same minimum as a cold one.
    #[test]
    fn plays_rank_first_and_warm_equals_cold() {
        let (y, f, cols, values, negs) = problem(9);
        let d = Dense { data: &y, dim: f };
        let x = fold_in(&d, &negs, &cols, &values, 0.01);
        let mean = |ids: &[u32]| {
            ids.iter().map(|&i| d.dot_row(i as usize, &x)).sum::<f32>() / ids.len() as f32
        };
        assert!(mean(&cols) > mean(&negs) + 0.1);
        let mut warm: Vec<f32> = x.iter().map(|v| v * 1.5 + 0.01).collect();
        solve_row(
            &d,
            &negs,
            &cols,
            &values,
            &mut warm,
            0.01,
            &mut Scratch::default(),
        );
        let cos = crate::linalg::cosine(&x, &warm);
        assert!(cos > 0.9999, "cosine {cos}");
    }

    #[test]
    fn empty_history_is_zero() {
        let (y, f, _, _, negs) = problem(3);
        let x = fold_in(&Dense { data: &y, dim: f }, &negs, &[], &[], 0.1);
        assert!(x.iter().all(|&v| v == 0.0));
    }
}
