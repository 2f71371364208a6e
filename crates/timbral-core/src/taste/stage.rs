//! Stages: how much the recommender trusts what it knows of a listener,
//! and every threshold that decides it, in one table.

use serde::{Deserialize, Serialize};

/// The strategy a listener (or one of their tastes) is served by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Nothing liked yet: popular picks, diverse in artist and cluster.
    ColdStart,
    /// A few likes: less popular picks near the tastes, 80% from strong
    /// tastes and 20% from weak ones or unexplored clusters.
    Fallback,
    /// Enough feedback: cosine to each taste's centroid, audio match,
    /// dislike-aware penalties.
    Ranking,
    /// A taste with enough likes and negatives gets its own classifier.
    ModelBased,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::ColdStart => "cold_start",
            Stage::Fallback => "fallback",
            Stage::Ranking => "ranking",
            Stage::ModelBased => "model_based",
        }
    }

    pub const ALL: [Stage; 4] = [
        Stage::ColdStart,
        Stage::Fallback,
        Stage::Ranking,
        Stage::ModelBased,
    ];
}

/// Every threshold of the staged recommender. One table, so a change of
/// policy is one edit; `STAGES` is the one in use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageTable {
    /// Most tastes a listener keeps; a like that fits none of a full set
    /// joins the nearest.
    pub max_tastes: usize,
    /// A like joins the nearest taste its genre cluster started when its
    /// cosine to that one's centroid is at least this (0: a like of the
    /// same cluster joins unless it points away) …
    pub join_cosine_same_cluster: f32,
    /// … else the nearest taste when its cosine to it is at least this and
    /// the like's cluster and the one that started the taste have at least
    /// `join_affinity` (how often they share an item, 0..1).
    pub join_cosine: f32,
    pub join_affinity: f32,
    /// A disliked item counts this much against its taste's centroid (a
    /// like counts 1; a skip counts `skip_weight` of a dislike).
    pub dislike_weight: f32,
    pub skip_weight: f32,
    /// Items at least this close (cosine) to a disliked one are penalised,
    /// linearly up to `dislike_penalty` at cosine 1.
    pub near_dislike: f32,
    pub dislike_penalty: f32,
    /// Confidence = (1 − e^(−likes / confidence_likes)) · (likes + 1) /
    /// (likes + dislikes + skip_weight · skips + 2).
    pub confidence_likes: f32,
    /// Below this many interactions, or while no taste is this confident,
    /// a listener with likes is in fallback.
    pub fallback_interactions: u32,
    pub strong_confidence: f32,
    /// Fallback's share for weak tastes and unexplored clusters.
    pub fallback_explore: f32,
    /// Ranking's and model-based's exploration share: half (rounded
    /// down, at least one slot) for the weakest or inactive tastes, the
    /// rest for clusters no taste covers …
    pub explore: f32,
    /// … and the share while some cluster no taste covers is unprobed: a
    /// listener's other taste is found sooner, and the share falls back
    /// once every cluster has been tried. Half: every cluster costs one
    /// probe whatever the share, so a larger share spends the same slots
    /// sooner, and a genre first turned down (a probe from the wrong corner
    /// of it waits until every unprobed one has had its turn) gets its
    /// second probe rounds earlier.
    pub explore_unprobed: f32,
    /// A cluster counts as probed once what the listener rated of it weighs
    /// this much (a like or dislike 1, a skip `skip_weight`): one skip says
    /// "not this one", not "not this genre", so the genre stays open.
    pub probed_after: f32,
    /// How much a like of a cluster no taste covers counts for probing it
    /// again, against a dislike's 1.
    pub like_credit: f32,
    /// A cluster with fewer items left than this many lists' worth is
    /// probed as late as one turned down once: a taste there could not
    /// hold its share of the lists for long, and one probe each of a
    /// catalogue's dozen niches would push back the second probes that
    /// genres first tried from the wrong corner need. The share stays at
    /// `explore_unprobed` until the small ones have had their turn too.
    pub probe_min_lists: usize,
    /// A weak taste with at least `weak_tries` interactions and a
    /// confidence under `weak_confidence` gets no more exploration slots.
    pub weak_tries: u32,
    pub weak_confidence: f32,
    /// In ranking and model-based, tastes at least this confident share
    /// the list evenly; the others only get exploration slots.
    pub active_confidence: f32,
    /// Fallback ranks by `cos − fallback_popularity · log-popularity`.
    pub fallback_popularity: f32,
    /// Weight of the genre-cluster overlap of an item with a taste.
    pub cluster_weight: f32,
    /// A taste ranks only items whose main genre cluster holds at least
    /// this share of its likes.
    pub taste_genre_share: f32,
    /// Weight of the audio match in ranking.
    pub audio_weight: f32,
    /// Weight of the fused CF + content score of the listener's play
    /// history, where there is one.
    pub history_weight: f32,
    /// A taste gets a model once it has this many likes and negatives.
    pub model_likes: u32,
    pub model_negatives: u32,
    /// Boosting competes with logistic regression from this many samples
    /// (likes, negatives and sampled negatives together).
    pub boost_samples: usize,
    /// A taste's model is retrained after this many new interactions.
    pub retrain_every: u32,
    /// Candidates per taste a model re-ranks (nearest by ranking score).
    pub model_candidates: usize,
    /// Sampled negatives per like.
    pub sampled_per_like: usize,
    /// How much a sampled negative weighs next to a dislike.
    pub sampled_weight: f32,
}

/// The table in use. Chosen on the simulator (`timbral simulate`) on both
/// the HetRec artists and the Spotify songs; see the closing note of the
/// tastes issue for the curves.
pub const STAGES: StageTable = StageTable {
    max_tastes: 5,
    join_cosine_same_cluster: 0.0,
    join_cosine: 0.65,
    join_affinity: 0.2,
    dislike_weight: 0.3,
    skip_weight: 0.5,
    near_dislike: 0.7,
    dislike_penalty: 0.3,
    confidence_likes: 4.0,
    fallback_interactions: 10,
    strong_confidence: 0.4,
    fallback_explore: 0.2,
    explore: 0.2,
    explore_unprobed: 0.5,
    probed_after: 1.0,
    like_credit: 2.0,
    probe_min_lists: 4,
    weak_tries: 4,
    weak_confidence: 0.1,
    active_confidence: 0.15,
    fallback_popularity: 0.15,
    cluster_weight: 0.3,
    taste_genre_share: 0.1,
    audio_weight: 0.3,
    history_weight: 0.15,
    model_likes: 6,
    model_negatives: 4,
    boost_samples: 60,
    retrain_every: 5,
    model_candidates: 300,
    sampled_per_like: 2,
    sampled_weight: 0.5,
};

impl StageTable {
    pub fn confidence(&self, likes: u32, dislikes: u32, skips: u32) -> f32 {
        let l = likes as f32;
        let evidence = 1.0 - libm::expf(-l / self.confidence_likes);
        let precision = (l + 1.0) / (l + dislikes as f32 + self.skip_weight * skips as f32 + 2.0);
        evidence * precision
    }

    /// A listener's stage: cold start without a like; fallback while there
    /// are few interactions or no confident taste; model-based once a taste
    /// has a model; ranking otherwise.
    pub fn listener_stage(
        &self,
        likes: u32,
        interactions: u32,
        best_confidence: f32,
        any_model: bool,
    ) -> Stage {
        if likes == 0 {
            Stage::ColdStart
        } else if interactions < self.fallback_interactions
            || best_confidence < self.strong_confidence
        {
            Stage::Fallback
        } else if any_model {
            Stage::ModelBased
        } else {
            Stage::Ranking
        }
    }
}

/// Splits `k` slots over `n` groups as evenly as possible, the first
/// groups taking the remainder.
pub fn even_split(k: usize, n: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    (0..n).map(|g| k / n + usize::from(g < k % n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_follows_likes_interactions_confidence_and_models() {
        let t = STAGES;
        assert_eq!(t.listener_stage(0, 30, 0.0, false), Stage::ColdStart);
        assert_eq!(t.listener_stage(2, 4, 0.9, false), Stage::Fallback);
        assert_eq!(t.listener_stage(8, 20, 0.1, false), Stage::Fallback);
        assert_eq!(t.listener_stage(8, 20, 0.6, false), Stage::Ranking);
        assert_eq!(t.listener_stage(8, 20, 0.6, true), Stage::ModelBased);
    }

    #[test]
    fn confidence_grows_with_likes_and_falls_with_dislikes() {
        let t = STAGES;
        assert!(t.confidence(1, 0, 0) < t.confidence(6, 0, 0));
        assert!(t.confidence(6, 6, 0) < t.confidence(6, 0, 0));
        assert!(t.confidence(6, 0, 6) > t.confidence(6, 6, 0));
        assert_eq!(t.confidence(0, 0, 0), 0.0);
        assert!(t.confidence(1000, 0, 0) <= 1.0);
    }

    #[test]
    fn slots_split_evenly() {
        assert_eq!(even_split(10, 3), vec![4, 3, 3]);
        assert_eq!(even_split(2, 3), vec![1, 1, 0]);
        assert!(even_split(5, 0).is_empty());
    }
}
