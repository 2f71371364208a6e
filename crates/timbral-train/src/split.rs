//! Per-user random holdout for offline evaluation.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use timbral_core::Csr;

/// Users with fewer items than this keep all of them in training.
pub const MIN_ITEMS: usize = 5;

#[derive(Clone, Debug)]
pub struct Split {
    /// The training plays (same shape as the input).
    pub train: Csr,
    /// (user, held-out items) for every evaluated user, in user order.
    pub test: Vec<(u32, Vec<u32>)>,
}

/// Holds out `round(fraction · n)` (at least 1, at most n − 1) random items
/// of every user with at least [`MIN_ITEMS`] items.
pub fn holdout(plays: &Csr, fraction: f64, seed: u64) -> Split {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(plays.nnz());
    let mut test = Vec::new();
    for u in 0..plays.n_rows() {
        let (cols, vals) = plays.row(u);
        let n = cols.len();
        if n < MIN_ITEMS {
            train.extend(cols.iter().zip(vals).map(|(&c, &v)| (u as u32, c, v)));
            continue;
        }
        let n_test = ((fraction * n as f64).round() as usize).clamp(1, n - 1);
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let mut held: Vec<u32> = order[..n_test].iter().map(|&k| cols[k]).collect();
        held.sort_unstable();
        for &k in &order[n_test..] {
            train.push((u as u32, cols[k], vals[k]));
        }
        test.push((u as u32, held));
    }
    Split {
        train: Csr::from_triplets(plays.n_rows(), plays.n_cols(), train),
        test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdout_partitions_each_users_items() {
        let t: Vec<(u32, u32, f32)> = (0..3u32)
            .flat_map(|u| (0..(u * 5 + 2)).map(move |i| (u, i, 1.0)))
            .collect();
        let m = Csr::from_triplets(3, 20, t);
        let s = holdout(&m, 0.2, 1);
        assert_eq!(s.test.len(), 2); // user 0 has 2 items: not evaluated
        for (u, held) in &s.test {
            let train: Vec<u32> = s.train.row(*u as usize).0.to_vec();
            assert_eq!(train.len() + held.len(), m.row_len(*u as usize));
            assert!(held.iter().all(|i| !train.contains(i)));
        }
        assert_eq!(s.test[1].1.len(), 2); // round(0.2 · 12)
    }
}
