//! Timbral at the edge: a Cloudflare Worker serving recommendations from a
//! bundle: statelessly (the request carries the listener's history), or
//! from the profile a signed listener keeps in Workers KV (`listener`).
//!
//! `api` (routing, validation, replies) and `metrics` are `timbral-api`,
//! pure and tested natively; `edge` is the workers-rs adapter, compiled for
//! wasm32 only.
//! Semantic search embeds the query in a second Worker (`encoder/`, bound
//! as `ENCODER`) so this one stays small.

// The routes and the metrics live in `timbral-api`, which the native
// server serves too.
pub use timbral_api as api;
pub use timbral_api::metrics;

#[cfg(target_arch = "wasm32")]
mod edge;
#[cfg(target_arch = "wasm32")]
mod listener;
