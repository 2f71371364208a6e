//! Item popularity: the baseline ranker and the penalty term that fusion uses.

use serde::{Deserialize, Serialize};

use crate::csr::Csr;
use crate::linalg::ln_1p;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Popularity {
    /// Distinct listeners per item.
    pub listeners: Vec<u32>,
    /// Total plays per item.
    pub plays: Vec<f64>,
}

impl Popularity {
    /// From a user × item play matrix.
    pub fn from_plays(plays: &Csr) -> Self {
        let mut p = Popularity {
            listeners: vec![0; plays.n_cols()],
            plays: vec![0.0; plays.n_cols()],
        };
        for (_, item, v) in plays.triplets() {
            p.listeners[item as usize] += 1;
            p.plays[item as usize] += f64::from(v);
        }
        p
    }

    pub fn len(&self) -> usize {
        self.listeners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// The baseline score: listener count, with plays as a tie-breaker.
    #[inline]
    pub fn score(&self, item: usize) -> f32 {
        // ln(1 + plays) / 64 < 1 for any realistic total, so listeners dominate.
        self.listeners[item] as f32 + ln_1p(self.plays[item] as f32) / 64.0
    }

    /// Popularity penalty in [0, 1]: log-scaled listener count relative to
    /// the most popular item (1 for the head, 0 for an item nobody played).
    /// Fusion adds `γ · (1 − penalty)` to favour the long tail.
    #[inline]
    pub fn penalty(&self, item: usize) -> f32 {
        let max = self.listeners.iter().copied().max().unwrap_or(0);
        self.penalty_with_max(item, max)
    }

    /// [`Self::penalty`] with the maximum precomputed, for scoring loops.
    #[inline]
    pub fn penalty_with_max(&self, item: usize, max_listeners: u32) -> f32 {
        if max_listeners == 0 {
            return 0.0;
        }
        ln_1p(self.listeners[item] as f32) / ln_1p(max_listeners as f32)
    }

    pub fn validate(&self, n_items: usize) -> Result<(), String> {
        if self.listeners.len() != n_items || self.plays.len() != n_items {
            return Err(format!(
                "{} listener counts and {} play totals for {n_items} items",
                self.listeners.len(),
                self.plays.len()
            ));
        }
        if self.plays.iter().any(|p| !p.is_finite() || *p < 0.0) {
            return Err("invalid play total".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_is_monotone_and_bounded() {
        let m = Csr::from_triplets(
            3,
            3,
            vec![(0, 0, 5.0), (1, 0, 1.0), (2, 0, 1.0), (0, 1, 9.0)],
        );
        let p = Popularity::from_plays(&m);
        assert_eq!(p.listeners, vec![3, 1, 0]);
        assert_eq!(p.penalty(0), 1.0);
        assert!(p.penalty(1) > 0.0 && p.penalty(1) < 1.0);
        assert_eq!(p.penalty(2), 0.0);
        assert!(p.score(0) > p.score(1) && p.score(1) > p.score(2));
    }
}
