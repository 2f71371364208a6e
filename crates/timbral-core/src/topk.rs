//! Top-k selection by partial selection (`select_nth_unstable`), then a sort
//! of only the k winners: O(n + k log k) instead of O(n log n).

/// An item index with its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    pub index: u32,
    pub score: f32,
}

/// Best first; ties broken by the lower index so results are deterministic;
/// NaN ranks last.
#[inline]
fn better(a: &Scored, b: &Scored) -> std::cmp::Ordering {
    let key = |s: &Scored| {
        if s.score.is_nan() {
            f32::NEG_INFINITY
        } else {
            s.score
        }
    };
    key(b).total_cmp(&key(a)).then(a.index.cmp(&b.index))
}

/// The `k` best of `candidates`, best first.
pub fn top_k(mut candidates: Vec<Scored>, k: usize) -> Vec<Scored> {
    if k == 0 {
        return Vec::new();
    }
    if candidates.len() > k {
        candidates.select_nth_unstable_by(k - 1, better);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(better);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn equals_a_brute_force_sort() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for trial in 0..200 {
            let n = rng.random_range(0..300);
            // Few distinct values, so ties are common.
            let cands: Vec<Scored> = (0..n)
                .map(|i| Scored {
                    index: i,
                    score: rng.random_range(0..20) as f32 / 4.0,
                })
                .collect();
            let k = rng.random_range(0..n + 5) as usize;
            let mut brute = cands.clone();
            brute.sort_by(|a, b| {
                b.score
                    .partial_cmp(&a.score)
                    .unwrap()
                    .then(a.index.cmp(&b.index))
            });
            brute.truncate(k);
            assert_eq!(top_k(cands, k), brute, "trial {trial}");
        }
    }

    #[test]
    fn nan_ranks_last() {
        let c = vec![
            Scored {
                index: 0,
                score: f32::NAN,
            },
            Scored {
                index: 1,
                score: -5.0,
            },
            Scored {
                index: 2,
                score: 1.0,
            },
        ];
        let idx: Vec<u32> = top_k(c, 3).iter().map(|s| s.index).collect();
        assert_eq!(idx, vec![2, 1, 0]);
    }
}
