//! The shortlist: an inverted-file index over the items, so that fused
//! `recommend` on a large catalogue scores a few percent of it exactly
//! instead of all of it.
//!
//! For a warm item the fused score is linear in one vector per item,
//!
//! ```text
//! α·(v·x − μ_cf)/σ_cf + β·(x̂_c·q̂ − μ_c)/σ_c + γ·p
//!     = [α/σ_cf · x ‖ β/σ_c · q̂ ‖ γ] · [v ‖ x̂_c ‖ p] + const,
//! ```
//!
//! with `v` the item's factor, `x̂_c` its unit content vector and `p` its
//! popularity term. The trainer clusters those item vectors (k-means,
//! `timbral-train/src/shortlist.rs`) and stores each cluster's mean vector.
//! A query scores every centroid (a cluster's mean fused score), takes the
//! best clusters until it holds `probe` items, and scores those exactly.
//! That is approximate: an item in a cluster whose mean ranks low is never
//! seen. `timbral bench --bundle` measures recall against the exact scan.
//!
//! The standardisation still covers every candidate item, without a scan:
//! CF's mean and variance from the factor moments stored here, content's
//! from the content sketch.

use serde::{Deserialize, Serialize};

use crate::linalg::dot;

/// The `shortlist` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shortlist {
    /// Factor dimensions `f` of a centroid (then the content's `d`, then 1).
    pub factor_dims: u32,
    /// Content dimensions `d`: text ‖ weighted audio, as the sketch's.
    pub content_dims: u32,
    /// C × (f + d + 1): each cluster's mean item vector `[v ‖ x̂_c ‖ p]`.
    pub centroids: Vec<f32>,
    /// C + 1 offsets into `members`: cluster c holds
    /// `members[offsets[c]..offsets[c + 1]]`.
    pub offsets: Vec<u32>,
    /// Every item exactly once, grouped by cluster.
    pub members: Vec<u32>,
    /// How many items a query scores exactly (at least).
    pub probe: u32,
    /// `Σ v` over every item's (dequantised) factor row.
    pub factor_sum: Vec<f64>,
    /// `Σ vvᵀ`: the upper triangle, row by row (f(f+1)/2 values).
    pub factor_second: Vec<f64>,
}

impl Shortlist {
    /// Values in one centroid row.
    pub fn width(&self) -> usize {
        self.factor_dims as usize + self.content_dims as usize + 1
    }

    pub fn clusters(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Checks every invariant a query relies on, so that a decoded (maybe
    /// hostile) section cannot index out of bounds or loop.
    pub fn validate(
        &self,
        n_items: usize,
        factor_dims: usize,
        content_dims: usize,
    ) -> Result<(), String> {
        if self.factor_dims as usize != factor_dims || self.content_dims as usize != content_dims {
            return Err(format!(
                "built for {} factors and {} content dimensions, the bundle has {factor_dims} and {content_dims}",
                self.factor_dims, self.content_dims
            ));
        }
        let c = self.clusters();
        if c == 0 {
            return Err("no clusters".into());
        }
        if self.centroids.len() != c * self.width() {
            return Err(format!(
                "{} centroid values for {c} clusters of width {}",
                self.centroids.len(),
                self.width()
            ));
        }
        if let Some(i) = self.centroids.iter().position(|v| !v.is_finite()) {
            return Err(format!("centroid value {i} is not finite"));
        }
        if self.offsets[0] != 0 || self.offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err("cluster offsets do not start at 0 and ascend".into());
        }
        if self.members.len() != n_items || self.offsets[c] as usize != n_items {
            return Err(format!(
                "{} members and a last offset of {} for {n_items} items",
                self.members.len(),
                self.offsets[c]
            ));
        }
        let mut seen = vec![false; n_items];
        for &m in &self.members {
            match seen.get_mut(m as usize) {
                Some(s) if !*s => *s = true,
                Some(_) => return Err(format!("item {m} is in two clusters")),
                None => return Err(format!("member {m} is not an item of {n_items}")),
            }
        }
        if self.probe == 0 {
            return Err("a probe of 0 items".into());
        }
        let f = factor_dims;
        if self.factor_sum.len() != f || self.factor_second.len() != f * (f + 1) / 2 {
            return Err(format!(
                "factor moments of {} and {} values for {f} factors",
                self.factor_sum.len(),
                self.factor_second.len()
            ));
        }
        if self
            .factor_sum
            .iter()
            .chain(&self.factor_second)
            .any(|v| !v.is_finite())
        {
            return Err("a factor moment is not finite".into());
        }
        Ok(())
    }

    /// `x·Σv` and `xᵀ(Σvvᵀ)x`: the sum and the sum of squares of every
    /// item's factor score for `x`.
    pub fn factor_sums(&self, x: &[f32]) -> (f64, f64) {
        let f = self.factor_dims as usize;
        let x: Vec<f64> = x.iter().take(f).map(|&v| f64::from(v)).collect();
        let linear = x.iter().zip(&self.factor_sum).map(|(a, b)| a * b).sum();
        let mut quad = 0f64;
        let mut at = 0;
        for a in 0..x.len() {
            let row = &self.factor_second[at..at + f - a];
            let off: f64 = row[1..].iter().zip(&x[a + 1..]).map(|(s, v)| s * v).sum();
            quad += x[a] * (row[0] * x[a] + 2.0 * off);
            at += f - a;
        }
        (linear, quad)
    }

    /// The members of the clusters whose centroids score best for `query`
    /// (`width` weights), best cluster first (ties to the lower cluster),
    /// until they hold at least `budget` items.
    pub fn probe(&self, query: &[f32], budget: usize) -> Vec<u32> {
        let w = self.width();
        let mut order: Vec<(f32, u32)> = self
            .centroids
            .chunks_exact(w)
            .zip(0u32..)
            .map(|(c, i)| (dot(c, query), i))
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut out = Vec::with_capacity(budget + budget / 4);
        for (_, c) in order {
            if out.len() >= budget {
                break;
            }
            let c = c as usize;
            out.extend_from_slice(
                &self.members[self.offsets[c] as usize..self.offsets[c + 1] as usize],
            );
        }
        out
    }
}

/// `Σ x` and the upper triangle of `Σ xxᵀ` of `dim`-long rows, in f64.
pub fn moments<'a>(dim: usize, rows: impl Iterator<Item = &'a [f32]>) -> (Vec<f64>, Vec<f64>) {
    let mut sum = vec![0f64; dim];
    let mut second = vec![0f64; dim * (dim + 1) / 2];
    let mut x = vec![0f64; dim];
    for r in rows {
        x.iter_mut().zip(r).for_each(|(a, &b)| *a = f64::from(b));
        let mut at = 0;
        for a in 0..dim {
            sum[a] += x[a];
            let xa = x[a];
            if xa != 0.0 {
                for (s, xb) in second[at..at + dim - a].iter_mut().zip(&x[a..]) {
                    *s += xa * xb;
                }
            }
            at += dim - a;
        }
    }
    (sum, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Shortlist {
        // 2 factors, 1 content dimension, 2 clusters over 4 items.
        let rows: [[f32; 2]; 4] = [[1.0, 0.0], [0.5, 0.5], [-1.0, 0.2], [0.0, -1.0]];
        let (factor_sum, factor_second) = moments(2, rows.iter().map(|r| &r[..]));
        Shortlist {
            factor_dims: 2,
            content_dims: 1,
            centroids: vec![0.75, 0.25, 1.0, 0.0, -0.5, -0.4, -1.0, 0.0],
            offsets: vec![0, 2, 4],
            members: vec![0, 1, 3, 2],
            probe: 2,
            factor_sum,
            factor_second,
        }
    }

    #[test]
    fn factor_sums_equal_the_sums_over_the_items() {
        let s = small();
        let x = [0.3f32, -2.0];
        let scores: Vec<f64> = [[1.0, 0.0], [0.5, 0.5], [-1.0, 0.2], [0.0, -1.0]]
            .iter()
            .map(|r: &[f64; 2]| r[0] * 0.3f32 as f64 + r[1] * -2.0)
            .collect();
        let (sum, sq) = s.factor_sums(&x);
        assert!((sum - scores.iter().sum::<f64>()).abs() < 1e-6);
        assert!((sq - scores.iter().map(|v| v * v).sum::<f64>()).abs() < 1e-6);
    }

    #[test]
    fn probe_takes_the_best_clusters_until_the_budget() {
        let s = small();
        assert!(s.validate(4, 2, 1).is_ok());
        assert_eq!(s.probe(&[1.0, 0.0, 0.0, 0.0], 1), vec![0, 1]);
        assert_eq!(s.probe(&[-1.0, 0.0, 0.0, 0.0], 1), vec![3, 2]);
        assert_eq!(s.probe(&[-1.0, 0.0, 0.0, 0.0], 3), vec![3, 2, 0, 1]);
    }

    #[test]
    fn inconsistent_sections_are_refused() {
        let mut s = small();
        s.members = vec![0, 1, 1, 2];
        assert!(s.validate(4, 2, 1).unwrap_err().contains("two clusters"));
        let mut s = small();
        s.members[3] = 9;
        assert!(s.validate(4, 2, 1).unwrap_err().contains("not an item"));
        let mut s = small();
        s.offsets = vec![0, 3, 2];
        assert!(s.validate(4, 2, 1).unwrap_err().contains("ascend"));
        let mut s = small();
        s.centroids.pop();
        assert!(s.validate(4, 2, 1).unwrap_err().contains("centroid values"));
        let mut s = small();
        s.centroids[1] = f32::NAN;
        assert!(s.validate(4, 2, 1).unwrap_err().contains("not finite"));
        let s = small();
        assert!(s.validate(4, 3, 1).unwrap_err().contains("built for"));
        assert!(s.validate(5, 2, 1).is_err());
        let mut s = small();
        s.probe = 0;
        assert!(s.validate(4, 2, 1).is_err());
    }
}
