//! wasm-bindgen bindings over `timbral-core`: the recommender a web page or
//! a Worker loads. No text encoder here (that is `timbral-encoder-wasm`, a
//! second module fetched on the first search), so this one starts fast.
//!
//! Items cross the boundary by id (strings), never by index. Every error is
//! a JS `Error` whose message names the problem; bad input never panics.

use serde::{Deserialize, Serialize};
use timbral_core::listener::{self, Feedback, Profile};
use timbral_core::taste::Session;
use timbral_core::view::{HistoryEntry, ItemId, WeightsIn};
use timbral_core::{Model, Scored};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
export interface HistoryEntry { item: string; plays?: number }
export interface Weights { alpha: number; beta: number; gamma: number; cold?: number }
export interface RecommendOptions {
  /** The listener's items; default: the in-memory profile. */
  history?: HistoryEntry[];
  k?: number;
  exclude?: string[];
  weights?: Weights;
}
export interface ItemRef { item: string; name: string }
export interface Explanation {
  /** Standardised parts of the score, before weighting. */
  cf: number; content: number; popularity: number;
  /** The 1–3 history items that support it most. */
  because: ItemRef[];
  sharedTags: string[];
}
export interface ScoredItem { item: string; name: string; score: number; tags: string[] }
export interface RecommendedItem extends ScoredItem { explanation: Explanation }
export interface ColdStartOptions { genres?: string[]; seedItems?: string[]; k?: number }
export interface SearchOptions {
  k?: number; genre?: string;
  /** searchVector: the query's text, so the crowd's labels and the
   *  catalogue's names rank with the embedding (without it: cosine alone). */
  query?: string;
  /** Only items of these years ("1980..1989"), this energy ("0.7..",
   *  measured or predicted) or this mood ("chill": upbeat, chill, dark,
   *  melancholic, aggressive, romantic). */
  year?: string; energy?: string; mood?: string;
}
export interface TasteShare { label: string; share: number }
export type Stage = "cold_start" | "fallback" | "ranking" | "model_based";
export type SessionCommand =
  | { op: "coldstart"; genres?: string[]; k?: number }
  | { op: "recommend"; k?: number }
  | { op: "feedback"; item: string; kind: "like" | "dislike" | "skip" }
  | { op: "profile" } | { op: "save" } | { op: "load"; profile: string };
export interface SessionItem extends ScoredItem {
  /** The taste that picked it; null for cold start or an unexplored cluster. */
  taste: number | null; stage: Stage; explore: boolean;
  because: ItemRef[]; shared_tags: string[];
}
export interface TasteModelReport {
  kind: "logistic" | "boosted"; auc: number; log_loss: number; samples: number;
  logistic_auc: number; boosted_auc: number | null;
}
export interface TasteReport {
  /** Its leading genre cluster, or its own leading genres where another taste leads with that cluster. */
  id: number; title: string; cluster: string | null;
  top_genres: [string, number][]; clusters: [string, number][];
  audio: Record<string, number> | null; confidence: number;
  liked: number; disliked: number; skipped: number; model: TasteModelReport | null;
}
export type SessionReply =
  | { stage: Stage; items: SessionItem[] }
  | { ok: true; stage: Stage }
  | { stage: Stage; interactions: number; tastes: TasteReport[] }
  | { profile: string }
  | { ok: false; error: string };
export interface BundleSummary {
  formatVersion: number; items: number; users: number; factors: number;
  hasContent: boolean; modelSha256?: string; tokenizerSha256?: string; source: string;
  /** The CF model: the factors, `als` (or `ials` where their regularisation is frequency-scaled), then any item-item model blended in (`als+rp3beta`, `ials+ease`, …). */
  cf: string;
}
"#;

fn error(msg: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&msg.to_string()).into()
}

/// A reply as a JS value, through one JSON string: `JSON.parse` builds a
/// top 50 with explanations faster than setting each field across the
/// boundary (serde-wasm-bindgen), and numbers read exactly as in the
/// Worker's JSON replies.
fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(v).map_err(error)?;
    js_sys::JSON::parse(&json)
}

/// Reads an options object; `undefined`/`null` give the defaults. Goes
/// through `serde_json::Value` because serde-wasm-bindgen reads only the
/// fields a struct declares: a misspelt option would pass unnoticed.
fn options<T: for<'de> Deserialize<'de> + Default>(v: JsValue, what: &str) -> Result<T, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(T::default());
    }
    let value: serde_json::Value =
        serde_wasm_bindgen::from_value(v).map_err(|e| error(format!("{what}: {e}")))?;
    serde_json::from_value(value).map_err(|e| error(format!("{what}: {e}")))
}

/// Fetches a URL to bytes with the global `fetch` (window, worker, Node).
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, JsValue> {
    let global = js_sys::global();
    let fetch: js_sys::Function = js_sys::Reflect::get(&global, &"fetch".into())?
        .dyn_into()
        .map_err(|_| error("this runtime has no fetch(); pass the bytes instead"))?;
    let promise: js_sys::Promise = fetch.call1(&global, &url.into())?.dyn_into()?;
    let resp = JsFuture::from(promise)
        .await
        .map_err(|e| error(format!("cannot fetch {url}: {}", describe(&e))))?;
    let ok = js_sys::Reflect::get(&resp, &"ok".into())?
        .as_bool()
        .unwrap_or(false);
    if !ok {
        let status = js_sys::Reflect::get(&resp, &"status".into())?
            .as_f64()
            .unwrap_or(0.0);
        return Err(error(format!("cannot fetch {url}: HTTP {status}")));
    }
    let array_buffer: js_sys::Function =
        js_sys::Reflect::get(&resp, &"arrayBuffer".into())?.dyn_into()?;
    let buf = JsFuture::from(array_buffer.call0(&resp)?.dyn_into::<js_sys::Promise>()?).await?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RecommendOptions {
    history: Option<Vec<HistoryEntry>>,
    k: Option<usize>,
    #[serde(default)]
    exclude: Vec<ItemId>,
    weights: Option<WeightsIn>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ColdStartOptions {
    #[serde(default)]
    genres: Vec<String>,
    #[serde(default)]
    seed_items: Vec<String>,
    k: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SearchOptions {
    k: Option<usize>,
    genre: Option<String>,
    query: Option<String>,
    year: Option<String>,
    energy: Option<String>,
    mood: Option<String>,
}

impl SearchOptions {
    fn filter(&self) -> Result<timbral_core::facts::Filter, JsValue> {
        timbral_core::facts::Filter::parse(
            self.year.as_deref(),
            self.energy.as_deref(),
            self.mood.as_deref(),
        )
        .map_err(error)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BundleSummary<'a> {
    format_version: u32,
    items: usize,
    users: usize,
    factors: usize,
    has_content: bool,
    model_sha256: Option<&'a str>,
    tokenizer_sha256: Option<&'a str>,
    source: &'a str,
    cf: String,
}

/// A loaded bundle plus the listener's in-memory profile.
#[wasm_bindgen]
pub struct Recommender {
    model: Model,
    version: u32,
    /// The listener's profile and which taste showed what.
    session: Session,
}

impl Recommender {
    fn index(&self, id: &str) -> Result<u32, JsValue> {
        self.model.item_index(id).map_err(error)
    }

    fn indices(&self, ids: &[String]) -> Result<Vec<u32>, JsValue> {
        ids.iter().map(|id| self.index(id)).collect()
    }

    fn scored_list(&self, list: &[Scored]) -> Result<JsValue, JsValue> {
        to_js(&self.model.scored_views(list))
    }
}

#[wasm_bindgen]
impl Recommender {
    /// Loads a bundle from bytes. A corrupt, truncated, foreign or newer
    /// bundle is refused whole with the reason.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Recommender, JsValue> {
        let version = Model::inspect(bytes).map_err(error)?.version;
        let model = Model::from_bytes(bytes).map_err(error)?;
        Ok(Recommender {
            model,
            version,
            session: Session::default(),
        })
    }

    /// Fetches a bundle from a URL and loads it.
    pub async fn fetch(url: String) -> Result<Recommender, JsValue> {
        let bytes = fetch_bytes(&url).await?;
        Recommender::from_bytes(&bytes).map_err(|e| error(format!("{url}: {}", describe(&e))))
    }

    /// What the bundle holds.
    #[wasm_bindgen(unchecked_return_type = "BundleSummary")]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let c = self.model.content();
        to_js(&BundleSummary {
            format_version: self.version,
            items: self.model.n_items(),
            users: self.model.n_users(),
            factors: self.model.factors(),
            has_content: c.is_some(),
            model_sha256: c.map(|c| c.model_sha256.as_str()),
            tokenizer_sha256: c.map(|c| c.tokenizer_sha256.as_str()),
            source: &self.model.meta().source,
            cf: self.model.cf_kind(),
        })
    }

    /// Fused recommendations with explanations.
    #[wasm_bindgen(unchecked_return_type = "RecommendedItem[]")]
    pub fn recommend(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RecommendOptions | undefined")] opts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let o: RecommendOptions = options(opts, "recommend options")?;
        let m = &self.model;
        let (history, mut exclude) = match o.history {
            Some(h) => (m.resolve_history(&h).map_err(error)?, Vec::new()),
            None => (
                self.session.profile.history(m),
                self.session.profile.excluded(m),
            ),
        };
        exclude.extend(m.resolve_all(&o.exclude).map_err(error)?);
        let recs = m
            .recommend_explained(
                &history,
                &exclude,
                o.k.unwrap_or(10),
                o.weights.map(Into::into),
            )
            .map_err(error)?;
        to_js(&recs.iter().map(|r| m.explained_view(r)).collect::<Vec<_>>())
    }

    /// Items most similar in content to `item`.
    #[wasm_bindgen(unchecked_return_type = "ScoredItem[]")]
    pub fn similar(&self, item: &str, k: usize) -> Result<JsValue, JsValue> {
        listener::check_k(k).map_err(error)?;
        let list = self.model.similar(self.index(item)?, k).map_err(error)?;
        self.scored_list(&list)
    }

    /// Search by words in names and tags: no encoder needed.
    #[wasm_bindgen(js_name = searchText, unchecked_return_type = "ScoredItem[]")]
    pub fn search_text(
        &self,
        query: &str,
        #[wasm_bindgen(unchecked_param_type = "SearchOptions | undefined")] opts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let o: SearchOptions = options(opts, "search options")?;
        let list = self
            .model
            .search_text_filtered(query, o.genre.as_deref(), &o.filter()?, o.k.unwrap_or(10))
            .map_err(error)?;
        self.scored_list(&list)
    }

    /// Semantic search with a query embedding from the text encoder.
    #[wasm_bindgen(js_name = searchVector, unchecked_return_type = "ScoredItem[]")]
    pub fn search_vector(
        &self,
        embedding: &[f32],
        #[wasm_bindgen(unchecked_param_type = "SearchOptions | undefined")] opts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let o: SearchOptions = options(opts, "search options")?;
        let k = listener::check_k(o.k.unwrap_or(10)).map_err(error)?;
        let list = self
            .model
            .search_filtered(
                o.query.as_deref().unwrap_or(""),
                embedding,
                o.genre.as_deref(),
                &o.filter()?,
                k,
            )
            .map_err(error)?;
        self.scored_list(&list)
    }

    /// Refuses an encoder whose files differ from the bundle's.
    #[wasm_bindgen(js_name = checkEncoder)]
    pub fn check_encoder(&self, model_sha256: &str, tokenizer_sha256: &str) -> Result<(), JsValue> {
        self.model
            .check_encoder(model_sha256, tokenizer_sha256)
            .map_err(error)
    }

    /// Onboarding picks: popular, genre-diverse, near the seeds.
    #[wasm_bindgen(js_name = coldStart, unchecked_return_type = "ScoredItem[]")]
    pub fn cold_start(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ColdStartOptions | undefined")] opts: JsValue,
    ) -> Result<JsValue, JsValue> {
        let o: ColdStartOptions = options(opts, "coldStart options")?;
        let seeds = self.indices(&o.seed_items)?;
        let list = self
            .model
            .cold_start(&o.genres, &seeds, o.k.unwrap_or(12))
            .map_err(error)?;
        self.scored_list(&list)
    }

    /// A playlist continuing the seeds (MMR, λ = 0.3); the seeds and the
    /// profile's items are left out.
    #[wasm_bindgen(unchecked_return_type = "ScoredItem[]")]
    pub fn autofill(&self, seeds: Vec<String>, k: usize) -> Result<JsValue, JsValue> {
        let seeds = self.indices(&seeds)?;
        let mut exclude: Vec<u32> = self
            .session
            .profile
            .history(&self.model)
            .iter()
            .map(|&(i, _)| i)
            .collect();
        exclude.extend(self.session.profile.excluded(&self.model));
        let list = self
            .model
            .autofill(&seeds, &exclude, k, listener::AUTOFILL_LAMBDA)
            .map_err(error)?;
        self.scored_list(&list)
    }

    /// "like" | "dislike" | "skip": updates the profile (its history and
    /// its tastes), so the next `recommend` and `session` change.
    pub fn feedback(&mut self, item: &str, kind: &str) -> Result<(), JsValue> {
        let f: Feedback = kind.parse().map_err(error)?;
        self.index(item)?;
        let line = serde_json::json!({"op": "feedback", "item": item, "kind": f}).to_string();
        let v = self.session.answer(&self.model, &line);
        match v.get("error").and_then(|e| e.as_str()) {
            Some(e) => Err(error(e)),
            None => Ok(()),
        }
    }

    /// Trains one taste's classifier on the device from its liked and
    /// disliked items (plus sampled negatives, as a listener's taste is
    /// trained), and reports how it did on its held-out slice.
    #[wasm_bindgen(js_name = trainTasteModel, unchecked_return_type = "TasteModelReport")]
    pub fn train_taste_model(
        &self,
        liked: Vec<String>,
        disliked: Vec<String>,
    ) -> Result<JsValue, JsValue> {
        for id in liked.iter().chain(&disliked) {
            self.index(id)?;
        }
        let m = timbral_core::taste::features::train_members(&self.model, &liked, &disliked)
            .ok_or_else(|| {
                error(format!(
                    "a taste model needs at least {} liked and {} disliked items",
                    timbral_core::taste::STAGES.model_likes,
                    timbral_core::taste::STAGES.model_negatives
                ))
            })?;
        to_js(&serde_json::json!({
            "kind": m.model.kind(), "auc": m.auc, "log_loss": m.log_loss, "samples": m.samples,
            "logistic_auc": m.logistic_auc, "boosted_auc": m.boosted_auc,
        }))
    }

    /// One command of the session protocol, as `timbral session` reads
    /// them: `{op: "coldstart", genres, k}`, `{op: "recommend", k}`,
    /// `{op: "feedback", item, kind}`, `{op: "profile"}`, `{op: "save"}`,
    /// `{op: "load", profile}`. The reply is the CLI's; a bad command
    /// answers `{ok: false, error}` and changes nothing.
    #[wasm_bindgen(unchecked_return_type = "SessionReply")]
    pub fn session(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "SessionCommand | string")] command: JsValue,
    ) -> Result<JsValue, JsValue> {
        let line = match command.as_string() {
            Some(s) => s,
            None => js_sys::JSON::stringify(&command)
                .map_err(|_| error("the session command cannot be read as JSON"))?
                .as_string()
                .unwrap_or_default(),
        };
        to_js(&self.session.answer(&self.model, &line))
    }

    /// Adds plays of an item to the profile (an import, an onboarding pick).
    #[wasm_bindgen(js_name = addPlays)]
    pub fn add_plays(&mut self, item: &str, plays: f32) -> Result<(), JsValue> {
        let i = self.index(item)?;
        self.session
            .profile
            .add(&self.model, i, plays)
            .map_err(error)
    }

    /// The profile as bytes (postcard, with a magic and a version).
    #[wasm_bindgen(js_name = saveProfile)]
    pub fn save_profile(&self) -> Vec<u8> {
        self.session.profile.to_bytes()
    }

    /// Restores a saved profile; a foreign or damaged one is refused.
    #[wasm_bindgen(js_name = loadProfile)]
    pub fn load_profile(&mut self, bytes: &[u8]) -> Result<(), JsValue> {
        self.session = Session::new(Profile::from_bytes(bytes).map_err(error)?);
        Ok(())
    }

    /// Forgets the profile.
    #[wasm_bindgen(js_name = resetProfile)]
    pub fn reset_profile(&mut self) {
        self.session = Session::default();
    }

    /// How many items the profile holds.
    #[wasm_bindgen(js_name = profileSize)]
    pub fn profile_size(&self) -> usize {
        self.session.profile.history(&self.model).len()
    }

    /// The profile's top labels (tags and genres) with their shares.
    #[wasm_bindgen(js_name = tasteSummary, unchecked_return_type = "TasteShare[]")]
    pub fn taste_summary(&self, n: Option<usize>) -> Result<JsValue, JsValue> {
        let h = self.session.profile.history(&self.model);
        to_js(&self.model.taste_view(&h, n.unwrap_or(8)))
    }

    /// The most common labels among the most popular items: genres to
    /// offer at onboarding.
    #[wasm_bindgen(js_name = topGenres)]
    pub fn top_genres(&self, n: usize) -> Vec<String> {
        self.model.top_genres(n)
    }
}
