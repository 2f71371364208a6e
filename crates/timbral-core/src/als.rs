//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008), solved by conjugate
//! gradient (Takács, Pilászy & Tikk 2011), as in the `implicit` library.
//!
//! One row's solve — a user given the item factors, or an item given the
//! user factors — minimises
//!
//! ```text
//!   Σ_i c_i (1 − x·y_i)² + Σ_{i unobserved} (x·y_i)² + λ‖x‖²
//! ```
//!
//! with confidence `c_i = 1 + α·ln(1 + plays_i)`. Its normal equations are
//! `(YᵀY + λI + Σ_i (c_i − 1) y_i y_iᵀ) x = Σ_i c_i y_i`; CG needs only
//! products with that matrix, which cost O(f² + n_u·f) instead of forming
//! it. Training runs a few warm-started CG steps per row and sweep; fold-in
//! of a new listener runs the *same* solve to convergence from zero. The
//! trainer parallelises over rows; this module never starts a thread.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::linalg::{axpy, dot, dot4, gemv, ln_1p};
use crate::quant::QMatrix;

/// Which objective the factors were fitted to. Both place listeners and
/// items in one space and score by the dot product; they differ in the
/// half-step, so in fold-in too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FactorModel {
    /// Implicit ALS (this module): confidence-weighted, unconstrained.
    #[default]
    Als,
    /// Non-negative matrix factorisation (`crate::nmf`): unweighted
    /// squares over every cell, factors ≥ 0, fold-in by non-negative
    /// least squares.
    Nmf,
    /// Bayesian personalised ranking (`crate::bpr`): plays ranked above
    /// other items; items fitted by SGD, listeners (and fold-in) by the
    /// convex solve against a fixed set of negatives.
    Bpr,
    /// LightGCN (`crate::lightgcn`): item embeddings propagated over the
    /// listener–item graph and trained with BPR's loss; a listener, known
    /// or new, is their history propagated through the graph.
    LightGcn,
}

impl FactorModel {
    pub const ALL: [FactorModel; 4] = [
        FactorModel::Als,
        FactorModel::Nmf,
        FactorModel::Bpr,
        FactorModel::LightGcn,
    ];

    /// As the CLI and `Model::cf_kind` name it.
    pub fn name(self) -> &'static str {
        match self {
            FactorModel::Als => "als",
            FactorModel::Nmf => "nmf",
            FactorModel::Bpr => "bpr",
            FactorModel::LightGcn => "lightgcn",
        }
    }
}

impl std::str::FromStr for FactorModel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FactorModel::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown factor model `{s}` (als, nmf, bpr or lightgcn)"))
    }
}

/// LightGCN's default λ (weight decay on the layer-0 item embeddings,
/// against a mean loss per play, whose gradient per item is about 1/plays
/// of a single play's) and full-batch epochs.
pub const LIGHTGCN_REGULARIZATION: f32 = 1e-6;
pub const LIGHTGCN_EPOCHS: u32 = 200;

/// The factor model's hyper-parameters, stored in every bundle.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlsParams {
    /// ALS, NMF, BPR or LightGCN. `cg_steps` is ALS's alone. For BPR,
    /// `iterations` are SGD epochs, `regularization` is λ on the scale of
    /// one SGD step (about 0.001–0.1, where the least-squares models' sits
    /// near 1–300), `alpha` weighs plays (0: every play alike) and
    /// `reg_exponent` must be 0. LightGCN's `iterations` are full-batch
    /// epochs, its λ a weight decay against the mean loss per play, its α
    /// weighs plays and graph edges, and its `reg_exponent` must be 0.
    pub model: FactorModel,
    pub factors: u32,
    pub iterations: u32,
    pub regularization: f32,
    pub alpha: f32,
    pub cg_steps: u32,
    pub seed: u64,
    /// ν of the frequency-scaled regularisation (Rendle et al. 2022,
    /// "Revisiting the Performance of iALS on Item Recommendation
    /// Benchmarks"): a row with `n` observed items is regularised by
    /// `λ·(n / n̄)^ν`, `n̄` its side's mean. 0 is plain ALS (one λ for
    /// every row); 1 regularises a heavy listener or a popular item in
    /// proportion to its evidence. See [`row_regularization`].
    pub reg_exponent: f32,
}

impl Default for AlsParams {
    /// Tuned with `timbral tune` on a validation split carved from the
    /// training part of HetRec Last.fm-2k (see README, "Tuning").
    fn default() -> Self {
        AlsParams {
            model: FactorModel::Als,
            factors: 64,
            iterations: 15,
            regularization: 80.0,
            alpha: 3.0,
            cg_steps: 3,
            seed: 42,
            reg_exponent: 0.0,
        }
    }
}

impl AlsParams {
    /// The defaults for `model`: [`AlsParams::default`] for ALS; for NMF and
    /// BPR the λ and α their own scales need (each the best on HetRec's
    /// validation split, README "Tuning").
    pub fn defaults_for(model: FactorModel) -> AlsParams {
        let als = AlsParams::default();
        match model {
            FactorModel::Als => als,
            FactorModel::Nmf => AlsParams {
                model,
                regularization: 20.0,
                alpha: 0.3,
                ..als
            },
            FactorModel::Bpr => AlsParams {
                model,
                regularization: 1e-4,
                alpha: 1.0,
                ..als
            },
            FactorModel::LightGcn => AlsParams {
                model,
                regularization: LIGHTGCN_REGULARIZATION,
                alpha: 1.0,
                iterations: LIGHTGCN_EPOCHS,
                ..als
            },
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.factors == 0 || self.factors > 1024 {
            return Err(format!("factors must be in 1..=1024, got {}", self.factors));
        }
        if !(self.regularization.is_finite() && self.regularization >= 0.0) {
            return Err(format!(
                "regularization must be finite and ≥ 0, got {}",
                self.regularization
            ));
        }
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(format!("alpha must be finite and ≥ 0, got {}", self.alpha));
        }
        if !(self.reg_exponent.is_finite() && (0.0..=2.0).contains(&self.reg_exponent)) {
            return Err(format!(
                "reg_exponent must be in 0..=2, got {}",
                self.reg_exponent
            ));
        }
        if matches!(self.model, FactorModel::Bpr | FactorModel::LightGcn)
            && self.reg_exponent != 0.0
        {
            return Err(format!(
                "reg_exponent applies to ALS and NMF; {} needs 0",
                self.model.name()
            ));
        }
        if self.cg_steps == 0 {
            return Err("cg_steps must be ≥ 1".into());
        }
        Ok(())
    }
}

/// What a row with `n` observed items is regularised by beyond the λ the
/// Gram matrix holds: `λ·((n / reference)^ν − 1)`, where `reference` is
/// the mean observed items per row of its side in training (`n̄`). Exactly
/// 0 for plain ALS (ν = 0), so it leaves those bits alone; the pure-Rust
/// libm's `powf`, so the trainer, native fold-in and wasm agree.
#[inline]
pub fn row_regularization(lambda: f32, exponent: f32, n: usize, reference: f32) -> f32 {
    if exponent == 0.0 || reference <= 0.0 {
        return 0.0;
    }
    lambda * (libm::powf(n as f32 / reference, exponent) - 1.0)
}

/// The mean observed items per non-empty row, `n̄` of
/// [`row_regularization`] (0 for an empty matrix).
pub fn mean_row_len(row_lens: impl Iterator<Item = usize>) -> f32 {
    let (mut rows, mut total) = (0u64, 0u64);
    for n in row_lens.filter(|&n| n > 0) {
        rows += 1;
        total += n as u64;
    }
    if rows == 0 {
        0.0
    } else {
        (total as f64 / rows as f64) as f32
    }
}

/// `c = 1 + α·ln(1 + plays)`
#[inline]
pub fn confidence(plays: f32, alpha: f32) -> f32 {
    1.0 + alpha * ln_1p(plays.max(0.0))
}

/// Rows per partial sum of [`gram`]: the partials are added in row order,
/// so the trainer can compute them in parallel ([`gram_partial`] on each
/// chunk, then [`gram_finish`]) and get the same bits as [`gram`] on one
/// thread, on any target, with any thread count.
pub const GRAM_CHUNK: usize = 4096;

/// `YᵀY + λI` for a row-major `rows × f` factor matrix, as row-major f32.
///
/// Summed in f64, in the same order on every target: a BLAS-style
/// product (ndarray's) picks its kernel by CPU (AVX and FMA natively, none
/// in wasm), and the ulps it leaves in the Gram matrix moved a folded-in
/// listener's standardised CF part by ~1e-5 between the CLI and wasm.
/// Products of two f32 are exact in f64, so only the (fixed) order matters:
/// [`GRAM_CHUNK`] rows at a time, the chunks' sums added in order.
pub fn gram(factors: ArrayView2<'_, f32>, regularization: f32) -> Vec<f32> {
    let n = factors.nrows();
    let partials = (0..n).step_by(GRAM_CHUNK).map(|start| {
        let end = (start + GRAM_CHUNK).min(n);
        gram_partial(factors.slice(ndarray::s![start..end, ..]))
    });
    gram_finish(partials, factors.ncols(), regularization)
}

/// The upper triangle of `YᵀY` over some rows, in f64 (one chunk of
/// [`gram`]).
pub fn gram_partial(factors: ArrayView2<'_, f32>) -> Vec<f64> {
    const ROWS: usize = 4;
    let f = factors.ncols();
    let mut acc = vec![0f64; f * f];
    // Four rows at a time, widened to f64, so each pass over the upper
    // triangle adds four products (a quarter of the accumulator traffic);
    // a short last block is padded with zero rows.
    let mut block = vec![0f64; ROWS * f];
    let mut rows = factors.rows().into_iter().peekable();
    while rows.peek().is_some() {
        block.fill(0.0);
        for (dst, r) in block.chunks_exact_mut(f).zip(rows.by_ref().take(ROWS)) {
            for (d, &s) in dst.iter_mut().zip(r.iter()) {
                *d = f64::from(s);
            }
        }
        let (r0, rest) = block.split_at(f);
        let (r1, rest) = rest.split_at(f);
        let (r2, r3) = rest.split_at(f);
        // Upper triangle only; each cell's sum runs over the blocks in
        // order, so vectorising across a row's cells cannot change a result.
        for i in 0..f {
            let (a0, a1, a2, a3) = (r0[i], r1[i], r2[i], r3[i]);
            let cells = acc[i * f + i..(i + 1) * f].iter_mut();
            for ((((o, &b0), &b1), &b2), &b3) in cells
                .zip(&r0[i..])
                .zip(&r1[i..])
                .zip(&r2[i..])
                .zip(&r3[i..])
            {
                *o += (a0 * b0 + a1 * b1) + (a2 * b2 + a3 * b3);
            }
        }
    }
    acc
}

/// The Gram matrix from its chunks' partial sums, added in the order given,
/// symmetrised, with `regularization` on the diagonal.
pub fn gram_finish(
    partials: impl IntoIterator<Item = Vec<f64>>,
    f: usize,
    regularization: f32,
) -> Vec<f32> {
    let mut acc = vec![0f64; f * f];
    for p in partials {
        for (a, v) in acc.iter_mut().zip(&p) {
            *a += v;
        }
    }
    let mut g = vec![0f32; f * f];
    for i in 0..f {
        for j in i..f {
            let v = acc[i * f + j] as f32;
            g[i * f + j] = v;
            g[j * f + i] = v;
        }
        g[i * f + i] += regularization;
    }
    g
}

/// The fixed side of a half-step: rows that can be dotted with and added.
pub trait Factors {
    fn dim(&self) -> usize;
    fn dot_row(&self, r: usize, x: &[f32]) -> f32;
    fn add_scaled_row(&self, r: usize, a: f32, out: &mut [f32]);
    /// Four [`Self::dot_row`]s, the same bits; a kernel may interleave them.
    #[inline]
    fn dot_rows4(&self, rows: [usize; 4], x: &[f32]) -> [f32; 4] {
        rows.map(|r| self.dot_row(r, x))
    }
}

/// A dense row-major f32 factor matrix (the trainer's working copy).
#[derive(Clone, Copy)]
pub struct Dense<'a> {
    pub data: &'a [f32],
    pub dim: usize,
}

impl Factors for Dense<'_> {
    fn dim(&self) -> usize {
        self.dim
    }
    #[inline(always)]
    fn dot_row(&self, r: usize, x: &[f32]) -> f32 {
        dot(&self.data[r * self.dim..(r + 1) * self.dim], x)
    }
    #[inline(always)]
    fn add_scaled_row(&self, r: usize, a: f32, out: &mut [f32]) {
        axpy(a, &self.data[r * self.dim..(r + 1) * self.dim], out)
    }
    #[inline(always)]
    fn dot_rows4(&self, rows: [usize; 4], x: &[f32]) -> [f32; 4] {
        let d = self.dim;
        let row = |r: usize| &self.data[r * d..(r + 1) * d];
        dot4([row(rows[0]), row(rows[1]), row(rows[2]), row(rows[3])], x)
    }
}

impl Factors for QMatrix {
    fn dim(&self) -> usize {
        self.cols()
    }
    #[inline]
    fn dot_row(&self, r: usize, x: &[f32]) -> f32 {
        QMatrix::dot_row(self, r, x)
    }
    #[inline]
    fn add_scaled_row(&self, r: usize, a: f32, out: &mut [f32]) {
        QMatrix::add_scaled_row(self, r, a, out)
    }
}

/// Reusable buffers for [`solve_row`], one per worker thread.
pub struct Scratch {
    /// The residual here; `nmf::solve_row`'s gradient.
    pub(crate) r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

impl Scratch {
    pub fn new(dim: usize) -> Self {
        Scratch {
            r: vec![0.0; dim],
            p: vec![0.0; dim],
            ap: vec![0.0; dim],
        }
    }
}

/// Below this squared residual the solve has converged.
const CONVERGED: f32 = 1e-20;

/// Improves `x` towards the least-squares factor of one row by at most
/// `steps` CG iterations. `gram` is `YᵀY + λI` (f × f, row-major);
/// `cols`/`conf` are the row's observed items and their confidences;
/// `extra_reg` is this row's regularisation beyond the λ in `gram`
/// ([`row_regularization`]; 0 for plain ALS).
/// Always inlined, so that the trainer's AVX2 copy (`fit.rs`) compiles its
/// kernels for the wider vectors.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn solve_row<F: Factors>(
    gram: &[f32],
    y: &F,
    cols: &[u32],
    conf: &[f32],
    x: &mut [f32],
    steps: usize,
    s: &mut Scratch,
    extra_reg: f32,
) {
    let Scratch { r, p, ap } = s;
    // r = b − A x, with b = Σ c_i y_i
    gemv(gram, x, r);
    if extra_reg != 0.0 {
        axpy(extra_reg, x, r);
    }
    r.iter_mut().for_each(|v| *v = -*v);
    for_rows(y, cols, conf, x, |i, c, yx| {
        y.add_scaled_row(i, c - (c - 1.0) * yx, r)
    });
    p.copy_from_slice(r);
    let mut rs_old = dot(r, r);
    if rs_old < CONVERGED {
        return;
    }
    for _ in 0..steps {
        // ap = A p without forming A
        gemv(gram, p, ap);
        if extra_reg != 0.0 {
            axpy(extra_reg, p, ap);
        }
        for_rows(y, cols, conf, p, |i, c, yp| {
            y.add_scaled_row(i, (c - 1.0) * yp, ap)
        });
        let pap = dot(p, ap);
        if pap.is_nan() || pap <= 0.0 {
            return; // numerically singular direction: keep what we have
        }
        let a = rs_old / pap;
        axpy(a, p, x);
        axpy(-a, ap, r);
        let rs_new = dot(r, r);
        if rs_new < CONVERGED {
            return;
        }
        let beta = rs_new / rs_old;
        for (pi, ri) in p.iter_mut().zip(r.iter()) {
            *pi = ri + beta * *pi;
        }
        rs_old = rs_new;
    }
}

/// Calls `f(i, c_i, y_i · v)` for each of a row's items in order. The dots
/// do not depend on what `f` writes, so they are taken four at a time
/// ([`Factors::dot_rows4`]) ahead of their four calls: the same bits as one
/// at a time, with four dot chains in flight.
#[inline(always)]
fn for_rows<F: Factors>(
    y: &F,
    cols: &[u32],
    conf: &[f32],
    v: &[f32],
    mut f: impl FnMut(usize, f32, f32),
) {
    let (quads, rest) = cols.split_at(cols.len() - cols.len() % 4);
    for (q, c) in quads.chunks_exact(4).zip(conf.chunks_exact(4)) {
        let rows = [q[0] as usize, q[1] as usize, q[2] as usize, q[3] as usize];
        let d = y.dot_rows4(rows, v);
        for k in 0..4 {
            f(rows[k], c[k], d[k]);
        }
    }
    for (&i, &c) in rest.iter().zip(&conf[quads.len()..]) {
        f(i as usize, c, y.dot_row(i as usize, v));
    }
}

/// The least-squares factor of a new row from scratch: the same solve as an
/// ALS half-step, run until CG converges (at most `2·f` steps).
pub fn fold_in<F: Factors>(
    gram: &[f32],
    y: &F,
    cols: &[u32],
    conf: &[f32],
    extra_reg: f32,
) -> Vec<f32> {
    let f = y.dim();
    let mut x = vec![0.0; f];
    if !cols.is_empty() {
        let s = &mut Scratch::new(f);
        solve_row(gram, y, cols, conf, &mut x, 2 * f, s, extra_reg);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};

    /// Solves the normal equations by Gaussian elimination, for reference.
    fn exact(
        gram: &[f32],
        y: &[f32],
        f: usize,
        cols: &[u32],
        conf: &[f32],
        extra_reg: f32,
    ) -> Vec<f32> {
        let mut a: Vec<f64> = gram.iter().map(|&v| v as f64).collect();
        for d in 0..f {
            a[d * f + d] += f64::from(extra_reg);
        }
        let mut b = vec![0f64; f];
        for (&i, &c) in cols.iter().zip(conf) {
            let yi = &y[i as usize * f..(i as usize + 1) * f];
            for r in 0..f {
                b[r] += c as f64 * yi[r] as f64;
                for k in 0..f {
                    a[r * f + k] += (c as f64 - 1.0) * yi[r] as f64 * yi[k] as f64;
                }
            }
        }
        for col in 0..f {
            let piv = (col..f)
                .max_by(|&i, &j| a[i * f + col].abs().total_cmp(&a[j * f + col].abs()))
                .unwrap();
            for k in 0..f {
                a.swap(col * f + k, piv * f + k);
            }
            b.swap(col, piv);
            for row in col + 1..f {
                let m = a[row * f + col] / a[col * f + col];
                for k in col..f {
                    a[row * f + k] -= m * a[col * f + k];
                }
                b[row] -= m * b[col];
            }
        }
        let mut x = vec![0f64; f];
        for row in (0..f).rev() {
            let s: f64 = (row + 1..f).map(|k| a[row * f + k] * x[k]).sum();
            x[row] = (b[row] - s) / a[row * f + row];
        }
        x.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn the_gram_matrix_from_chunks_in_any_grouping_is_the_same_bits() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let (n, f) = (2 * GRAM_CHUNK + 37, 5);
        let y = Array2::from_shape_fn((n, f), |_| rng.random_range(-1.0f32..1.0));
        let whole = gram(y.view(), 0.25);
        let chunk = |s: usize| gram_partial(y.slice(ndarray::s![s..(s + GRAM_CHUNK).min(n), ..]));
        // As the trainer computes them: the chunks out of order, then in order.
        let mut parts: Vec<(usize, Vec<f64>)> = (0..n)
            .step_by(GRAM_CHUNK)
            .rev()
            .map(|s| (s, chunk(s)))
            .collect();
        parts.sort_by_key(|p| p.0);
        let parallel = gram_finish(parts.into_iter().map(|p| p.1), f, 0.25);
        assert_eq!(whole, parallel);
    }

    #[test]
    fn gram_is_the_f64_product_rounded_once_for_any_row_count() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        // Row counts around the four-row blocks; a transposed (strided)
        // view too, as the trainer passes.
        for n in [1usize, 3, 4, 5, 10, 33] {
            let f = 7;
            let y = Array2::from_shape_fn((n, f), |_| rng.random_range(-1.0f32..1.0));
            let yt = y.t().as_standard_layout().into_owned();
            for view in [y.view(), yt.t()] {
                let g = gram(view, 0.5);
                for i in 0..f {
                    for j in 0..f {
                        let want: f64 = (0..n)
                            .map(|r| f64::from(view[[r, i]]) * f64::from(view[[r, j]]))
                            .sum::<f64>()
                            + if i == j { 0.5 } else { 0.0 };
                        let got = f64::from(g[i * f + j]);
                        assert!(
                            (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                            "n {n}: cell ({i}, {j}) {got} vs {want}"
                        );
                        assert_eq!(g[i * f + j].to_bits(), g[j * f + i].to_bits(), "symmetric");
                    }
                }
            }
        }
    }

    #[test]
    fn fold_in_converges_to_the_exact_least_squares_solution() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let (n, f) = (300, 16);
        let y: Vec<f32> = (0..n * f).map(|_| rng.random_range(-0.5f32..0.5)).collect();
        let g = gram(
            Array2::from_shape_vec((n, f), y.clone()).unwrap().view(),
            0.1,
        );
        let cols: Vec<u32> = vec![3, 17, 42, 99, 250];
        let conf: Vec<f32> = [1.0f32, 10.0, 300.0, 2.0, 50.0]
            .iter()
            .map(|&p| confidence(p, 4.0))
            .collect();
        // Plain, and frequency-scaled as a heavy and a light row would be.
        for extra in [
            0.0,
            row_regularization(0.1, 1.0, cols.len(), 2.0),
            row_regularization(0.1, 0.5, cols.len(), 20.0),
        ] {
            let want = exact(&g, &y, f, &cols, &conf, extra);
            let got = fold_in(&g, &Dense { data: &y, dim: f }, &cols, &conf, extra);
            for (a, b) in want.iter().zip(&got) {
                assert!(
                    (a - b).abs() < 1e-3 * (1.0 + a.abs()),
                    "{extra}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn frequency_scaled_regularisation_is_zero_at_the_mean_and_for_plain_als() {
        assert_eq!(row_regularization(80.0, 0.0, 500, 40.0), 0.0);
        assert_eq!(row_regularization(80.0, 1.0, 40, 40.0), 0.0);
        assert_eq!(row_regularization(80.0, 1.0, 80, 40.0), 80.0);
        assert_eq!(row_regularization(80.0, 1.0, 10, 40.0), -60.0);
        assert!((row_regularization(80.0, 0.5, 90, 40.0) - 40.0).abs() < 1e-4);
        assert_eq!(row_regularization(80.0, 1.0, 10, 0.0), 0.0);
        assert_eq!(mean_row_len([0, 3, 5, 0].into_iter()), 4.0);
        assert_eq!(mean_row_len(std::iter::empty()), 0.0);
    }

    #[test]
    fn empty_history_folds_in_to_zero() {
        let y = vec![1.0f32; 8];
        let g = gram(
            Array2::from_shape_vec((2, 4), y.clone()).unwrap().view(),
            1.0,
        );
        assert_eq!(
            fold_in(&g, &Dense { data: &y, dim: 4 }, &[], &[], 0.5),
            vec![0.0; 4]
        );
    }
}
