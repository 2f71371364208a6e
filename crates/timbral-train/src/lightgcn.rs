//! LightGCN's training loop (`timbral_core::lightgcn` holds the model):
//! full-batch Adam on the items' layer-0 embeddings under BPR's loss.
//!
//! Each epoch propagates the embeddings through the graph (the items' mean
//! over layers `Q`, then every listener `X = ÂQ`), samples one negative per
//! play, and back-propagates the loss's gradient along the same sparse
//! products, transposed. Every product is row-parallel with each row summed
//! in its stored order, the negatives come from a seeded hash of (epoch,
//! play), and Adam's update is element-wise, so the result is the same bits
//! on any number of threads. A full batch, rather than the paper's
//! mini-batches of 2,048, turns an epoch into a handful of sparse products
//! that two cores run in milliseconds on HetRec.

use rayon::prelude::*;
use timbral_core::als::{self, AlsParams};
use timbral_core::bpr::mix;
use timbral_core::lightgcn::{edge_weight, LAYERS};
use timbral_core::Csr;

use crate::fit::Factors;

/// Adam's step size. On HetRec's validation split (`timbral tune
/// --factor-model lightgcn`, 200–500 epochs, λ 1e-6 and 1e-5, α 0–3),
/// 0.03 ranked above 0.003, 0.05 and 0.1.
pub const LEARNING_RATE: f32 = 0.03;
const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-8;
/// The layer-0 embeddings' initial spread (uniform, ±INIT/2).
const INIT: f32 = 0.2;
/// Draws before a play whose negatives were all the listener's own is
/// left without one this epoch.
const NEGATIVE_TRIES: u64 = 8;

/// The listener–item graph `Â` (listeners × items) and its transpose.
struct Graph {
    a: Csr,
    at: Csr,
}

impl Graph {
    /// Edge weights `c_ui / √(C_u·d_i)` (`timbral_core::lightgcn`) from the
    /// plays' confidences, with `d_i` the item's listener count as the
    /// bundle's popularity stores it.
    fn new(conf: &Csr) -> Graph {
        let degree = timbral_core::Popularity::from_plays(conf).listeners;
        let mut triplets = Vec::with_capacity(conf.nnz());
        for u in 0..conf.n_rows() {
            let (cols, c) = conf.row(u);
            let total: f32 = c.iter().sum();
            for (&i, &c) in cols.iter().zip(c) {
                triplets.push((u as u32, i, edge_weight(c, total, degree[i as usize])));
            }
        }
        let a = Csr::from_triplets(conf.n_rows(), conf.n_cols(), triplets);
        let at = a.transpose();
        Graph { a, at }
    }

    /// `Q = (E + ĀE + … ) / (K + 1)` for layer-0 item embeddings `e`, into
    /// `out`; symmetric in `e`, so it also carries a gradient with respect
    /// to `Q` back to one with respect to `E`. `s` holds the layers.
    fn smooth(&self, e: &[f32], dim: usize, out: &mut Vec<f32>, s: &mut Buffers) {
        out.clear();
        out.extend_from_slice(e);
        s.layer.clear();
        s.layer.extend_from_slice(e);
        for _ in 0..(LAYERS - 1) / 2 {
            spmm(&self.a, &s.layer, dim, &mut s.users);
            spmm(&self.at, &s.users, dim, &mut s.layer);
            out.par_iter_mut().zip(&s.layer).for_each(|(t, &l)| *t += l);
        }
        let scale = 1.0 / (LAYERS + 1) as f32;
        out.par_iter_mut().for_each(|t| *t *= scale);
    }
}

/// The smoothing's working space, reused across epochs.
#[derive(Default)]
struct Buffers {
    layer: Vec<f32>,
    users: Vec<f32>,
}

/// `out = m · x` for a sparse `m` and a dense row-major `x` of `dim`
/// columns, each output row summed in the row's stored order.
fn spmm(m: &Csr, x: &[f32], dim: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(m.n_rows() * dim, 0.0);
    out.par_chunks_mut(dim.max(1))
        .enumerate()
        .for_each(|(r, row)| {
            let (cols, v) = m.row(r);
            for (&c, &w) in cols.iter().zip(v) {
                timbral_core::linalg::axpy(w, &x[c as usize * dim..(c as usize + 1) * dim], row);
            }
        });
}

/// Trains LightGCN on a users × items play matrix. The user factors are
/// the listeners propagated through the graph, as fold-in computes them.
pub fn train(plays: &Csr, p: &AlsParams) -> Factors {
    let dim = p.factors as usize;
    let (nu, ni) = (plays.n_rows(), plays.n_cols());
    // Each play's confidence: its graph edge's weight and, scaled below,
    // its loss weight.
    let weights = plays.map_values(|v| als::confidence(v, p.alpha));
    let graph = Graph::new(&weights);
    let heard: Vec<bool> = (0..ni).map(|i| graph.at.row_len(i) > 0).collect();
    let heard_items: Vec<u32> = (0..ni as u32).filter(|&i| heard[i as usize]).collect();
    // A play's loss weight is its confidence scaled to a mean of 1 over the
    // listener's plays, as BPR's (α moves weight within a listener).
    let total_weight = plays.nnz().max(1) as f32;
    // Where each listener's plays start among all plays: the key of their
    // negatives, whichever thread draws them.
    let mut starts = Vec::with_capacity(nu);
    let mut start = 0u64;
    for u in 0..nu {
        starts.push(start);
        start += plays.row_len(u) as u64;
    }

    let mut e: Vec<f32> = (0..ni * dim)
        .map(|k| {
            let h = mix(p.seed ^ mix(k as u64 ^ 0x4C47_434E));
            ((h >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * INIT
        })
        .collect();
    // An item nobody played has no edge and no loss: kept at zero (Adam
    // would otherwise walk it around under weight decay alone).
    let forget_unheard = |e: &mut [f32]| {
        for (row, &h) in e.chunks_mut(dim).zip(&heard) {
            if !h {
                row.fill(0.0);
            }
        }
    };
    forget_unheard(&mut e);
    let (mut m, mut v) = (vec![0f32; ni * dim], vec![0f32; ni * dim]);
    let started = std::time::Instant::now();
    let mut work = Buffers::default();
    let (mut q, mut x, mut dx, mut dq, mut back, mut de) = Default::default();
    for epoch in 0..p.iterations {
        graph.smooth(&e, dim, &mut q, &mut work);
        spmm(&graph.a, &q, dim, &mut x);
        // The loss's gradient with respect to each score, as a sparse
        // listeners × items matrix: −s at a play, +s at its negative.
        let rows: Vec<(Vec<(u32, f32)>, f64)> = (0..nu)
            .into_par_iter()
            .map(|u| {
                let (cols, w) = weights.row(u);
                let xu = &x[u * dim..(u + 1) * dim];
                let scale = cols.len() as f32 / w.iter().sum::<f32>().max(f32::MIN_POSITIVE);
                let mut g = Vec::with_capacity(2 * cols.len());
                let mut loss = 0f64;
                for (k, (&i, &w)) in cols.iter().zip(w).enumerate() {
                    let key = (u64::from(epoch) << 40) ^ (starts[u] + k as u64);
                    let negative = (0..NEGATIVE_TRIES)
                        .map(|t| {
                            let h = mix(p.seed ^ mix(key ^ (t << 36)));
                            heard_items[(h % heard_items.len() as u64) as usize]
                        })
                        .find(|j| cols.binary_search(j).is_err());
                    let Some(j) = negative else { continue };
                    let margin = timbral_core::linalg::dot(xu, &q[i as usize * dim..][..dim])
                        - timbral_core::linalg::dot(xu, &q[j as usize * dim..][..dim]);
                    let s = w * scale / (1.0 + margin.exp()) / total_weight;
                    loss += f64::from(w * scale) * f64::from((-margin).exp().ln_1p());
                    g.push((i, -s));
                    g.push((j, s));
                }
                (g, loss)
            })
            .collect();
        let loss: f64 = rows.iter().map(|r| r.1).sum::<f64>() / f64::from(total_weight);
        let triplets: Vec<(u32, u32, f32)> = rows
            .into_iter()
            .enumerate()
            .flat_map(|(u, (g, _))| g.into_iter().map(move |(i, s)| (u as u32, i, s)))
            .collect();
        let g = Csr::from_triplets(nu, ni, triplets);
        // Scores are x_u·q_j with x = ÂQ: dQ = Gᵀ X + Âᵀ (G Q), then back
        // through the smoothing to E.
        spmm(&g, &q, dim, &mut dx);
        spmm(&g.transpose(), &x, dim, &mut dq);
        spmm(&graph.at, &dx, dim, &mut back);
        dq.par_iter_mut().zip(&back).for_each(|(a, &b)| *a += b);
        graph.smooth(&dq, dim, &mut de, &mut work);
        // Adam, with weight decay λ·E folded into the gradient.
        let t = epoch as i32 + 1;
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        let lambda = p.regularization;
        e.par_iter_mut()
            .zip(m.par_iter_mut().zip(v.par_iter_mut()))
            .zip(&de)
            .for_each(|((e, (m, v)), &g)| {
                let g = g + lambda * *e;
                *m = BETA1 * *m + (1.0 - BETA1) * g;
                *v = BETA2 * *v + (1.0 - BETA2) * g * g;
                *e -= LEARNING_RATE * (*m / c1) / ((*v / c2).sqrt() + EPSILON);
            });
        forget_unheard(&mut e);
        tracing::debug!(epoch = epoch + 1, loss, "LightGCN epoch");
    }
    let (mut items, mut users) = (Vec::new(), Vec::new());
    graph.smooth(&e, dim, &mut items, &mut work);
    spmm(&graph.a, &items, dim, &mut users);
    tracing::debug!(secs = started.elapsed().as_secs_f64(), "LightGCN trained");
    Factors {
        users,
        items,
        dim,
        user_reference: 0.0,
    }
}
