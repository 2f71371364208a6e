//! The factor half of CF (ALS, NMF, BPR, and every model that places listeners
//! and items in one factor space): the int8 item factors, the fold-in of a
//! new listener (one half-step of the model's own solve against
//! `YᵀY + λI`), factor scores and CF top-k. `cf.rs` is the seam above it
//! that also adds the item-item model.

use super::*;
use crate::als::FactorModel;

impl Model {
    /// A known user's trained factor.
    pub fn user_factor(&self, u: u32) -> Vec<f32> {
        self.parts.user_factors.dequantize_row(u as usize)
    }

    /// The `k` known users whose trained factors are nearest `u`'s by
    /// cosine (seed 003's similar users), `u` left out. A user with no
    /// preference (a zero factor) is like nobody.
    pub fn similar_users(&self, u: u32, k: usize) -> Vec<Scored> {
        let x = self.user_factor(u);
        let nx = crate::linalg::dot(&x, &x).sqrt();
        if nx <= 0.0 {
            return Vec::new();
        }
        let scored = (0..self.n_users() as u32)
            .filter(|&v| v != u)
            .filter_map(|v| {
                let y = self.user_factor(v);
                let ny = crate::linalg::dot(&y, &y).sqrt();
                (ny > 0.0).then(|| Scored {
                    index: v,
                    score: crate::linalg::dot(&x, &y) / (nx * ny),
                })
            })
            .collect();
        top_k(scored, k)
    }

    /// Over the items someone played: an item nobody played has no place
    /// in a least-squares fit to plays (the trainer's ALS gives it a zero
    /// factor; a factor mapped from content must not shift fold-in).
    fn gram(&self) -> &[f32] {
        self.gram.get_or_init(|| {
            let mut y = self.parts.item_factors.dequantize();
            let f = self.factors().max(1);
            for (row, &l) in y.chunks_mut(f).zip(&self.parts.popularity.listeners) {
                if l == 0 {
                    row.fill(0.0);
                }
            }
            let view = ArrayView2::from_shape((self.n_items(), self.factors()), &y)
                .expect("validated shape");
            als::gram(view, self.parts.meta.params.regularization)
        })
    }

    /// BPR's shared negatives (`bpr::negatives`), drawn as the trainer drew
    /// them: by the bundle's seed, among the items someone played.
    fn bpr_negatives(&self) -> &[u32] {
        self.bpr_negatives.get_or_init(|| {
            let listeners = &self.parts.popularity.listeners;
            crate::bpr::negatives(self.n_items(), self.parts.meta.params.seed, |i| {
                listeners[i] > 0
            })
        })
    }

    /// The factor for a listener the model has never seen, from (item,
    /// plays) pairs, as the trainer computed its listeners' last: one
    /// half-step against the bundle's item factors (ALS's weighted solve,
    /// NMF's non-negative one, BPR's ranking solve), or LightGCN's
    /// propagation of the history. Duplicate items are summed.
    pub fn fold_in(&self, history: &[(u32, f32)]) -> Result<Vec<f32>, Error> {
        let mut h: Vec<(u32, f32)> = Vec::with_capacity(history.len());
        for &(i, plays) in history {
            if i as usize >= self.n_items() {
                return Err(Error::InvalidInput(format!(
                    "item index {i} is out of range (0..{})",
                    self.n_items()
                )));
            }
            if !(plays.is_finite() && plays >= 0.0) {
                return Err(Error::InvalidInput(format!(
                    "plays for item `{}` must be a finite number ≥ 0, got {plays}",
                    self.item_id(i)
                )));
            }
            h.push((i, plays));
        }
        h.sort_unstable_by_key(|&(i, _)| i);
        h.dedup_by(|b, a| {
            if a.0 == b.0 {
                a.1 += b.1;
                true
            } else {
                false
            }
        });
        let meta = &self.parts.meta;
        let p = &meta.params;
        let cols: Vec<u32> = h.iter().map(|&(i, _)| i).collect();
        // The same `1 + α·ln(1 + plays)` is ALS's confidence and NMF's
        // target value.
        let conf: Vec<f32> = h
            .iter()
            .map(|&(_, v)| als::confidence(v, p.alpha))
            .collect();
        let extra = als::row_regularization(
            p.regularization,
            p.reg_exponent,
            cols.len(),
            meta.user_reference,
        );
        let y = &self.parts.item_factors;
        Ok(match p.model {
            FactorModel::Als => als::fold_in(self.gram(), y, &cols, &conf, extra),
            FactorModel::Nmf => crate::nmf::fold_in(self.gram(), y, &cols, &conf, extra),
            FactorModel::Bpr => {
                crate::bpr::fold_in(y, self.bpr_negatives(), &cols, &conf, p.regularization)
            }
            FactorModel::LightGcn => {
                let listeners = &self.parts.popularity.listeners;
                crate::lightgcn::fold_in(y, |i| listeners[i], &cols, &conf)
            }
        })
    }

    /// CF scores of every item for a user factor, as [`Self::recommend`]
    /// computes them.
    pub fn scores(&self, x: &[f32]) -> Vec<f32> {
        let y = &self.parts.item_factors;
        let (xq, xs) = crate::linalg::quantize_i16(x);
        (0..self.n_items())
            .map(|i| y.dot_row_i16(i, &xq, xs))
            .collect()
    }

    /// `true` for every item index in `exclude` (out-of-range ones ignored).
    pub(super) fn mask(&self, exclude: &[u32]) -> Vec<bool> {
        let mut skip = vec![false; self.n_items()];
        for &i in exclude {
            if let Some(s) = skip.get_mut(i as usize) {
                *s = true;
            }
        }
        skip
    }

    /// Top-k items for a user factor by the factors alone, excluding
    /// `exclude` (callers outside the model go through `recommend_cf`, the
    /// seam, so that an item-item model is never skipped). A factor with no
    /// signal (a listener whose only artists nobody else played collapses to
    /// ≈ 0) would rank by index order; they get the popular items instead.
    pub(super) fn recommend(&self, x: &[f32], exclude: &[u32], k: usize) -> Vec<Scored> {
        if crate::linalg::dot(x, x) <= NO_SIGNAL {
            return self.popular(exclude, k);
        }
        let y = &self.parts.item_factors;
        let skip = self.mask(exclude);
        let (xq, xs) = crate::linalg::quantize_i16(x);
        let cands = (0..self.n_items())
            .filter(|&i| !skip[i])
            .map(|i| Scored {
                index: i as u32,
                score: y.dot_row_i16(i, &xq, xs),
            })
            .collect();
        top_k(cands, k)
    }

    /// The most popular items, excluding `exclude`: the cold-start baseline.
    pub fn popular(&self, exclude: &[u32], k: usize) -> Vec<Scored> {
        let pop = &self.parts.popularity;
        let skip = self.mask(exclude);
        let cands = (0..self.n_items())
            .filter(|&i| !skip[i])
            .map(|i| Scored {
                index: i as u32,
                score: pop.score(i),
            })
            .collect();
        top_k(cands, k)
    }
}
