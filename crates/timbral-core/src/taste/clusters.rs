//! The `genre_clusters` section: the catalogue's genres and tags grouped
//! into a few semantic clusters (the trainer embeds the label names with
//! MiniLM and clusters them, `timbral_train::genre_clusters`), each named by
//! its leading labels. Tastes are described, seeded and kept diverse by
//! cluster; a few genres (ambient, white noise, sleep, …) are kept out of
//! recommendation pools altogether.
//!
//! A bundle without the section (older ones, or trained without the
//! encoder) still gets clusters: each item's heaviest label is its cluster.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::search::label_key;

/// Genres whose items are kept out of recommendation pools by default, as
/// seed 001 does: background sound rather than music someone picks.
/// `timbral train --exclude-genres` replaces the list.
pub const DEFAULT_EXCLUDED: [&str; 8] = [
    "ambient",
    "white noise",
    "background",
    "background music",
    "sleep",
    "nature sounds",
    "rain sounds",
    "meditation",
];

/// How much one of an item's labels counts towards its clusters (and, in
/// the trainer, towards the label's weight in the catalogue): `ln(1 +
/// votes) + ½`, so a catalogue's one-vote genre still counts.
pub fn label_weight(votes: u32) -> f32 {
    crate::linalg::ln_1p(votes as f32) + 0.5
}

/// The section as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GenreClusters {
    /// Each cluster's name: its leading labels, "metal / thrash metal / …".
    pub names: Vec<String>,
    /// (label key, cluster), sorted by key, keys unique.
    pub labels: Vec<(String, u16)>,
    /// Label keys whose items stay out of recommendation pools, sorted.
    pub excluded: Vec<String>,
    /// How k was chosen: every k tried with its criterion value (mean
    /// silhouette of the label embeddings), so `inspect` can show it.
    pub criterion: Vec<(u16, f32)>,
}

impl GenreClusters {
    pub fn validate(&self) -> Result<(), String> {
        if self.names.is_empty() || self.names.len() > u16::MAX as usize {
            return Err(format!("{} clusters (1..=65535)", self.names.len()));
        }
        if let Some(w) = self.labels.windows(2).find(|w| w[0].0 >= w[1].0) {
            return Err(format!(
                "labels not sorted and unique at `{}`, `{}`",
                w[0].0, w[1].0
            ));
        }
        if let Some((l, c)) = self
            .labels
            .iter()
            .find(|(_, c)| *c as usize >= self.names.len())
        {
            return Err(format!(
                "label `{l}` in cluster {c} of {}",
                self.names.len()
            ));
        }
        if self.excluded.windows(2).any(|w| w[0] >= w[1]) {
            return Err("excluded labels not sorted and unique".into());
        }
        Ok(())
    }

    /// The cluster of a label, by its key.
    pub fn cluster_of(&self, label: &str) -> Option<u16> {
        let k = label_key(label);
        self.labels
            .binary_search_by(|(l, _)| l.as_str().cmp(&k))
            .ok()
            .map(|at| self.labels[at].1)
    }
}

/// Keys of the default excluded genres, sorted: what the trainer stores
/// unless told otherwise.
pub fn excluded_keys(genres: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = genres.iter().map(|g| label_key(g)).collect();
    v.sort();
    v.dedup();
    v.retain(|k| !k.is_empty());
    v
}

/// Every item's clusters, derived once per model from its labels.
#[derive(Debug, Default)]
pub struct ItemClusters {
    pub names: Vec<String>,
    /// Per item: up to three (cluster, share), heaviest first, shares
    /// summing to 1; empty for an item without labels.
    pub dist: Vec<Vec<(u16, f32)>>,
    /// Per item: whether it may be recommended (not an excluded genre).
    pub pooled: Vec<bool>,
    /// How often two clusters share an item: the cosine of their share
    /// vectors over the items, k × k row-major (empty past
    /// `MAX_AFFINITY_CLUSTERS`). Contradictory genres rarely meet on one
    /// item; exploration probes the clusters least like a listener's first.
    affinity: Vec<f32>,
}

/// Clusters past this many (a bundle without the section, where every
/// heaviest label is a cluster) get no affinity table.
const MAX_AFFINITY_CLUSTERS: usize = 512;

impl ItemClusters {
    /// The heaviest cluster of item `i`.
    pub fn primary(&self, i: usize) -> Option<u16> {
        self.dist[i].first().map(|&(c, _)| c)
    }

    /// Item `i`'s share of cluster `c` (0 when it has none).
    pub fn share(&self, i: usize, c: u16) -> f32 {
        self.dist[i]
            .iter()
            .find(|&&(x, _)| x == c)
            .map_or(0.0, |&(_, s)| s)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// The affinity of clusters `a` and `b` in [0, 1] (0 without a table).
    pub fn affinity(&self, a: u16, b: u16) -> f32 {
        let k = self.names.len();
        if a as usize >= k || b as usize >= k {
            return 0.0;
        }
        self.affinity
            .get(a as usize * k + b as usize)
            .copied()
            .unwrap_or(0.0)
    }

    fn affinities(names: usize, dist: &[Vec<(u16, f32)>]) -> Vec<f32> {
        if names > MAX_AFFINITY_CLUSTERS {
            return Vec::new();
        }
        let mut m = vec![0f32; names * names];
        for d in dist {
            for &(a, x) in d {
                for &(b, y) in d {
                    m[a as usize * names + b as usize] += x * y;
                }
            }
        }
        let norm: Vec<f32> = (0..names)
            .map(|a| m[a * names + a].sqrt().max(1e-12))
            .collect();
        for a in 0..names {
            for b in 0..names {
                m[a * names + b] /= norm[a] * norm[b];
            }
        }
        m
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub(crate) fn build(model: &Model) -> ItemClusters {
        let n = model.n_items();
        let Some(content) = model.content() else {
            return ItemClusters {
                names: Vec::new(),
                dist: vec![Vec::new(); n],
                pooled: vec![true; n],
                affinity: Vec::new(),
            };
        };
        let stored = model.parts().genre_clusters.as_ref();
        let excluded: Vec<String> = match stored {
            Some(g) => g.excluded.clone(),
            None => excluded_keys(&DEFAULT_EXCLUDED),
        };
        let mut names = stored.map(|g| g.names.clone()).unwrap_or_default();
        // Without the section: each distinct heaviest label is a cluster.
        let mut ad_hoc: HashMap<String, u16> = HashMap::new();
        let mut dist = Vec::with_capacity(n);
        let mut pooled = Vec::with_capacity(n);
        for i in 0..n {
            let labels = &content.labels[i];
            let votes = &content.label_weights[i];
            let mut shares: Vec<(u16, f32)> = Vec::new();
            let (mut total, mut out_weight) = (0f32, 0f32);
            for (j, l) in labels.iter().enumerate() {
                let w = label_weight(votes.get(j).copied().unwrap_or(1));
                let key = label_key(l);
                total += w;
                if excluded.binary_search(&key).is_ok() {
                    out_weight += w;
                }
                let c = match stored {
                    Some(g) => g.cluster_of(l),
                    None if j == 0 => Some(*ad_hoc.entry(key).or_insert_with(|| {
                        names.push(l.clone());
                        (names.len() - 1) as u16
                    })),
                    None => None,
                };
                if let Some(c) = c {
                    match shares.iter_mut().find(|(x, _)| *x == c) {
                        Some((_, s)) => *s += w,
                        None => shares.push((c, w)),
                    }
                }
            }
            shares.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            shares.truncate(3);
            let sum: f32 = shares.iter().map(|s| s.1).sum();
            shares.iter_mut().for_each(|s| s.1 /= sum.max(1e-12));
            let first_out = labels
                .first()
                .is_some_and(|l| excluded.binary_search(&label_key(l)).is_ok());
            pooled.push(!(first_out || (total > 0.0 && out_weight / total >= 0.4)));
            dist.push(shares);
        }
        let affinity = Self::affinities(names.len(), &dist);
        ItemClusters {
            names,
            dist,
            pooled,
            affinity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_that_share_items_are_kin_and_disjoint_ones_are_not() {
        let dist = vec![
            vec![(0, 0.6), (1, 0.4)],
            vec![(0, 0.5), (1, 0.5)],
            vec![(2, 1.0)],
            vec![(0, 1.0)],
        ];
        let ic = ItemClusters {
            names: vec!["punk".into(), "post-punk".into(), "blues".into()],
            affinity: ItemClusters::affinities(3, &dist),
            dist,
            pooled: vec![true; 4],
        };
        assert!((ic.affinity(0, 0) - 1.0).abs() < 1e-5);
        assert!(ic.affinity(0, 1) > 0.5);
        assert_eq!(ic.affinity(0, 1), ic.affinity(1, 0));
        assert_eq!(ic.affinity(0, 2), 0.0);
        assert_eq!(ic.affinity(1, 5), 0.0);
    }

    #[test]
    fn a_bad_section_is_refused_and_labels_are_found_by_key() {
        let g = GenreClusters {
            names: vec!["hip hop / rap".into(), "metal".into()],
            labels: vec![("hiphop".into(), 0), ("metal".into(), 1), ("rap".into(), 0)],
            excluded: excluded_keys(&DEFAULT_EXCLUDED),
            criterion: vec![(2, 0.4)],
        };
        g.validate().unwrap();
        assert_eq!(g.cluster_of("Hip-Hop"), Some(0));
        assert_eq!(g.cluster_of("hip hop"), Some(0));
        assert_eq!(g.cluster_of("polka"), None);
        let mut bad = g.clone();
        bad.labels.swap(0, 1);
        assert!(bad.validate().unwrap_err().contains("sorted"));
        let mut bad = g.clone();
        bad.labels[1].1 = 7;
        assert!(bad.validate().unwrap_err().contains("cluster 7"));
        let mut bad = g;
        bad.names.clear();
        assert!(bad.validate().is_err());
    }
}
