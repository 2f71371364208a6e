//! The workers-rs adapter: reads the request, loads the bundle once per
//! isolate from the static assets, asks the encoder Worker (service binding
//! `ENCODER`) for query embeddings, hands a listener's own requests to
//! `listener` (their token, their Durable Object, their profile in KV),
//! counts requests, and writes the reply that `api` made. No error reaches the runtime as a panic or a throw:
//! every failure becomes a JSON reply.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::json;
use worker::{event, Context, Date, Env, Method, Request, RequestInit, Response, Result};

use crate::api::{self, Api, Reply, Route, SearchBody};
use crate::metrics::Metrics;

thread_local! {
    static API: RefCell<Option<Rc<Api>>> = const { RefCell::new(None) };
    static METRICS: RefCell<Metrics> = RefCell::new(Metrics::default());
    /// Whether the encoder's files were checked against the bundle's.
    static ENCODER_CHECKED: RefCell<bool> = const { RefCell::new(false) };
}

/// Where the bundle lies among the static assets, unless `BUNDLE_PATH` says.
const DEFAULT_BUNDLE_PATH: &str = "/timbral.bundle";

pub(crate) fn now_seconds() -> f64 {
    Date::now().as_millis() as f64 / 1000.0
}

/// The bundle, fetched and checked on the isolate's first request and kept.
/// A failed load is not kept: the next request tries again.
pub(crate) async fn api(env: &Env) -> std::result::Result<Rc<Api>, Reply> {
    if let Some(api) = API.with(|a| a.borrow().clone()) {
        return Ok(api);
    }
    let started = now_seconds();
    let path = env
        .var("BUNDLE_PATH")
        .map(|v| v.to_string())
        .unwrap_or_else(|_| DEFAULT_BUNDLE_PATH.to_string());
    let unavailable =
        |e: String| Reply::error(503, format!("the bundle {path} could not be loaded: {e}"));
    let assets = env
        .assets("ASSETS")
        .map_err(|e| unavailable(e.to_string()))?;
    let mut resp = assets
        .fetch(format!("https://assets.invalid{path}"), None)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if resp.status_code() != 200 {
        return Err(unavailable(format!("HTTP {}", resp.status_code())));
    }
    let bytes = resp.bytes().await.map_err(|e| unavailable(e.to_string()))?;
    let api = Rc::new(Api::from_bytes(&bytes).map_err(unavailable)?);
    let items = api.model().n_items();
    METRICS.with(|m| m.borrow_mut().bundle_loaded(now_seconds() - started, items));
    API.with(|a| *a.borrow_mut() = Some(api.clone()));
    Ok(api)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Embedding {
    embedding: Vec<f32>,
    model_sha256: String,
    tokenizer_sha256: String,
}

/// The query's embedding from the encoder Worker; `None` when this Worker
/// has no encoder bound (search then matches words).
async fn embed(env: &Env, api: &Api, query: &str) -> std::result::Result<Option<Vec<f32>>, Reply> {
    let Ok(encoder) = env.service("ENCODER") else {
        return Ok(None);
    };
    let failed = |e: String| Reply::error(502, format!("the encoder service failed: {e}"));
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(json!({ "text": query }).to_string().into()));
    let mut resp = encoder
        .fetch("https://encoder.invalid/embed", Some(init))
        .await
        .map_err(|e| failed(e.to_string()))?;
    if resp.status_code() != 200 {
        let text = resp.text().await.unwrap_or_default();
        return Err(failed(format!("HTTP {}: {text}", resp.status_code())));
    }
    let e: Embedding = resp.json().await.map_err(|e| failed(e.to_string()))?;
    if !ENCODER_CHECKED.with(|c| *c.borrow()) {
        api.model()
            .check_encoder(&e.model_sha256, &e.tokenizer_sha256)
            .map_err(|err| Reply::error(500, err.to_string()))?;
        ENCODER_CHECKED.with(|c| *c.borrow_mut() = true);
    }
    Ok(Some(e.embedding))
}

/// A known user's precomputed top-K from Workers KV (binding `RECS`, as
/// `timbral precompute --kv-bulk` writes it and `wrangler kv bulk put`
/// loads it; key prefix `RECS_PREFIX`, default `timbral:`). `None` where
/// there is no such binding or key: the API then computes, which a client
/// bundle (no users) answers with 404.
async fn precomputed(env: &Env, id: &str) -> std::result::Result<Option<api::Precomputed>, Reply> {
    let Ok(kv) = env.kv("RECS") else {
        return Ok(None);
    };
    let prefix = env
        .var("RECS_PREFIX")
        .map(|v| v.to_string())
        .unwrap_or_else(|_| "timbral:".to_string());
    let key = format!("{prefix}user:{id}");
    let value = kv
        .get(&key)
        .text()
        .await
        .map_err(|e| Reply::error(503, format!("Workers KV is not available: {e}")))?;
    value
        .map(|v| api::Precomputed::parse("kv", &key, &v))
        .transpose()
}

/// The request body, refused unread when its declared length is too big.
async fn body(req: &mut Request) -> std::result::Result<Vec<u8>, Reply> {
    if let Ok(Some(len)) = req.headers().get("content-length") {
        if let Ok(len) = len.parse::<usize>() {
            if len > api::MAX_BODY {
                return Err(api::too_large(len));
            }
        }
    }
    let bytes = req
        .bytes()
        .await
        .map_err(|e| Reply::error(400, format!("cannot read the request body: {e}")))?;
    if bytes.len() > api::MAX_BODY {
        return Err(api::too_large(bytes.len()));
    }
    Ok(bytes)
}

async fn serve(route: &Route, req: &mut Request, env: &Env) -> Reply {
    let result = async {
        if *route == Route::Metrics {
            return Ok(Reply::text(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                METRICS.with(|m| m.borrow().render()),
            ));
        }
        let body = if route.has_body() {
            body(req).await?
        } else {
            Vec::new()
        };
        // A listener's own request: their token, then their object.
        if route.is_stateful(&body) {
            return Ok(crate::listener::serve(req, env, body).await);
        }
        let api = api(env).await?;
        match route {
            Route::Healthz => {
                let memory = core::arch::wasm32::memory_size(0) * 65536;
                Ok(api.healthz(env.service("ENCODER").is_ok(), Some(memory)))
            }
            Route::Search => {
                let search: SearchBody = api::parse_body(&body)?;
                let query = search.query()?;
                let embedding = embed(env, &api, query).await?;
                Ok(api.search(&search, embedding.as_deref()))
            }
            Route::UserRecs(id) => {
                let query = req.url().map(|u| u.query().unwrap_or("").to_string());
                let pre = precomputed(env, id).await?;
                api.user_recs(id, &query.unwrap_or_default(), pre)
            }
            _ => {
                let query = req.url().map(|u| u.query().unwrap_or("").to_string());
                Ok(api.handle(route, &query.unwrap_or_default(), &body))
            }
        }
    };
    result.await.unwrap_or_else(|r: Reply| r)
}

pub(crate) fn respond(reply: Reply) -> Result<Response> {
    let resp = Response::from_bytes(reply.body.into_bytes())?.with_status(reply.status);
    resp.headers().set("content-type", reply.content_type)?;
    resp.headers().set("cache-control", "no-store")?;
    Ok(resp)
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let started = now_seconds();
    let method = req.method().to_string();
    let path = req.path();
    let (label, reply) = match api::route(&method, &path) {
        Ok(route) => (route.label(), serve(&route, &mut req, &env).await),
        Err(reply) => ("unmatched", reply),
    };
    METRICS.with(|m| {
        m.borrow_mut()
            .record(label, reply.status, now_seconds() - started)
    });
    respond(reply)
}
