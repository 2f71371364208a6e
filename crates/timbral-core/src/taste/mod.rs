//! Many tastes, one listener (seed 001): a listener keeps up to five
//! independent tastes instead of one blurred average; a staged recommender
//! serves them (cold start → fallback → ranking → model-based) as feedback
//! accumulates; each taste can train its own classifier on the device; and
//! the session protocol is how every client drives it.
//!
//! - `clusters.rs`: the `genre_clusters` section and each item's clusters.
//! - `space.rs`: items as unit vectors, taste centroids, audio match.
//! - `profile.rs`: the saved profile (v1 and v2), tastes, feedback.
//! - `stage.rs`: the stages and the one table of thresholds.
//! - `staged.rs`: what each stage picks and how slots split over tastes.
//! - `features.rs`, `learn.rs`: the per-taste classifiers.
//! - `session.rs`: the JSON command protocol.

pub mod clusters;
pub mod features;
pub mod learn;
pub mod profile;
pub mod session;
pub mod space;
pub mod stage;
pub mod staged;

pub use clusters::{GenreClusters, ItemClusters};
pub use profile::{Feedback, Profile, Shown, Taste};
pub use session::{Command, Reply, Session};
pub use stage::{Stage, StageTable, STAGES};
pub use staged::Pick;

#[cfg(test)]
mod tests;
