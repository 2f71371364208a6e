//! The shapes that listener-facing runtimes (the wasm package, the Worker)
//! take in and give out, defined once so the browser and the edge speak the
//! same JSON. Items cross by id (the catalogue's string), never by index.
//! Inputs deny unknown fields: a misspelt option is an error, not a default.

use serde::{Deserialize, Serialize};

use crate::listener::Explained;
use crate::model::Model;
use crate::topk::Scored;
use crate::{Error, FusionWeights};

/// At most this many labels go out with each item.
pub const TAGS_PER_ITEM: usize = 5;

/// An item id as a client sends it: `"289"` or `289`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum ItemId {
    Text(String),
    Number(u64),
}

impl ItemId {
    pub fn as_string(&self) -> String {
        match self {
            ItemId::Text(s) => s.clone(),
            ItemId::Number(n) => n.to_string(),
        }
    }
}

/// One entry of a listener's history.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    pub item: ItemId,
    #[serde(default = "one")]
    pub plays: f32,
}

fn one() -> f32 {
    1.0
}

/// Fusion weights as a client overrides them.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsIn {
    pub alpha: f32,
    pub beta: f32,
    pub gamma: f32,
    pub cold: Option<f32>,
}

impl From<WeightsIn> for FusionWeights {
    fn from(w: WeightsIn) -> Self {
        FusionWeights {
            alpha: w.alpha,
            beta: w.beta,
            gamma: w.gamma,
            cold: w.cold.unwrap_or(1.0),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ItemRef<'a> {
    pub item: &'a str,
    pub name: &'a str,
}

#[derive(Serialize)]
pub struct ScoredItem<'a> {
    pub item: &'a str,
    pub name: &'a str,
    pub score: f32,
    pub tags: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation<'a> {
    /// Standardised parts of the score, before weighting.
    pub cf: f32,
    pub content: f32,
    pub popularity: f32,
    /// The 1–3 history items that support it most.
    pub because: Vec<ItemRef<'a>>,
    pub shared_tags: &'a [String],
}

#[derive(Serialize)]
pub struct RecommendedItem<'a> {
    #[serde(flatten)]
    pub item: ScoredItem<'a>,
    pub explanation: Explanation<'a>,
}

#[derive(Serialize)]
pub struct TasteShare {
    pub label: String,
    pub share: f32,
}

impl Model {
    /// The index of a client's item id; unknown ids are named.
    pub fn resolve(&self, id: &ItemId) -> Result<u32, Error> {
        self.item_index(&id.as_string())
    }

    pub fn resolve_all(&self, ids: &[ItemId]) -> Result<Vec<u32>, Error> {
        ids.iter().map(|id| self.resolve(id)).collect()
    }

    /// A client's history as (index, plays); plays must be finite and ≥ 0.
    pub fn resolve_history(&self, h: &[HistoryEntry]) -> Result<Vec<(u32, f32)>, Error> {
        h.iter()
            .map(|e| {
                if !(e.plays.is_finite() && e.plays >= 0.0) {
                    return Err(Error::InvalidInput(format!(
                        "history: plays for item `{}` must be a finite number ≥ 0",
                        e.item.as_string()
                    )));
                }
                Ok((self.resolve(&e.item)?, e.plays))
            })
            .collect()
    }

    /// The first few labels of item `i`.
    pub fn tags(&self, i: u32) -> &[String] {
        self.content().map_or(&[], |c| {
            let l = &c.labels[i as usize];
            &l[..l.len().min(TAGS_PER_ITEM)]
        })
    }

    pub fn item_ref(&self, i: u32) -> ItemRef<'_> {
        ItemRef {
            item: self.item_id(i),
            name: self.item_name(i),
        }
    }

    pub fn scored_view(&self, s: &Scored) -> ScoredItem<'_> {
        ScoredItem {
            item: self.item_id(s.index),
            name: self.item_name(s.index),
            score: s.score,
            tags: self.tags(s.index),
        }
    }

    pub fn scored_views(&self, list: &[Scored]) -> Vec<ScoredItem<'_>> {
        list.iter().map(|s| self.scored_view(s)).collect()
    }

    pub fn explained_view<'a>(&'a self, r: &'a Explained) -> RecommendedItem<'a> {
        RecommendedItem {
            item: self.scored_view(&Scored {
                index: r.rec.index,
                score: r.rec.score,
            }),
            explanation: Explanation {
                cf: r.rec.cf,
                content: r.rec.content,
                popularity: r.rec.popularity,
                because: r.because.iter().map(|&b| self.item_ref(b)).collect(),
                shared_tags: &r.shared_tags,
            },
        }
    }

    pub fn taste_view(&self, history: &[(u32, f32)], n: usize) -> Vec<TasteShare> {
        self.taste_summary(history, n)
            .into_iter()
            .map(|(label, share)| TasteShare { label, share })
            .collect()
    }

    /// The most common labels among the 500 most popular items: genres to
    /// offer at onboarding.
    pub fn top_genres(&self, n: usize) -> Vec<String> {
        let top: Vec<(u32, f32)> = self
            .popular(&[], 500.min(self.n_items()).max(1))
            .iter()
            .map(|s| (s.index, 0.0))
            .collect();
        self.history_labels(&top)
            .into_iter()
            .take(n)
            .map(|(l, _)| l)
            .collect()
    }
}
