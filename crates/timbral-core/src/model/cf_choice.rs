//! How the trainer chose the bundle's CF model (the optional `cf_choice`
//! section): the kinds it chose among, every candidate it tried on a
//! validation split of the training plays with its nDCG@10, and what won.
//! Provenance, for `timbral inspect` and for people deciding whether to
//! trust a bundle; no runtime scores by it, and it names no listener. No
//! clock time: the same plays and seed write the same bytes.

use serde::{Deserialize, Serialize};

/// One candidate the tuner scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CfCandidate {
    /// `als`, or the factors blended with an item-item model
    /// (`als+rp3beta`, `als+ease`; a blend of 0 is the neighbours alone).
    pub model: String,
    /// Its hyper-parameters by name, e.g. `regularization`, `alpha`,
    /// `beta`, `lambda`, `blend`.
    pub params: Vec<(String, f32)>,
    /// Validation nDCG@10.
    pub ndcg10: f32,
}

/// The tuner's choice and its validation table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CfChoice {
    /// What it chose among: `auto`, `als`, `als+rp3beta`, `als+ease`.
    pub kinds: String,
    /// What the bundle holds, as `Model::cf_kind` names it.
    pub chosen: String,
    /// Validation nDCG@10 of the choice and of the factors alone.
    pub ndcg10: f32,
    pub factors_ndcg10: f32,
    /// Listeners and plays tuned on (a sample of whole listeners above a
    /// million plays), and validation listeners ranked.
    pub listeners: u64,
    pub plays: u64,
    pub validation_listeners: u64,
    /// Every candidate, in the order tried.
    pub table: Vec<CfCandidate>,
    /// What happened after the choice, e.g. that fusion with content left
    /// the item-item model out.
    pub notes: Vec<String>,
}

impl CfChoice {
    pub(crate) fn validate(&self) -> Result<(), String> {
        let score = |what: &str, s: f32| {
            if (0.0..=1.0).contains(&s) {
                Ok(())
            } else {
                Err(format!("{what}: nDCG@10 {s} outside 0..=1"))
            }
        };
        score("the choice", self.ndcg10)?;
        score("the factors alone", self.factors_ndcg10)?;
        for (n, c) in self.table.iter().enumerate() {
            score(&format!("candidate {n} ({})", c.model), c.ndcg10)?;
            if let Some((name, v)) = c.params.iter().find(|(_, v)| !v.is_finite()) {
                return Err(format!("candidate {n} ({}): {name} = {v}", c.model));
            }
        }
        Ok(())
    }
}
