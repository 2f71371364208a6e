//! Top-k selection by partial selection (`select_nth_unstable`), then a sort
//! of only the k winners: O(n + k log k) instead of O(n log n).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

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

/// The items whose score interval `(index, lower, upper)` can still reach
/// the `k` best: those whose upper bound is at least the k-th largest
/// lower bound (every other item scores below k items kept). In the order
/// given; `None` if a bound is not finite.
pub fn reachable(bounds: impl Iterator<Item = (u32, f32, f32)>, k: usize) -> Option<Vec<u32>> {
    let mut upper: Vec<(u32, f32)> = Vec::new();
    // The k largest lower bounds, smallest on top.
    let mut best: BinaryHeap<Reverse<i32>> = BinaryHeap::with_capacity(k + 1);
    for (i, lower, up) in bounds {
        if !(lower.is_finite() && up.is_finite()) {
            return None;
        }
        upper.push((i, up));
        let low = order_key(lower);
        if best.len() < k {
            best.push(Reverse(low));
        } else if best.peek().is_some_and(|m| low > m.0) {
            best.pop();
            best.push(Reverse(low));
        }
    }
    let threshold = match best.peek() {
        Some(m) if best.len() == k => from_order_key(m.0),
        _ => f32::NEG_INFINITY,
    };
    Some(
        upper
            .into_iter()
            .filter(|&(_, up)| up >= threshold)
            .map(|(i, _)| i)
            .collect(),
    )
}

/// An integer whose order is the order of the finite f32 `x`, for a heap.
fn order_key(x: f32) -> i32 {
    let b = x.to_bits() as i32;
    b ^ (((b >> 31) as u32) >> 1) as i32
}

fn from_order_key(k: i32) -> f32 {
    f32::from_bits((k ^ (((k >> 31) as u32) >> 1) as i32) as u32)
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

    #[test]
    fn order_keys_sort_like_the_floats() {
        let xs = [
            -3.5f32,
            -1e-30,
            -0.0,
            0.0,
            1e-30,
            2.0,
            1e30,
            f32::MIN,
            f32::MAX,
        ];
        for &a in &xs {
            assert_eq!(from_order_key(order_key(a)).to_bits(), a.to_bits());
            for &b in &xs {
                if a < b {
                    assert!(order_key(a) < order_key(b), "{a} {b}");
                }
            }
        }
    }

    #[test]
    fn reachable_keeps_every_interval_that_can_make_the_top_k() {
        // Exact scores inside the intervals: whatever they are, the top 2
        // is among what `reachable` keeps.
        let b = [
            (0, 0.0, 1.0),
            (1, 5.0, 6.0),
            (2, 2.0, 4.5),
            (3, 4.0, 4.2),
            (4, 1.0, 3.9),
        ];
        assert_eq!(reachable(b.into_iter(), 2).unwrap(), [1, 2, 3]);
        assert_eq!(reachable(b.into_iter(), 9).unwrap(), [0, 1, 2, 3, 4]);
        assert!(reachable([(0, f32::NAN, 1.0)].into_iter(), 1).is_none());
    }
}
