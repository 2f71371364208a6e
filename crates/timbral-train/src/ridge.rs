//! Ridge regression's normal equations, solved by nalgebra's Cholesky:
//! the content → factor map ([`crate::hybrid`]) and the mood model
//! ([`crate::mood`]) both fit `(XᵀX + λI) W = XᵀY`.

use nalgebra::DMatrix;

/// Solves `(A + λ·P) X = B` for a symmetric positive semi-definite `d × d`
/// matrix `A` (row-major; only its upper triangle is read) and a `d × m`
/// right-hand side `B` (row-major), where `P` is the identity except for
/// the rows in `unpenalized` (an intercept). Returns `X`, `d × m` row-major.
///
/// A singular system (`λ = 0` and collinear columns) gets a tiny extra
/// ridge rather than a failure: the caller asked for a fit, and the
/// minimum-norm direction is what a user would want from it.
pub fn solve(
    a: &[f64],
    d: usize,
    b: &[f64],
    m: usize,
    lambda: f64,
    unpenalized: &[usize],
) -> Vec<f64> {
    assert_eq!(a.len(), d * d, "A is d × d");
    assert_eq!(b.len(), d * m, "B is d × m");
    let mut jitter = 0.0;
    loop {
        let sym = DMatrix::from_fn(d, d, |r, c| {
            let (r0, c0) = if r <= c { (r, c) } else { (c, r) };
            let mut v = a[r0 * d + c0];
            if r == c {
                v += jitter;
                if !unpenalized.contains(&r) {
                    v += lambda;
                }
            }
            v
        });
        if let Some(chol) = sym.cholesky() {
            let rhs = DMatrix::from_row_slice(d, m, b);
            let x = chol.solve(&rhs);
            let mut out = vec![0.0; d * m];
            for r in 0..d {
                for c in 0..m {
                    out[r * m + c] = x[(r, c)];
                }
            }
            return out;
        }
        let scale = (0..d).map(|i| a[i * d + i].abs()).fold(0.0, f64::max);
        jitter = if jitter == 0.0 {
            1e-9 * scale.max(1.0)
        } else {
            jitter * 100.0
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_linear_map_and_leaves_the_intercept_free() {
        // y = 2·x0 − x1 + 5 over a few points; columns x0, x1, 1.
        let xs = [(0.0, 1.0), (1.0, 0.0), (2.0, 1.0), (3.0, 5.0), (-1.0, 2.0)];
        let d = 3;
        let (mut a, mut b) = (vec![0.0; d * d], vec![0.0; d]);
        for &(x0, x1) in &xs {
            let x = [x0, x1, 1.0];
            let y = 2.0 * x0 - x1 + 5.0;
            for r in 0..d {
                for c in 0..d {
                    a[r * d + c] += x[r] * x[c];
                }
                b[r] += x[r] * y;
            }
        }
        let w = solve(&a, d, &b, 1, 0.0, &[2]);
        assert!(
            (w[0] - 2.0).abs() < 1e-9 && (w[1] + 1.0).abs() < 1e-9 && (w[2] - 5.0).abs() < 1e-9,
            "{w:?}"
        );
        // A strong ridge shrinks the slopes towards zero, not the intercept.
        let w = solve(&a, d, &b, 1, 1e6, &[2]);
        assert!(w[0].abs() < 0.01 && w[1].abs() < 0.01, "{w:?}");
        let mean_y = xs.iter().map(|&(x0, x1)| 2.0 * x0 - x1 + 5.0).sum::<f64>() / 5.0;
        assert!((w[2] - mean_y).abs() < 0.05, "{w:?} vs {mean_y}");
    }

    #[test]
    fn a_singular_system_still_solves() {
        // Two identical columns and no ridge.
        let a = vec![2.0, 2.0, 2.0, 2.0];
        let w = solve(&a, 2, &[4.0, 4.0], 1, 0.0, &[]);
        assert!(w.iter().all(|v| v.is_finite()), "{w:?}");
        assert!((2.0 * w[0] + 2.0 * w[1] - 4.0).abs() < 1e-3, "{w:?}");
    }
}
