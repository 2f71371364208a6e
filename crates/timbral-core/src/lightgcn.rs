//! LightGCN (He et al. 2020) in its inductive form: item embeddings
//! smoothed over the normalised listener–item graph, and a listener who is
//! nothing but their propagated history.
//!
//! The graph `Â` has an edge per play, weighted `c_ui / √(C_u·d_i)`: `c_ui
//! = 1 + α·ln(1 + plays)` (`als::confidence`), `C_u` the listener's sum of
//! them and `d_i` the item's listener count (α = 0 is the paper's binary
//! graph, `1/√(d_u·d_i)`). The trainer (`timbral-train`'s `lightgcn.rs`)
//! learns only the items' layer-0 embeddings `E`: a listener's layer-0
//! embedding is zero, so a listener's layers are the odd ones and an
//! item's the even ones, and with [`LAYERS`] odd the mean over layers
//! gives
//!
//! ```text
//!   Q = (E + ĀE + … + Ā^{(K−1)/2} E) / (K + 1),   Ā = ÂᵀÂ,
//!   x_u = Σ_i Â_ui · q_i,
//! ```
//!
//! and a listener scores item `j` by `x_u·q_j`. The bundle stores `Q` as
//! its item factors, and [`fold_in`] is that second line: a new listener
//! is placed by propagating their history through the graph, exactly as a
//! trained one was, with no solve and no fold-in error. Learning listener
//! embeddings too (the paper's transductive form) would leave a new
//! listener without one; this form gives every listener, known or new, the
//! same treatment.

use crate::als::Factors;

/// Graph convolution layers `K`: odd, so that a listener's layers and an
/// item's pair up (above); 3 is the paper's choice on its data sets.
pub const LAYERS: usize = 3;

/// The graph's edge weight for one play: `c / √(C·d)`, with `c` its
/// confidence, `C` the listener's sum of confidences and `d` the item's
/// listener count.
#[inline]
pub fn edge_weight(c: f32, listener_total: f32, degree: u32) -> f32 {
    c / (listener_total * degree as f32).sqrt()
}

/// A listener's factor from their items `cols` (distinct) and those plays'
/// confidences `conf`: `Σ_i Â_ui q_i` over the items in the graph
/// (`degree(i) > 0`; an item nobody played in training has no edge to
/// propagate along).
pub fn fold_in<F: Factors>(
    q: &F,
    degree: impl Fn(usize) -> u32,
    cols: &[u32],
    conf: &[f32],
) -> Vec<f32> {
    let mut x = vec![0f32; q.dim()];
    let edges: Vec<(usize, f32, u32)> = cols
        .iter()
        .zip(conf)
        .map(|(&i, &c)| (i as usize, c, degree(i as usize)))
        .filter(|&(_, _, d)| d > 0)
        .collect();
    let total: f32 = edges.iter().map(|&(_, c, _)| c).sum();
    for (i, c, d) in edges {
        q.add_scaled_row(i, edge_weight(c, total, d), &mut x);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::als::Dense;

    #[test]
    fn fold_in_propagates_the_history_by_its_edge_weights() {
        let q = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let q = Dense { data: &q, dim: 2 };
        // Item 0 (2 listeners), item 2 (unplayed in training: no edge).
        let degree = |i: usize| [2, 1, 0][i];
        let x = fold_in(&q, degree, &[0, 2], &[1.0, 1.0]);
        assert_eq!(x, vec![1.0 / 2f32.sqrt(), 0.0]);
        // Confidence weighs the plays: the heavier item pulls harder.
        let x = fold_in(&q, degree, &[0, 1], &[4.0, 1.0]);
        assert!(x[0] > x[1], "{x:?}");
        assert!(fold_in(&q, degree, &[], &[]).iter().all(|&v| v == 0.0));
    }
}
