//! A listener's profile, kept on their device: their history (plays, likes),
//! what they disliked and skipped, and their tastes. Saved as magic,
//! version, postcard; version 1 (no tastes) still loads.
//!
//! Items are stored by id, not index, so a profile survives a retrained
//! bundle (unknown ids are skipped, not fatal). A taste stores its members,
//! not its centroid: the centroid is derived from whatever bundle reads it.

use serde::{Deserialize, Serialize};

use super::clusters::ItemClusters;
use super::learn::{Boosted, Logistic};
use super::space::Space;
use super::stage::{StageTable, STAGES};
use crate::model::Model;
use crate::Error;

/// What a listener said about an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feedback {
    Like,
    Dislike,
    Skip,
}

impl std::str::FromStr for Feedback {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "like" => Ok(Feedback::Like),
            "dislike" => Ok(Feedback::Dislike),
            "skip" => Ok(Feedback::Skip),
            _ => Err(Error::InvalidInput(format!(
                "feedback must be \"like\", \"dislike\" or \"skip\", got {s:?}"
            ))),
        }
    }
}

/// Plays a like counts for: about what a track someone returns to gets.
pub const LIKE_PLAYS: f32 = 20.0;

/// Leading bytes of a saved profile.
pub const PROFILE_MAGIC: [u8; 8] = *b"TBRLPRF\0";
/// 2: tastes and the interaction count. 1 still loads (no tastes).
pub const PROFILE_VERSION: u8 = 2;

/// A per-taste classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TasteModel {
    Logistic(Logistic),
    Boosted(Boosted),
}

impl TasteModel {
    pub fn predict(&self, x: &[f32]) -> f32 {
        match self {
            TasteModel::Logistic(m) => m.predict(x),
            TasteModel::Boosted(m) => m.predict(x),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            TasteModel::Logistic(_) => "logistic",
            TasteModel::Boosted(_) => "boosted",
        }
    }
}

/// A taste's trained model and how it did on its held-out slice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    pub model: TasteModel,
    /// Which bundle's feature space it was trained in
    /// ([`super::features::space_fingerprint`]); another bundle retrains.
    pub space: u32,
    /// The taste's interaction count when it was trained.
    pub at: u32,
    pub samples: u32,
    pub auc: f32,
    pub log_loss: f32,
    /// Both candidates' held-out AUC, where boosting competed.
    pub logistic_auc: f32,
    pub boosted_auc: Option<f32>,
}

/// What showed the listener an item they rate: where a like or dislike
/// belongs depends on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shown {
    /// Not known (a search result, a stateless client).
    #[default]
    Unknown,
    /// The staged recommender, for this taste (by id).
    ByTaste(u32),
    /// The staged recommender, probing a genre cluster no taste covers.
    Probe,
}

impl Shown {
    pub fn taste(self) -> Option<u32> {
        match self {
            Shown::ByTaste(t) => Some(t),
            _ => None,
        }
    }
}

/// One of a listener's independent tastes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Taste {
    /// Stable within the profile: explanations name it.
    pub id: u32,
    /// The genre cluster of the like that started it (by name).
    pub cluster: Option<String>,
    pub liked: Vec<String>,
    pub disliked: Vec<String>,
    pub skipped: Vec<String>,
    pub model: Option<TrainedModel>,
}

impl Taste {
    pub fn interactions(&self) -> u32 {
        (self.liked.len() + self.disliked.len() + self.skipped.len()) as u32
    }

    /// The cluster that started it, by index in `clusters` (`None`: it
    /// had none, or this bundle lacks it).
    pub fn seed(&self, clusters: &ItemClusters) -> Option<u16> {
        let name = self.cluster.as_deref()?;
        clusters
            .names
            .iter()
            .position(|x| x == name)
            .map(|c| c as u16)
    }

    pub fn confidence(&self, t: &StageTable) -> f32 {
        t.confidence(
            self.liked.len() as u32,
            self.disliked.len() as u32,
            self.skipped.len() as u32,
        )
    }

    /// Members with their centroid weights: likes `1/L`, dislikes
    /// `−w/D`, skips `−w·s/S` (ids the bundle lacks skipped).
    pub fn members(&self, model: &Model, t: &StageTable) -> Vec<(u32, f32)> {
        let mut out = Vec::new();
        let mut add = |ids: &[String], total: f32| {
            let known: Vec<u32> = ids
                .iter()
                .filter_map(|id| model.item_index(id).ok())
                .collect();
            let w = total / known.len().max(1) as f32;
            out.extend(known.into_iter().map(|i| (i, w)));
        };
        add(&self.liked, 1.0);
        add(&self.disliked, -t.dislike_weight);
        add(&self.skipped, -t.dislike_weight * t.skip_weight);
        out
    }
}

/// A listener's profile.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// (item id, plays): imported history and likes.
    pub items: Vec<(String, f32)>,
    pub disliked: Vec<String>,
    pub skipped: Vec<String>,
    /// Version 2: the listener's tastes, in the order they started.
    pub tastes: Vec<Taste>,
    /// Version 2: feedback events so far (likes, dislikes, skips).
    pub interactions: u32,
}

/// Version 1's layout, read and converted.
#[derive(Deserialize)]
struct ProfileV1 {
    items: Vec<(String, f32)>,
    disliked: Vec<String>,
    skipped: Vec<String>,
}

impl Profile {
    /// Adds plays of an item (a history import, an onboarding pick).
    pub fn add(&mut self, model: &Model, item: u32, plays: f32) -> Result<(), Error> {
        if !(plays.is_finite() && plays >= 0.0) {
            return Err(Error::InvalidInput(format!(
                "plays must be a finite number ≥ 0, got {plays}"
            )));
        }
        model.check_item(item)?;
        let id = model.item_id(item).to_string();
        self.disliked.retain(|d| *d != id);
        match self.items.iter_mut().find(|(i, _)| *i == id) {
            Some((_, p)) => *p += plays,
            None => self.items.push((id, plays)),
        }
        Ok(())
    }

    /// [`Self::feedback_from`] without knowing what showed it.
    pub fn feedback(&mut self, model: &Model, item: u32, f: Feedback) -> Result<(), Error> {
        self.feedback_from(model, item, f, Shown::Unknown)
    }

    /// Like: the item joins the history with `LIKE_PLAYS` plays, and a
    /// taste (the nearest, if close enough, else a new one; a probe's like
    /// joins only a taste its own cluster started). Dislike: it
    /// leaves the history, is never recommended again, and pushes the
    /// taste it belongs to (the one that showed it, else the nearest) away.
    /// Skip: not recommended again, a skipped history item weighs half, and
    /// it counts against its taste a little.
    pub fn feedback_from(
        &mut self,
        model: &Model,
        item: u32,
        f: Feedback,
        shown: Shown,
    ) -> Result<(), Error> {
        model.check_item(item)?;
        let id = model.item_id(item).to_string();
        let space = Space::new(model);
        self.interactions += 1;
        match f {
            Feedback::Like => {
                self.add(model, item, LIKE_PLAYS)?;
                self.skipped.retain(|s| *s != id);
                for t in &mut self.tastes {
                    t.disliked.retain(|d| *d != id);
                    t.skipped.retain(|d| *d != id);
                }
                if !self.tastes.iter().any(|t| t.liked.contains(&id)) {
                    let at = self.assign_like(model, &space, item, shown, &STAGES);
                    match at {
                        Some(t) => self.tastes[t].liked.push(id),
                        None => {
                            if self.tastes.len() >= STAGES.max_tastes {
                                if let Some(d) = self.failed_taste(&STAGES) {
                                    self.tastes.remove(d);
                                }
                            }
                            let cluster = model
                                .item_clusters()
                                .primary(item as usize)
                                .map(|c| model.item_clusters().names[c as usize].clone());
                            let next = self.tastes.iter().map(|t| t.id + 1).max().unwrap_or(0);
                            self.tastes.push(Taste {
                                id: next,
                                cluster,
                                liked: vec![id],
                                ..Taste::default()
                            });
                        }
                    }
                }
            }
            Feedback::Dislike | Feedback::Skip => {
                if f == Feedback::Dislike {
                    self.items.retain(|(i, _)| *i != id);
                    if !self.disliked.contains(&id) {
                        self.disliked.push(id.clone());
                    }
                } else {
                    if let Some((_, p)) = self.items.iter_mut().find(|(i, _)| *i == id) {
                        *p *= 0.5;
                    }
                    if !self.skipped.contains(&id) {
                        self.skipped.push(id.clone());
                    }
                }
                let owner = shown
                    .taste()
                    .and_then(|s| self.tastes.iter().position(|t| t.id == s))
                    // Else the taste a like of it would join: an explored
                    // item of another genre is nobody's dislike, and would
                    // sink the nearest taste's confidence.
                    .or_else(|| self.home(model, &space, item, true, &STAGES).0);
                if let Some(t) = owner {
                    let t = &mut self.tastes[t];
                    if f == Feedback::Dislike {
                        t.liked.retain(|l| *l != id);
                    }
                    let list = if f == Feedback::Dislike {
                        &mut t.disliked
                    } else {
                        &mut t.skipped
                    };
                    if !list.contains(&id) {
                        list.push(id);
                    }
                }
            }
        }
        Ok(())
    }

    /// The taste nearest item `i` (cosine to its centroid) and that cosine.
    pub fn nearest(&self, model: &Model, space: &Space<'_>, i: u32) -> Option<(usize, f32)> {
        let mut best: Option<(usize, f32)> = None;
        for (t, taste) in self.tastes.iter().enumerate() {
            let Some(c) = space.centroid(&taste.members(model, &STAGES)) else {
                continue;
            };
            let cos = space.cosine(&c, i);
            if best.is_none_or(|(_, b)| cos > b) {
                best = Some((t, cos));
            }
        }
        best
    }

    /// Where a like of `i` goes: the taste it belongs to (`home`); else,
    /// when the tastes are full, the nearest anyway. `None` starts a new
    /// taste. Tastes never merge.
    fn assign_like(
        &self,
        model: &Model,
        space: &Space<'_>,
        i: u32,
        shown: Shown,
        t: &StageTable,
    ) -> Option<usize> {
        // A probe of a genre no taste covers asked whether the listener has
        // a taste there: a like says yes, so it starts one rather than
        // joining a kin genre's (measured on HetRec: jazz likes probed for
        // a world-music listener vanished into that taste, and their own
        // taste was never served).
        let (home, nearest) = self.home(model, space, i, shown != Shown::Probe, t);
        home.or_else(|| {
            nearest
                .map(|(at, _)| at)
                .filter(|_| self.tastes.len() >= t.max_tastes && self.failed_taste(t).is_none())
        })
    }

    /// A taste that has failed: tried `weak_tries` times and still under
    /// `weak_confidence` (a stray like whose genre the listener keeps
    /// turning down). The weakest one, by position. When the tastes are
    /// full, a like with no home retires it and starts its own, rather than
    /// blurring the nearest taste; nothing merges, and the failed taste's
    /// dislikes stay in the profile.
    fn failed_taste(&self, t: &StageTable) -> Option<usize> {
        self.tastes
            .iter()
            .enumerate()
            .filter(|(_, x)| {
                x.interactions() >= t.weak_tries && x.confidence(t) < t.weak_confidence
            })
            .min_by(|a, b| {
                a.1.confidence(t)
                    .total_cmp(&b.1.confidence(t))
                    .then(a.0.cmp(&b.0))
            })
            .map(|(at, _)| at)
    }

    /// The taste item `i` belongs to: the nearest of the tastes its genre
    /// cluster started, if that one is close enough for a taste of its own
    /// cluster; else the nearest taste if it is close enough and of a kin
    /// genre (`StageTable::join_affinity`), where `kin` allows it. Also the
    /// nearest taste and its cosine, whether or not `i` belongs to it.
    fn home(
        &self,
        model: &Model,
        space: &Space<'_>,
        i: u32,
        kin: bool,
        t: &StageTable,
    ) -> (Option<usize>, Option<(usize, f32)>) {
        let clusters = model.item_clusters();
        let own = clusters.primary(i as usize);
        let mut nearest: Option<(usize, f32)> = None;
        let mut same: Option<(usize, f32)> = None;
        for (at, taste) in self.tastes.iter().enumerate() {
            let Some(c) = space.centroid(&taste.members(model, &STAGES)) else {
                continue;
            };
            let cos = space.cosine(&c, i);
            if nearest.is_none_or(|(_, b)| cos > b) {
                nearest = Some((at, cos));
            }
            if own.is_some() && taste.seed(clusters) == own && same.is_none_or(|(_, b)| cos > b) {
                same = Some((at, cos));
            }
        }
        // Genre before vectors: where the artist space puts unlike genres
        // close (CF factors of popular artists are), a like joining the
        // nearest taste first would pull one taste over all of them.
        if let Some((at, _)) = same.filter(|&(_, c)| c >= t.join_cosine_same_cluster) {
            return (Some(at), nearest);
        }
        let Some((near, cos)) = nearest else {
            return (None, None);
        };
        // Into another genre's taste only when the genres meet on items
        // (punk's taste takes a post-punk like, not a blues one).
        let kin = kin
            && match (own, self.tastes[near].seed(clusters)) {
                (Some(a), Some(b)) => clusters.affinity(a, b) >= t.join_affinity,
                _ => true,
            };
        ((cos >= t.join_cosine && kin).then_some(near), nearest)
    }

    /// Likes over all tastes.
    pub fn likes(&self) -> u32 {
        self.tastes.iter().map(|t| t.liked.len() as u32).sum()
    }

    /// The history as (index, plays), ids this bundle lacks skipped.
    pub fn history(&self, model: &Model) -> Vec<(u32, f32)> {
        self.items
            .iter()
            .filter_map(|(id, p)| model.item_index(id).ok().map(|i| (i, *p)))
            .collect()
    }

    /// Items never to recommend: disliked and skipped ones.
    pub fn excluded(&self, model: &Model) -> Vec<u32> {
        self.disliked
            .iter()
            .chain(&self.skipped)
            .filter_map(|id| model.item_index(id).ok())
            .collect()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = PROFILE_MAGIC.to_vec();
        out.push(PROFILE_VERSION);
        out.extend(postcard::to_allocvec(self).expect("serialising to memory cannot fail"));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bad = |why: String| Error::InvalidInput(format!("not a saved Timbral profile: {why}"));
        if bytes.len() < 9 || bytes[..8] != PROFILE_MAGIC {
            return Err(bad("wrong magic bytes".into()));
        }
        fn take<'a, T: Deserialize<'a>>(b: &'a [u8]) -> Result<T, String> {
            let (p, rest) = postcard::take_from_bytes::<T>(b).map_err(|e| e.to_string())?;
            if !rest.is_empty() {
                return Err(format!("{} bytes left over", rest.len()));
            }
            Ok(p)
        }
        let p = match bytes[8] {
            1 => {
                let v1: ProfileV1 = take(&bytes[9..]).map_err(bad)?;
                Profile {
                    items: v1.items,
                    disliked: v1.disliked,
                    skipped: v1.skipped,
                    ..Profile::default()
                }
            }
            2 => take::<Profile>(&bytes[9..]).map_err(bad)?,
            v => {
                return Err(bad(format!(
                    "profile version {v} (this build reads 1 to {PROFILE_VERSION})"
                )))
            }
        };
        if p.items.iter().any(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            return Err(bad("a play count is not a finite number ≥ 0".into()));
        }
        let mut ids: Vec<u32> = p.tastes.iter().map(|t| t.id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("two tastes share an id".into()));
        }
        for t in &p.tastes {
            if let Some(m) = &t.model {
                let ok = match &m.model {
                    TasteModel::Logistic(l) => l.validate(),
                    TasteModel::Boosted(b) => b.validate(),
                };
                ok.map_err(|e| bad(format!("taste {}: {e}", t.id)))?;
                let figures = [
                    m.auc,
                    m.log_loss,
                    m.logistic_auc,
                    m.boosted_auc.unwrap_or(0.0),
                ];
                if figures.iter().any(|v| !v.is_finite()) {
                    return Err(bad(format!("taste {}: a model figure is not finite", t.id)));
                }
            }
        }
        Ok(p)
    }

    /// Version 1's bytes of this profile (its history only): what an older
    /// build wrote, for tests of the upgrade path.
    pub fn to_bytes_v1(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct V1<'a> {
            items: &'a [(String, f32)],
            disliked: &'a [String],
            skipped: &'a [String],
        }
        let mut out = PROFILE_MAGIC.to_vec();
        out.push(1);
        out.extend(
            postcard::to_allocvec(&V1 {
                items: &self.items,
                disliked: &self.disliked,
                skipped: &self.skipped,
            })
            .expect("serialising to memory cannot fail"),
        );
        out
    }
}
