//! What the mood model reads of an item: only what any item may have, so
//! that a catalogue without audio features can be predicted.
//!
//! | group      | columns | value                                              |
//! |------------|---------|----------------------------------------------------|
//! | text       | 384     | the unit MiniLM vector of the item's text          |
//! | labels     | ≤ 512   | TF-IDF of its tags and genres (by `label_key`), unit length |
//! | genres     | ≤ 128   | one-hots of its genres, scaled to unit length      |
//! | popularity | 10      | decile of its popularity rank in its own catalogue |
//! | year       | 9       | decade of release: before 1950, the 1950s … 2020s on |
//! | intercept  | 1       | 1                                                  |
//!
//! Each group has length one (or zero where the item lacks it), so one
//! ridge strength suits them all. The vocabularies are the training
//! catalogue's most frequent labels and genres.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use timbral_core::search::label_key;

use crate::content::ItemMeta;

/// Labels (tags and genres) the bag of labels keeps.
pub const MAX_LABELS: usize = 512;
/// Genres given a one-hot.
pub const MAX_GENRES: usize = 128;
/// Items a label or genre needs to enter a vocabulary.
pub const MIN_ITEMS: usize = 3;
pub const POPULARITY_BUCKETS: usize = 10;
pub const YEAR_BUCKETS: usize = 9;

/// What one item brings.
#[derive(Clone, Debug, Default)]
pub struct ItemInputs {
    /// The unit text vector (empty where the item has no text vector).
    pub text: Vec<f32>,
    /// Tags and genres with their votes ([`ItemMeta::labels`]).
    pub labels: Vec<(String, u32)>,
    pub genres: Vec<String>,
    /// Rank of its popularity in its catalogue, 0 (least) to 1.
    pub popularity: Option<f32>,
    pub year: Option<u16>,
}

impl ItemInputs {
    /// The inputs of item `i`: `meta`, its text vector, its popularity rank.
    pub fn new(meta: &ItemMeta, text: Vec<f32>, popularity: Option<f32>) -> ItemInputs {
        let norm = text.iter().map(|x| x * x).sum::<f32>().sqrt();
        let text = if norm > 0.0 {
            text.iter().map(|x| x / norm).collect()
        } else {
            Vec::new()
        };
        ItemInputs {
            text,
            labels: meta.labels(),
            genres: meta.genres.clone(),
            popularity,
            year: meta.year,
        }
    }
}

/// The columns and how to fill them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    pub text_dim: usize,
    /// Label keys and their inverse document frequencies.
    pub labels: Vec<(String, f32)>,
    /// Genre keys.
    pub genres: Vec<String>,
}

impl Vocabulary {
    /// The vocabulary of a training catalogue.
    pub fn fit(items: &[ItemInputs], text_dim: usize) -> Vocabulary {
        let n = items.len() as f32;
        let count = |keys: &mut dyn Iterator<Item = String>, into: &mut BTreeMap<String, usize>| {
            let mut seen: Vec<String> = keys.collect();
            seen.sort();
            seen.dedup();
            for k in seen.into_iter().filter(|k| !k.is_empty()) {
                *into.entry(k).or_default() += 1;
            }
        };
        let (mut labels, mut genres) = (BTreeMap::new(), BTreeMap::new());
        for it in items {
            count(&mut it.labels.iter().map(|l| label_key(&l.0)), &mut labels);
            count(&mut it.genres.iter().map(|g| label_key(g)), &mut genres);
        }
        // Most frequent first, ties by key: the same vocabulary every run.
        let top = |m: BTreeMap<String, usize>, n_max: usize| -> Vec<(String, usize)> {
            let mut v: Vec<(String, usize)> =
                m.into_iter().filter(|(_, c)| *c >= MIN_ITEMS).collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(n_max);
            v
        };
        Vocabulary {
            text_dim,
            labels: top(labels, MAX_LABELS)
                .into_iter()
                .map(|(k, df)| (k, ((1.0 + n) / (1.0 + df as f32)).ln() + 1.0))
                .collect(),
            genres: top(genres, MAX_GENRES)
                .into_iter()
                .map(|(k, _)| k)
                .collect(),
        }
    }

    /// Columns, the intercept (last) included.
    pub fn width(&self) -> usize {
        self.text_dim
            + self.labels.len()
            + self.genres.len()
            + POPULARITY_BUCKETS
            + YEAR_BUCKETS
            + 1
    }

    /// For each item, whether any of its labels is in the vocabulary.
    pub fn coverage(&self, items: &[ItemInputs]) -> Vec<bool> {
        let index = self.label_index();
        items
            .iter()
            .map(|it| {
                it.labels
                    .iter()
                    .any(|l| index.contains_key(label_key(&l.0).as_str()))
            })
            .collect()
    }

    fn label_index(&self) -> HashMap<&str, usize> {
        self.labels
            .iter()
            .enumerate()
            .map(|(j, (k, _))| (k.as_str(), j))
            .collect()
    }

    /// The rows of `items`, `width()` columns each, row-major.
    pub fn rows(&self, items: &[ItemInputs]) -> Vec<f32> {
        let labels = self.label_index();
        let genres: HashMap<&str, usize> = self
            .genres
            .iter()
            .enumerate()
            .map(|(j, k)| (k.as_str(), j))
            .collect();
        let w = self.width();
        let mut out = vec![0f32; items.len() * w];
        for (it, row) in items.iter().zip(out.chunks_mut(w)) {
            self.fill(it, &labels, &genres, row);
        }
        out
    }

    fn fill(
        &self,
        it: &ItemInputs,
        labels: &HashMap<&str, usize>,
        genres: &HashMap<&str, usize>,
        row: &mut [f32],
    ) {
        if it.text.len() == self.text_dim {
            row[..self.text_dim].copy_from_slice(&it.text);
        }
        let mut at = self.text_dim;
        let top = it.labels.iter().map(|l| l.1).max().unwrap_or(1).max(1) as f32;
        let bag = &mut row[at..at + self.labels.len()];
        for (l, votes) in &it.labels {
            if let Some(&j) = labels.get(label_key(l).as_str()) {
                bag[j] = bag[j].max(*votes as f32 / top * self.labels[j].1);
            }
        }
        unit(bag);
        at += self.labels.len();
        let hot = &mut row[at..at + self.genres.len()];
        for g in &it.genres {
            if let Some(&j) = genres.get(label_key(g).as_str()) {
                hot[j] = 1.0;
            }
        }
        unit(hot);
        at += self.genres.len();
        if let Some(p) = it.popularity {
            let b = ((p.clamp(0.0, 1.0) * POPULARITY_BUCKETS as f32) as usize)
                .min(POPULARITY_BUCKETS - 1);
            row[at + b] = 1.0;
        }
        at += POPULARITY_BUCKETS;
        if let Some(y) = it.year.filter(|&y| y > 0) {
            row[at + year_bucket(y)] = 1.0;
        }
        at += YEAR_BUCKETS;
        row[at] = 1.0;
    }
}

/// Before 1950 → 0, the 1950s → 1, … the 2020s and later → 8.
pub fn year_bucket(year: u16) -> usize {
    (year.saturating_sub(1940) as usize / 10).clamp(0, YEAR_BUCKETS - 1)
}

fn unit(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Each value's rank among the known ones, 0 (smallest) to 1; ties share
/// the mean of their ranks, so equal popularity gets an equal bucket.
pub fn ranks(values: &[Option<f32>]) -> Vec<Option<f32>> {
    let mut known: Vec<(f32, usize)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|x| x.is_finite()).map(|x| (x, i)))
        .collect();
    known.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out = vec![None; values.len()];
    let last = known.len().saturating_sub(1).max(1) as f32;
    let mut start = 0;
    while start < known.len() {
        let mut end = start;
        while end + 1 < known.len() && known[end + 1].0 == known[start].0 {
            end += 1;
        }
        let r = (start + end) as f32 / 2.0 / last;
        for k in &known[start..=end] {
            out[k.1] = Some(r);
        }
        start = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(labels: &[(&str, u32)], genres: &[&str], year: Option<u16>) -> ItemInputs {
        ItemInputs {
            text: vec![0.0, 1.0],
            labels: labels.iter().map(|(l, v)| (l.to_string(), *v)).collect(),
            genres: genres.iter().map(|g| g.to_string()).collect(),
            popularity: Some(0.95),
            year,
        }
    }

    #[test]
    fn rows_have_one_unit_group_each() {
        let items: Vec<ItemInputs> = (0..4)
            .map(|_| item(&[("Hip-Hop", 9), ("chill", 3)], &["rap"], Some(1987)))
            .collect();
        let v = Vocabulary::fit(&items, 2);
        assert_eq!(v.labels.len(), 2);
        assert_eq!(v.genres, vec![label_key("rap")]);
        let rows = v.rows(&items[..1]);
        assert_eq!(rows.len(), v.width());
        let labels = &rows[2..4];
        assert!((labels.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        // "hip hop" is the heavier label: the larger TF-IDF.
        let hip = v
            .labels
            .iter()
            .position(|l| l.0 == label_key("hip hop"))
            .unwrap();
        assert!(labels[hip] > labels[1 - hip]);
        let pop = 2 + 2 + 1;
        assert_eq!(rows[pop + 9], 1.0, "popularity .95 → the top decile");
        assert_eq!(rows[pop + 10 + year_bucket(1987)], 1.0);
        assert_eq!(year_bucket(1987), 4);
        assert_eq!(year_bucket(1900), 0);
        assert_eq!(year_bucket(2024), 8);
        assert_eq!(*rows.last().unwrap(), 1.0);
    }

    #[test]
    fn ranks_share_ties_and_skip_the_unknown() {
        let r = ranks(&[Some(5.0), None, Some(1.0), Some(5.0), Some(9.0)]);
        assert_eq!(r, vec![Some(0.5), None, Some(0.0), Some(0.5), Some(1.0)]);
        assert_eq!(ranks(&[Some(3.0)]), vec![Some(0.0)]);
    }
}
