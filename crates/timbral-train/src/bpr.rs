//! BPR's training loop: stratified SGD (DSGD, Gemulla et al. 2011), so that
//! it runs in parallel and gives the same bits on any number of threads.
//!
//! Listeners fall into [`STRATA`] contiguous blocks and items, in a seeded
//! order, into as many. A sub-epoch pairs each listener block with a
//! different item block, and the pairs share no listener and no item, so
//! rayon runs them at once without locks and without races. Each triple
//! (listener, played item, negative) takes its negative from the played
//! item's block, and each block pair's order and negatives come from its
//! own seeded stream: the work is fixed by the seed and the block count,
//! never by the threads. After the last epoch every listener is re-solved
//! from zero by `timbral_core::bpr::solve_row`, the runtimes' fold-in.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use timbral_core::als::{self, AlsParams, Dense};
use timbral_core::bpr::{self, mix};
use timbral_core::Csr;

use crate::fit::Factors;

/// Blocks per side: a constant, not the thread count, so that the result
/// does not depend on the machine. Eight keeps two to eight cores busy.
pub const STRATA: usize = 8;
/// The SGD step. On HetRec's validation split (`timbral tune --factor-model
/// bpr`), 0.05 ranked above 0.01 and 0.2 at every λ and epoch count tried.
pub const LEARNING_RATE: f32 = 0.05;
/// Draws before a triple whose negatives were all the listener's own plays
/// is skipped.
const NEGATIVE_TRIES: usize = 8;

/// One (listener, played item) pair of a block, and its step's weight:
/// `w_i · n_u / Σ w` (`als::confidence` weights, mean 1 over the listener's
/// plays), so α moves weight between a listener's plays, not between
/// listeners.
#[derive(Clone, Copy)]
struct Triple {
    user: u32,
    /// The item's position in the seeded order.
    item: u32,
    weight: f32,
}

/// Trains BPR on a users × items play matrix.
pub fn train(plays: &Csr, p: &AlsParams) -> Factors {
    let dim = p.factors as usize;
    let (nu, ni) = (plays.n_rows(), plays.n_cols());
    // The items' seeded order; item blocks are contiguous in it.
    let mut order: Vec<u32> = (0..ni as u32).collect();
    order.sort_unstable_by_key(|&i| (mix(p.seed ^ mix(u64::from(i) ^ 0xB9B1)), i));
    let mut position = vec![0u32; ni];
    for (k, &i) in order.iter().enumerate() {
        position[i as usize] = k as u32;
    }
    let bounds = |n: usize| -> Vec<usize> { (0..=STRATA).map(|b| b * n / STRATA).collect() };
    let (user_bounds, item_bounds) = (bounds(nu), bounds(ni));
    let block_of = |bounds: &[usize], x: usize| bounds.partition_point(|&b| b <= x) - 1;
    // Each listener's plays as positions, sorted, for the negative check.
    let mut offsets = Vec::with_capacity(nu + 1);
    let mut played: Vec<u32> = Vec::with_capacity(plays.nnz());
    let mut strata: Vec<Vec<Triple>> = vec![Vec::new(); STRATA * STRATA];
    offsets.push(0);
    // Each play's weight, once: the SGD steps and the closing solve read it.
    let weights = plays.map_values(|v| als::confidence(v, p.alpha));
    for u in 0..nu {
        let (cols, w) = weights.row(u);
        let scale = cols.len() as f32 / w.iter().sum::<f32>().max(f32::MIN_POSITIVE);
        let bu = block_of(&user_bounds, u);
        let start = played.len();
        for (&i, &w) in cols.iter().zip(w) {
            let item = position[i as usize];
            played.push(item);
            let bi = block_of(&item_bounds, item as usize);
            strata[bu * STRATA + bi].push(Triple {
                user: u as u32,
                item,
                weight: w * scale,
            });
        }
        played[start..].sort_unstable();
        offsets.push(played.len());
    }
    let own = |u: usize| &played[offsets[u]..offsets[u + 1]];

    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let init = 0.1 / (dim as f32).sqrt();
    let mut users: Vec<f32> = (0..nu * dim)
        .map(|_| (rng.random::<f32>() - 0.5) * init)
        .collect();
    // Indexed by position while training.
    let mut items: Vec<f32> = (0..ni * dim)
        .map(|_| (rng.random::<f32>() - 0.5) * init)
        .collect();
    let (lr, lambda) = (LEARNING_RATE, p.regularization);
    for epoch in 0..p.iterations as u64 {
        for shift in 0..STRATA {
            let mut item_blocks: Vec<Option<&mut [f32]>> = split(&mut items, &item_bounds, dim)
                .into_iter()
                .map(Some)
                .collect();
            let tasks: Vec<(usize, &mut [f32], &mut [f32])> = split(&mut users, &user_bounds, dim)
                .into_iter()
                .enumerate()
                .map(|(bu, xs)| {
                    let bi = (bu + shift) % STRATA;
                    (
                        bu,
                        xs,
                        item_blocks[bi].take().expect("each item block once"),
                    )
                })
                .collect();
            tasks.into_par_iter().for_each(|(bu, xs, ys)| {
                let bi = (bu + shift) % STRATA;
                let key = (epoch << 16) ^ ((shift as u64) << 8) ^ bu as u64;
                let mut rng = ChaCha8Rng::seed_from_u64(mix(p.seed ^ mix(key)));
                let stratum = &strata[bu * STRATA + bi];
                let mut visit: Vec<u32> = (0..stratum.len() as u32).collect();
                for k in (1..visit.len()).rev() {
                    visit.swap(k, rng.random_range(0..=k));
                }
                let (u0, i0) = (user_bounds[bu], item_bounds[bi]);
                let block = item_bounds[bi + 1] - i0;
                let mut step = Step::new(dim);
                for k in visit {
                    let t = stratum[k as usize];
                    let negative = (0..NEGATIVE_TRIES)
                        .map(|_| (i0 + rng.random_range(0..block)) as u32)
                        .find(|j| own(t.user as usize).binary_search(j).is_err());
                    let Some(j) = negative else { continue };
                    let u = t.user as usize - u0;
                    step.apply(
                        &mut xs[u * dim..(u + 1) * dim],
                        ys,
                        t.item as usize - i0,
                        j as usize - i0,
                        t.weight,
                        lr,
                        lambda,
                    );
                }
            });
        }
        tracing::debug!(epoch = epoch + 1, "BPR epoch");
    }
    // Back to item order, then every listener re-solved as fold-in would.
    let mut by_item = vec![0f32; ni * dim];
    for (k, &i) in order.iter().enumerate() {
        by_item[i as usize * dim..(i as usize + 1) * dim]
            .copy_from_slice(&items[k * dim..(k + 1) * dim]);
    }
    let items = by_item;
    // Drawn among the items someone played, as the runtimes draw them
    // (their `popularity.listeners > 0`).
    let mut heard = vec![false; ni];
    for &i in &played {
        heard[order[i as usize] as usize] = true;
    }
    let negatives = bpr::negatives(ni, p.seed, |i| heard[i]);
    let y = Dense { data: &items, dim };
    let closing = std::time::Instant::now();
    let newton: usize = users
        .par_chunks_mut(dim)
        .enumerate()
        .map_init(bpr::Scratch::default, |s, (u, x)| {
            let (cols, w) = weights.row(u);
            x.fill(0.0);
            bpr::solve_row(&y, &negatives, cols, w, x, lambda, s)
        })
        .sum();
    tracing::debug!(
        secs = closing.elapsed().as_secs_f64(),
        newton_per_listener = newton as f64 / nu.max(1) as f64,
        "BPR listeners solved"
    );
    Factors {
        users,
        items,
        dim,
        user_reference: 0.0,
    }
}

/// `data` split at row `bounds` (rows of `dim`), one slice per block.
fn split<'a>(mut data: &'a mut [f32], bounds: &[usize], dim: usize) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(bounds.len() - 1);
    for w in bounds.windows(2) {
        let (head, rest) = std::mem::take(&mut data).split_at_mut((w[1] - w[0]) * dim);
        out.push(head);
        data = rest;
    }
    out
}

/// One SGD step's buffers.
struct Step {
    x: Vec<f32>,
    d: Vec<f32>,
}

impl Step {
    fn new(dim: usize) -> Self {
        Step {
            x: vec![0.0; dim],
            d: vec![0.0; dim],
        }
    }

    /// Descends `−w·ln σ(x·(y_i − y_j)) + λ/2 (‖x‖² + ‖y_i‖² + ‖y_j‖²)`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn apply(
        &mut self,
        x: &mut [f32],
        ys: &mut [f32],
        i: usize,
        j: usize,
        w: f32,
        lr: f32,
        l: f32,
    ) {
        let dim = x.len();
        self.x.copy_from_slice(x);
        let (yi, yj) = rows_mut(ys, i, j, dim);
        for ((d, &a), &b) in self.d.iter_mut().zip(yi.iter()).zip(yj.iter()) {
            *d = a - b;
        }
        let margin: f32 = self.x.iter().zip(&self.d).map(|(a, b)| a * b).sum();
        let g = w / (1.0 + margin.exp());
        for ((x, &d), &x0) in x.iter_mut().zip(&self.d).zip(&self.x) {
            *x += lr * (g * d - l * x0);
        }
        for ((a, b), &x0) in yi.iter_mut().zip(yj.iter_mut()).zip(&self.x) {
            *a += lr * (g * x0 - l * *a);
            *b += lr * (-g * x0 - l * *b);
        }
    }
}

/// Rows `i` and `j` (distinct) of a row-major matrix, both mutable.
fn rows_mut(ys: &mut [f32], i: usize, j: usize, dim: usize) -> (&mut [f32], &mut [f32]) {
    debug_assert_ne!(i, j);
    if i < j {
        let (a, b) = ys.split_at_mut(j * dim);
        (&mut a[i * dim..(i + 1) * dim], &mut b[..dim])
    } else {
        let (a, b) = ys.split_at_mut(i * dim);
        (&mut b[..dim], &mut a[j * dim..(j + 1) * dim])
    }
}
