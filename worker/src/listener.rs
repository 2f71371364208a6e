//! The stateful edge: a listener's own routes (`POST /feedback`,
//! `GET /profile`, `POST /recs` without a history) on their profile in
//! Workers KV (binding `PROFILES`, key `profile:{listener}`).
//!
//! Who the listener is comes only from their token, HMAC-SHA256 signed
//! with the `TOKEN_SECRET` secret (`timbral_api::auth`); a request never
//! names a listener, so it cannot reach another's profile.
//!
//! No event is lost to concurrent requests: KV has no compare-and-set, so
//! every request of one listener goes to that listener's Durable Object
//! (binding `LISTENERS`, named by the token's subject), which runs each
//! read → apply → write of their profile inside `blockConcurrencyWhile`:
//! the runtime delivers the object's next request only after the write.
//! One writer per listener, in order; KV holds the result.

use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, State,
};

use crate::api::{auth, Reply};
use crate::edge::{api, now_seconds, respond};

/// The header the Worker names the verified listener in, to their object
/// (a Durable Object is reachable only through its namespace binding, so
/// no client can set it).
const LISTENER_HEADER: &str = "x-timbral-listener";

fn unavailable(what: &str, e: impl std::fmt::Display) -> Reply {
    Reply::error(503, format!("{what} is not available: {e}"))
}

/// The verified listener's request, answered by their Durable Object.
pub(crate) async fn serve(req: &Request, env: &Env, body: Vec<u8>) -> Reply {
    let result = async {
        let secret = env
            .secret("TOKEN_SECRET")
            .map(|s| s.to_string())
            .or_else(|_| env.var("TOKEN_SECRET").map(|v| v.to_string()))
            .map_err(|e| unavailable("the TOKEN_SECRET secret (signed listener tokens)", e))?;
        let header = req.headers().get("authorization").ok().flatten();
        let claims = auth::verify(header.as_deref(), secret.as_bytes(), now_seconds() as u64)?;
        let stub = env
            .durable_object("LISTENERS")
            .and_then(|ns| ns.get_by_name(&claims.sub))
            .map_err(|e| unavailable("the LISTENERS Durable Object binding", e))?;
        let mut init = RequestInit::new();
        init.with_method(req.method());
        if !body.is_empty() {
            init.with_body(Some(worker::js_sys::Uint8Array::from(&body[..]).into()));
        }
        let path = req.path();
        let forward = Request::new_with_init(&format!("https://listener.invalid{path}"), &init)
            .map_err(|e| Reply::error(500, e.to_string()))?;
        forward
            .headers()
            .set(LISTENER_HEADER, &claims.sub)
            .map_err(|e| Reply::error(500, e.to_string()))?;
        let mut resp = stub
            .fetch_with_request(forward)
            .await
            .map_err(|e| unavailable("the listener's Durable Object", e))?;
        let text = resp
            .text()
            .await
            .map_err(|e| Reply::error(502, e.to_string()))?;
        Ok(Reply::text(resp.status_code(), crate::api::JSON, text))
    };
    result.await.unwrap_or_else(|r: Reply| r)
}

/// One listener's profile, one request at a time.
#[durable_object(fetch)]
pub struct Listener {
    state: State,
    env: Env,
}

impl DurableObject for Listener {
    fn new(state: State, env: Env) -> Self {
        Listener { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let sub = req.headers().get(LISTENER_HEADER)?.unwrap_or_default();
        let method = req.method();
        let path = req.path();
        let body = if method == Method::Get {
            Vec::new()
        } else {
            req.bytes().await?
        };
        let env = self.env.clone();
        // Errors are replies, never the future's Err (which would reset
        // the object).
        let reply = self
            .state
            .block_concurrency_while(async move {
                Ok(apply(&env, &sub, method.as_ref(), &path, &body)
                    .await
                    .unwrap_or_else(|r| r))
            })
            .await?;
        respond(reply)
    }
}

/// Read → apply → write of one listener's profile.
async fn apply(
    env: &Env,
    sub: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::result::Result<Reply, Reply> {
    if sub.is_empty() {
        return Err(Reply::error(400, "no listener named by the Worker"));
    }
    let route = crate::api::route(method, path)?;
    let api = api(env).await?;
    let kv = env
        .kv("PROFILES")
        .map_err(|e| unavailable("the PROFILES KV binding", e))?;
    let key = format!("profile:{sub}");
    let stored = kv
        .get(&key)
        .text()
        .await
        .map_err(|e| unavailable("Workers KV", e))?;
    let out = api.stateful(&route, body, stored.as_deref());
    if let Some(profile) = out.profile {
        kv.put(&key, profile)
            .map_err(|e| unavailable("Workers KV", e))?
            .execute()
            .await
            .map_err(|e| unavailable("Workers KV", e))?;
    }
    Ok(out.reply)
}
