//! Timbral's native server: the routes the Worker serves (`timbral-api`),
//! on axum, plus what needs known users and a store:
//!
//! - `GET /rec/users/{id}` from the Redis precompute (`timbral precompute`),
//!   computed when the key is missing or Redis is down (seed 002's graceful
//!   degradation); the reply's `source` says which;
//! - `GET /rec/users/{id}/similar` and `GET /explain/{user}/{item}`.
//!
//! Every request gets an id (`x-request-id`, kept from the request where it
//! sent a plain one) and one JSON log line on stdout; `/metrics` is the
//! Worker's Prometheus text. Scoring is CPU work, so each request runs on
//! tokio's blocking pool, never on the event loop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;
use timbral_api::metrics::Metrics;
use timbral_api::{Api, Precomputed, Reply, Route, SearchBody};
use timbral_redis::{Layout, Rec};

/// Embeds a search query (MiniLM where the CLI has its content feature).
pub type Embed = Arc<dyn Fn(&str) -> Result<Vec<f32>, String> + Send + Sync>;

pub struct Config {
    pub bundle: Vec<u8>,
    /// `redis://…` of a `timbral precompute` run, if any.
    pub redis: Option<String>,
    pub prefix: String,
    pub addr: SocketAddr,
}

/// How long a Redis call may take before the request computes instead.
const REDIS_TIMEOUT: Duration = Duration::from_millis(200);
/// After a failure, requests compute without trying Redis for this long,
/// so an unreachable server costs one timeout a second, not one a request.
const REDIS_RETRY: Duration = Duration::from_secs(1);

/// The precompute's store: one connection, re-opened after a failure.
struct Store {
    client: timbral_redis::redis::Client,
    layout: Layout,
    con: Mutex<Connection>,
}

#[derive(Default)]
struct Connection {
    open: Option<timbral_redis::redis::Connection>,
    failed: Option<(Instant, String)>,
}

impl Store {
    fn read(&self, user: &str) -> Result<Option<(u64, Vec<Rec>)>, String> {
        let mut c = self.con.lock().unwrap_or_else(|p| p.into_inner());
        if c.open.is_none() {
            if let Some((at, why)) = &c.failed {
                if at.elapsed() < REDIS_RETRY {
                    return Err(format!(
                        "{why} (retrying within {}s)",
                        REDIS_RETRY.as_secs()
                    ));
                }
            }
            match self.connect() {
                Ok(con) => c.open = Some(con),
                Err(e) => {
                    c.failed = Some((Instant::now(), e.clone()));
                    return Err(e);
                }
            }
        }
        let read = timbral_redis::read_user(
            c.open.as_mut().expect("connected above"),
            &self.layout,
            user,
        );
        match read {
            Ok(r) => {
                c.failed = None;
                Ok(r)
            }
            Err(e) => {
                c.open = None; // reconnect after the pause
                c.failed = Some((Instant::now(), e.to_string()));
                Err(e.to_string())
            }
        }
    }

    fn connect(&self) -> Result<timbral_redis::redis::Connection, String> {
        let con = self
            .client
            .get_connection_with_timeout(REDIS_TIMEOUT)
            .map_err(|e| e.to_string())?;
        con.set_read_timeout(Some(REDIS_TIMEOUT))
            .and_then(|_| con.set_write_timeout(Some(REDIS_TIMEOUT)))
            .map_err(|e| e.to_string())?;
        Ok(con)
    }
}

struct Server {
    api: Api,
    metrics: Mutex<Metrics>,
    store: Option<Store>,
    embed: Option<Embed>,
    requests: AtomicU64,
}

/// Serves until the process is stopped (Ctrl-C or SIGTERM end it cleanly).
/// `bound` is told the address once the socket listens (port 0 picks one).
pub fn serve(
    config: Config,
    embed: Option<Embed>,
    bound: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let started = Instant::now();
    let api = Api::from_bytes(&config.bundle)
        .map_err(|e| anyhow::anyhow!("the bundle is refused: {e}"))?;
    let mut metrics = Metrics::default();
    metrics.bundle_loaded(started.elapsed().as_secs_f64(), api.model().n_items());
    let store = match &config.redis {
        Some(url) => Some(Store {
            client: timbral_redis::redis::Client::open(url.as_str())
                .map_err(|e| anyhow::anyhow!("--redis {url}: {e}"))?,
            layout: Layout::new(config.prefix.as_str()),
            con: Mutex::new(Connection::default()),
        }),
        None => None,
    };
    let server = Arc::new(Server {
        api,
        metrics: Mutex::new(metrics),
        store,
        embed,
        requests: AtomicU64::new(0),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        bound(listener.local_addr()?);
        let app = Router::new()
            .fallback(handle)
            // Bodies are read up to four times the API's limit, so a large
            // one gets the API's own JSON 413, not a bare one.
            .layer(DefaultBodyLimit::max(timbral_api::MAX_BODY * 4))
            .with_state(server);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown())
            .await?;
        Ok(())
    })
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A request id the client sent, where it is short and plain.
fn client_id(headers: &HeaderMap) -> Option<String> {
    let id = headers.get("x-request-id")?.to_str().ok()?;
    let plain = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    plain.then(|| id.to_string())
}

async fn handle(
    State(s): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let n = s.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let id = client_id(&headers).unwrap_or_else(|| format!("req-{n:08x}"));
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let work = {
        let (s, method, path) = (s.clone(), method.clone(), path.clone());
        tokio::task::spawn_blocking(move || dispatch(&s, method.as_str(), &path, &query, &body))
    };
    let (label, reply, store) = work.await.unwrap_or_else(|e| {
        (
            "?",
            Reply::error(500, format!("the request failed: {e}")),
            None,
        )
    });
    let secs = started.elapsed().as_secs_f64();
    s.metrics
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record(label, reply.status, secs);
    let mut line = json!({
        "ts_ms": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
        "level": if reply.status >= 500 { "error" } else { "info" },
        "request_id": id,
        "method": method.as_str(),
        "path": path,
        "route": label,
        "status": reply.status,
        "ms": (secs * 1e4).round() / 10.0,
    });
    if let Some(store) = store {
        line["store"] = json!(store);
    }
    println!("{line}");
    let mut resp = (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        reply.body,
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(reply.content_type));
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    resp
}

/// One request: (route label for metrics, reply, what the store did).
fn dispatch(
    s: &Server,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> (&'static str, Reply, Option<String>) {
    let route = match timbral_api::route(method, path) {
        Ok(r) => r,
        Err(reply) => return ("unmatched", reply, None),
    };
    let label = route.label();
    if route.has_body() && body.len() > timbral_api::MAX_BODY {
        return (label, timbral_api::too_large(body.len()), None);
    }
    let mut store_note = None;
    let reply = match &route {
        Route::Healthz => s.api.healthz(s.embed.is_some(), None),
        Route::Metrics => Reply::text(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            s.metrics.lock().unwrap_or_else(|p| p.into_inner()).render(),
        ),
        Route::Search => search(s, body),
        Route::UserRecs(user) => {
            let pre = s.store.as_ref().and_then(|store| match store.read(user) {
                Ok(Some((version, recs))) => {
                    store_note = Some("hit".to_string());
                    Some(Precomputed {
                        source: "redis",
                        version: Some(version),
                        items: recs.into_iter().map(|r| (r.item, r.score)).collect(),
                    })
                }
                Ok(None) => {
                    store_note = Some("miss".to_string());
                    None
                }
                Err(e) => {
                    store_note = Some(format!("down: {e}"));
                    None
                }
            });
            s.api.user_recs(user, query, pre).unwrap_or_else(|r| r)
        }
        _ => s.api.handle(&route, query, body),
    };
    (label, reply, store_note)
}

fn search(s: &Server, body: &[u8]) -> Reply {
    let run = || -> Result<Reply, Reply> {
        let search: SearchBody = timbral_api::parse_body(body)?;
        let query = search.query()?;
        let embedding = match &s.embed {
            Some(embed) => Some(
                embed(query)
                    .map_err(|e| Reply::error(500, format!("cannot embed the query: {e}")))?,
            ),
            None => None,
        };
        Ok(s.api.search(&search, embedding.as_deref()))
    };
    run().unwrap_or_else(|r| r)
}
