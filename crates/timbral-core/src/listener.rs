//! What a listener-facing runtime (the wasm package, the Worker) does with a
//! model: explained recommendations, onboarding picks, playlist autofill,
//! a profile that feedback updates, a taste summary and text search that
//! needs no encoder. Pure like the rest of the core, so every runtime gives
//! the same answers.

use std::collections::HashMap;

use serde::Serialize;

use crate::content::ContentQuery;
use crate::linalg::{dot, ln_1p};
use crate::model::{Model, Recommendation};
use crate::topk::{top_k, Scored};
use crate::Error;

/// Autofill's MMR diversity weight: relevance weighs 1 − λ, similarity to
/// what is already picked λ. 0.3 beats both plain KNN and heavier
/// diversity on the Spotify playlists (`timbral playlist-eval`). Every
/// runtime uses it.
pub const AUTOFILL_LAMBDA: f32 = 0.3;

/// The largest `k` any listener-facing call accepts.
pub const MAX_K: usize = 200;

/// Checks a requested list length.
pub fn check_k(k: usize) -> Result<usize, Error> {
    if (1..=MAX_K).contains(&k) {
        Ok(k)
    } else {
        Err(Error::InvalidInput(format!(
            "k must be between 1 and {MAX_K}, got {k}"
        )))
    }
}

/// A recommendation with why it was made.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explained {
    pub rec: Recommendation,
    /// The 1–3 history items that support it most (item indices).
    pub because: Vec<u32>,
    /// Its labels that the listener's history shares.
    pub shared_tags: Vec<String>,
}

/// Labels are compared case-folded.
fn fold(label: &str) -> String {
    label.trim().to_lowercase()
}

/// The 30 heaviest of a history's labels, folded: what explanations share.
fn top_labels(labels: &[(String, f32)]) -> Vec<String> {
    labels.iter().take(30).map(|(l, _)| fold(l)).collect()
}

impl Model {
    /// Cosine of the int8 CF factors of two items (0 without signal).
    pub(crate) fn cf_cosine(&self, a: u32, b: u32) -> f32 {
        let y = &self.parts().item_factors;
        let (ra, sa) = y.row(a as usize);
        let (rb, sb) = y.row(b as usize);
        if sa == 0.0 || sb == 0.0 {
            return 0.0;
        }
        let (mut ab, mut aa, mut bb) = (0i32, 0i32, 0i32);
        for (&x, &z) in ra.iter().zip(rb) {
            ab += i32::from(x) * i32::from(z);
            aa += i32::from(x) * i32::from(x);
            bb += i32::from(z) * i32::from(z);
        }
        ab as f32 / ((aa as f32).sqrt() * (bb as f32).sqrt()).max(1.0)
    }

    /// Content cosine of two items (0 without content): integer dot
    /// products of the int8 rows, no dequantised copies.
    pub(crate) fn content_cosine(&self, a: u32, b: u32) -> f32 {
        let Some(c) = self.content() else { return 0.0 };
        let n = &self.content_norms().full;
        let (a, b) = (a as usize, b as usize);
        let (na, nb) = (n[a], n[b]);
        if na > 0.0 && nb > 0.0 {
            c.pair_dot(a, b) / (na * nb)
        } else {
            0.0
        }
    }

    /// The labels of a history, weighted by `1 + ln(1 + plays)`, heaviest
    /// first: (label as first seen, weight).
    pub fn history_labels(&self, history: &[(u32, f32)]) -> Vec<(String, f32)> {
        let Some(c) = self.content() else {
            return Vec::new();
        };
        let mut weight: HashMap<String, (String, f32)> = HashMap::new();
        for &(i, plays) in history {
            let w = 1.0 + ln_1p(plays.max(0.0));
            for l in &c.labels[i as usize] {
                weight.entry(fold(l)).or_insert_with(|| (l.clone(), 0.0)).1 += w;
            }
        }
        let mut v: Vec<(String, f32)> = weight.into_values().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Why item `i` suits a listener with `history`: the history items most
    /// like it (CF cosine plus content cosine, positive only) and the labels
    /// it shares with the history's 30 heaviest.
    pub fn explain(&self, i: u32, history: &[(u32, f32)], labels: &[(String, f32)]) -> Explained {
        let top = top_labels(labels);
        self.explain_with(i, history, &top)
    }

    /// [`Self::explain`] with the history's top labels already folded, so a
    /// list of recommendations folds them once.
    fn explain_with(&self, i: u32, history: &[(u32, f32)], top: &[String]) -> Explained {
        let mut support: Vec<Scored> = history
            .iter()
            .filter(|&&(h, _)| h != i)
            .map(|&(h, _)| Scored {
                index: h,
                score: self.cf_cosine(i, h) + self.content_cosine(i, h),
            })
            .filter(|s| s.score > 0.0)
            .collect();
        support = top_k(support, 3);
        let shared_tags = self
            .content()
            .map(|c| {
                c.labels[i as usize]
                    .iter()
                    .filter(|l| top.contains(&fold(l)))
                    .take(3)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Explained {
            rec: Recommendation {
                index: i,
                score: 0.0,
                cf: 0.0,
                content: 0.0,
                popularity: 0.0,
            },
            because: support.iter().map(|s| s.index).collect(),
            shared_tags,
        }
    }

    /// Fused, explained recommendations for a history (folded in; an empty
    /// history gets popular items). `exclude` adds to the history's items.
    pub fn recommend_explained(
        &self,
        history: &[(u32, f32)],
        exclude: &[u32],
        k: usize,
        weights: Option<crate::FusionWeights>,
    ) -> Result<Vec<Explained>, Error> {
        check_k(k)?;
        let mut seen: Vec<u32> = history.iter().map(|&(i, _)| i).collect();
        seen.extend_from_slice(exclude);
        for &i in &seen {
            self.check_item(i)?;
        }
        let w = weights.unwrap_or_else(|| self.fusion_weights(history.len()));
        w.validate().map_err(Error::InvalidInput)?;
        let recs: Vec<Recommendation> = if history.is_empty() {
            self.popular(&seen, k)
                .into_iter()
                .map(|s| Recommendation {
                    index: s.index,
                    score: s.score,
                    cf: 0.0,
                    content: 0.0,
                    popularity: self.popularity_term()[s.index as usize],
                })
                .collect()
        } else if self.content().is_some() {
            let x = self.listener_factor(history)?;
            self.recommend_fused(&x, history, &seen, k, w)
        } else {
            let x = self.fold_in(history)?;
            self.recommend_cf(&x, history, &seen, k)
                .into_iter()
                .map(Recommendation::from)
                .collect()
        };
        let top = top_labels(&self.history_labels(history));
        Ok(recs
            .into_iter()
            .map(|r| Explained {
                rec: r,
                ..self.explain_with(r.index, history, &top)
            })
            .collect())
    }

    pub(crate) fn check_item(&self, i: u32) -> Result<(), Error> {
        if (i as usize) < self.n_items() {
            Ok(())
        } else {
            Err(Error::InvalidInput(format!(
                "item index {i} is out of range (0..{})",
                self.n_items()
            )))
        }
    }

    /// Onboarding picks for someone who named some `genres` and maybe a few
    /// `seeds`: popular items of each genre (by log listeners, pulled
    /// towards the seeds' content when given), taken round-robin across the
    /// genres so every one is represented. Without genres: popular items,
    /// or the seeds' neighbours.
    pub fn cold_start(
        &self,
        genres: &[String],
        seeds: &[u32],
        k: usize,
    ) -> Result<Vec<Scored>, Error> {
        check_k(k)?;
        for &s in seeds {
            self.check_item(s)?;
        }
        let pop = self.popularity();
        let max = pop.listeners.iter().copied().max().unwrap_or(0);
        let seed_sim = match (self.content(), seeds.is_empty()) {
            (Some(c), false) => {
                let q = c.centroid(&seeds.iter().map(|&s| (s, 1.0)).collect::<Vec<_>>());
                Some(self.content_cosines(&q))
            }
            _ => None,
        };
        let score = |i: usize| {
            let p = 1.0 - pop.penalty_with_max(i, max);
            let p = 1.0 - p; // log-popularity in [0, 1]
            p + seed_sim.as_ref().map_or(0.0, |s| 2.0 * s[i])
        };
        let genres: Vec<&String> = genres.iter().filter(|g| !g.trim().is_empty()).collect();
        if genres.is_empty() {
            let cands = (0..self.n_items())
                .filter(|i| !seeds.contains(&(*i as u32)))
                .map(|i| Scored {
                    index: i as u32,
                    score: score(i),
                })
                .collect();
            return Ok(top_k(cands, k));
        }
        let c = self.content().ok_or_else(|| {
            Error::InvalidInput("this bundle has no labels to pick genres from".into())
        })?;
        let lists: Vec<Vec<Scored>> = genres
            .iter()
            .map(|g| {
                let cands = (0..self.n_items())
                    .filter(|&i| c.has_label(i, g) && !seeds.contains(&(i as u32)))
                    .map(|i| Scored {
                        index: i as u32,
                        score: score(i),
                    })
                    .collect();
                top_k(cands, k)
            })
            .collect();
        if lists.iter().all(Vec::is_empty) {
            let names: Vec<&str> = genres.iter().map(|g| g.as_str()).collect();
            return Err(Error::InvalidInput(format!(
                "no item carries any of the genres {names:?}"
            )));
        }
        let mut out: Vec<Scored> = Vec::with_capacity(k);
        for r in 0..k {
            for l in &lists {
                if let Some(s) = l.get(r) {
                    if out.len() < k && !out.iter().any(|o| o.index == s.index) {
                        out.push(*s);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Content cosine of `q` with every item.
    pub fn content_cosines(&self, q: &ContentQuery) -> Vec<f32> {
        match self.content() {
            Some(c) => c.cosines(q, self.content_norms(), false),
            None => vec![0.0; self.n_items()],
        }
    }

    /// A playlist continuing `seeds`. Relevance: half the cosine to the
    /// seeds' centroid, half the mean of each item's three best cosines to
    /// single seeds (a playlist has corners a centroid blurs). The 200 most
    /// relevant items (seeds and `exclude` left out) are then ordered by
    /// maximal marginal relevance, `(1 − λ)·relevance − λ·max similarity
    /// to what is already picked`: `λ` is the weight of diversity
    /// ([`AUTOFILL_LAMBDA`] = 0.3), so the list does not repeat one corner.
    pub fn autofill(
        &self,
        seeds: &[u32],
        exclude: &[u32],
        k: usize,
        lambda: f32,
    ) -> Result<Vec<Scored>, Error> {
        check_k(k)?;
        if seeds.is_empty() {
            return Err(Error::InvalidInput(
                "autofill needs at least one seed item".into(),
            ));
        }
        if !(0.0..=1.0).contains(&lambda) {
            return Err(Error::InvalidInput(format!(
                "autofill's diversity weight must be between 0 and 1, got {lambda}"
            )));
        }
        for &s in seeds.iter().chain(exclude) {
            self.check_item(s)?;
        }
        let c = self.content().ok_or_else(|| {
            Error::InvalidInput("this bundle has no content vectors to autofill from".into())
        })?;
        let rel = self.playlist_relevance(seeds);
        let cands: Vec<Scored> = top_k(
            (0..self.n_items() as u32)
                .filter(|i| !seeds.contains(i) && !exclude.contains(i))
                .map(|i| Scored {
                    index: i,
                    score: rel[i as usize],
                })
                .collect(),
            200,
        );
        let vecs: Vec<(ContentQuery, f32)> = cands
            .iter()
            .map(|s| {
                let v = c.item_query(s.index as usize);
                let w2 = c.audio_weight * c.audio_weight;
                let n = (dot(&v.text, &v.text) + w2 * dot(&v.audio, &v.audio)).sqrt();
                (v, n.max(1e-12))
            })
            .collect();
        let sim = |a: usize, b: usize| {
            let (va, na) = &vecs[a];
            let (vb, nb) = &vecs[b];
            let w2 = c.audio_weight * c.audio_weight;
            (dot(&va.text, &vb.text) + w2 * dot(&va.audio, &vb.audio)) / (na * nb)
        };
        let mut picked: Vec<usize> = Vec::with_capacity(k);
        let mut max_sim = vec![f32::NEG_INFINITY; cands.len()];
        while picked.len() < k.min(cands.len()) {
            let mut best: Option<(usize, f32)> = None;
            for (j, s) in cands.iter().enumerate() {
                if picked.contains(&j) {
                    continue;
                }
                let div = if picked.is_empty() { 0.0 } else { max_sim[j] };
                let m = (1.0 - lambda) * s.score - lambda * div;
                if best.is_none_or(|(_, b)| m > b) {
                    best = Some((j, m));
                }
            }
            let Some((j, m)) = best else { break };
            picked.push(j);
            for (o, ms) in max_sim.iter_mut().enumerate() {
                *ms = ms.max(sim(o, j));
            }
            let _ = m;
        }
        Ok(picked
            .into_iter()
            .map(|j| Scored {
                index: cands[j].index,
                score: cands[j].score,
            })
            .collect())
    }

    /// Every item's cosine to the seeds' centroid, each seed counting once
    /// whatever its vector's length (plain KNN of a playlist).
    pub fn seeds_cosines(&self, seeds: &[u32]) -> Vec<f32> {
        let Some(c) = self.content() else {
            return vec![0.0; self.n_items()];
        };
        let norms = &self.content_norms().full;
        let unit: Vec<(u32, f32)> = seeds
            .iter()
            .filter(|&&s| norms[s as usize] > 0.0)
            .map(|&s| (s, 1.0 / norms[s as usize]))
            .collect();
        self.content_cosines(&c.centroid(&unit))
    }

    /// How well each item continues a playlist of `seeds`: ½ cosine to
    /// their centroid + ½ mean of its three best cosines to single seeds
    /// (its best one for one or two seeds). On the Spotify playlists this
    /// finds 12% more of the held-out half than the centroid alone
    /// (`timbral playlist-eval`).
    pub fn playlist_relevance(&self, seeds: &[u32]) -> Vec<f32> {
        let Some(c) = self.content() else {
            return vec![0.0; self.n_items()];
        };
        let mut rel = self.seeds_cosines(seeds);
        let per: Vec<Vec<f32>> = seeds
            .iter()
            .map(|&s| self.content_cosines(&c.item_query(s as usize)))
            .collect();
        let m = per.len().min(3);
        let mut best = vec![f32::NEG_INFINITY; m];
        for (i, r) in rel.iter_mut().enumerate() {
            best.fill(f32::NEG_INFINITY);
            for p in &per {
                let v = p[i];
                if let Some(at) = best.iter().position(|&b| v > b) {
                    best.insert(at, v);
                    best.pop();
                }
            }
            let top = best.iter().sum::<f32>() / m.max(1) as f32;
            *r = 0.5 * *r + 0.5 * top;
        }
        rel
    }

    /// The listener's top labels (tags and genres) with their share of the
    /// history's label weight.
    pub fn taste_summary(&self, history: &[(u32, f32)], n: usize) -> Vec<(String, f32)> {
        let labels = self.history_labels(history);
        let total: f32 = labels.iter().map(|(_, w)| w).sum();
        if total <= 0.0 {
            return Vec::new();
        }
        labels
            .into_iter()
            .take(n)
            .map(|(l, w)| (l, w / total))
            .collect()
    }

    /// Search without the encoder: items whose name or labels contain the
    /// query's words, ranked by how many words match, then popularity.
    pub fn search_text(
        &self,
        query: &str,
        genre: Option<&str>,
        k: usize,
    ) -> Result<Vec<Scored>, Error> {
        check_k(k)?;
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.is_empty() {
            return Err(Error::InvalidInput("the search query is empty".into()));
        }
        let pop = self.popularity();
        let max = pop.listeners.iter().copied().max().unwrap_or(0);
        let c = self.content();
        // The name lowercased and the labels folded, joined by NULs: a word
        // (alphanumeric) is in the text exactly when it is in one of them.
        // Made once, not per query (it was 14 ms a query in Chromium).
        let texts = self.search_texts(|| {
            (0..self.n_items())
                .map(|i| {
                    let mut text = self.item_name(i as u32).to_lowercase();
                    for label in c.map_or(&[][..], |c| &c.labels[i][..]) {
                        text.push('\0');
                        text.push_str(&fold(label));
                    }
                    text
                })
                .collect()
        });
        let cands = (0..self.n_items())
            .filter(|&i| genre.is_none_or(|g| c.is_some_and(|c| c.has_label(i, g))))
            .filter_map(|i| {
                let hits = words
                    .iter()
                    .filter(|w| texts[i].contains(w.as_str()))
                    .count();
                (hits > 0).then(|| Scored {
                    index: i as u32,
                    score: hits as f32 + pop.penalty_with_max(i, max),
                })
            })
            .collect();
        Ok(top_k(cands, k))
    }
}

pub use crate::taste::profile::{Feedback, Profile, LIKE_PLAYS, PROFILE_MAGIC, PROFILE_VERSION};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::with_content;

    #[test]
    fn feedback_changes_the_profile_and_round_trips() {
        let m = Model::from_parts(with_content()).unwrap();
        let mut p = Profile::default();
        p.add(&m, 0, 3.0).unwrap();
        p.feedback(&m, 1, Feedback::Like).unwrap();
        p.feedback(&m, 0, Feedback::Dislike).unwrap();
        p.feedback(&m, 2, Feedback::Skip).unwrap();
        assert_eq!(p.history(&m), vec![(1, LIKE_PLAYS)]);
        assert_eq!(p.excluded(&m), vec![0, 2]);
        let back = Profile::from_bytes(&p.to_bytes()).unwrap();
        assert_eq!(back, p);
        assert!(Profile::from_bytes(b"garbage!!").is_err());
        let mut newer = p.to_bytes();
        newer[8] = 9;
        assert!(Profile::from_bytes(&newer)
            .unwrap_err()
            .to_string()
            .contains("version 9"));
        assert!(p.feedback(&m, 99, Feedback::Like).is_err());
        assert!("love".parse::<Feedback>().is_err());
    }

    #[test]
    fn k_outside_the_range_is_refused() {
        let m = Model::from_parts(with_content()).unwrap();
        assert!(m.recommend_explained(&[(0, 1.0)], &[], 0, None).is_err());
        assert!(m.recommend_explained(&[(0, 1.0)], &[], 201, None).is_err());
        assert!(m.search_text("  ", None, 5).is_err());
        assert!(m.autofill(&[], &[], 5, 0.3).is_err());
    }

    #[test]
    fn explanations_name_history_items_and_shared_tags() {
        let m = Model::from_parts(with_content()).unwrap();
        let recs = m.recommend_explained(&[(0, 5.0)], &[], 2, None).unwrap();
        assert!(!recs.is_empty());
        assert!(recs.iter().all(|r| r.rec.index != 0));
        for r in &recs {
            assert!(r.because.iter().all(|&b| b == 0), "{r:?}");
        }
        let summary = m.taste_summary(&[(0, 5.0), (1, 1.0)], 10);
        let total: f32 = summary.iter().map(|(_, s)| s).sum();
        assert!((total - 1.0).abs() < 1e-5, "{summary:?}");
    }

    #[test]
    fn word_search_matches_names_and_labels_never_across_them() {
        let mut parts = with_content();
        parts.item_names[0] = "Sad Lovers".into();
        let m = Model::from_parts(parts).unwrap();
        let ids = |q: &str| -> Vec<u32> {
            let found = m.search_text(q, None, 5).unwrap();
            found.iter().map(|s| s.index).collect()
        };
        assert_eq!(ids("LOVERS"), [0], "names, whatever the case");
        assert_eq!(ids("jazz"), [0], "labels, folded");
        // Item 0's text is its name and its label "jazz": a word made of
        // the end of one and the start of the other is in neither.
        assert!(ids("loversjazz").is_empty());
        // Two words matched rank above one (then popularity), and a second
        // search reads the same texts.
        assert_eq!(ids("rock jazz lovers"), [0, 1]);
        assert_eq!(ids("rock jazz lovers"), [0, 1]);
    }

    #[test]
    fn autofill_and_cold_start_leave_out_seeds() {
        let m = Model::from_parts(with_content()).unwrap();
        let a = m.autofill(&[0], &[1], 5, 0.3).unwrap();
        assert_eq!(a.iter().map(|s| s.index).collect::<Vec<_>>(), vec![2]);
        let c = m.cold_start(&["rock".into()], &[], 5).unwrap();
        assert_eq!(c.iter().map(|s| s.index).collect::<Vec<_>>(), vec![1]);
        assert!(m.cold_start(&["polka".into()], &[], 5).is_err());
        let t = m.search_text("indie", None, 5).unwrap();
        assert_eq!(t.iter().map(|s| s.index).collect::<Vec<_>>(), vec![1]);
    }
}
