//! The sparse item-item CF model (the `item_item` section): each item's
//! top-k neighbours with int8 weights. A history is scored by summing its
//! items' neighbour rows, so a new listener needs no fold-in, which suits
//! the browser; the trainer fits the weights (RP3beta,
//! `timbral_train::item_item`) and sets how much they weigh beside the
//! factors on a validation split.

use serde::{Deserialize, Serialize};

/// Neighbour weights of every item, by row. Stored compactly: within a
/// row, neighbours ascend and each is the gap from the one before (the
/// first from 0), so most take one or two bytes in postcard's varints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemItem {
    /// What fitted the weights, e.g. `rp3beta`.
    pub method: String,
    /// Its hyper-parameters by name, as chosen on validation.
    pub params: Vec<(String, f32)>,
    /// The listener's CF score is `blend·z(factors) + (1 − blend)·z(item-item)`,
    /// each standardised over the candidates: 1 is the factors alone.
    pub blend: f32,
    /// Row `i` is `gaps[indptr[i]..indptr[i + 1]]` (and the same range of
    /// `weights`).
    pub indptr: Vec<u32>,
    pub gaps: Vec<u32>,
    pub weights: Vec<i8>,
    /// Row `i`'s weights are `weights × scales[i]`.
    pub scales: Vec<f32>,
}

impl ItemItem {
    /// Quantises neighbour rows (each ascending by item, weights ≥ 0) into
    /// the stored form.
    pub fn from_rows(
        method: &str,
        params: Vec<(String, f32)>,
        blend: f32,
        rows: &[Vec<(u32, f32)>],
    ) -> Self {
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        indptr.push(0u32);
        let (mut gaps, mut weights, mut scales) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            let max = row.iter().map(|&(_, w)| w.abs()).fold(0f32, f32::max);
            let scale = if max > 0.0 { max / 127.0 } else { 0.0 };
            let mut last = 0u32;
            for (n, &(j, w)) in row.iter().enumerate() {
                gaps.push(if n == 0 { j } else { j - last });
                last = j;
                let q = if scale > 0.0 {
                    (w / scale).round().clamp(-127.0, 127.0)
                } else {
                    0.0
                };
                weights.push(q as i8);
            }
            scales.push(scale);
            indptr.push(gaps.len() as u32);
        }
        ItemItem {
            method: method.to_string(),
            params,
            blend,
            indptr,
            gaps,
            weights,
            scales,
        }
    }

    pub fn n_items(&self) -> usize {
        self.scales.len()
    }

    /// Neighbours stored in all.
    pub fn nnz(&self) -> usize {
        self.gaps.len()
    }

    /// Row `i`: (neighbour, weight) pairs, ascending by neighbour.
    pub fn row(&self, i: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
        let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
        let s = self.scales[i];
        let mut j = 0u32;
        self.gaps[a..b]
            .iter()
            .zip(&self.weights[a..b])
            .enumerate()
            .map(move |(n, (&g, &w))| {
                j = if n == 0 { g } else { j + g };
                (j, f32::from(w) * s)
            })
    }

    /// Every item's score for a history: the sum of its distinct played
    /// items' rows. Plays only say which items (the weights were fitted
    /// on who played what, not how often).
    pub fn scores(&self, history: &[(u32, f32)]) -> Vec<f32> {
        let mut out = vec![0f32; self.n_items()];
        let mut items: Vec<u32> = history
            .iter()
            .filter(|&&(i, p)| p > 0.0 && (i as usize) < self.n_items())
            .map(|&(i, _)| i)
            .collect();
        items.sort_unstable();
        items.dedup();
        for i in items {
            for (j, w) in self.row(i as usize) {
                out[j as usize] += w;
            }
        }
        out
    }

    pub fn validate(&self, n_items: usize) -> Result<(), String> {
        if self.method.is_empty() {
            return Err("no method named".into());
        }
        if !(self.blend.is_finite() && (0.0..=1.0).contains(&self.blend)) {
            return Err(format!("blend {} is not in 0..=1", self.blend));
        }
        if let Some((k, v)) = self.params.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("parameter `{k}` is {v}"));
        }
        if self.scales.len() != n_items || self.indptr.len() != n_items + 1 {
            return Err(format!(
                "{} rows and {} row offsets for {n_items} items",
                self.scales.len(),
                self.indptr.len()
            ));
        }
        if self.weights.len() != self.gaps.len() {
            return Err(format!(
                "{} weights for {} neighbours",
                self.weights.len(),
                self.gaps.len()
            ));
        }
        if self.indptr[0] != 0 || self.indptr[n_items] as usize != self.gaps.len() {
            return Err("row offsets do not cover the neighbours".into());
        }
        for i in 0..n_items {
            let (a, b) = (self.indptr[i] as usize, self.indptr[i + 1] as usize);
            if a > b {
                return Err(format!("row {i}: offsets go backwards"));
            }
            if !(self.scales[i].is_finite() && self.scales[i] >= 0.0) {
                return Err(format!("row {i}: scale {}", self.scales[i]));
            }
            let mut j = 0u64;
            for (n, &g) in self.gaps[a..b].iter().enumerate() {
                if n > 0 && g == 0 {
                    return Err(format!("row {i}: a neighbour appears twice"));
                }
                j = if n == 0 {
                    u64::from(g)
                } else {
                    j + u64::from(g)
                };
                if j >= n_items as u64 {
                    return Err(format!("row {i}: neighbour {j} of {n_items} items"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_rows() -> ItemItem {
        ItemItem::from_rows(
            "rp3beta",
            vec![("beta".into(), 0.5)],
            0.5,
            &[vec![(1, 1.0), (3, 0.5)], vec![], vec![(0, 0.25)], vec![]],
        )
    }

    #[test]
    fn rows_come_back_from_their_gaps() {
        let m = two_rows();
        assert_eq!(m.validate(4), Ok(()));
        let r: Vec<(u32, f32)> = m.row(0).collect();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].0, r[1].0), (1, 3));
        assert!((r[0].1 - 1.0).abs() < 1e-6 && (r[1].1 - 0.5).abs() < 0.01);
        assert_eq!(m.row(1).count(), 0);
    }

    #[test]
    fn a_history_sums_its_distinct_items_rows() {
        let m = two_rows();
        let s = m.scores(&[(0, 3.0), (2, 1.0), (0, 1.0), (1, 0.0)]);
        assert!((s[0] - 0.25).abs() < 0.01, "{s:?}");
        assert!((s[1] - 1.0).abs() < 0.01, "{s:?}");
        assert!((s[3] - 0.5).abs() < 0.01, "{s:?}");
        assert_eq!(s[2], 0.0);
    }

    #[test]
    fn bad_tables_are_refused() {
        let mut m = two_rows();
        m.gaps[1] = 0;
        assert!(m.validate(4).unwrap_err().contains("twice"));
        let mut m = two_rows();
        m.gaps[1] = 9;
        assert!(m.validate(4).unwrap_err().contains("neighbour"));
        let mut m = two_rows();
        m.blend = 1.5;
        assert!(m.validate(4).is_err());
        assert!(two_rows().validate(5).is_err());
    }
}
