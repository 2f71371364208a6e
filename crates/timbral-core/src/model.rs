//! A loaded model: what a runtime holds after reading a bundle, and what the
//! trainer builds before writing one. Scoring, fold-in and popularity all
//! read the same int8 rows, so native, wasm and Worker answers agree.

use std::collections::HashMap;
use std::sync::OnceLock;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::als::{self, AlsParams};
use crate::bundle::{self, kind, BundleError, BundleInfo};
use crate::content::{
    standardize, Content, ContentQuery, ContentV2, Fusion, FusionV1, FusionWeights, Standardizer,
};
use crate::csr::Csr;
use crate::error::Error;
use crate::linalg::ln_1p;
use crate::popularity::Popularity;
use crate::quant::QMatrix;
use crate::sketch::ContentSketch;
use crate::topk::{top_k, Scored};

mod cf;
pub mod cf_choice;
mod factors;
mod fused;
pub mod item_item;
#[cfg(test)]
mod shortlist_tests;

pub use cf::factor_kind;
pub use cf_choice::{CfCandidate, CfChoice};
pub use item_item::ItemItem;

/// Hyper-parameters and provenance (the `meta` section).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub params: AlsParams,
    /// What the model was trained on, e.g. `hetrec2011-lastfm-2k`.
    pub source: String,
    /// The trainer that wrote it, e.g. `timbral-train 0.1.0`.
    pub trainer: String,
    /// The mean observed items per training listener: the `n̄` a new
    /// listener's fold-in is regularised against where
    /// `params.reg_exponent` is not 0 (`als::row_regularization`).
    pub user_reference: f32,
}

impl Meta {
    fn validate(&self) -> Result<(), String> {
        self.params.validate()?;
        let r = self.user_reference;
        if !(r.is_finite() && r >= 0.0) || (self.params.reg_exponent != 0.0 && r < 1.0) {
            return Err(format!(
                "user_reference must be finite, and ≥ 1 where reg_exponent is {}; got {r}",
                self.params.reg_exponent
            ));
        }
        Ok(())
    }
}

/// The `meta` section of formats 1–4: ALS without frequency-scaled
/// regularisation.
#[derive(Deserialize)]
struct MetaV4 {
    params: AlsParamsV4,
    source: String,
    trainer: String,
}

#[derive(Deserialize)]
struct AlsParamsV4 {
    factors: u32,
    iterations: u32,
    regularization: f32,
    alpha: f32,
    cg_steps: u32,
    seed: u64,
}

impl From<MetaV4> for Meta {
    fn from(m: MetaV4) -> Meta {
        Meta::from(MetaV5 {
            params: AlsParamsV5 {
                v4: m.params,
                reg_exponent: 0.0,
            },
            source: m.source,
            trainer: m.trainer,
            user_reference: 0.0,
        })
    }
}

/// The `meta` section of format 5: the factors always ALS.
#[derive(Deserialize)]
struct MetaV5 {
    params: AlsParamsV5,
    source: String,
    trainer: String,
    user_reference: f32,
}

/// Format 4's parameters and then ν: postcard writes a struct as its
/// fields in order, with no framing, so the nesting reads the same bytes.
#[derive(Deserialize)]
struct AlsParamsV5 {
    v4: AlsParamsV4,
    reg_exponent: f32,
}

impl From<MetaV5> for Meta {
    fn from(m: MetaV5) -> Meta {
        let AlsParamsV5 {
            v4: p,
            reg_exponent,
        } = m.params;
        Meta {
            params: AlsParams {
                model: als::FactorModel::Als,
                factors: p.factors,
                iterations: p.iterations,
                regularization: p.regularization,
                alpha: p.alpha,
                cg_steps: p.cg_steps,
                seed: p.seed,
                reg_exponent,
            },
            source: m.source,
            trainer: m.trainer,
            user_reference: m.user_reference,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Items {
    ids: Vec<String>,
    names: Vec<String>,
}

/// Everything a model is made of, for the trainer to assemble.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelParts {
    pub meta: Meta,
    pub item_ids: Vec<String>,
    pub item_names: Vec<String>,
    pub popularity: Popularity,
    pub item_factors: QMatrix,
    pub user_ids: Vec<String>,
    pub user_factors: QMatrix,
    /// The known users' plays (user × item), to exclude what they have heard.
    pub user_items: Csr,
    /// Content vectors (optional: CF-only bundles have none).
    pub content: Option<Content>,
    /// Learned fusion weights (optional: defaults apply without).
    pub fusion: Option<Fusion>,
    /// A low-rank sketch of the content vectors that speeds up fused
    /// recommendations (optional: they scan every content vector without).
    pub content_sketch: Option<ContentSketch>,
    /// Ids the trainer merged into another item (a spelling of one artist,
    /// an alias file's bad id) → that item's index, so a listener's history
    /// saved under the old id still finds its item.
    pub item_aliases: Vec<(String, u32)>,
    /// Years, audio features and moods (optional).
    pub facts: Option<crate::facts::ItemFacts>,
    /// Artists, albums and genres as the catalogue states them (optional).
    pub credits: Option<crate::credits::ItemCredits>,
    /// Optional: genre clusters, for tastes.
    pub genre_clusters: Option<crate::taste::GenreClusters>,
    /// Optional: a sparse item-item CF model blended with the factors
    /// (`item_item.rs`; without it, CF is the factors alone).
    pub item_item: Option<ItemItem>,
    /// Optional: how the trainer chose the CF model (`cf_choice.rs`).
    pub cf_choice: Option<CfChoice>,
    /// Optional: the shortlist index fusion probes on a large catalogue
    /// (`shortlist.rs`; without it, fusion scans every item).
    pub shortlist: Option<crate::shortlist::Shortlist>,
}

/// One fused recommendation and the parts of its score.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    pub index: u32,
    pub score: f32,
    /// Standardised CF score (before weighting).
    pub cf: f32,
    /// Standardised content cosine (before weighting).
    pub content: f32,
    /// Standardised `1 − popularity penalty` (before weighting).
    pub popularity: f32,
}

impl From<Scored> for Recommendation {
    /// A CF score alone, where there is no content to fuse with.
    fn from(s: Scored) -> Self {
        Recommendation {
            index: s.index,
            score: s.score,
            cf: s.score,
            content: 0.0,
            popularity: 0.0,
        }
    }
}

/// Per-item standardised score parts for one listener, before weighting.
pub struct FusionParts {
    pub cf: Vec<f32>,
    pub content: Vec<f32>,
    /// `false` for excluded items.
    pub keep: Vec<bool>,
    /// `true` for items without CF signal (nobody played them).
    pub cold: Vec<bool>,
}

impl FusionParts {
    /// The fused score of item `i`.
    #[inline]
    pub fn score(&self, w: &FusionWeights, pop: &[f32], i: usize) -> f32 {
        w.score(self.cf[i], self.content[i], pop[i], self.cold[i])
    }
}

#[derive(Debug)]
pub struct Model {
    parts: ModelParts,
    item_index: HashMap<String, u32>,
    user_index: HashMap<String, u32>,
    /// `YᵀY + λI` over the int8 item factors, built on the first fold-in.
    gram: OnceLock<Vec<f32>>,
    /// BPR's shared negatives, drawn on first use.
    bpr_negatives: OnceLock<Vec<u32>>,
    /// Each item's text for word search, built on the first search.
    search_texts: OnceLock<Vec<String>>,
    /// Labels and names by key, for search, built on the first search.
    search_index: OnceLock<crate::search::SearchIndex>,
    /// Each item's genre clusters, built on first use by tastes.
    item_clusters: OnceLock<crate::taste::ItemClusters>,
    /// Content-vector norms, for cosines.
    content_norms: crate::content::ContentNorms,
    /// Standardised `1 − popularity penalty` of every item.
    pop_term: Vec<f32>,
    /// Items nobody played (no CF signal of their own).
    cold: Vec<bool>,
}

/// How many content neighbours a short history's fold-in adds
/// ([`Model::fold_in_with_neighbours`]), and how many plays each counts as.
/// Chosen on the trainer's validation split; `timbral eval` shows the
/// effect on listeners with ≤ 3 items.
pub const SHORT_NEIGHBOURS: usize = 10;
pub const NEIGHBOUR_PLAYS: f32 = 1.0;
/// How many sketch-nearest items per wanted neighbour get the full cosine.
const NEIGHBOUR_SHORTLIST: usize = 20;

/// Squared norm below which a user factor carries no preference.
const NO_SIGNAL: f32 = 1e-12;

fn invalid(kind: u32, detail: impl Into<String>) -> BundleError {
    BundleError::section(kind, detail)
}

fn optional<T: serde::de::DeserializeOwned>(
    sections: &[bundle::RawSection<'_>],
    k: u32,
) -> Result<Option<T>, BundleError> {
    sections
        .iter()
        .find(|s| s.kind == k)
        .map(bundle::decode_section)
        .transpose()
}

fn index_of(ids: &[String], kind: u32) -> Result<HashMap<String, u32>, BundleError> {
    let mut map = HashMap::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if map.insert(id.clone(), i as u32).is_some() {
            return Err(invalid(kind, format!("id `{id}` appears twice")));
        }
    }
    Ok(map)
}

impl Model {
    /// Checks every cross-section invariant, then indexes the ids.
    pub fn from_parts(parts: ModelParts) -> Result<Self, BundleError> {
        let p = &parts;
        let n_items = p.item_ids.len();
        let n_users = p.user_ids.len();
        let f = p.meta.params.factors as usize;
        p.meta.validate().map_err(|e| invalid(kind::META, e))?;
        if p.item_names.len() != n_items {
            return Err(invalid(
                kind::ITEMS,
                format!("{} names for {n_items} ids", p.item_names.len()),
            ));
        }
        p.popularity
            .validate(n_items)
            .map_err(|e| invalid(kind::POPULARITY, e))?;
        p.item_factors
            .validate()
            .map_err(|e| invalid(kind::ITEM_FACTORS, e))?;
        if p.item_factors.rows() != n_items || p.item_factors.cols() != f {
            return Err(invalid(
                kind::ITEM_FACTORS,
                format!(
                    "shape {}×{}, expected {n_items}×{f}",
                    p.item_factors.rows(),
                    p.item_factors.cols()
                ),
            ));
        }
        p.user_factors
            .validate()
            .map_err(|e| invalid(kind::USER_FACTORS, e))?;
        if p.user_factors.rows() != n_users || p.user_factors.cols() != f {
            return Err(invalid(
                kind::USER_FACTORS,
                format!(
                    "shape {}×{}, expected {n_users}×{f}",
                    p.user_factors.rows(),
                    p.user_factors.cols()
                ),
            ));
        }
        p.user_items
            .validate()
            .map_err(|e| invalid(kind::USER_ITEMS, e))?;
        if p.user_items.n_rows() != n_users || p.user_items.n_cols() != n_items {
            return Err(invalid(
                kind::USER_ITEMS,
                format!(
                    "shape {}×{}, expected {n_users}×{n_items}",
                    p.user_items.n_rows(),
                    p.user_items.n_cols()
                ),
            ));
        }
        if let Some(c) = &p.content {
            c.validate(n_items).map_err(|e| invalid(kind::CONTENT, e))?;
        }
        if let Some(w) = &p.fusion {
            w.validate().map_err(|e| invalid(kind::FUSION, e))?;
        }
        if let Some(s) = &p.content_sketch {
            let c = p.content.as_ref().ok_or_else(|| {
                invalid(
                    kind::CONTENT_SKETCH,
                    "a content sketch without content vectors",
                )
            })?;
            s.validate(n_items, c.dim())
                .map_err(|e| invalid(kind::CONTENT_SKETCH, e))?;
        }
        if let Some(f) = &p.facts {
            f.validate(n_items)
                .map_err(|e| invalid(kind::ITEM_FACTS, e))?;
        }
        if let Some(c) = &p.credits {
            c.validate(n_items)
                .map_err(|e| invalid(kind::ITEM_CREDITS, e))?;
        }
        if let Some(g) = &p.genre_clusters {
            g.validate().map_err(|e| invalid(kind::GENRE_CLUSTERS, e))?;
        }
        if let Some(ii) = &p.item_item {
            ii.validate(n_items)
                .map_err(|e| invalid(kind::ITEM_ITEM, e))?;
        }
        if let Some(c) = &p.cf_choice {
            c.validate().map_err(|e| invalid(kind::CF_CHOICE, e))?;
        }
        if let Some(s) = &p.shortlist {
            let d = p.content.as_ref().map_or(0, Content::dim);
            s.validate(n_items, f, d)
                .map_err(|e| invalid(kind::SHORTLIST, e))?;
        }
        let mut item_index = index_of(&p.item_ids, kind::ITEMS)?;
        for (alias, i) in &p.item_aliases {
            if *i as usize >= n_items {
                return Err(invalid(
                    kind::ITEM_ALIASES,
                    format!("alias `{alias}` points at item {i} of {n_items}"),
                ));
            }
            if item_index.insert(alias.clone(), *i).is_some() {
                return Err(invalid(
                    kind::ITEM_ALIASES,
                    format!("alias `{alias}` is also an item's id, or appears twice"),
                ));
            }
        }
        let user_index = index_of(&p.user_ids, kind::USERS)?;
        let content_norms = p.content.as_ref().map(Content::norms).unwrap_or_default();
        let max = p.popularity.listeners.iter().copied().max().unwrap_or(0);
        let mut pop_term: Vec<f32> = (0..n_items)
            .map(|i| 1.0 - p.popularity.penalty_with_max(i, max))
            .collect();
        standardize(&mut pop_term, &vec![true; n_items]);
        let cold = p.popularity.listeners.iter().map(|&l| l == 0).collect();
        Ok(Model {
            parts,
            item_index,
            user_index,
            gram: OnceLock::new(),
            bpr_negatives: OnceLock::new(),
            search_texts: OnceLock::new(),
            search_index: OnceLock::new(),
            item_clusters: OnceLock::new(),
            content_norms,
            pop_term,
            cold,
        })
    }

    /// Reads a bundle; a bad file is refused whole.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        let (info, sections) = bundle::decode(bytes)?;
        let find = |k: u32| {
            sections
                .iter()
                .find(|s| s.kind == k)
                .ok_or(BundleError::Missing(bundle::kind_name(k)))
        };
        let meta: Meta = if info.version <= 4 {
            bundle::decode_section::<MetaV4>(find(kind::META)?)?.into()
        } else if info.version == 5 {
            bundle::decode_section::<MetaV5>(find(kind::META)?)?.into()
        } else {
            // Formats 7 and 8 added BPR and LightGCN to the factor model's
            // names: the same layout, which an older build would call
            // corrupt.
            bundle::decode_section(find(kind::META)?)?
        };
        let items: Items = bundle::decode_section(find(kind::ITEMS)?)?;
        // A client bundle (format 3) carries no training listener: its
        // three user sections are absent together. Before format 3 they are
        // required, and one without the others is refused either way.
        let user_kinds = [kind::USERS, kind::USER_FACTORS, kind::USER_ITEMS];
        let present = user_kinds
            .iter()
            .filter(|&&k| sections.iter().any(|s| s.kind == k))
            .count();
        let (user_ids, user_factors, user_items) = if present == 0 && info.version >= 3 {
            let f = meta.params.factors as usize;
            (
                Vec::new(),
                QMatrix::quantize(&[], 0, f),
                Csr::from_triplets(0, items.ids.len(), Vec::new()),
            )
        } else {
            (
                bundle::decode_section(find(kind::USERS)?)?,
                bundle::decode_section(find(kind::USER_FACTORS)?)?,
                bundle::decode_section(find(kind::USER_ITEMS)?)?,
            )
        };
        Model::from_parts(ModelParts {
            meta,
            item_ids: items.ids,
            item_names: items.names,
            popularity: bundle::decode_section(find(kind::POPULARITY)?)?,
            item_factors: bundle::decode_section(find(kind::ITEM_FACTORS)?)?,
            user_ids,
            user_factors,
            user_items,
            content: if info.version <= 2 {
                optional::<ContentV2>(&sections, kind::CONTENT)?.map(Content::from)
            } else {
                optional(&sections, kind::CONTENT)?
            },
            fusion: if info.version == 1 {
                optional::<FusionV1>(&sections, kind::FUSION)?.map(Fusion::from)
            } else {
                optional(&sections, kind::FUSION)?
            },
            content_sketch: optional(&sections, kind::CONTENT_SKETCH)?,
            item_aliases: optional(&sections, kind::ITEM_ALIASES)?.unwrap_or_default(),
            facts: optional(&sections, kind::ITEM_FACTS)?,
            credits: optional(&sections, kind::ITEM_CREDITS)?,
            genre_clusters: optional(&sections, kind::GENRE_CLUSTERS)?,
            item_item: optional(&sections, kind::ITEM_ITEM)?,
            cf_choice: optional(&sections, kind::CF_CHOICE)?,
            shortlist: optional(&sections, kind::SHORTLIST)?,
        })
    }

    /// Writes the bundle. Deterministic: the same model gives the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = &self.parts;
        let items = Items {
            ids: p.item_ids.clone(),
            names: p.item_names.clone(),
        };
        let mut sections = vec![
            bundle::section(kind::META, &p.meta),
            bundle::section(kind::ITEMS, &items),
            bundle::section(kind::POPULARITY, &p.popularity),
            bundle::section(kind::ITEM_FACTORS, &p.item_factors),
        ];
        // A client bundle has no user sections at all, not empty ones: what
        // is not in the file cannot leak from it.
        if !self.is_client() {
            sections.extend([
                bundle::section(kind::USERS, &p.user_ids),
                bundle::section(kind::USER_FACTORS, &p.user_factors),
                bundle::section(kind::USER_ITEMS, &p.user_items),
            ]);
        }
        if let Some(c) = &p.content {
            sections.push(bundle::section(kind::CONTENT, c));
        }
        if let Some(w) = &p.fusion {
            sections.push(bundle::section(kind::FUSION, w));
        }
        if let Some(s) = &p.content_sketch {
            sections.push(bundle::section(kind::CONTENT_SKETCH, s));
        }
        if !p.item_aliases.is_empty() {
            sections.push(bundle::section(kind::ITEM_ALIASES, &p.item_aliases));
        }
        if let Some(f) = &p.facts {
            sections.push(bundle::section(kind::ITEM_FACTS, f));
        }
        if let Some(c) = &p.credits {
            sections.push(bundle::section(kind::ITEM_CREDITS, c));
        }
        if let Some(g) = &p.genre_clusters {
            sections.push(bundle::section(kind::GENRE_CLUSTERS, g));
        }
        if let Some(ii) = &p.item_item {
            sections.push(bundle::section(kind::ITEM_ITEM, ii));
        }
        if let Some(c) = &p.cf_choice {
            sections.push(bundle::section(kind::CF_CHOICE, c));
        }
        if let Some(s) = &p.shortlist {
            sections.push(bundle::section(kind::SHORTLIST, s));
        }
        bundle::encode(&sections)
    }

    /// The framing of a bundle, for `inspect`.
    pub fn inspect(bytes: &[u8]) -> Result<BundleInfo, BundleError> {
        bundle::decode(bytes).map(|(info, _)| info)
    }

    /// The same model without any training listener: no user ids, factors
    /// or histories, only what every listener may download (item factors,
    /// content, popularity counts, fusion weights). What the browser and the
    /// Worker ship; new listeners are folded in from their own history, so
    /// every score a client computes is the full bundle's.
    pub fn client(&self) -> Model {
        let mut parts = self.parts.clone();
        parts.user_ids = Vec::new();
        parts.user_factors = QMatrix::quantize(&[], 0, self.factors());
        parts.user_items = Csr::from_triplets(0, self.n_items(), Vec::new());
        Model::from_parts(parts).expect("dropping the listeners keeps a model valid")
    }

    /// Whether this is a client bundle (no training listener in it).
    pub fn is_client(&self) -> bool {
        self.parts.user_ids.is_empty()
    }

    pub fn parts(&self) -> &ModelParts {
        &self.parts
    }

    /// The model's parts, to extend (e.g. with content) and rebuild.
    pub fn into_parts(self) -> ModelParts {
        self.parts
    }
    pub fn meta(&self) -> &Meta {
        &self.parts.meta
    }
    /// Years, audio features and moods, where the bundle has them.
    pub fn facts(&self) -> Option<&crate::facts::ItemFacts> {
        self.parts.facts.as_ref()
    }
    /// Artists, albums and genres, where the bundle has them.
    pub fn credits(&self) -> Option<&crate::credits::ItemCredits> {
        self.parts.credits.as_ref()
    }
    pub fn n_items(&self) -> usize {
        self.parts.item_ids.len()
    }
    pub fn n_users(&self) -> usize {
        self.parts.user_ids.len()
    }
    pub fn factors(&self) -> usize {
        self.parts.meta.params.factors as usize
    }
    pub fn item_id(&self, i: u32) -> &str {
        &self.parts.item_ids[i as usize]
    }
    pub fn item_name(&self, i: u32) -> &str {
        &self.parts.item_names[i as usize]
    }
    pub fn user_id(&self, u: u32) -> &str {
        &self.parts.user_ids[u as usize]
    }
    pub fn popularity(&self) -> &Popularity {
        &self.parts.popularity
    }

    pub fn item_index(&self, id: &str) -> Result<u32, Error> {
        self.item_index
            .get(id)
            .copied()
            .ok_or_else(|| Error::UnknownItem(id.to_string()))
    }

    pub fn user_index(&self, id: &str) -> Result<u32, Error> {
        if self.is_client() {
            return Err(Error::InvalidInput(format!(
                "user `{id}`: this is a client bundle, which holds no training listener; \
                 use the full bundle, or fold in a history"
            )));
        }
        self.user_index
            .get(id)
            .copied()
            .ok_or_else(|| Error::UnknownUser(id.to_string()))
    }

    /// A known user's items and plays.
    pub fn user_history(&self, u: u32) -> (&[u32], &[f32]) {
        self.parts.user_items.row(u as usize)
    }

    /// Each item's text for word search (`Model::search_text`), made by
    /// `build` on the first call.
    pub(crate) fn search_texts(&self, build: impl FnOnce() -> Vec<String>) -> &[String] {
        self.search_texts.get_or_init(build)
    }

    /// Each item's genre clusters and whether it may be recommended
    /// (`crate::taste::clusters`), made on the first call.
    pub fn item_clusters(&self) -> &crate::taste::ItemClusters {
        self.item_clusters
            .get_or_init(|| crate::taste::ItemClusters::build(self))
    }

    /// Labels and names by key (`crate::search`), made on the first call.
    pub(crate) fn search_index(&self) -> &crate::search::SearchIndex {
        self.search_index
            .get_or_init(|| crate::search::SearchIndex::build(self))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// [`tiny`] with three content vectors and labels.
    pub(crate) fn with_content() -> ModelParts {
        ModelParts {
            content: Some(crate::content::tests::content()),
            ..tiny()
        }
    }

    pub(crate) fn tiny() -> ModelParts {
        let params = AlsParams {
            factors: 2,
            ..AlsParams::default()
        };
        let plays = Csr::from_triplets(2, 3, vec![(0, 0, 3.0), (1, 1, 1.0), (1, 2, 8.0)]);
        ModelParts {
            meta: Meta {
                params,
                source: "test".into(),
                trainer: "unit".into(),
                user_reference: 0.0,
            },
            item_ids: vec!["a".into(), "b".into(), "c".into()],
            item_names: vec!["A".into(), "B".into(), "C".into()],
            popularity: Popularity::from_plays(&plays),
            item_factors: QMatrix::quantize(&[1.0, 0.0, 0.0, 1.0, 0.7, 0.7], 3, 2),
            user_ids: vec!["u1".into(), "u2".into()],
            user_factors: QMatrix::quantize(&[1.0, 0.1, 0.2, 1.0], 2, 2),
            user_items: plays,
            content: None,
            fusion: None,
            content_sketch: None,
            item_aliases: Vec::new(),
            facts: None,
            credits: None,
            genre_clusters: None,
            item_item: None,
            cf_choice: None,
            shortlist: None,
        }
    }

    #[test]
    fn bundle_round_trip_is_exact() {
        let m = Model::from_parts(tiny()).unwrap();
        let bytes = m.to_bytes();
        let back = Model::from_bytes(&bytes).unwrap();
        assert_eq!(back.parts(), m.parts());
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn a_client_bundle_holds_no_listener_and_scores_alike() {
        let mut p = with_content();
        p.user_ids = vec!["listener-secret-7".into(), "listener-secret-8".into()];
        let full = Model::from_parts(p).unwrap();
        let client = full.client();
        let bytes = client.to_bytes();
        let (_, sections) = bundle::decode(&bytes).unwrap();
        let kinds: Vec<u32> = sections.iter().map(|s| s.kind).collect();
        for k in [kind::USERS, kind::USER_FACTORS, kind::USER_ITEMS] {
            assert!(!kinds.contains(&k), "{kinds:?}");
        }
        // In the file and in every section once inflated.
        let secret = |b: &[u8]| b.windows(14).any(|w| w == b"listener-secre");
        assert!(!secret(&bytes) && !sections.iter().any(|s| secret(&s.bytes)));
        // The same check finds them in the full bundle.
        let full_bytes = full.to_bytes();
        let (_, full_sections) = bundle::decode(&full_bytes).unwrap();
        assert!(full_sections.iter().any(|s| secret(&s.bytes)));
        let back = Model::from_bytes(&bytes).unwrap();
        assert!(back.is_client() && back.n_users() == 0);
        assert_eq!(back.parts(), client.parts());
        let err = back
            .user_index("listener-secret-7")
            .unwrap_err()
            .to_string();
        assert!(err.contains("client bundle"), "{err}");
        // A new listener gets the same scores from either bundle.
        let h = [(0, 4.0), (2, 1.0)];
        let (xf, xc) = (full.fold_in(&h).unwrap(), back.fold_in(&h).unwrap());
        assert_eq!(xf, xc);
        let w = FusionWeights::default();
        assert_eq!(
            full.recommend_fused(&xf, &h, &[0, 2], 3, w),
            back.recommend_fused(&xc, &h, &[0, 2], 3, w)
        );
    }

    #[test]
    fn a_merged_id_still_finds_its_item_and_bad_aliases_are_refused() {
        let mut p = tiny();
        p.item_aliases = vec![("old-b".into(), 1)];
        let m = Model::from_parts(p.clone()).unwrap();
        let back = Model::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back.item_index("old-b").unwrap(), 1);
        assert_eq!(back.item_index("b").unwrap(), 1);
        assert_eq!(back.client().item_index("old-b").unwrap(), 1);
        p.item_aliases = vec![("a".into(), 1)];
        assert!(Model::from_parts(p.clone()).is_err());
        p.item_aliases = vec![("x".into(), 9)];
        let err = Model::from_parts(p).unwrap_err().to_string();
        assert!(err.contains("item_aliases"), "{err}");
    }

    #[test]
    fn some_user_sections_without_the_others_are_refused() {
        let bytes = Model::from_parts(tiny()).unwrap().to_bytes();
        let (_, secs) = bundle::decode(&bytes).unwrap();
        let kept: Vec<(u32, Vec<u8>)> = secs
            .iter()
            .filter(|s| s.kind != kind::USER_ITEMS)
            .map(|s| (s.kind, s.bytes.to_vec()))
            .collect();
        let err = Model::from_bytes(&bundle::encode(&kept)).unwrap_err();
        assert_eq!(err, BundleError::Missing("user_items"));
        // Before format 3 a bundle without users is not a client bundle.
        let client: Vec<(u32, Vec<u8>)> = with_v4_meta(&Model::from_parts(tiny()).unwrap())
            .into_iter()
            .filter(|s| ![kind::USERS, kind::USER_FACTORS, kind::USER_ITEMS].contains(&s.0))
            .collect();
        let v2 = bundle::encode_legacy(2, &client);
        assert_eq!(
            Model::from_bytes(&v2).unwrap_err(),
            BundleError::Missing("users")
        );
    }

    #[test]
    fn version_2_content_is_read_with_one_vote_a_label() {
        let m = Model::from_parts(with_content()).unwrap();
        let c = m.content().unwrap();
        let old = (
            &c.text,
            &c.audio,
            c.audio_weight,
            &c.labels,
            &c.model_sha256,
            &c.tokenizer_sha256,
        );
        let mut owned: Vec<(u32, Vec<u8>)> = with_v4_meta(&m)
            .into_iter()
            .filter(|s| s.0 != kind::CONTENT)
            .collect();
        owned.push(bundle::section(kind::CONTENT, &old));
        let v2 = bundle::encode_legacy(2, &owned);
        let back = Model::from_bytes(&v2).unwrap();
        let bc = back.content().unwrap();
        assert_eq!(bc.labels, c.labels);
        assert_eq!(bc.label_weights, vec![vec![1], vec![1, 1], vec![]]);
    }

    /// `m`'s sections with `meta` as formats 1–4 wrote it (plain ALS).
    fn with_v4_meta(m: &Model) -> Vec<(u32, Vec<u8>)> {
        let (meta, p) = (m.meta(), m.meta().params);
        let old = (
            (
                p.factors,
                p.iterations,
                p.regularization,
                p.alpha,
                p.cg_steps,
                p.seed,
            ),
            &meta.source,
            &meta.trainer,
        );
        let bytes = m.to_bytes();
        let (_, secs) = bundle::decode(&bytes).unwrap();
        secs.iter()
            .map(|s| match s.kind {
                kind::META => bundle::section(kind::META, &old),
                k => (k, s.bytes.to_vec()),
            })
            .collect()
    }

    #[test]
    fn version_4_meta_is_read_as_plain_als_and_a_scaled_model_needs_its_reference() {
        let m = Model::from_parts(tiny()).unwrap();
        let mut v4 = bundle::encode(&with_v4_meta(&m));
        // The framing of 4 and 5 is one; the checksum covers the payload.
        v4[8..12].copy_from_slice(&4u32.to_le_bytes());
        let back = Model::from_bytes(&v4).unwrap();
        assert_eq!(back.meta(), m.meta());
        assert_eq!(
            back.fold_in(&[(1, 2.0)]).unwrap(),
            m.fold_in(&[(1, 2.0)]).unwrap()
        );
        // Read as format 5, those bytes are too short for its meta.
        v4[8..12].copy_from_slice(&5u32.to_le_bytes());
        assert!(Model::from_bytes(&v4).is_err());

        let mut parts = tiny();
        parts.meta.params.reg_exponent = 1.0;
        let err = Model::from_parts(parts.clone()).unwrap_err().to_string();
        assert!(err.contains("user_reference"), "{err}");
        parts.meta.user_reference = 1.5;
        let scaled = Model::from_parts(parts).unwrap();
        assert_eq!(scaled.cf_kind(), "ials");
        let back = Model::from_bytes(&scaled.to_bytes()).unwrap();
        assert_eq!(back.meta(), scaled.meta());
        assert_ne!(
            back.fold_in(&[(1, 2.0)]).unwrap(),
            m.fold_in(&[(1, 2.0)]).unwrap()
        );
    }

    #[test]
    fn version_5_meta_is_read_as_als_and_nmf_folds_in_by_its_own_solve() {
        let mut parts = tiny();
        parts.meta.params.reg_exponent = 0.5;
        parts.meta.user_reference = 2.0;
        let m = Model::from_parts(parts.clone()).unwrap();
        let (meta, p) = (m.meta(), m.meta().params);
        let v5_meta = (
            (
                p.factors,
                p.iterations,
                p.regularization,
                p.alpha,
                p.cg_steps,
                p.seed,
                p.reg_exponent,
            ),
            &meta.source,
            &meta.trainer,
            meta.user_reference,
        );
        let bytes = m.to_bytes();
        let (_, secs) = bundle::decode(&bytes).unwrap();
        let owned: Vec<(u32, Vec<u8>)> = secs
            .iter()
            .map(|s| match s.kind {
                kind::META => bundle::section(kind::META, &v5_meta),
                k => (k, s.bytes.to_vec()),
            })
            .collect();
        let mut v5 = bundle::encode(&owned);
        v5[8..12].copy_from_slice(&5u32.to_le_bytes());
        let back = Model::from_bytes(&v5).unwrap();
        assert_eq!(back.meta(), m.meta());
        assert_eq!(back.cf_kind(), "ials");

        // The same factors as NMF: a non-negative fold-in, named so in
        // every runtime, and the kind survives the bundle.
        parts.meta.params.model = als::FactorModel::Nmf;
        parts.meta.params.reg_exponent = 0.0;
        let nmf = Model::from_parts(parts).unwrap();
        assert_eq!(nmf.cf_kind(), "nmf");
        let back = Model::from_bytes(&nmf.to_bytes()).unwrap();
        assert_eq!(back.meta().params.model, als::FactorModel::Nmf);
        let h = [(0, 3.0), (2, 1.0)];
        let x = back.fold_in(&h).unwrap();
        assert!(x.iter().all(|&v| v >= 0.0), "{x:?}");
        assert_ne!(x, m.fold_in(&h).unwrap());
    }

    #[test]
    fn a_bpr_bundle_names_its_model_and_folds_in_by_ranking() {
        let mut parts = tiny();
        parts.meta.params = AlsParams {
            factors: parts.meta.params.factors,
            ..AlsParams::defaults_for(als::FactorModel::Bpr)
        };
        let bpr = Model::from_bytes(&Model::from_parts(parts).unwrap().to_bytes()).unwrap();
        assert_eq!(bpr.cf_kind(), "bpr");
        assert_eq!(bpr.meta().params.model, als::FactorModel::Bpr);
        let h = [(0, 3.0), (2, 1.0)];
        let x = bpr.fold_in(&h).unwrap();
        let s = bpr.scores(&x);
        // The history's items score above every other played item.
        let others = (0..bpr.n_items()).filter(|&i| i != 0 && i != 2);
        let top_other = others.map(|i| s[i]).fold(f32::MIN, f32::max);
        assert!(s[0].min(s[2]) > top_other, "{s:?}");
    }

    #[test]
    fn a_lightgcn_bundle_names_its_model_and_folds_in_by_propagation() {
        let mut parts = tiny();
        parts.meta.params = AlsParams {
            factors: parts.meta.params.factors,
            ..AlsParams::defaults_for(als::FactorModel::LightGcn)
        };
        let m = Model::from_bytes(&Model::from_parts(parts).unwrap().to_bytes()).unwrap();
        assert_eq!(m.cf_kind(), "lightgcn");
        // One item: its factor, scaled by the edge weight c/√(c·d).
        let c0 = als::confidence(3.0, 1.0);
        let x = m.fold_in(&[(0, 3.0)]).unwrap();
        let d = m.popularity().listeners[0] as f32;
        let q = m.parts.item_factors.dequantize_row(0);
        for (a, b) in x.iter().zip(&q) {
            assert!((a - (c0 / d).sqrt() * b).abs() < 1e-6, "{x:?} vs {q:?}");
        }
        // Two: each by its confidence over the listener's total.
        let x = m.fold_in(&[(0, 3.0), (1, 0.0)]).unwrap();
        let c1 = 1.0;
        let d1 = m.popularity().listeners[1] as f32;
        let q1 = m.parts.item_factors.dequantize_row(1);
        for ((a, b0), b1) in x.iter().zip(&q).zip(&q1) {
            let want = c0 / ((c0 + c1) * d).sqrt() * b0 + c1 / ((c0 + c1) * d1).sqrt() * b1;
            assert!((a - want).abs() < 1e-5, "{a} vs {want}");
        }
    }

    #[test]
    fn a_version_1_fusion_section_is_still_read() {
        let m = Model::from_parts(tiny()).unwrap();
        let mut owned = with_v4_meta(&m);
        owned.push(bundle::section(kind::FUSION, &(0.5f32, 0.25f32, -0.1f32)));
        let mut v1 = bundle::encode_legacy(1, &owned);
        let f = Model::from_bytes(&v1).unwrap().fusion();
        assert_eq!(
            (f.weights.alpha, f.weights.beta, f.weights.gamma),
            (0.5, 0.25, -0.1)
        );
        assert_eq!(f.short, f.weights);
        // The same bytes as version 2 are too short for its layout.
        v1[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(Model::from_bytes(&v1).is_err());
    }

    #[test]
    fn short_histories_get_their_own_weights() {
        let w = FusionWeights::default();
        let short = FusionWeights { gamma: -0.5, ..w };
        let f = Fusion {
            weights: w,
            short,
            short_max_items: 3,
        };
        assert_eq!(f.for_history(3), short);
        assert_eq!(f.for_history(4), w);
    }

    #[test]
    fn recommend_excludes_seen_items() {
        let m = Model::from_parts(tiny()).unwrap();
        let recs = m.recommend_user(0, 10);
        assert_eq!(recs.iter().map(|s| s.index).collect::<Vec<_>>(), vec![2, 1]);
        let recs = m.recommend_user(1, 10);
        assert_eq!(recs.iter().map(|s| s.index).collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn inconsistent_sections_are_refused() {
        let mut p = tiny();
        p.item_names.pop();
        assert!(matches!(
            Model::from_parts(p),
            Err(BundleError::Section { .. })
        ));
        let mut p = tiny();
        p.user_ids[1] = "u1".into();
        assert!(matches!(
            Model::from_parts(p),
            Err(BundleError::Section { .. })
        ));
        let mut p = tiny();
        p.meta.params.factors = 3;
        assert!(matches!(
            Model::from_parts(p),
            Err(BundleError::Section { .. })
        ));
    }

    #[test]
    fn a_missing_section_is_named() {
        let m = Model::from_parts(tiny()).unwrap();
        let bytes = m.to_bytes();
        let (_, secs) = bundle::decode(&bytes).unwrap();
        let kept: Vec<(u32, Vec<u8>)> = secs
            .iter()
            .filter(|s| s.kind != kind::USERS)
            .map(|s| (s.kind, s.bytes.to_vec()))
            .collect();
        let err = Model::from_bytes(&bundle::encode(&kept)).unwrap_err();
        assert_eq!(err, BundleError::Missing("users"));
        assert!(err.to_string().contains("users"));
    }

    #[test]
    fn a_factor_without_signal_falls_back_to_popularity() {
        let m = Model::from_parts(tiny()).unwrap();
        let recs = m.recommend(&[0.0, 0.0], &[1], 3);
        let pop = m.popular(&[1], 3);
        assert_eq!(recs, pop);
        assert_eq!(recs[0].index, 2); // c: 8 plays beats a: 3 plays, both 1 listener
    }

    #[test]
    fn fold_in_rejects_bad_plays_and_indices() {
        let m = Model::from_parts(tiny()).unwrap();
        assert!(m.fold_in(&[(9, 1.0)]).is_err());
        assert!(m.fold_in(&[(0, -1.0)]).is_err());
        assert!(m.fold_in(&[(0, f32::NAN)]).is_err());
        assert_eq!(m.fold_in(&[]).unwrap(), vec![0.0, 0.0]);
    }

    /// A 300-item model with random factors, clustered content, some items
    /// nobody played, and (optionally) a rank-6 sketch on random axes.
    pub(super) fn random_hybrid(sketch: bool) -> Model {
        use rand::{Rng, SeedableRng};
        let n = 300;
        let f = 4;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let content = crate::sketch::tests::random_content(n, 40, 5, 7);
        let factors: Vec<f32> = (0..n * f).map(|_| rng.random_range(-1.0..1.0)).collect();
        let plays = Csr::from_triplets(
            2,
            n,
            (0..n as u32)
                .filter(|i| i % 5 != 0)
                .map(|i| (i % 2, i, 1.0 + (i % 7) as f32))
                .collect(),
        );
        Model::from_parts(ModelParts {
            meta: Meta {
                params: AlsParams {
                    factors: f as u32,
                    ..AlsParams::default()
                },
                source: "test".into(),
                trainer: "unit".into(),
                user_reference: 0.0,
            },
            item_ids: (0..n).map(|i| i.to_string()).collect(),
            item_names: (0..n).map(|i| i.to_string()).collect(),
            popularity: Popularity::from_plays(&plays),
            item_factors: QMatrix::quantize(&factors, n, f),
            user_ids: vec!["u0".into(), "u1".into()],
            user_factors: QMatrix::quantize(&factors[..2 * f], 2, f),
            user_items: plays,
            content_sketch: sketch.then(|| crate::sketch::tests::sketch_of(&content, 6)),
            content: Some(content),
            fusion: None,
            item_aliases: Vec::new(),
            facts: None,
            credits: None,
            genre_clusters: None,
            item_item: None,
            cf_choice: None,
            shortlist: None,
        })
        .unwrap()
    }

    #[test]
    fn sketched_fusion_gives_exactly_the_full_scan_list() {
        use rand::{Rng, SeedableRng};
        let sketched = random_hybrid(true);
        let plain = random_hybrid(false);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let weights = [
            FusionWeights::default(),
            FusionWeights::CONTENT,
            FusionWeights::CF,
            FusionWeights {
                alpha: 0.2,
                beta: 1.5,
                gamma: -0.4,
                cold: 0.5,
            },
            FusionWeights {
                alpha: 1.0,
                beta: -0.3,
                gamma: 0.0,
                cold: 1.0,
            },
        ];
        for trial in 0..60 {
            let len = rng.random_range(1..9);
            let history: Vec<(u32, f32)> = (0..len)
                .map(|_| (rng.random_range(0..300), rng.random_range(0.0..20.0)))
                .collect();
            let mut exclude: Vec<u32> = history.iter().map(|&(i, _)| i).collect();
            exclude.extend((0..rng.random_range(0..5)).map(|_| rng.random_range(0..300u32)));
            let k = rng.random_range(1..80);
            let w = weights[trial % weights.len()];
            let x = sketched.fold_in(&history).unwrap();
            let got = sketched.recommend_fused(&x, &history, &exclude, k, w);
            let p = sketched.fusion_parts(&x, &history, &exclude);
            let want = top_k(
                (0..300)
                    .filter(|&i| p.keep[i])
                    .map(|i| Scored {
                        index: i as u32,
                        score: p.score(&w, sketched.popularity_term(), i),
                    })
                    .collect(),
                k,
            );
            assert_eq!(got.len(), want.len(), "trial {trial}");
            for (g, s) in got.iter().zip(&want) {
                assert_eq!((g.index, g.score), (s.index, s.score), "trial {trial}");
                assert_eq!(g.content, p.content[s.index as usize]);
            }
            // Without a sketch the content part is standardised by a scan:
            // the same scores up to rounding.
            let scan = plain.recommend_fused(&x, &history, &exclude, k, w);
            for (g, s) in got.iter().zip(&scan) {
                assert!(
                    (g.score - s.score).abs() < 1e-4,
                    "trial {trial}: {} vs {}",
                    g.score,
                    s.score
                );
            }
        }
    }

    #[test]
    fn a_sketch_survives_the_bundle_and_is_refused_without_content() {
        let m = random_hybrid(true);
        let back = Model::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back.parts(), m.parts());
        let mut parts = m.into_parts();
        parts.content = None;
        let err = Model::from_parts(parts).unwrap_err().to_string();
        assert!(err.contains("content_sketch"), "{err}");
    }

    #[test]
    fn neighbours_through_the_sketch_are_the_scanned_ones() {
        let sketched = random_hybrid(true);
        let plain = random_hybrid(false);
        for seed in 0..30u32 {
            let h = [(seed * 7 % 300, 2.0), (seed * 11 % 300, 1.0)];
            let seen = [h[0].0, h[1].0];
            let q = sketched.taste(&h).unwrap();
            let a = sketched.played_neighbours(&q, &seen, SHORT_NEIGHBOURS);
            let b = plain.played_neighbours(&q, &seen, SHORT_NEIGHBOURS);
            assert_eq!(a.len(), SHORT_NEIGHBOURS);
            assert!(a.iter().all(|&i| i % 5 != 0 && !seen.contains(&i)), "{a:?}");
            // A shortlist of 200 of 300 items is all but exact.
            assert_eq!(a, b, "history {h:?}");
            // The neighbours are folded in: they change the factor.
            let x = sketched.fold_in_with_neighbours(&h).unwrap();
            assert_eq!(x, plain.fold_in_with_neighbours(&h).unwrap());
            assert_ne!(x, sketched.fold_in(&h).unwrap());
        }
    }
}
