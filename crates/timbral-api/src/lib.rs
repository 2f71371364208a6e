//! Timbral's HTTP API without a runtime: routing, request validation and
//! the JSON replies, over `timbral-core`. Pure, so it is tested natively;
//! the Worker (`worker/src/edge.rs`, workers-rs) and the native server
//! (`timbral-server`, axum) only move bytes between this and their runtime,
//! so both answer every route alike.
//!
//! Every reply to bad input is a 4xx whose JSON `error` says what was wrong
//! (the field, the id, the limit). Nothing here panics on input.

pub mod auth;
pub mod metrics;
pub mod stateful;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use timbral_core::listener::{self, MAX_K};
use timbral_core::view::{HistoryEntry, ItemId, WeightsIn};
use timbral_core::{Error, Model, Scored};

/// Request bodies larger than this are refused with 413: room for a
/// `/session` call carrying a profile with five tastes' models.
pub const MAX_BODY: usize = 256 * 1024;

/// Commands one `/session` call may carry.
pub const MAX_COMMANDS: usize = 100;

/// An HTTP reply: status and a body (JSON unless `content_type` says not).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

pub const JSON: &str = "application/json; charset=utf-8";

impl Reply {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        match serde_json::to_string(value) {
            Ok(body) => Reply {
                status,
                content_type: JSON,
                body,
            },
            Err(e) => Reply::error(500, format!("cannot encode the reply: {e}")),
        }
    }

    /// `{"error": message, "status": status}`.
    pub fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: JSON,
            body: json!({ "error": message.into(), "status": status }).to_string(),
        }
    }

    pub fn text(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            content_type,
            body,
        }
    }
}

/// A core error as HTTP: unknown ids are 404, bad values 400.
fn core_error(e: Error) -> Reply {
    match e {
        Error::UnknownItem(_) | Error::UnknownUser(_) => Reply::error(404, e.to_string()),
        Error::InvalidInput(_) => Reply::error(400, e.to_string()),
        Error::Bundle(_) => Reply::error(500, e.to_string()),
    }
}

/// The API's routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Metrics,
    Recs,
    SimilarTrack(String),
    Search,
    ColdStart,
    Autofill,
    Home,
    TasteSummary,
    Session,
    /// A known user's top-K (`GET /rec/users/{id}`): precomputed where the
    /// runtime has a store (Redis natively), computed otherwise.
    UserRecs(String),
    /// Known users nearest a known user (`GET /rec/users/{id}/similar`).
    SimilarUsers(String),
    /// Why an item suits a known user (`GET /explain/{user}/{item}`).
    Explain(String, String),
    /// A like, dislike or skip into the token's listener's stored profile
    /// (`POST /feedback`; [`stateful`]).
    Feedback,
    /// The token's listener's tastes (`GET /profile`).
    Profile,
}

impl Route {
    /// The route's name in metrics (ids left out, so labels stay few).
    pub fn label(&self) -> &'static str {
        match self {
            Route::Healthz => "/healthz",
            Route::Metrics => "/metrics",
            Route::Recs => "/recs",
            Route::SimilarTrack(_) => "/recs/track/{id}",
            Route::Search => "/search",
            Route::ColdStart => "/coldstart",
            Route::Autofill => "/autofill",
            Route::Home => "/recs/home",
            Route::TasteSummary => "/taste/summary",
            Route::Session => "/session",
            Route::UserRecs(_) => "/rec/users/{id}",
            Route::SimilarUsers(_) => "/rec/users/{id}/similar",
            Route::Explain(..) => "/explain/{user}/{item}",
            Route::Feedback => "/feedback",
            Route::Profile => "/profile",
        }
    }

    /// Whether the route reads a JSON body.
    pub fn has_body(&self) -> bool {
        !matches!(
            self,
            Route::Healthz
                | Route::Metrics
                | Route::SimilarTrack(_)
                | Route::UserRecs(_)
                | Route::SimilarUsers(_)
                | Route::Explain(..)
                | Route::Profile
        )
    }
}

/// Finds the route for a method and path: 404 for an unknown path, 405
/// (naming the allowed method) for a known path with the wrong method.
pub fn route(method: &str, path: &str) -> Result<Route, Reply> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let (allowed, route) = match path {
        "/healthz" => ("GET", Route::Healthz),
        "/metrics" => ("GET", Route::Metrics),
        "/recs" => ("POST", Route::Recs),
        "/search" => ("POST", Route::Search),
        "/coldstart" => ("POST", Route::ColdStart),
        "/autofill" => ("POST", Route::Autofill),
        "/recs/home" => ("POST", Route::Home),
        "/taste/summary" => ("POST", Route::TasteSummary),
        "/session" => ("POST", Route::Session),
        "/feedback" => ("POST", Route::Feedback),
        "/profile" => ("GET", Route::Profile),
        _ => match known_user_route(path).or_else(|| {
            path.strip_prefix("/recs/track/")
                .and_then(segment)
                .map(Route::SimilarTrack)
        }) {
            Some(r) => ("GET", r),
            None => return Err(Reply::error(404, format!("no route for {path}"))),
        },
    };
    let method_ok = method == allowed || (allowed == "GET" && method == "HEAD");
    if method_ok {
        Ok(route)
    } else {
        Err(Reply::error(
            405,
            format!("{path} takes {allowed}, not {method}"),
        ))
    }
}

/// One non-empty path segment, decoded.
fn segment(s: &str) -> Option<String> {
    (!s.is_empty() && !s.contains('/')).then(|| percent_decode(s))
}

/// `/rec/users/{id}`, `/rec/users/{id}/similar`, `/explain/{user}/{item}`.
fn known_user_route(path: &str) -> Option<Route> {
    if let Some(rest) = path.strip_prefix("/rec/users/") {
        return match rest.strip_suffix("/similar") {
            Some(id) => segment(id).map(Route::SimilarUsers),
            None => segment(rest).map(Route::UserRecs),
        };
    }
    let (user, item) = path.strip_prefix("/explain/")?.split_once('/')?;
    Some(Route::Explain(segment(user)?, segment(item)?))
}

/// Decodes `%XX` escapes in a path segment (ids are usually plain).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a JSON body into `T`, refusing what is too big, empty, malformed
/// or carries unknown fields, with the reason (and where, for JSON).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    if body.len() > MAX_BODY {
        return Err(too_large(body.len()));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Reply::error(400, "a JSON request body is required"));
    }
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_data() {
            "invalid request"
        } else {
            "malformed JSON"
        };
        Reply::error(400, format!("{what}: {e}"))
    })
}

pub fn too_large(len: usize) -> Reply {
    Reply::error(
        413,
        format!("the request body is {len} bytes; the limit is {MAX_BODY}"),
    )
}

fn k_or(k: Option<usize>, default: usize) -> Result<usize, Reply> {
    listener::check_k(k.unwrap_or(default)).map_err(core_error)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecsBody {
    pub history: Vec<HistoryEntry>,
    pub k: Option<usize>,
    #[serde(default)]
    pub exclude: Vec<ItemId>,
    pub weights: Option<WeightsIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    pub query: String,
    pub k: Option<usize>,
    pub genre: Option<String>,
    /// Filters: `"1980..1989"`, `"0.7.."`, a mood name.
    pub year: Option<String>,
    pub energy: Option<String>,
    pub mood: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ColdStartBody {
    #[serde(default)]
    genres: Vec<String>,
    #[serde(default)]
    seed_items: Vec<ItemId>,
    k: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AutofillBody {
    seeds: Vec<ItemId>,
    k: Option<usize>,
    /// Items to leave out besides the seeds (the listener's library).
    #[serde(default)]
    exclude: Vec<ItemId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HomeBody {
    history: Vec<HistoryEntry>,
    /// Items per carousel.
    k: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TasteBody {
    history: Vec<HistoryEntry>,
    /// How many labels.
    n: Option<usize>,
}

/// `/session`: the session protocol, stateless. The listener's saved
/// profile (base64, as `{"op":"save"}` gives it; none for a new listener)
/// and the commands to run in order; the replies come back with the
/// profile as it is after them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    profile: Option<String>,
    commands: Vec<Value>,
}

/// The longest search query accepted, in bytes (the encoder truncates to
/// its 256 word pieces anyway).
pub const MAX_QUERY: usize = 1024;

impl SearchBody {
    /// The trimmed query, refused when empty or too long.
    pub fn query(&self) -> Result<&str, Reply> {
        let q = self.query.trim();
        if q.is_empty() {
            return Err(Reply::error(400, "query is empty"));
        }
        if q.len() > MAX_QUERY {
            return Err(Reply::error(
                400,
                format!("query is {} bytes; the limit is {MAX_QUERY}", q.len()),
            ));
        }
        Ok(q)
    }
}

/// A loaded bundle, served.
pub struct Api {
    model: Model,
    version: u32,
    bytes: usize,
}

/// Items per carousel on the home screen, unless asked otherwise.
const HOME_K: usize = 10;

impl Api {
    /// Loads a bundle; a corrupt, truncated or foreign one is refused whole.
    pub fn from_bytes(bytes: &[u8]) -> Result<Api, String> {
        let version = Model::inspect(bytes).map_err(|e| e.to_string())?.version;
        let model = Model::from_bytes(bytes).map_err(|e| e.to_string())?;
        Ok(Api {
            model,
            version,
            bytes: bytes.len(),
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// `memory_bytes`: the isolate's wasm linear memory, where the runtime
    /// can tell (the Workers limit is 128 MB per isolate).
    pub fn healthz(&self, encoder: bool, memory_bytes: Option<usize>) -> Reply {
        let c = self.model.content();
        Reply::json(
            200,
            &json!({
                "status": "ok",
                "bundleLoaded": true,
                "formatVersion": self.version,
                "items": self.model.n_items(),
                "users": self.model.n_users(),
                "factors": self.model.factors(),
                "bundleBytes": self.bytes,
                "hasContent": c.is_some(),
                "semanticSearch": encoder && c.is_some(),
                "source": self.model.meta().source,
                "cf": self.model.cf_kind(),
                "wasmMemoryBytes": memory_bytes,
            }),
        )
    }

    /// Serves every route but `/healthz`, `/metrics` and `/search` (which
    /// need the runtime: the encoder service, the counters).
    pub fn handle(&self, route: &Route, query: &str, body: &[u8]) -> Reply {
        if route.is_stateful(body) {
            return Api::no_listener_store(route);
        }
        let result = match route {
            Route::Recs => parse_body(body).and_then(|b| self.recs(b)),
            Route::SimilarTrack(id) => self.similar(id, query),
            Route::ColdStart => parse_body(body).and_then(|b| self.cold_start(b)),
            Route::Autofill => parse_body(body).and_then(|b| self.autofill(b)),
            Route::Home => parse_body(body).and_then(|b| self.home(b)),
            Route::TasteSummary => parse_body(body).and_then(|b| self.taste(b)),
            Route::Session => parse_body(body).and_then(|b| self.session(b)),
            Route::UserRecs(id) => self.user_recs(id, query, None),
            Route::SimilarUsers(id) => self.similar_users(id, query),
            Route::Explain(user, item) => self.explain(user, item),
            Route::Healthz | Route::Metrics | Route::Search | Route::Feedback | Route::Profile => {
                Err(Reply::error(
                    500,
                    format!("{} is served by the runtime adapter", route.label()),
                ))
            }
        };
        result.unwrap_or_else(|r| r)
    }

    fn history(&self, h: &[HistoryEntry]) -> Result<Vec<(u32, f32)>, Reply> {
        if h.len() > 10_000 {
            return Err(Reply::error(
                400,
                format!("history has {} entries; the limit is 10000", h.len()),
            ));
        }
        self.model.resolve_history(h).map_err(core_error)
    }

    fn items(&self, list: &[Scored]) -> Value {
        serde_json::to_value(self.model.scored_views(list)).unwrap_or(Value::Null)
    }

    /// Fused, explained recommendations (items and explanations as the
    /// wasm package gives them).
    pub fn recommend(&self, body: RecsBody) -> Result<Value, Reply> {
        let history = self.history(&body.history)?;
        let exclude = self.model.resolve_all(&body.exclude).map_err(core_error)?;
        let k = k_or(body.k, 10)?;
        let recs = self
            .model
            .recommend_explained(&history, &exclude, k, body.weights.map(Into::into))
            .map_err(core_error)?;
        let views: Vec<_> = recs.iter().map(|r| self.model.explained_view(r)).collect();
        serde_json::to_value(views).map_err(|e| Reply::error(500, e.to_string()))
    }

    fn recs(&self, body: RecsBody) -> Result<Reply, Reply> {
        Ok(Reply::json(200, &json!({ "items": self.recommend(body)? })))
    }

    fn similar(&self, id: &str, query: &str) -> Result<Reply, Reply> {
        let k = k_or(query_k(query)?, 10)?;
        let i = self.model.item_index(id).map_err(core_error)?;
        let list = self.model.similar(i, k).map_err(core_error)?;
        Ok(Reply::json(
            200,
            &json!({ "item": self.model.item_ref(i), "items": self.items(&list) }),
        ))
    }

    /// A known user's top-K: `precomputed` (what a store such as Redis
    /// held for them: its source, version and list) where given, else
    /// computed as `timbral precompute` ranks them
    /// (`Model::recommend_known_user`). `fallback` says why a store was not
    /// used, where one was asked.
    pub fn user_recs(
        &self,
        id: &str,
        query: &str,
        precomputed: Option<Precomputed>,
    ) -> Result<Reply, Reply> {
        let k = k_or(query_k(query)?, 10)?;
        // A precomputed list needs no factor of the user's: at the edge the
        // bundle is a client one, with no users at all.
        let (source, version, items) = match precomputed {
            Some(p) => {
                let items: Vec<Value> = p
                    .items
                    .iter()
                    .take(k)
                    .map(|(item, score)| {
                        let name = self
                            .model
                            .item_index(item)
                            .map(|i| self.model.item_name(i).to_string())
                            .unwrap_or_default();
                        json!({ "item": item, "name": name, "score": score })
                    })
                    .collect();
                (p.source, p.version, items)
            }
            None => {
                let u = self.model.user_index(id).map_err(core_error)?;
                let recs = self.model.recommend_known_user(u, k);
                let items = recs
                    .iter()
                    .map(|r| {
                        json!({
                            "item": self.model.item_id(r.index),
                            "name": self.model.item_name(r.index),
                            "score": r.score,
                        })
                    })
                    .collect();
                ("computed", None, items)
            }
        };
        Ok(Reply::json(
            200,
            &json!({ "user": id, "source": source, "version": version, "items": items }),
        ))
    }

    fn similar_users(&self, id: &str, query: &str) -> Result<Reply, Reply> {
        let k = k_or(query_k(query)?, 10)?;
        let u = self.model.user_index(id).map_err(core_error)?;
        let users: Vec<Value> = self
            .model
            .similar_users(u, k)
            .iter()
            .map(|s| json!({ "user": self.model.user_id(s.index), "score": s.score }))
            .collect();
        Ok(Reply::json(200, &json!({ "user": id, "users": users })))
    }

    fn explain(&self, user: &str, item: &str) -> Result<Reply, Reply> {
        let u = self.model.user_index(user).map_err(core_error)?;
        let i = self.model.item_index(item).map_err(core_error)?;
        let (items, plays) = self.model.user_history(u);
        let history: Vec<(u32, f32)> = items.iter().copied().zip(plays.iter().copied()).collect();
        let e = self
            .model
            .explain(i, &history, &self.model.history_labels(&history));
        Ok(Reply::json(
            200,
            &json!({
                "user": user,
                "played": items.contains(&i),
                "explanation": self.model.explained_view(&e),
            }),
        ))
    }
}

/// What a store held for a known user: `GET /rec/users/{id}` serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Precomputed {
    /// Where it came from, e.g. `redis`.
    pub source: &'static str,
    /// The precompute run it belongs to, where the store keeps runs apart
    /// (Redis does; Workers KV is overwritten key by key).
    pub version: Option<u64>,
    /// (item id, score), best first.
    pub items: Vec<(String, f32)>,
}

impl Precomputed {
    /// A list as `timbral precompute` writes each user's value
    /// (`[{"item": id, "score": s}, …]`, best first), or an error naming
    /// the key it came from.
    pub fn parse(source: &'static str, key: &str, value: &str) -> Result<Precomputed, Reply> {
        #[derive(Deserialize)]
        struct Entry {
            item: String,
            score: f32,
        }
        let list: Vec<Entry> = serde_json::from_str(value).map_err(|e| {
            Reply::error(
                500,
                format!("the precomputed list at `{key}` is not [{{item, score}}]: {e}"),
            )
        })?;
        Ok(Precomputed {
            source,
            version: None,
            items: list.into_iter().map(|e| (e.item, e.score)).collect(),
        })
    }
}

/// The `k` of a GET route's query string (`?k=20`); any other parameter
/// is refused.
fn query_k(query: &str) -> Result<Option<usize>, Reply> {
    let mut k = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "k" => {
                k = Some(value.parse::<usize>().map_err(|_| {
                    Reply::error(
                        400,
                        format!(
                            "query parameter k must be an integer from 1 to {MAX_K}, got `{}`",
                            percent_decode(value)
                        ),
                    )
                })?)
            }
            other => {
                return Err(Reply::error(
                    400,
                    format!(
                        "unknown query parameter `{}` (only k is accepted)",
                        percent_decode(other)
                    ),
                ))
            }
        }
    }
    Ok(k)
}

impl Api {
    /// Search: semantic with the query's embedding when the encoder gave
    /// one, by words in names and tags otherwise. The reply says which.
    pub fn search(&self, body: &SearchBody, embedding: Option<&[f32]>) -> Reply {
        let run = || -> Result<Reply, Reply> {
            body.query()?;
            let k = k_or(body.k, 10)?;
            let genre = body.genre.as_deref().filter(|g| !g.trim().is_empty());
            let filter = timbral_core::facts::Filter::parse(
                body.year.as_deref(),
                body.energy.as_deref(),
                body.mood.as_deref(),
            )
            .map_err(|e| Reply::error(400, e))?;
            let (mode, list) = match embedding {
                Some(e) => (
                    "semantic",
                    self.model
                        .search_filtered(&body.query, e, genre, &filter, k),
                ),
                None => (
                    "words",
                    self.model
                        .search_text_filtered(&body.query, genre, &filter, k),
                ),
            };
            let list = list.map_err(core_error)?;
            Ok(Reply::json(
                200,
                &json!({ "mode": mode, "items": self.items(&list) }),
            ))
        };
        run().unwrap_or_else(|r| r)
    }

    fn cold_start(&self, body: ColdStartBody) -> Result<Reply, Reply> {
        let seeds = self
            .model
            .resolve_all(&body.seed_items)
            .map_err(core_error)?;
        let k = k_or(body.k, 12)?;
        let list = self
            .model
            .cold_start(&body.genres, &seeds, k)
            .map_err(core_error)?;
        Ok(Reply::json(200, &json!({ "items": self.items(&list) })))
    }

    /// Runs the commands as `timbral session` would: a bad one answers
    /// `{"ok":false,"error":…}` in its place and the rest go on.
    fn session(&self, body: SessionBody) -> Result<Reply, Reply> {
        use timbral_core::taste::session::{decode_profile, encode_profile};
        use timbral_core::taste::{Profile, Session};
        if body.commands.len() > MAX_COMMANDS {
            return Err(Reply::error(
                400,
                format!(
                    "{} commands; one call takes at most {MAX_COMMANDS}",
                    body.commands.len()
                ),
            ));
        }
        let profile = match &body.profile {
            None => Profile::default(),
            Some(b64) => decode_profile(b64).map_err(core_error)?,
        };
        let mut s = Session::new(profile);
        let replies: Vec<Value> = body
            .commands
            .iter()
            .map(|c| s.answer(&self.model, &c.to_string()))
            .collect();
        let profile = encode_profile(&s.profile);
        Ok(Reply::json(
            200,
            &json!({ "replies": replies, "profile": profile }),
        ))
    }

    fn autofill(&self, body: AutofillBody) -> Result<Reply, Reply> {
        let seeds = self.model.resolve_all(&body.seeds).map_err(core_error)?;
        let exclude = self.model.resolve_all(&body.exclude).map_err(core_error)?;
        let k = k_or(body.k, 20)?;
        let list = self
            .model
            .autofill(&seeds, &exclude, k, timbral_core::listener::AUTOFILL_LAMBDA)
            .map_err(core_error)?;
        Ok(Reply::json(200, &json!({ "items": self.items(&list) })))
    }

    /// The home screen: For you; Because you like ⟨the most played item⟩;
    /// a mix for each of the two strongest labels; Popular now. Carousels
    /// with nothing to show are left out.
    fn home(&self, body: HomeBody) -> Result<Reply, Reply> {
        let history = self.history(&body.history)?;
        let k = k_or(body.k, HOME_K)?;
        let m = &self.model;
        let played: Vec<u32> = history.iter().map(|&(i, _)| i).collect();
        let fresh = |list: Vec<Scored>| -> Vec<Scored> {
            list.into_iter()
                .filter(|s| !played.contains(&s.index))
                .take(k)
                .collect()
        };
        // Asking for k + history items leaves k after the history is removed.
        let wide = (k + played.len()).min(MAX_K);
        let mut carousels = Vec::new();
        let for_you = self.recommend(RecsBody {
            history: body.history,
            k: Some(k),
            exclude: Vec::new(),
            weights: None,
        })?;
        carousels.push(json!({ "id": "for-you", "title": "For you", "items": for_you }));
        let top = history
            .iter()
            .copied()
            .reduce(|a, b| if b.1 > a.1 { b } else { a });
        if let (Some((top, _)), Some(_)) = (top, m.content()) {
            let list = fresh(m.similar(top, wide).map_err(core_error)?);
            if !list.is_empty() {
                carousels.push(json!({
                    "id": "because-you-like",
                    "title": format!("Because you like {}", m.item_name(top)),
                    "seed": m.item_ref(top),
                    "items": self.items(&list),
                }));
            }
        }
        for (label, _) in m.taste_summary(&history, 2) {
            let list = m
                .cold_start(std::slice::from_ref(&label), &played, wide)
                .map(fresh)
                .unwrap_or_default();
            if !list.is_empty() {
                carousels.push(json!({
                    "id": format!("mix:{label}"),
                    "title": format!("{label} mix"),
                    "items": self.items(&list),
                }));
            }
        }
        let popular = m.popular(&played, k);
        carousels.push(
            json!({ "id": "popular", "title": "Popular now", "items": self.items(&popular) }),
        );
        Ok(Reply::json(200, &json!({ "carousels": carousels })))
    }

    fn taste(&self, body: TasteBody) -> Result<Reply, Reply> {
        let history = self.history(&body.history)?;
        let n = k_or(body.n, 8)?;
        Ok(Reply::json(
            200,
            &json!({ "labels": self.model.taste_view(&history, n) }),
        ))
    }
}
