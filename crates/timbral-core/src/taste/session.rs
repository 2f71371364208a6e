//! The session protocol every client speaks: one command in, one reply
//! out, as JSON (`timbral session` reads JSON Lines; the wasm package and
//! the Worker take the same shapes). The commands:
//!
//! ```text
//! {"op":"coldstart","genres":["metal"],"k":10}  → {"stage":…,"items":[…]}
//! {"op":"recommend","k":10}                     → {"stage":…,"items":[…]}
//! {"op":"feedback","item":"ID","kind":"like"}   → {"ok":true,"stage":…}
//! {"op":"profile"}                              → {"stage":…,"tastes":[…]}
//! {"op":"save"}                                 → {"profile":"<base64>"}
//! {"op":"load","profile":"<base64>"}            → {"ok":true,"stage":…}
//! ```
//!
//! Every item says which taste and which stage picked it, with today's
//! explanation (the taste's likes nearest it, the labels it shares with
//! them). A bad command is an error that names the problem; the session
//! is unchanged by it.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::profile::{Feedback, Profile, Shown};
use super::space::Space;
use super::stage::{Stage, STAGES};
use super::staged::{Pick, TasteView};
use crate::facts::AUDIO_FEATURES;
use crate::model::Model;
use crate::view::{ItemId, ItemRef};
use crate::Error;

fn ten() -> usize {
    10
}

/// A saved profile as the protocol carries it: base64 of its bytes.
pub fn encode_profile(p: &Profile) -> String {
    base64::engine::general_purpose::STANDARD.encode(p.to_bytes())
}

/// The inverse of [`encode_profile`]; bad base64 or a bad profile is named.
pub fn decode_profile(b64: &str) -> Result<Profile, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| Error::InvalidInput(format!("profile is not base64: {e}")))?;
    Profile::from_bytes(&bytes)
}

/// One command.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Command {
    Coldstart {
        #[serde(default)]
        genres: Vec<String>,
        #[serde(default = "ten")]
        k: usize,
    },
    Recommend {
        #[serde(default = "ten")]
        k: usize,
    },
    Feedback {
        item: ItemId,
        kind: Feedback,
    },
    Profile,
    Save,
    Load {
        profile: String,
    },
}

/// One recommended item.
#[derive(Clone, Debug, Serialize)]
pub struct SessionItem<'a> {
    pub item: &'a str,
    pub name: &'a str,
    pub score: f32,
    /// The taste that picked it (`null`: cold start, or exploring a cluster
    /// no taste covers).
    pub taste: Option<u32>,
    pub stage: Stage,
    pub explore: bool,
    /// The taste's likes nearest it.
    pub because: Vec<ItemRef<'a>>,
    pub shared_tags: Vec<String>,
    pub tags: &'a [String],
}

/// A taste as `profile` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct TasteReport {
    pub id: u32,
    /// What to call it: its leading genre cluster, or, where another taste
    /// leads with the same cluster, its own leading genres.
    pub title: String,
    pub cluster: Option<String>,
    /// Its likes' heaviest labels with their share.
    pub top_genres: Vec<(String, f32)>,
    /// Its likes' genre clusters with their share.
    pub clusters: Vec<(String, f32)>,
    /// Mean audio features of its likes, each over its range in [0, 1].
    pub audio: Option<BTreeMap<&'static str, f32>>,
    pub confidence: f32,
    pub liked: usize,
    pub disliked: usize,
    pub skipped: usize,
    pub model: Option<ModelReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelReport {
    pub kind: &'static str,
    pub auc: f32,
    pub log_loss: f32,
    pub samples: u32,
    pub logistic_auc: f32,
    pub boosted_auc: Option<f32>,
}

/// One reply.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Reply<'a> {
    Items {
        stage: Stage,
        items: Vec<SessionItem<'a>>,
    },
    Ok {
        ok: bool,
        stage: Stage,
    },
    Profile {
        stage: Stage,
        interactions: u32,
        tastes: Vec<TasteReport>,
    },
    Saved {
        profile: String,
    },
}

/// A listener's session: their profile, and which taste showed what (so
/// a dislike moves the taste that proposed the item).
#[derive(Clone, Debug, Default)]
pub struct Session {
    pub profile: Profile,
    shown_by: HashMap<u32, Shown>,
}

impl Session {
    pub fn new(profile: Profile) -> Self {
        Session {
            profile,
            shown_by: HashMap::new(),
        }
    }

    /// Parses one JSON command: the error names what is wrong with it.
    pub fn parse(line: &str) -> Result<Command, Error> {
        serde_json::from_str(line).map_err(|e| Error::InvalidInput(format!("bad command: {e}")))
    }

    /// One command as JSON text answered as JSON: the reply, or
    /// `{"ok":false,"error":…}` naming what was wrong. What every runtime
    /// sends back.
    pub fn answer(&mut self, model: &Model, command: &str) -> serde_json::Value {
        match Session::parse(command).and_then(|cmd| self.handle(model, cmd)) {
            Ok(r) => serde_json::to_value(&r).expect("replies serialise"),
            Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
        }
    }

    /// Runs one command. On error the session is as it was.
    pub fn handle<'m>(&mut self, model: &'m Model, cmd: Command) -> Result<Reply<'m>, Error> {
        Ok(match cmd {
            Command::Coldstart { genres, k } => {
                let picks = model.cold_start_staged(&self.profile, &genres, k)?;
                self.remember(&picks);
                Reply::Items {
                    stage: Stage::ColdStart,
                    items: self.items(model, &picks),
                }
            }
            Command::Recommend { k } => {
                let (stage, picks) = model.recommend_staged(&mut self.profile, &[], k)?;
                self.remember(&picks);
                Reply::Items {
                    stage,
                    items: self.items(model, &picks),
                }
            }
            Command::Feedback { item, kind } => {
                let i = model.resolve(&item)?;
                let by = self.shown_by.get(&i).copied().unwrap_or_default();
                self.profile.feedback_from(model, i, kind, by)?;
                Reply::Ok {
                    ok: true,
                    stage: model.stage_of(&self.profile),
                }
            }
            Command::Profile => Reply::Profile {
                stage: model.stage_of(&self.profile),
                interactions: self.profile.interactions,
                tastes: self.report(model),
            },
            Command::Save => Reply::Saved {
                profile: encode_profile(&self.profile),
            },
            Command::Load { profile } => {
                self.profile = decode_profile(&profile)?;
                self.shown_by.clear();
                Reply::Ok {
                    ok: true,
                    stage: model.stage_of(&self.profile),
                }
            }
        })
    }

    fn remember(&mut self, picks: &[Pick]) {
        for p in picks {
            self.shown_by.insert(p.index, p.shown());
        }
    }

    fn items<'m>(&self, model: &'m Model, picks: &[Pick]) -> Vec<SessionItem<'m>> {
        // Each taste's likes and their labels, once per list, not per pick.
        type LikesAndLabels = (Vec<(u32, f32)>, Vec<(String, f32)>);
        let mut by_taste: HashMap<Option<u32>, LikesAndLabels> = HashMap::new();
        for p in picks {
            by_taste.entry(p.taste).or_insert_with(|| {
                let likes: Vec<(u32, f32)> = p
                    .taste
                    .and_then(|id| self.profile.tastes.iter().find(|t| t.id == id))
                    .map(|t| {
                        t.liked
                            .iter()
                            .filter_map(|id| model.item_index(id).ok())
                            .map(|i| (i, 1.0))
                            .collect()
                    })
                    .unwrap_or_default();
                let labels = model.history_labels(&likes);
                (likes, labels)
            });
        }
        picks
            .iter()
            .map(|p| {
                let (likes, labels) = &by_taste[&p.taste];
                let why = model.explain(p.index, likes, labels);
                SessionItem {
                    item: model.item_id(p.index),
                    name: model.item_name(p.index),
                    score: p.score,
                    taste: p.taste,
                    stage: p.stage,
                    explore: p.explore,
                    because: why.because.iter().map(|&b| model.item_ref(b)).collect(),
                    shared_tags: why.shared_tags,
                    tags: model.tags(p.index),
                }
            })
            .collect()
    }

    /// Each taste as `profile` reports it.
    pub fn report(&self, model: &Model) -> Vec<TasteReport> {
        let space = Space::new(model);
        let ic = model.item_clusters();
        let mut reports: Vec<TasteReport> = (0..self.profile.tastes.len())
            .map(|at| {
                let t = &self.profile.tastes[at];
                let view = TasteView::of(&space, &self.profile, at, &STAGES);
                let likes: Vec<(u32, f32)> = t
                    .liked
                    .iter()
                    .filter_map(|id| model.item_index(id).ok())
                    .map(|i| (i, 1.0))
                    .collect();
                TasteReport {
                    id: t.id,
                    title: String::new(),
                    cluster: t.cluster.clone(),
                    top_genres: model.taste_summary(&likes, 5),
                    clusters: view
                        .clusters
                        .iter()
                        .take(3)
                        .map(|&(c, s)| (ic.names[c as usize].clone(), s))
                        .collect(),
                    audio: view
                        .audio_mean
                        .map(|a| AUDIO_FEATURES.iter().copied().zip(a).collect()),
                    confidence: view.confidence,
                    liked: t.liked.len(),
                    disliked: t.disliked.len(),
                    skipped: t.skipped.len(),
                    model: t.model.as_ref().map(|m| ModelReport {
                        kind: m.model.kind(),
                        auc: m.auc,
                        log_loss: m.log_loss,
                        samples: m.samples,
                        logistic_auc: m.logistic_auc,
                        boosted_auc: m.boosted_auc,
                    }),
                }
            })
            .collect();
        let leads: Vec<Option<String>> = reports
            .iter()
            .map(|r| r.clusters.first().map(|c| c.0.clone()))
            .collect();
        for (at, r) in reports.iter_mut().enumerate() {
            r.title = taste_title(r, &leads, at);
        }
        reports
    }
}

/// A taste's title: its leading cluster's name, unless another taste leads
/// with it too (one listener's pop, liked two ways); then its own two
/// heaviest labels, which is what sets it apart.
fn taste_title(r: &TasteReport, leads: &[Option<String>], at: usize) -> String {
    let genres = || {
        let g: Vec<&str> = r.top_genres.iter().take(2).map(|g| g.0.as_str()).collect();
        (!g.is_empty()).then(|| g.join(" / "))
    };
    let shared = leads[at]
        .as_ref()
        .is_some_and(|l| leads.iter().filter(|x| x.as_ref() == Some(l)).count() > 1);
    let lead = leads[at].clone().filter(|_| !shared);
    lead.or_else(genres)
        .or_else(|| leads[at].clone())
        .or_else(|| r.cluster.clone())
        .unwrap_or_else(|| "A taste".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(lead: Option<&str>, genres: &[&str]) -> TasteReport {
        TasteReport {
            id: 0,
            title: String::new(),
            cluster: Some("seed".into()),
            top_genres: genres.iter().map(|g| (g.to_string(), 0.5)).collect(),
            clusters: lead.map(|l| (l.to_string(), 1.0)).into_iter().collect(),
            audio: None,
            confidence: 0.5,
            liked: 1,
            disliked: 0,
            skipped: 0,
            model: None,
        }
    }

    #[test]
    fn two_tastes_leading_with_one_cluster_are_told_apart_by_their_genres() {
        let rs = [
            report(
                Some("pop / electropop"),
                &["indie poptimism", "electropop", "pop"],
            ),
            report(Some("metal / thrash"), &["thrash metal"]),
            report(Some("pop / electropop"), &["dance pop", "neo soul"]),
            report(None, &[]),
        ];
        let leads: Vec<Option<String>> = rs
            .iter()
            .map(|r| r.clusters.first().map(|c| c.0.clone()))
            .collect();
        let titles: Vec<String> = (0..rs.len())
            .map(|at| taste_title(&rs[at], &leads, at))
            .collect();
        assert_eq!(
            titles,
            [
                "indie poptimism / electropop",
                "metal / thrash",
                "dance pop / neo soul",
                "seed"
            ]
        );
    }
}
