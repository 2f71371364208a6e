//! What a bundle knows of each item beyond its vectors: its release year,
//! Spotify's nine audio features (each item's set measured, predicted from
//! similar items, or a genre prior) and its moods. The `item_facts` section
//! (optional); `timbral item` shows it, search filters by it.
//!
//! Values are stored as bytes: a feature's value over its range
//! ([`AUDIO_RANGES`]) in 255 steps (±0.002 on a 0–1 feature), a mood's
//! probability in 255 steps.

use serde::{Deserialize, Serialize};

/// Spotify's audio features, in the order the bundle stores them.
pub const AUDIO_FEATURES: [&str; 9] = [
    "acousticness",
    "danceability",
    "energy",
    "instrumentalness",
    "liveness",
    "loudness",
    "speechiness",
    "tempo",
    "valence",
];

/// Each feature's stored range: loudness in dB, tempo in BPM, the rest 0–1.
pub const AUDIO_RANGES: [(f32, f32); 9] = [
    (0.0, 1.0),
    (0.0, 1.0),
    (0.0, 1.0),
    (0.0, 1.0),
    (0.0, 1.0),
    (-60.0, 5.0),
    (0.0, 1.0),
    (0.0, 250.0),
    (0.0, 1.0),
];

pub const ENERGY: usize = 2;
pub const VALENCE: usize = 8;

/// The moods every item gets a probability of (defined from audio and tags
/// by the trainer; see `timbral_train::facts`).
pub const MOODS: [&str; 6] = [
    "upbeat",
    "chill",
    "dark",
    "melancholic",
    "aggressive",
    "romantic",
];

/// Where an item's audio features come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AudioSource {
    /// Not known at all (nothing similar with measured features).
    None,
    /// From the catalogue (Spotify's analysis).
    Measured,
    /// Predicted: by the trainer's mood/energy model where it was given
    /// one (`timbral train --mood-model`), else from the measured items
    /// whose text (name, tags, genres) is nearest.
    Predicted,
    /// A prior from genre alone: predicted like the above for an item
    /// whose only text is its name and genres, with low confidence.
    Prior,
}

impl AudioSource {
    pub fn name(self) -> &'static str {
        match self {
            AudioSource::None => "none",
            AudioSource::Measured => "measured",
            AudioSource::Predicted => "predicted",
            AudioSource::Prior => "prior",
        }
    }
}

/// The `item_facts` section: per item, in item order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemFacts {
    /// Release year, 0 where unknown.
    pub years: Vec<u16>,
    pub audio_source: Vec<AudioSource>,
    /// How far to trust the features, 0–255 (255 for measured).
    pub audio_confidence: Vec<u8>,
    /// items × 9, each over [`AUDIO_RANGES`] in 255 steps.
    pub audio: Vec<u8>,
    /// items × [`MOODS`], probabilities in 255 steps.
    pub moods: Vec<u8>,
}

/// One item's audio features as `timbral item` and search see them.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub source: AudioSource,
    pub confidence: f32,
    pub values: [f32; 9],
}

pub fn quantize_feature(f: usize, v: f32) -> u8 {
    let (lo, hi) = AUDIO_RANGES[f];
    (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8
}

pub fn dequantize_feature(f: usize, q: u8) -> f32 {
    let (lo, hi) = AUDIO_RANGES[f];
    lo + (hi - lo) * q as f32 / 255.0
}

pub fn quantize_unit(p: f32) -> u8 {
    (p.clamp(0.0, 1.0) * 255.0).round() as u8
}

impl ItemFacts {
    /// Facts for `n` items, none known.
    pub fn unknown(n: usize) -> ItemFacts {
        ItemFacts {
            years: vec![0; n],
            audio_source: vec![AudioSource::None; n],
            audio_confidence: vec![0; n],
            audio: vec![0; n * 9],
            moods: vec![0; n * MOODS.len()],
        }
    }

    pub fn len(&self) -> usize {
        self.years.len()
    }

    pub fn is_empty(&self) -> bool {
        self.years.is_empty()
    }

    pub fn validate(&self, n_items: usize) -> Result<(), String> {
        let lens = [
            ("years", self.years.len(), n_items),
            ("audio_source", self.audio_source.len(), n_items),
            ("audio_confidence", self.audio_confidence.len(), n_items),
            ("audio", self.audio.len(), n_items * 9),
            ("moods", self.moods.len(), n_items * MOODS.len()),
        ];
        for (what, got, want) in lens {
            if got != want {
                return Err(format!("{what} has {got} values, expected {want}"));
            }
        }
        Ok(())
    }

    pub fn year(&self, i: usize) -> Option<u16> {
        self.years.get(i).copied().filter(|&y| y > 0)
    }

    pub fn audio(&self, i: usize) -> Option<Audio> {
        let source = *self.audio_source.get(i)?;
        if source == AudioSource::None {
            return None;
        }
        let mut values = [0f32; 9];
        for (f, v) in values.iter_mut().enumerate() {
            *v = dequantize_feature(f, self.audio[i * 9 + f]);
        }
        Some(Audio {
            source,
            confidence: self.audio_confidence[i] as f32 / 255.0,
            values,
        })
    }

    /// The probability of each of [`MOODS`].
    pub fn moods(&self, i: usize) -> [f32; 6] {
        let mut out = [0f32; 6];
        for (m, p) in out.iter_mut().enumerate() {
            *p = self.moods[i * MOODS.len() + m] as f32 / 255.0;
        }
        out
    }

    /// Sets item `i`'s audio features and moods.
    pub fn set_audio(&mut self, i: usize, source: AudioSource, confidence: f32, values: &[f32; 9]) {
        self.audio_source[i] = source;
        self.audio_confidence[i] = quantize_unit(confidence);
        for (f, &v) in values.iter().enumerate() {
            self.audio[i * 9 + f] = quantize_feature(f, v);
        }
    }

    pub fn set_moods(&mut self, i: usize, p: &[f32; 6]) {
        for (m, &v) in p.iter().enumerate() {
            self.moods[i * MOODS.len() + m] = quantize_unit(v);
        }
    }
}

/// A closed range from the command line or a query: `1980..1989`,
/// `0.7..` (at least), `..0.3` (at most), or one value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

impl Range {
    pub fn contains(&self, v: f32) -> bool {
        v >= self.min && v <= self.max
    }
}

impl std::str::FromStr for Range {
    type Err = String;
    fn from_str(s: &str) -> Result<Range, String> {
        let num = |t: &str, default: f32| -> Result<f32, String> {
            let t = t.trim();
            if t.is_empty() {
                return Ok(default);
            }
            t.parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("`{t}` in `{s}` is not a number"))
        };
        let (min, max) = match s.split_once("..") {
            Some((a, b)) => (
                num(a, f32::NEG_INFINITY)?,
                num(b.trim_start_matches('='), f32::INFINITY)?,
            ),
            None => {
                let v = num(s, f32::NAN)?;
                (v, v)
            }
        };
        if min.is_nan() || max.is_nan() || min > max {
            return Err(format!(
                "`{s}` is not a range: give A..B, A.. or ..B with A ≤ B"
            ));
        }
        Ok(Range { min, max })
    }
}

/// What a search keeps: items of a year range, an energy range, a mood.
/// Items whose fact is unknown fail a filter on it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub years: Option<Range>,
    pub energy: Option<Range>,
    /// An index into [`MOODS`]: kept where its probability is ≥ ½.
    pub mood: Option<usize>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.years.is_none() && self.energy.is_none() && self.mood.is_none()
    }

    /// A filter from text options (the wasm package's and the Worker's
    /// `year`, `energy`, `mood`); an error names the bad option.
    pub fn parse(
        year: Option<&str>,
        energy: Option<&str>,
        mood: Option<&str>,
    ) -> Result<Filter, String> {
        fn some(s: Option<&str>) -> Option<&str> {
            s.map(str::trim).filter(|s| !s.is_empty())
        }
        Ok(Filter {
            years: some(year)
                .map(|s| s.parse().map_err(|e| format!("year: {e}")))
                .transpose()?,
            energy: some(energy)
                .map(|s| s.parse().map_err(|e| format!("energy: {e}")))
                .transpose()?,
            mood: some(mood)
                .map(|m| Filter::mood_index(m).map_err(|e| format!("mood: {e}")))
                .transpose()?,
        })
    }

    /// The index of a mood by name, or an error listing them.
    pub fn mood_index(name: &str) -> Result<usize, String> {
        let n = name.trim().to_lowercase();
        MOODS
            .iter()
            .position(|m| *m == n)
            .ok_or_else(|| format!("unknown mood `{name}` (moods: {})", MOODS.join(", ")))
    }

    pub fn keeps(&self, facts: Option<&ItemFacts>, i: usize) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(f) = facts else { return false };
        if let Some(r) = self.years {
            if !f.year(i).is_some_and(|y| r.contains(y as f32)) {
                return false;
            }
        }
        if let Some(r) = self.energy {
            if !f.audio(i).is_some_and(|a| r.contains(a.values[ENERGY])) {
                return false;
            }
        }
        if let Some(m) = self.mood {
            if f.moods(i)[m] < 0.5 {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_bad_ones_are_named() {
        let r: Range = "1980..1989".parse().unwrap();
        assert!(r.contains(1980.0) && r.contains(1989.0) && !r.contains(1990.0));
        let r: Range = "0.7..".parse().unwrap();
        assert!(r.contains(0.7) && r.contains(1.0) && !r.contains(0.69));
        let r: Range = "..0.3".parse().unwrap();
        assert!(r.contains(0.0) && !r.contains(0.31));
        assert_eq!(
            "1984".parse::<Range>().unwrap(),
            Range {
                min: 1984.0,
                max: 1984.0
            }
        );
        assert!("1990..1980".parse::<Range>().unwrap_err().contains("A ≤ B"));
        assert!("x..2".parse::<Range>().unwrap_err().contains("`x`"));
    }

    #[test]
    fn facts_round_trip_through_their_bytes_and_filter() {
        let mut f = ItemFacts::unknown(3);
        f.years[0] = 1984;
        let mut a = [0.5f32; 9];
        a[ENERGY] = 0.8;
        a[5] = -7.0;
        a[7] = 120.0;
        f.set_audio(0, AudioSource::Measured, 1.0, &a);
        f.set_moods(0, &[0.9, 0.1, 0.0, 0.0, 0.6, 0.0]);
        f.set_audio(1, AudioSource::Prior, 0.2, &[0.1; 9]);
        f.validate(3).unwrap();
        let got = f.audio(0).unwrap();
        for (x, y) in got.values.iter().zip(a) {
            assert!((x - y).abs() <= 0.5, "{x} vs {y}");
        }
        assert!((got.values[ENERGY] - 0.8).abs() < 0.003);
        assert_eq!(f.audio(2), None);
        assert_eq!(f.year(1), None);
        let filter = Filter {
            years: Some("1980..1989".parse().unwrap()),
            energy: Some("0.7..".parse().unwrap()),
            mood: Some(Filter::mood_index("Upbeat").unwrap()),
        };
        assert!(filter.keeps(Some(&f), 0));
        assert!(!filter.keeps(Some(&f), 1));
        assert!(!filter.keeps(None, 0));
        assert!(Filter::default().keeps(None, 0));
        assert!(Filter::mood_index("sleepy").unwrap_err().contains("chill"));
        assert!(f.validate(4).unwrap_err().contains("years"));
    }
}
