//! Non-negative matrix factorisation of the play matrix, one row at a time.
//!
//! One row's solve (a user given the item factors, or an item given the
//! user factors) is the non-negative least-squares problem
//!
//! ```text
//!   min_{x ≥ 0}  Σ_i (v_i − x·y_i)² + Σ_{i unobserved} (x·y_i)² + λ‖x‖²
//! ```
//!
//! with `v_i = 1 + α·ln(1 + plays_i)` (`als::confidence`, so one α means
//! the same strength of plays in both models). Unlike ALS every cell
//! weighs the same and the factors stay ≥ 0, so a listener is a sum of
//! parts, never a difference. Its gradient needs only the f × f matrix
//! `G = YᵀY + λI` and `b = Σ_i v_i y_i`, so the solve is coordinate
//! descent on f variables (scikit-learn's `cd` solver, HALS, for one row):
//! each coordinate in turn set to its exact minimiser, clipped at 0. The
//! problem is strictly convex where λ > 0, so a warm-started half-step in
//! the trainer and a fold-in from zero in a runtime reach the same factor.
//! This module never starts a thread.

use crate::als::{Factors, Scratch};
use crate::linalg::axpy;

/// Sweeps over the coordinates before a solve stops unconverged.
pub const MAX_SWEEPS: usize = 100;
/// A solve has converged once no coordinate moved by more than this
/// fraction of the largest.
const TOLERANCE: f32 = 1e-4;

/// Improves `x` (≥ 0) towards the row's non-negative least-squares factor.
/// `gram` is `YᵀY + λI`; `cols`/`values` are the row's observed items and
/// their `v_i`; `extra_reg` is its regularisation beyond the λ in `gram`
/// (`als::row_regularization`). Returns the sweeps it took.
#[inline]
pub fn solve_row<F: Factors>(
    gram: &[f32],
    y: &F,
    cols: &[u32],
    values: &[f32],
    x: &mut [f32],
    extra_reg: f32,
    s: &mut Scratch,
) -> usize {
    let f = x.len();
    // grad = (G + extra·I) x − b, kept up to date as coordinates move.
    let grad = &mut s.r;
    crate::linalg::gemv(gram, x, grad);
    if extra_reg != 0.0 {
        axpy(extra_reg, x, grad);
    }
    for (&i, &v) in cols.iter().zip(values) {
        y.add_scaled_row(i as usize, -v, grad);
    }
    for sweep in 1..=MAX_SWEEPS {
        let (mut moved, mut largest) = (0f32, 0f32);
        for j in 0..f {
            let a = gram[j * f + j] + extra_reg;
            if a <= 0.0 {
                continue;
            }
            let next = (x[j] - grad[j] / a).max(0.0);
            let d = next - x[j];
            if d != 0.0 {
                x[j] = next;
                axpy(d, &gram[j * f..(j + 1) * f], grad);
                grad[j] += d * extra_reg;
            }
            moved = moved.max(d.abs());
            largest = largest.max(next);
        }
        if moved <= TOLERANCE * largest {
            return sweep;
        }
    }
    MAX_SWEEPS
}

/// The non-negative least-squares factor of a new row from zero: the same
/// solve as the trainer's half-step, run to convergence.
pub fn fold_in<F: Factors>(
    gram: &[f32],
    y: &F,
    cols: &[u32],
    values: &[f32],
    extra_reg: f32,
) -> Vec<f32> {
    let f = y.dim();
    let mut x = vec![0.0; f];
    if !cols.is_empty() {
        solve_row(
            gram,
            y,
            cols,
            values,
            &mut x,
            extra_reg,
            &mut Scratch::new(f),
        );
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::Dense;
    use rand::{Rng, SeedableRng};

    /// Σ (v_i − x·y_i)² over observed, (x·y_i)² over the rest, + λ‖x‖².
    fn objective(y: &[f32], f: usize, cols: &[u32], values: &[f32], lambda: f32, x: &[f32]) -> f64 {
        let mut total = lambda as f64 * x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        for (r, row) in y.chunks(f).enumerate() {
            let p: f64 = row.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
            let target = cols
                .iter()
                .position(|&c| c as usize == r)
                .map_or(0.0, |k| values[k] as f64);
            total += (target - p).powi(2);
        }
        total
    }

    #[test]
    fn the_fold_in_is_non_negative_and_no_feasible_step_improves_it() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (n, f, lambda) = (40, 6, 0.5);
        let y: Vec<f32> = (0..n * f).map(|_| rng.random::<f32>()).collect();
        let view = ndarray::ArrayView2::from_shape((n, f), &y).unwrap();
        let gram = crate::als::gram(view, lambda);
        let cols = [1u32, 7, 8, 30];
        let values = [2.0, 1.0, 3.5, 1.5];
        let dense = Dense { data: &y, dim: f };
        let x = fold_in(&gram, &dense, &cols, &values, 0.0);
        assert!(x.iter().all(|&v| v >= 0.0), "{x:?}");
        assert!(x.iter().any(|&v| v > 0.0), "{x:?}");
        let best = objective(&y, f, &cols, &values, lambda, &x);
        // KKT, checked by trying: any small step that stays ≥ 0 is worse.
        for j in 0..f {
            for step in [-1e-2f32, 1e-2] {
                let mut z = x.clone();
                z[j] = (z[j] + step).max(0.0);
                if z == x {
                    continue;
                }
                let o = objective(&y, f, &cols, &values, lambda, &z);
                assert!(
                    o >= best - 1e-6 * best.abs(),
                    "coordinate {j} {step}: {o} < {best}"
                );
            }
        }
    }

    #[test]
    fn a_warm_start_reaches_the_fold_in_from_zero() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let (n, f) = (60, 8);
        let y: Vec<f32> = (0..n * f).map(|_| rng.random::<f32>()).collect();
        let view = ndarray::ArrayView2::from_shape((n, f), &y).unwrap();
        let gram = crate::als::gram(view, 1.0);
        let dense = Dense { data: &y, dim: f };
        let (cols, values) = ([2u32, 5, 11, 40, 59], [1.0, 4.0, 2.0, 1.0, 3.0]);
        let cold = fold_in(&gram, &dense, &cols, &values, 0.3);
        let mut warm: Vec<f32> = (0..f).map(|_| rng.random::<f32>() * 3.0).collect();
        solve_row(
            &gram,
            &dense,
            &cols,
            &values,
            &mut warm,
            0.3,
            &mut Scratch::new(f),
        );
        let cos = crate::linalg::cosine(&cold, &warm);
        assert!(cos > 0.999, "{cos}: {cold:?} vs {warm:?}");
        assert_eq!(fold_in(&gram, &dense, &[], &[], 0.0), vec![0.0; f]);
    }
}
