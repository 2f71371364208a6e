//! The ALS training loop: alternating half-steps, each one an independent
//! least-squares solve per row (`timbral_core::als::solve_row`) spread over
//! rayon's pool. Rows never share output, and the Gram matrices are summed
//! in fixed chunks added in order, so the result is bit-identical for any
//! number of threads.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::ArrayView2;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use timbral_core::als::{self, AlsParams, Dense, FactorModel, Scratch};
use timbral_core::nmf;
use timbral_core::Csr;

/// Trained factor matrices, row-major f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Factors {
    pub users: Vec<f32>,
    pub items: Vec<f32>,
    pub dim: usize,
    /// The mean plays per listener that listeners' regularisation was
    /// scaled against (`als::row_regularization`), which the bundle keeps
    /// for fold-in.
    pub user_reference: f32,
}

/// One side's regularisation: λ in the Gram matrix, and each row's share
/// beyond it where it is frequency-scaled.
#[derive(Clone, Copy)]
struct Reg {
    lambda: f32,
    exponent: f32,
    reference: f32,
}

impl Reg {
    fn of(side: &Csr, p: &AlsParams) -> Reg {
        Reg {
            lambda: p.regularization,
            exponent: p.reg_exponent,
            reference: als::mean_row_len((0..side.n_rows()).map(|r| side.row_len(r))),
        }
    }

    fn extra(&self, n: usize) -> f32 {
        als::row_regularization(self.lambda, self.exponent, n, self.reference)
    }
}

/// One half-step: every row of `x` re-solved against the fixed `y`, by
/// `model`'s solve (ALS's CG with `cg_steps`, or NMF's coordinate descent).
/// Returns the inner steps it took over all rows (CG steps or NMF sweeps),
/// for the log and for `cf_budget`'s estimate of NMF's cost.
fn half_step(
    x: &mut [f32],
    y: &[f32],
    conf: &Csr,
    dim: usize,
    reg: Reg,
    model: FactorModel,
    cg_steps: usize,
) -> usize {
    // The Gram matrix's chunks in parallel, added in order: the bits of
    // `als::gram` on one thread (the runtimes' fold-in computes it so).
    let partials: Vec<Vec<f64>> = y
        .par_chunks(als::GRAM_CHUNK * dim)
        .map(|c| {
            als::gram_partial(
                ArrayView2::from_shape((c.len() / dim, dim), c).expect("factor shape"),
            )
        })
        .collect();
    let g = als::gram_finish(partials, dim, reg.lambda);
    let y = Dense { data: y, dim };
    let wide = wide_vectors();
    x.par_chunks_mut(dim)
        .enumerate()
        .map_init(
            || Scratch::new(dim),
            |s, (r, xr)| {
                let (cols, c) = conf.row(r);
                if cols.is_empty() {
                    xr.fill(0.0);
                    0
                } else if model == FactorModel::Nmf {
                    nmf::solve_row(&g, &y, cols, c, xr, reg.extra(cols.len()), s)
                } else {
                    let extra = reg.extra(cols.len());
                    solve(wide, &g, &y, cols, c, xr, cg_steps, s, extra);
                    cg_steps
                }
            },
        )
        .sum()
}

/// Whether this CPU has 256-bit vectors (AVX2), checked once a half-step.
fn wide_vectors() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `als::solve_row`, compiled for AVX2 where `wide` says the CPU has it.
/// The same bits either way: the kernels' sums run in eight fixed lanes
/// (`timbral_core::linalg`), one 256-bit register or two 128-bit ones, and
/// nothing is fused into FMA (Rust never contracts `a * b + c`). The
/// x86-64 baseline the binary is built for has only 128-bit SSE2; this
/// took the 1.5M-play fit from 3.5–4.1 s to 2.7 s on two cores.
#[allow(clippy::too_many_arguments)]
#[inline]
fn solve(
    wide: bool,
    g: &[f32],
    y: &Dense<'_>,
    cols: &[u32],
    c: &[f32],
    x: &mut [f32],
    steps: usize,
    s: &mut Scratch,
    extra_reg: f32,
) {
    #[cfg(target_arch = "x86_64")]
    if wide {
        // SAFETY: `wide` is true only where the CPU has AVX2.
        return unsafe { solve_avx2(g, y, cols, c, x, steps, s, extra_reg) };
    }
    let _ = wide;
    als::solve_row(g, y, cols, c, x, steps, s, extra_reg);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
fn solve_avx2(
    g: &[f32],
    y: &Dense<'_>,
    cols: &[u32],
    c: &[f32],
    x: &mut [f32],
    steps: usize,
    s: &mut Scratch,
    extra_reg: f32,
) {
    als::solve_row(g, y, cols, c, x, steps, s, extra_reg);
}

/// Trains the factor model `p.model` on a users × items play matrix:
/// implicit ALS or NMF here, BPR and LightGCN by their own loops (`bpr.rs`,
/// `lightgcn.rs`).
///
/// Each iteration solves the items given the users, then the users given
/// the items, so the returned user factors are the least-squares answer for
/// the returned item factors — exactly what fold-in recomputes. Both start
/// from the same small non-negative random factors, which NMF needs.
pub fn train_factors(plays: &Csr, p: &AlsParams, progress: bool) -> Factors {
    let started = Instant::now();
    let f = match p.model {
        FactorModel::Bpr => crate::bpr::train(plays, p),
        FactorModel::LightGcn => crate::lightgcn::train(plays, p),
        FactorModel::Als | FactorModel::Nmf => alternate(plays, p, progress),
    };
    tracing::info!(
        users = plays.n_rows(),
        items = plays.n_cols(),
        nnz = plays.nnz(),
        factors = f.dim,
        iterations = p.iterations,
        model = p.model.name(),
        secs = format!("{:.2}", started.elapsed().as_secs_f64()),
        "trained factors"
    );
    f
}

/// ALS's and NMF's alternating half-steps.
fn alternate(plays: &Csr, p: &AlsParams, progress: bool) -> Factors {
    let dim = p.factors as usize;
    let (nu, ni) = (plays.n_rows(), plays.n_cols());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.seed);
    let mut users: Vec<f32> = (0..nu * dim).map(|_| rng.random::<f32>() * 0.01).collect();
    let mut items: Vec<f32> = (0..ni * dim).map(|_| rng.random::<f32>() * 0.01).collect();
    let cui = plays.map_values(|v| als::confidence(v, p.alpha));
    let ciu = cui.transpose();
    let (user_reg, item_reg) = (Reg::of(&cui, p), Reg::of(&ciu, p));
    let bar = if progress {
        ProgressBar::new(p.iterations as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} iterations  {elapsed_precise}  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(p.model.name().to_uppercase());
    for it in 0..p.iterations {
        let t = Instant::now();
        let (model, cg) = (p.model, p.cg_steps as usize);
        let steps = half_step(&mut items, &users, &ciu, dim, item_reg, model, cg)
            + half_step(&mut users, &items, &cui, dim, user_reg, model, cg);
        tracing::debug!(
            iteration = it + 1,
            secs = t.elapsed().as_secs_f64(),
            steps_per_row = steps as f64 / (nu + ni).max(1) as f64,
            "factor iteration"
        );
        bar.inc(1);
    }
    bar.finish_and_clear();
    Factors {
        users,
        items,
        dim,
        user_reference: user_reg.reference,
    }
}
