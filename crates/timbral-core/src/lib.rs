//! Timbral's pure core.
//!
//! Everything that must give the same answer natively, in the browser and at
//! the edge lives here: the bundle format, int8 factor matrices, the implicit
//! ALS least-squares solve (shared by training and fold-in), popularity and
//! top-k scoring. The crate does no file or network I/O and starts no threads;
//! it builds for `wasm32-unknown-unknown`. Adapters (the trainer, the wasm
//! bindings, the Worker) own I/O and parallelism.

pub mod als;
pub mod bpr;
pub mod bundle;
pub mod content;
pub mod credits;
pub mod csr;
mod error;
pub mod facts;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixture;
pub mod lightgcn;
pub mod linalg;
pub mod listener;
pub mod model;
pub mod nmf;
pub mod popularity;
pub mod quant;
pub mod search;
pub mod shortlist;
pub mod sketch;
pub mod taste;
pub mod topk;
pub mod view;

pub use als::{AlsParams, FactorModel};
pub use bundle::{BundleError, BundleInfo, FORMAT_VERSION, MAGIC};
pub use content::{Content, ContentQuery, Fusion, FusionWeights};
pub use csr::Csr;
pub use error::Error;
pub use listener::Explained;
pub use model::{FusionParts, Model, ModelParts, Recommendation};
pub use popularity::Popularity;
pub use quant::QMatrix;
pub use search::SearchWeights;
pub use sketch::ContentSketch;
pub use taste::{Feedback, Profile};
pub use topk::{top_k, Scored};
