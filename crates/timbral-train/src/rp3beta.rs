//! RP3beta (Paudel et al. 2017, as benchmarked by Dacrema et al. 2019), one
//! of the item-item models (`item_item.rs`), fitted on who played what and
//! pruned to each item's top-k neighbours.
//!
//! `W[i][j] = Σ_u (1/deg i)^α (1/deg u)^α / (deg j)^β`: the probability of a
//! two-step walk item → listener → item, sharpened by α and with popular
//! destinations damped by β. Scoring a history sums its items' rows, so a
//! new listener needs no fold-in.

use rayon::prelude::*;
use serde::Serialize;
use timbral_core::{Csr, Scored};

/// RP3beta's hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rp3 {
    pub alpha: f32,
    pub beta: f32,
    /// Neighbours kept per item.
    pub k: usize,
}

/// Every item's top-`k` neighbours by RP3beta weight, each row ascending
/// by item. Deterministic with any thread count: each row is summed in
/// one fixed order by one thread.
pub fn fit(plays: &Csr, p: Rp3) -> Vec<Vec<(u32, f32)>> {
    let n = plays.n_cols();
    let by_item = plays.transpose();
    let user_w: Vec<f32> = (0..plays.n_rows())
        .map(|u| (plays.row_len(u).max(1) as f32).powf(-p.alpha))
        .collect();
    let damp: Vec<f32> = (0..n)
        .map(|j| (by_item.row_len(j).max(1) as f32).powf(-p.beta))
        .collect();
    (0..n)
        .into_par_iter()
        .map_init(
            || (vec![0f32; n], Vec::<u32>::new()),
            |(acc, touched), i| {
                let listeners = by_item.row(i).0;
                if listeners.is_empty() {
                    return Vec::new();
                }
                let wi = (listeners.len() as f32).powf(-p.alpha);
                for &u in listeners {
                    let w = wi * user_w[u as usize];
                    for &j in plays.row(u as usize).0 {
                        if acc[j as usize] == 0.0 {
                            touched.push(j);
                        }
                        acc[j as usize] += w;
                    }
                }
                let mut row: Vec<Scored> = touched
                    .drain(..)
                    .filter(|&j| j as usize != i)
                    .map(|j| Scored {
                        index: j,
                        score: acc[j as usize] * damp[j as usize],
                    })
                    .collect();
                for s in acc.iter_mut() {
                    *s = 0.0;
                }
                row = timbral_core::top_k(row, p.k);
                let mut row: Vec<(u32, f32)> =
                    row.into_iter().map(|s| (s.index, s.score)).collect();
                row.sort_unstable_by_key(|&(j, _)| j);
                row
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two groups of items, each played by its own listeners.
    fn two_groups() -> Csr {
        let mut t = Vec::new();
        for u in 0..40u32 {
            let g = u % 2;
            for i in 0..10u32 {
                if (u + i) % 3 != 0 {
                    t.push((u, g * 10 + i, 1.0 + (i % 4) as f32));
                }
            }
        }
        Csr::from_triplets(40, 20, t)
    }

    #[test]
    fn neighbours_stay_within_the_planted_groups() {
        let rows = fit(
            &two_groups(),
            Rp3 {
                alpha: 1.0,
                beta: 0.5,
                k: 5,
            },
        );
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.len(), 5, "item {i}: {row:?}");
            assert!(row.windows(2).all(|w| w[0].0 < w[1].0));
            for &(j, w) in row {
                assert_eq!(j / 10, i as u32 / 10, "item {i} → {j}");
                assert!(j as usize != i && w > 0.0);
            }
        }
    }

    #[test]
    fn the_fit_is_the_same_with_any_thread_count() {
        let p = Rp3 {
            alpha: 0.6,
            beta: 0.25,
            k: 7,
        };
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| fit(&two_groups(), p))
        };
        assert_eq!(run(1), run(3));
    }
}
