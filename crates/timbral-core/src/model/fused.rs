//! The hybrid half of a model: fused recommendations (CF, content and
//! popularity, through the content sketch where there is one), the fold-in
//! of short histories with their content neighbours, similar items, and
//! the encoder check. CF comes through the seam in `cf.rs`; the parts and the
//! bundle are `model.rs`.

use super::*;

/// Hybrid recommendations, similar items and search (need the `content` section
/// for their content part; without it they degrade to CF and popularity).
impl Model {
    pub fn content(&self) -> Option<&Content> {
        self.parts.content.as_ref()
    }

    /// The stored fusion weights, or the defaults.
    pub fn fusion(&self) -> Fusion {
        self.parts.fusion.unwrap_or_default()
    }

    /// The stored weights for a listener with `history_len` items.
    pub fn fusion_weights(&self, history_len: usize) -> FusionWeights {
        self.fusion().for_history(history_len)
    }

    /// Content-vector norms (empty without content).
    pub fn content_norms(&self) -> &crate::content::ContentNorms {
        &self.content_norms
    }

    /// Standardised `1 − popularity penalty` of every item.
    pub fn popularity_term(&self) -> &[f32] {
        &self.pop_term
    }

    /// A listener's taste in content space: the weighted mean of their
    /// items' content vectors (weights `1 + ln(1 + plays)`).
    pub fn taste(&self, history: &[(u32, f32)]) -> Option<ContentQuery> {
        let c = self.content()?;
        let w: Vec<(u32, f32)> = history
            .iter()
            .map(|&(i, p)| (i, 1.0 + ln_1p(p.max(0.0))))
            .collect();
        Some(c.centroid(&w))
    }

    /// `keep` (true for items not in `exclude`) and the excluded items,
    /// each once.
    fn keep_mask(&self, exclude: &[u32]) -> (Vec<bool>, Vec<usize>) {
        let mut keep = vec![true; self.n_items()];
        let mut excluded = Vec::with_capacity(exclude.len());
        for &i in exclude {
            if let Some(k) = keep.get_mut(i as usize) {
                if *k {
                    *k = false;
                    excluded.push(i as usize);
                }
            }
        }
        (keep, excluded)
    }

    /// How fusion standardises the content cosine when the bundle stores
    /// the unit content vectors' moments (in its sketch or its shortlist):
    /// mean and variance over the kept items, from the sums over every item
    /// (`sums`, for the unit query `unit`) minus the excluded items' own
    /// cosines, so no scan is needed.
    fn content_standardizer(
        &self,
        c: &Content,
        unit: &[f32],
        sums: (f64, f64),
        excluded: &[usize],
    ) -> Standardizer {
        let (mut sum, mut sum_sq) = sums;
        for &j in excluded {
            let cj = f64::from(crate::linalg::dot(
                unit,
                &c.unit_row(j, &self.content_norms),
            ));
            sum -= cj;
            sum_sq -= cj * cj;
        }
        Standardizer::from_sums((self.n_items() - excluded.len()) as f64, sum, sum_sq)
    }

    /// The standardised CF and content scores of every item for one
    /// listener (CF factor `x`, history for the content taste), with
    /// `exclude` masked out. Standardising over the candidates puts the
    /// parts on one scale, so fusion weights mean what they say.
    pub fn fusion_parts(&self, x: &[f32], history: &[(u32, f32)], exclude: &[u32]) -> FusionParts {
        let n = self.n_items();
        let (keep, excluded) = self.keep_mask(exclude);
        let cf = self.cf_standardized(x, history, &keep);
        let taste = self.taste(history);
        let mut content = match (self.content(), &taste) {
            (Some(c), Some(q)) => c.cosines(q, &self.content_norms, false),
            _ => vec![0.0; n],
        };
        let sketched = match (self.content(), self.parts.content_sketch.as_ref(), &taste) {
            (Some(c), Some(sk), Some(q)) => sk
                .query(c, q)
                .map(|sq| self.content_standardizer(c, &sq.unit, sk.cosine_sums(&sq), &excluded)),
            _ => None,
        };
        match sketched {
            Some(s) => content
                .iter_mut()
                .zip(&keep)
                .filter(|(_, &k)| k)
                .for_each(|(v, _)| *v = s.apply(*v)),
            None => standardize(&mut content, &keep),
        }
        // An item nobody played has a factor mapped from its content, or
        // none; `FusionWeights::cold` says how far to trust it.
        FusionParts {
            cf,
            content,
            keep,
            cold: self.cold.clone(),
        }
    }

    /// Fused top-k: `α·cf + β·content + γ·(1 − popularity penalty)`, each
    /// part standardised. The same list as ranking [`Self::fusion_parts`].
    pub fn recommend_fused(
        &self,
        x: &[f32],
        history: &[(u32, f32)],
        exclude: &[u32],
        k: usize,
        w: FusionWeights,
    ) -> Vec<Recommendation> {
        if let Some(r) = self.recommend_fused_shortlisted(x, history, exclude, k, w) {
            return r;
        }
        if let Some(r) = self.recommend_fused_sketched(x, history, exclude, k, w) {
            return r;
        }
        let p = self.fusion_parts(x, history, exclude);
        let cands = (0..self.n_items())
            .filter(|&i| p.keep[i])
            .map(|i| Scored {
                index: i as u32,
                score: p.score(&w, &self.pop_term, i),
            })
            .collect();
        top_k(cands, k)
            .into_iter()
            .map(|s| {
                let i = s.index as usize;
                Recommendation {
                    index: s.index,
                    score: s.score,
                    cf: w.cf_part(p.cf[i], p.cold[i]),
                    content: p.content[i],
                    popularity: self.pop_term[i],
                }
            })
            .collect()
    }

    /// [`Self::recommend_fused`] through the content sketch: every item's
    /// fused score within an interval from the sketch (r values per item),
    /// then exact scores only for the items whose interval reaches the
    /// k-th best lower bound. Whatever is left out scores below k items
    /// that are in, so the list is exactly the full scan's. `None` where
    /// the bundle has no sketch or the bounds are not finite.
    fn recommend_fused_sketched(
        &self,
        x: &[f32],
        history: &[(u32, f32)],
        exclude: &[u32],
        k: usize,
        w: FusionWeights,
    ) -> Option<Vec<Recommendation>> {
        let (c, sk) = (self.content()?, self.parts.content_sketch.as_ref()?);
        let taste = self.taste(history)?;
        let sq = sk.query(c, &taste)?;
        let n = self.n_items();
        let (keep, excluded) = self.keep_mask(exclude);
        let cf = self.cf_standardized(x, history, &keep);
        let cs = self.content_standardizer(c, &sq.unit, sk.cosine_sums(&sq), &excluded);
        let (pop, cold) = (&self.pop_term, &self.cold);
        // The content part of the fused score is `bz·(cos − mean)`; f32
        // here, as the relative slack below covers the rounding.
        let bz = w.beta * cs.inv_std as f32;
        let mean = cs.mean as f32;
        let bounds = (0..n).filter(|&i| keep[i]).map(|i| {
            let (estimate, err) = sk.estimate(&sq, i);
            let centre =
                w.alpha * w.cf_part(cf[i], cold[i]) + w.gamma * pop[i] + bz * (estimate - mean);
            // The relative term covers f32 rounding of the weighted sum.
            let half = bz.abs() * err + 1e-5 * (1.0 + centre.abs());
            (i as u32, centre - half, centre + half)
        });
        let candidates = crate::topk::reachable(bounds, k)?;
        let cq = c.cosine_query(&taste, false);
        let content_z = |i: usize| cs.apply(c.cosine_at(&cq, &self.content_norms, i));
        Some(self.rank_exactly(candidates, k, w, |i| (cf[i], content_z(i))))
    }

    /// The top k of `candidates` by their exact fused score, with its
    /// parts; `parts(i)` gives item i's standardised CF and content scores.
    fn rank_exactly(
        &self,
        candidates: Vec<u32>,
        k: usize,
        w: FusionWeights,
        parts: impl Fn(usize) -> (f32, f32),
    ) -> Vec<Recommendation> {
        let (pop, cold) = (&self.pop_term, &self.cold);
        let scored = candidates
            .into_iter()
            .map(|i| {
                let (cf, content) = parts(i as usize);
                Scored {
                    index: i,
                    score: w.score(cf, content, pop[i as usize], cold[i as usize]),
                }
            })
            .collect();
        top_k(scored, k)
            .into_iter()
            .map(|s| {
                let i = s.index as usize;
                let (cf, content) = parts(i);
                Recommendation {
                    index: s.index,
                    score: s.score,
                    cf: w.cf_part(cf, cold[i]),
                    content,
                    popularity: pop[i],
                }
            })
            .collect()
    }

    /// [`Self::recommend_fused`] through the shortlist index
    /// (`shortlist.rs`): the items whose fused score, estimated from their
    /// cluster's direction, their factor's norm and their popularity, is
    /// best, scored exactly, with both parts standardised over every kept
    /// item from the stored moments. Approximate; `None` where the bundle
    /// has no shortlist or blends an item-item model (whose scores are not
    /// linear in one vector per item).
    fn recommend_fused_shortlisted(
        &self,
        x: &[f32],
        history: &[(u32, f32)],
        exclude: &[u32],
        k: usize,
        w: FusionWeights,
    ) -> Option<Vec<Recommendation>> {
        let sl = self.parts.shortlist.as_ref()?;
        if self.item_item().is_some_and(|ii| ii.blend < 1.0) {
            return None;
        }
        let c = self.content()?;
        let taste = self.taste(history)?;
        let unit = c.unit_query(&taste)?;
        let (keep, excluded) = self.keep_mask(exclude);
        let cs = self.content_standardizer(c, &unit, sl.content_sums(&unit), &excluded);
        let n_kept = (self.n_items() - excluded.len()) as f64;
        let y = &self.parts.item_factors;
        let signal = crate::linalg::dot(x, x) > NO_SIGNAL;
        let (xq, xs) = crate::linalg::quantize_i16(x);
        // CF's mean and variance over the kept items: the stored sums, less
        // the excluded items' own scores.
        let cfs = if signal {
            let (mut sum, mut sum_sq) = sl.factor_sums(x);
            for &j in &excluded {
                let v = f64::from(y.dot_row_i16(j, &xq, xs));
                sum -= v;
                sum_sq -= v * v;
            }
            Standardizer::from_sums(n_kept, sum, sum_sq)
        } else {
            Standardizer::from_sums(0.0, 0.0, 0.0)
        };
        let a = w.alpha * cfs.inv_std as f32;
        let b = w.beta * cs.inv_std as f32;
        let ax: Vec<f32> = x.iter().map(|v| a * v).collect();
        let bu: Vec<f32> = unit.iter().map(|v| b * v).collect();
        let query = crate::shortlist::FusedQuery {
            cf: &ax,
            content: &bu,
            gamma: w.gamma,
            popularity: &self.pop_term,
            cold: &self.cold,
            cold_scale: w.cold,
            keep: &keep,
        };
        let cq = c.cosine_query(&taste, false);
        let parts = |i: usize| {
            let cf = if signal {
                cfs.apply(y.dot_row_i16(i, &xq, xs))
            } else {
                0.0
            };
            (cf, cs.apply(c.cosine_at(&cq, &self.content_norms, i)))
        };
        let budget = (sl.probe as usize).max(4 * k);
        let candidates = sl.fused_candidates(&query, budget);
        Some(self.rank_exactly(candidates, k, w, parts))
    }

    /// Fused top-k for a known user.
    pub fn recommend_fused_user(&self, u: u32, k: usize, w: FusionWeights) -> Vec<Recommendation> {
        let (items, plays) = self.user_history(u);
        let history: Vec<(u32, f32)> = items.iter().copied().zip(plays.iter().copied()).collect();
        self.recommend_fused(&self.user_factor(u), &history, items, k, w)
    }

    /// A known user's top-k as every batch and server path ranks them:
    /// fused with the bundle's learned weights where it has content, CF
    /// alone where it has none (`precompute`, `GET /rec/users/{id}`).
    pub fn recommend_known_user(&self, u: u32, k: usize) -> Vec<Recommendation> {
        if self.content().is_some() {
            let w = self.fusion().for_history(self.user_history(u).0.len());
            return self.recommend_fused_user(u, k, w);
        }
        self.recommend_user(u, k)
            .into_iter()
            .map(Recommendation::from)
            .collect()
    }

    /// Fused top-k for a new listener, folded in ([`Self::listener_factor`]).
    pub fn recommend_fused_history(
        &self,
        history: &[(u32, f32)],
        k: usize,
        w: FusionWeights,
    ) -> Result<Vec<Recommendation>, Error> {
        let x = self.listener_factor(history)?;
        let seen: Vec<u32> = history.iter().map(|&(i, _)| i).collect();
        Ok(self.recommend_fused(&x, history, &seen, k, w))
    }

    /// The CF factor fusion ranks a new listener by: the fold-in, with
    /// content neighbours ([`Self::fold_in_with_neighbours`]) when the
    /// history is short enough for the bundle's short-history weights.
    pub fn listener_factor(&self, history: &[(u32, f32)]) -> Result<Vec<f32>, Error> {
        if self.content().is_some() && history.len() <= self.fusion().short_max_items as usize {
            self.fold_in_with_neighbours(history)
        } else {
            self.fold_in(history)
        }
    }

    /// The CF factor of a short history: a fold-in of the history plus its
    /// [`SHORT_NEIGHBOURS`] nearest content neighbours among played items,
    /// each as [`NEIGHBOUR_PLAYS`] plays. A few plays place a listener
    /// poorly in factor space; their content neighbours are what they
    /// likely play next. Without content: the plain fold-in.
    pub fn fold_in_with_neighbours(&self, history: &[(u32, f32)]) -> Result<Vec<f32>, Error> {
        let Some(q) = self.taste(history) else {
            return self.fold_in(history);
        };
        let seen: Vec<u32> = history.iter().map(|&(i, _)| i).collect();
        let mut h = history.to_vec();
        h.extend(
            self.played_neighbours(&q, &seen, SHORT_NEIGHBOURS)
                .into_iter()
                .map(|i| (i, NEIGHBOUR_PLAYS)),
        );
        self.fold_in(&h)
    }

    /// The `m` items somebody played that are nearest `q` in content
    /// (cosine; ties to the lower index), `exclude` left out. With a
    /// sketch: the `NEIGHBOUR_SHORTLIST × m` nearest by the sketch's
    /// estimate, re-ranked by the full cosine. (Exact pruning, as fusion
    /// does, gains little here: a bare cosine's bounds are wide next to
    /// the spread of the nearest cosines, so most items would stay in.)
    pub(super) fn played_neighbours(
        &self,
        q: &ContentQuery,
        exclude: &[u32],
        m: usize,
    ) -> Vec<u32> {
        let Some(c) = self.content() else {
            return Vec::new();
        };
        let (keep, _) = self.keep_mask(exclude);
        let kept =
            (0..self.n_items() as u32).filter(|&i| keep[i as usize] && !self.cold[i as usize]);
        let sketched = self
            .parts
            .content_sketch
            .as_ref()
            .and_then(|sk| Some((sk, sk.query(c, q)?)));
        let shortlisted = self
            .parts
            .shortlist
            .as_ref()
            .and_then(|sl| Some((sl, c.unit_query(q)?)));
        let candidates: Vec<u32> = match (shortlisted, sketched) {
            (Some((sl, unit)), _) => {
                // A quarter of fusion's probe: the nearest few items sit in
                // the nearest few clusters, and they only steer a fold-in.
                let budget = (sl.probe as usize / 4).max(NEIGHBOUR_SHORTLIST * m);
                sl.content_candidates(&unit, budget)
                    .into_iter()
                    .filter(|&i| keep[i as usize] && !self.cold[i as usize])
                    .collect()
            }
            (None, Some((sk, sq))) => {
                let estimated = kept
                    .map(|i| Scored {
                        index: i,
                        score: sk.estimate(&sq, i as usize).0,
                    })
                    .collect();
                top_k(estimated, NEIGHBOUR_SHORTLIST * m)
                    .into_iter()
                    .map(|s| s.index)
                    .collect()
            }
            (None, None) => kept.collect(),
        };
        let cq = c.cosine_query(q, false);
        let scored = candidates
            .into_iter()
            .map(|i| Scored {
                index: i,
                score: c.cosine_at(&cq, &self.content_norms, i as usize),
            })
            .collect();
        top_k(scored, m).into_iter().map(|s| s.index).collect()
    }

    pub(crate) fn need_content(&self) -> Result<&Content, Error> {
        self.content().ok_or_else(|| {
            Error::InvalidInput(
                "this bundle has no content vectors; train it with the text encoder".into(),
            )
        })
    }

    /// Refuses a text encoder whose files are not the ones the bundle's
    /// content vectors were made with.
    pub fn check_encoder(&self, model_sha256: &str, tokenizer_sha256: &str) -> Result<(), Error> {
        let c = self.need_content()?;
        if c.model_sha256 != model_sha256 || c.tokenizer_sha256 != tokenizer_sha256 {
            let short = |s: &str| s.chars().take(12).collect::<String>();
            return Err(Error::InvalidInput(format!(
                "the text encoder does not match the bundle: bundle built with model {} / tokenizer {}, found {} / {}",
                short(&c.model_sha256),
                short(&c.tokenizer_sha256),
                short(model_sha256),
                short(tokenizer_sha256)
            )));
        }
        Ok(())
    }

    /// The k items most similar in content to item `i` (cosine).
    pub fn similar(&self, i: u32, k: usize) -> Result<Vec<Scored>, Error> {
        let c = self.need_content()?;
        if i as usize >= self.n_items() {
            return Err(Error::InvalidInput(format!(
                "item index {i} is out of range"
            )));
        }
        let q = c.item_query(i as usize);
        // On a large catalogue: the clusters nearest the item in content.
        if let Some(sl) = &self.parts.shortlist {
            let unit = c.unit_row(i as usize, &self.content_norms);
            let probed = sl.content_candidates(&unit, 4 * (sl.probe as usize).max(k));
            let cq = c.cosine_query(&q, false);
            let cands = probed
                .into_iter()
                .filter(|&j| j != i)
                .map(|j| Scored {
                    index: j,
                    score: c.cosine_at(&cq, &self.content_norms, j as usize),
                })
                .collect();
            return Ok(top_k(cands, k));
        }
        let sims = c.cosines(&q, &self.content_norms, false);
        let cands = sims
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i as usize)
            .map(|(j, &s)| Scored {
                index: j as u32,
                score: s,
            })
            .collect();
        Ok(top_k(cands, k))
    }
}
