//! The mood/energy model: `timbral mood train` fits it on the items whose
//! audio features are measured, `timbral train --mood-model` fills in every
//! item that lacks them.
//!
//! It is ridge regression from what any item may have ([`features`]: the
//! MiniLM vector of its text, TF-IDF of its tags and genres, genre
//! one-hots, popularity and year buckets) to
//! - the nine audio features (energy and valence among them), and
//! - the six moods of [`facts::audio_moods`] on the measured features, as a
//!   linear probability model per mood with a threshold fitted on
//!   cross-validation; or the same rules applied to the predicted audio,
//!   whichever wins on cross-validation ([`fit`]).
//!
//! Mood tags ([`facts::tag_moods`]) are not predicted: an item's own tags
//! give them, in `facts::build`.
//!
//! Ridge rather than gradient boosting: the inputs are a dense 384-axis
//! embedding plus sparse bags, where a linear model on all of them at once
//! is what the embedding was made for, and it fits in seconds.
//!
//! The file ([`MoodModel::to_bytes`]): magic `TMBMOOD\0`, a format version,
//! the payload's length and CRC-32, then the postcard payload. Another
//! version, a truncated or altered file is refused with what is wrong.

pub mod features;
pub mod fit;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use timbral_core::facts::{AUDIO_RANGES, MOODS};
use timbral_core::Content;

use crate::content::ItemMeta;
use crate::data::Dataset;
use crate::facts::{self, Prediction};
use features::{ItemInputs, Vocabulary};
pub use fit::{train, CvTable, TrainOptions};

pub const MAGIC: [u8; 8] = *b"TMBMOOD\0";
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// Nine audio features, then six mood scores.
pub const TARGETS: usize = 9 + MOODS.len();

/// A trained mood/energy model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoodModel {
    /// The text encoder whose vectors it reads: predictions need the same.
    pub model_sha256: String,
    pub tokenizer_sha256: String,
    pub vocab: Vocabulary,
    /// `vocab.width() × TARGETS`, row-major.
    pub weights: Vec<f32>,
    /// Each target's ridge strength, chosen by cross-validation.
    pub lambdas: Vec<f32>,
    /// Moods from the predicted audio by `audio_moods` (`true`), or from
    /// the direct scores and [`MoodModel::thresholds`].
    pub moods_from_audio: bool,
    /// The direct score at which a mood's probability is ½.
    pub thresholds: [f32; 6],
    /// Cross-validated R² of energy: how far predictions are trusted.
    pub energy_r2: f32,
    pub cv: CvTable,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MoodFileError {
    #[error("not a Timbral mood model (no TMBMOOD magic)")]
    NotAMoodModel,
    #[error("mood model format version {found}; this build reads version {supported}: retrain it with `timbral mood train`")]
    Version { found: u32, supported: u32 },
    #[error("mood model is truncated or has trailing bytes: {0}")]
    Length(String),
    #[error("mood model is corrupted: checksum mismatch")]
    Checksum,
    #[error("mood model does not decode: {0}")]
    Decode(String),
}

impl MoodModel {
    pub fn to_bytes(&self) -> Vec<u8> {
        let payload = postcard::to_allocvec(self).expect("a mood model serialises");
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Decodes and checks a file from [`MoodModel::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<MoodModel, MoodFileError> {
        let probe = &bytes[..bytes.len().min(MAGIC.len())];
        if probe != &MAGIC[..probe.len()] {
            return Err(MoodFileError::NotAMoodModel);
        }
        if bytes.len() < HEADER_LEN {
            return Err(MoodFileError::Length(format!(
                "{} bytes, shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            )));
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let version = word(8);
        if version != FORMAT_VERSION {
            return Err(MoodFileError::Version {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
        let payload = &bytes[HEADER_LEN..];
        if payload.len() as u64 != len {
            return Err(MoodFileError::Length(format!(
                "the header says {len} payload bytes, the file has {}",
                payload.len()
            )));
        }
        if crc32fast::hash(payload) != word(20) {
            return Err(MoodFileError::Checksum);
        }
        let m: MoodModel =
            postcard::from_bytes(payload).map_err(|e| MoodFileError::Decode(e.to_string()))?;
        m.validate().map_err(MoodFileError::Decode)?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), String> {
        let w = self.vocab.width();
        if self.weights.len() != w * TARGETS {
            return Err(format!(
                "{} weights for {w} inputs × {TARGETS} targets",
                self.weights.len()
            ));
        }
        if self.weights.iter().any(|x| !x.is_finite()) {
            return Err("a weight is not finite".into());
        }
        Ok(())
    }

    /// The model's scores for rows of [`Vocabulary::rows`].
    pub fn scores(&self, rows: &[f32]) -> Vec<[f32; TARGETS]> {
        let w = self.vocab.width();
        rows.chunks(w)
            .map(|x| {
                let mut y = [0f32; TARGETS];
                for (xr, wr) in x.iter().zip(self.weights.chunks(TARGETS)) {
                    if *xr != 0.0 {
                        for (yt, wt) in y.iter_mut().zip(wr) {
                            *yt += xr * wt;
                        }
                    }
                }
                y
            })
            .collect()
    }

    /// A prediction from scores: audio clamped to its ranges, moods, and a
    /// confidence of the cross-validated R² of energy, halved where the
    /// item has no label the model knows (its text alone spoke).
    pub fn prediction(&self, y: &[f32; TARGETS], covered: bool) -> Prediction {
        let mut audio = [0f32; 9];
        for (f, a) in audio.iter_mut().enumerate() {
            let (lo, hi) = AUDIO_RANGES[f];
            *a = y[f].clamp(lo, hi);
        }
        let moods = if self.moods_from_audio {
            facts::audio_moods(&audio)
        } else {
            let mut m = [0f32; 6];
            for (k, p) in m.iter_mut().enumerate() {
                *p = probability(y[9 + k], self.thresholds[k]);
            }
            m
        };
        let coverage = if covered { 1.0 } else { 0.5 };
        Prediction {
            audio,
            moods: Some(moods),
            confidence: self.energy_r2.clamp(0.0, 1.0) * coverage,
        }
    }

    /// Predictions for every item of `meta` without measured audio, from
    /// `content`'s text vectors and the items' popularity ranks
    /// ([`popularity`]). An error where `content` was embedded by another
    /// encoder than the model was trained on.
    pub fn predictions(
        &self,
        meta: &[ItemMeta],
        content: &Content,
        popularity: &[Option<f32>],
    ) -> Result<Vec<Option<Prediction>>, String> {
        if content.model_sha256 != self.model_sha256
            || content.tokenizer_sha256 != self.tokenizer_sha256
        {
            return Err(format!(
                "the mood model was trained on text vectors of encoder {}, these are of {}: retrain it with this encoder",
                short(&self.model_sha256),
                short(&content.model_sha256)
            ));
        }
        if content.text_dim() != self.vocab.text_dim {
            return Err(format!(
                "the mood model reads {}-axis text vectors, these have {}",
                self.vocab.text_dim,
                content.text_dim()
            ));
        }
        let todo: Vec<usize> = (0..meta.len())
            .filter(|&i| meta[i].audio.is_none())
            .collect();
        // Chunks bound the rows held at once (a million items would be
        // gigabytes of rows).
        let done: Vec<(usize, Prediction)> = todo
            .par_chunks(1024)
            .flat_map_iter(|chunk| {
                let inputs: Vec<ItemInputs> = chunk
                    .iter()
                    .map(|&i| {
                        ItemInputs::new(&meta[i], content.text.dequantize_row(i), popularity[i])
                    })
                    .collect();
                let scores = self.scores(&self.vocab.rows(&inputs));
                let covered = self.vocab.coverage(&inputs);
                chunk
                    .iter()
                    .zip(covered.into_iter().zip(scores))
                    .map(|(&i, (c, y))| (i, self.prediction(&y, c)))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut out = vec![None; meta.len()];
        for (i, p) in done {
            out[i] = Some(p);
        }
        Ok(out)
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// A direct mood score as a probability: ½ at `threshold`, linear to 0
/// and 1 on either side.
pub fn probability(score: f32, threshold: f32) -> f32 {
    let t = threshold.clamp(0.01, 0.99);
    if score < t {
        (0.5 * score / t).max(0.0)
    } else {
        (0.5 + 0.5 * (score - t) / (1.0 - t)).min(1.0)
    }
}

/// Each item's popularity rank in `ds` ([`features::ranks`]): the
/// catalogue's own popularity where its items files give one, else the
/// item's listeners; unknown for a catalogue with neither.
pub fn popularity(ds: &Dataset) -> Vec<Option<f32>> {
    let from_catalogue: Vec<Option<f32>> = ds
        .item_ids
        .iter()
        .map(|id| ds.catalogue.as_ref()?.get(id)?.popularity)
        .collect();
    if from_catalogue.iter().any(Option::is_some) {
        return features::ranks(&from_catalogue);
    }
    if ds.plays.nnz() == 0 {
        return vec![None; ds.n_items()];
    }
    let mut listeners = vec![0u32; ds.n_items()];
    for (_, item, _) in ds.plays.triplets() {
        listeners[item as usize] += 1;
    }
    features::ranks(
        &listeners
            .iter()
            .map(|&l| Some(l as f32))
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_is_half_at_the_threshold() {
        assert_eq!(probability(0.2, 0.2), 0.5);
        assert!((probability(0.1, 0.2) - 0.25).abs() < 1e-6);
        assert_eq!(probability(-1.0, 0.2), 0.0);
        assert_eq!(probability(3.0, 0.2), 1.0);
        assert!(probability(0.6, 0.2) > 0.5);
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn model() -> MoodModel {
        let (items, audio) = fit::tests::synthetic(60, 5);
        train(&items, &audio, 4, &TrainOptions::new(3, 0, "m", "t")).unwrap()
    }

    #[test]
    fn a_model_round_trips_and_a_damaged_one_is_refused() {
        let m = model();
        let bytes = m.to_bytes();
        assert_eq!(MoodModel::from_bytes(&bytes).unwrap(), m);
        assert_eq!(
            MoodModel::from_bytes(b"TIMBRAL\0rest"),
            Err(MoodFileError::NotAMoodModel)
        );
        let mut v = bytes.clone();
        v[8] = 9;
        let e = MoodModel::from_bytes(&v).unwrap_err();
        assert_eq!(
            e,
            MoodFileError::Version {
                found: 9,
                supported: FORMAT_VERSION
            }
        );
        assert!(e.to_string().contains("version 9"), "{e}");
        let mut v = bytes.clone();
        let last = v.len() - 1;
        v[last] ^= 0x40;
        assert_eq!(MoodModel::from_bytes(&v), Err(MoodFileError::Checksum));
        assert!(matches!(
            MoodModel::from_bytes(&bytes[..bytes.len() - 3]),
            Err(MoodFileError::Length(_))
        ));
        assert!(matches!(
            MoodModel::from_bytes(&bytes[..10]),
            Err(MoodFileError::Length(_))
        ));
        // Every prefix and every single-byte change: an error, never a panic.
        for cut in 0..bytes.len().min(200) {
            assert!(MoodModel::from_bytes(&bytes[..cut]).is_err());
        }
        // Payloads that pass the checksum but not the decoder (the header
        // rewritten to match): an error, never a panic or a huge allocation.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..3000 {
            let mut payload = bytes[HEADER_LEN..].to_vec();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..payload.len());
                payload[at] = rng.random();
            }
            let mut v = bytes[..HEADER_LEN].to_vec();
            v[20..24].copy_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            v.extend_from_slice(&payload);
            if let Ok(m) = MoodModel::from_bytes(&v) {
                // A change the decoder accepts is still a whole model.
                assert_eq!(m.weights.len(), m.vocab.width() * TARGETS);
            }
        }
    }

    #[test]
    fn predictions_need_the_encoder_the_model_was_trained_with() {
        let m = model();
        let content = Content {
            text: timbral_core::QMatrix::quantize(&[0.5, 0.5, 0.5, 0.5], 1, 4),
            audio: timbral_core::QMatrix::quantize(&[0.0; 9], 1, 9),
            audio_weight: 0.0,
            labels: vec![vec![]],
            label_weights: vec![vec![]],
            model_sha256: "other".into(),
            tokenizer_sha256: "t".into(),
            projection: None,
        };
        let meta = vec![ItemMeta::default()];
        let e = m.predictions(&meta, &content, &[None]).unwrap_err();
        assert!(e.contains("retrain"), "{e}");
        let content = Content {
            model_sha256: "m".into(),
            ..content
        };
        let p = m.predictions(&meta, &content, &[None]).unwrap();
        let p = p[0].expect("an unmeasured item is predicted");
        assert!(p.audio.iter().all(|a| a.is_finite()) && p.moods.is_some());
    }
}
