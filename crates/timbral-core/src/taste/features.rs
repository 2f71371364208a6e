//! What a taste's classifier sees of an item, and how it is trained.
//!
//! Features: the item's leading content axes (the content sketch's rank-32
//! coordinates where the bundle has one, else its first 32 vector
//! dimensions), its cosine to the taste's centroid, its nearest like and
//! nearest dislike in the taste, its nine audio features over their ranges,
//! its log-popularity and its share of the taste's main cluster. A member
//! of the taste is featurised *without itself* (leave-one-out), so a like
//! is not trivially near a centroid it is part of.

use super::learn::{auc, log_loss, BoostParams, Boosted, Logistic, Samples};
use super::profile::{Taste, TasteModel, TrainedModel};
use super::space::{audio01, Centroid, Space};
use super::stage::StageTable;
use crate::model::Model;

/// Leading content axes a classifier sees.
pub const AXES: usize = 32;

/// A fingerprint of a bundle's feature space: a model trained on one
/// bundle is not used with another (it is retrained instead).
pub fn space_fingerprint(model: &Model) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&(model.n_items() as u64).to_le_bytes());
    h.update(&(feature_dim(model) as u64).to_le_bytes());
    for i in 0..model.n_items().min(64) {
        h.update(model.item_id(i as u32).as_bytes());
        for v in axes_of(model, i) {
            h.update(&v.to_le_bytes());
        }
    }
    h.finalize()
}

fn axes_of(model: &Model, i: usize) -> Vec<f32> {
    let n_axes = |dim: usize| dim.min(AXES);
    if let Some(s) = &model.parts().content_sketch {
        let mut v = s.coords.dequantize_row(i);
        v.truncate(n_axes(v.len()));
        v
    } else if let Some(c) = model.content() {
        let mut v = c.unit_row(i, model.content_norms());
        v.truncate(n_axes(v.len()));
        v
    } else {
        let mut v = model.parts().item_factors.dequantize_row(i);
        v.truncate(n_axes(v.len()));
        v
    }
}

/// The number of features [`Featurizer::row`] gives for `model`.
pub fn feature_dim(model: &Model) -> usize {
    axes_of(model, 0).len() + 14
}

/// One taste's view of items, for its classifier.
pub struct Featurizer<'a> {
    space: &'a Space<'a>,
    likes: Vec<u32>,
    negatives: Vec<u32>,
    /// Sum of the unit vectors of the likes and of the negatives, with the
    /// centroid weights, so a member's own contribution can be removed.
    members: Vec<(u32, f32)>,
    main_cluster: Option<u16>,
    max_listeners: u32,
}

impl<'a> Featurizer<'a> {
    pub fn new(space: &'a Space<'a>, taste: &Taste, t: &StageTable) -> Self {
        let model = space.model;
        let ids = |v: &[String]| -> Vec<u32> {
            v.iter()
                .filter_map(|id| model.item_index(id).ok())
                .collect()
        };
        let likes = ids(&taste.liked);
        let mut negatives = ids(&taste.disliked);
        negatives.extend(ids(&taste.skipped));
        let clusters = model.item_clusters();
        let mut share = vec![0f32; clusters.len()];
        for &i in &likes {
            for &(c, s) in &clusters.dist[i as usize] {
                share[c as usize] += s;
            }
        }
        let main_cluster = (0..share.len())
            .max_by(|&a, &b| share[a].total_cmp(&share[b]).then(b.cmp(&a)))
            .filter(|&c| share[c] > 0.0)
            .map(|c| c as u16);
        Featurizer {
            space,
            likes,
            negatives,
            members: taste.members(model, t),
            main_cluster,
            max_listeners: model
                .popularity()
                .listeners
                .iter()
                .copied()
                .max()
                .unwrap_or(0),
        }
    }

    fn centroid_without(&self, i: u32) -> Option<Centroid> {
        let m: Vec<(u32, f32)> = self
            .members
            .iter()
            .copied()
            .filter(|&(j, _)| j != i)
            .collect();
        self.space.centroid(&m)
    }

    /// Item `i`'s features. `centroid` is the taste's (computed once by
    /// the caller), used unless `i` is a member.
    pub fn row(&self, i: u32, centroid: Option<&Centroid>) -> Vec<f32> {
        let model = self.space.model;
        let mut x = axes_of(model, i as usize);
        let member = self.members.iter().any(|&(j, _)| j == i);
        let own;
        let c = if member {
            own = self.centroid_without(i);
            own.as_ref()
        } else {
            centroid
        };
        x.push(c.map_or(0.0, |c| self.space.cosine(c, i)));
        let nearest = |set: &[u32]| {
            set.iter()
                .filter(|&&j| j != i)
                .map(|&j| self.space.pair(i, j))
                .fold(0f32, f32::max)
        };
        x.push(nearest(&self.likes));
        x.push(nearest(&self.negatives));
        x.extend(audio01(model, i as usize).unwrap_or([0.5; 9]));
        // Log-popularity in [0, 1] (what fusion calls the penalty).
        x.push(
            model
                .popularity()
                .penalty_with_max(i as usize, self.max_listeners),
        );
        x.push(
            self.main_cluster
                .map_or(0.0, |c| model.item_clusters().share(i as usize, c)),
        );
        x
    }
}

/// A deterministic stream of item indices (splitmix64), for sampled
/// negatives: the same taste at the same point samples the same items.
fn sample_items(seed: u64, n: usize, count: usize, skip: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut s = seed;
    let mut out = Vec::with_capacity(count);
    let mut tries = 0;
    while out.len() < count && tries < count * 20 && n > 0 {
        tries += 1;
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let i = (z % n as u64) as u32;
        if !skip(i) && !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Whether a taste has enough feedback for a model.
pub fn wants_model(taste: &Taste, t: &StageTable) -> bool {
    taste.liked.len() as u32 >= t.model_likes
        && (taste.disliked.len() + taste.skipped.len()) as u32 >= t.model_negatives
}

/// Trains a taste's classifier: likes (1) against its dislikes, skips and
/// sampled negatives (0). Logistic regression first; from
/// `boost_samples` samples a booster competes and the better held-out AUC
/// wins (every 5th sample is held out; the booster also stops early on
/// it). The chosen model is the one fitted on the rest.
pub fn train(space: &Space<'_>, taste: &Taste, t: &StageTable) -> Option<TrainedModel> {
    if !wants_model(taste, t) {
        return None;
    }
    let model = space.model;
    let f = Featurizer::new(space, taste, t);
    let centroid = space.centroid(&f.members);
    let clusters = model.item_clusters();
    let mut s = Samples::new(feature_dim(model));
    let known = |ids: &[String]| -> Vec<u32> {
        ids.iter()
            .filter_map(|id| model.item_index(id).ok())
            .collect()
    };
    let liked = known(&taste.liked);
    let disliked = known(&taste.disliked);
    let skipped = known(&taste.skipped);
    let seed = u64::from(taste.id) << 32 | u64::from(taste.interactions());
    let sampled = sample_items(
        seed,
        model.n_items(),
        liked.len() * t.sampled_per_like,
        |i| {
            !clusters.pooled[i as usize]
                || liked.contains(&i)
                || disliked.contains(&i)
                || skipped.contains(&i)
        },
    );
    // Interleaved so the held-out slice (every 5th) holds every kind.
    let mut rows: Vec<(u32, f32, f32)> = Vec::new();
    let longest = liked
        .len()
        .max(disliked.len())
        .max(skipped.len())
        .max(sampled.len());
    for j in 0..longest {
        if let Some(&i) = liked.get(j) {
            rows.push((i, 1.0, 1.0));
        }
        if let Some(&i) = disliked.get(j) {
            rows.push((i, 0.0, 1.0));
        }
        if let Some(&i) = skipped.get(j) {
            rows.push((i, 0.0, t.skip_weight));
        }
        if let Some(&i) = sampled.get(j) {
            rows.push((i, 0.0, t.sampled_weight));
        }
    }
    for &(i, y, w) in &rows {
        s.push(&f.row(i, centroid.as_ref()), y, w);
    }
    let (fit, held) = s.split(5, 2);
    let score = |m: &TasteModel| -> (f32, f32) {
        let p: Vec<f32> = (0..held.len()).map(|i| m.predict(held.row(i))).collect();
        (auc(&p, &held.y), log_loss(&p, &held.y))
    };
    let logistic = TasteModel::Logistic(Logistic::fit(&fit));
    let (l_auc, l_loss) = score(&logistic);
    let mut chosen = (logistic, l_auc, l_loss);
    let mut boosted_auc = None;
    if s.len() >= t.boost_samples {
        let b = TasteModel::Boosted(Boosted::fit(&fit, &held, BoostParams::default()));
        let (b_auc, b_loss) = score(&b);
        boosted_auc = Some(b_auc);
        if b_auc > l_auc {
            chosen = (b, b_auc, b_loss);
        }
    }
    Some(TrainedModel {
        model: chosen.0,
        space: space_fingerprint(model),
        at: taste.interactions(),
        samples: s.len() as u32,
        auc: chosen.1,
        log_loss: chosen.2,
        logistic_auc: l_auc,
        boosted_auc,
    })
}

/// Trains a classifier for a taste of exactly these members (ids), as a
/// listener's taste would be: what an app that keeps its own tastes calls,
/// and what the bench times. `None` when there is too little to train on
/// (fewer than the table's likes and negatives).
pub fn train_members(model: &Model, liked: &[String], disliked: &[String]) -> Option<TrainedModel> {
    let taste = Taste {
        liked: liked.to_vec(),
        disliked: disliked.to_vec(),
        ..Taste::default()
    };
    train(&Space::new(model), &taste, &super::stage::STAGES)
}
