//! The embedded default data set: a synthetic catalogue of artists in genre
//! clusters and listeners whose plays follow their tastes. Deterministic for
//! a seed, so the main job, the tests and the benchmarks run with nothing
//! but the repository — and the structure is known, so results can be
//! checked (a listener of one genre should be recommended that genre).

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use timbral_core::Csr;

use crate::data::canonical::artist_key;
use crate::data::{Dataset, LoadReport};

pub const GENRES: &[&str] = &[
    "indie rock",
    "synthpop",
    "hip hop",
    "jazz",
    "techno",
    "folk",
    "metal",
    "soul",
    "ambient",
    "punk",
    "classical",
    "reggae",
];

const ADJECTIVES: &[&str] = &[
    "Velvet", "Electric", "Silent", "Golden", "Crimson", "Hollow", "Neon", "Paper", "Wild",
    "Lunar", "Broken", "Quiet", "Static", "Burning", "Frozen", "Northern", "Midnight", "Glass",
    "Iron", "Solar", "Faded", "Violet", "Restless", "Distant", "Copper", "Secret", "Savage",
    "Gentle", "Cosmic", "Rusty",
];

const NOUNS: [&[&str]; 12] = [
    &[
        "Lanterns",
        "Parade",
        "Avenue",
        "Radios",
        "Garage",
        "Satellites",
        "Daydreams",
        "Foxes",
    ],
    &[
        "Machines",
        "Mirage",
        "Hearts",
        "Arcade",
        "Pixels",
        "Cassettes",
        "Lasers",
        "Dolls",
    ],
    &[
        "Kings", "Blocks", "Cipher", "Hustle", "Prophets", "Verses", "Crew", "Dynasty",
    ],
    &[
        "Quartet",
        "Trio",
        "Standards",
        "Blue Notes",
        "Swingers",
        "Brass",
        "Cellar",
        "Horns",
    ],
    &[
        "Pulse",
        "Circuit",
        "Warehouse",
        "Kick",
        "Voltage",
        "Sequence",
        "Modulator",
        "Grid",
    ],
    &[
        "Willows",
        "Rivers",
        "Ramblers",
        "Meadow",
        "Harvest",
        "Fiddles",
        "Pines",
        "Wanderers",
    ],
    &[
        "Abyss", "Hammer", "Serpents", "Throne", "Wolves", "Inferno", "Legion", "Skulls",
    ],
    &[
        "Soul Revue",
        "Groove",
        "Sisters",
        "Sermon",
        "Velour",
        "Satin",
        "Choir",
        "Honey",
    ],
    &[
        "Drift",
        "Fog",
        "Horizon",
        "Tides",
        "Glacier",
        "Echoes",
        "Stillness",
        "Nebula",
    ],
    &[
        "Riot", "Brats", "Sirens", "Wreck", "Vandals", "Chaos", "Rejects", "Noise",
    ],
    &[
        "Sonata",
        "Ensemble",
        "Philharmonic",
        "Nocturne",
        "Chamber",
        "Requiem",
        "Strings",
        "Fugue",
    ],
    &[
        "Roots",
        "Dub",
        "Sound System",
        "Island",
        "Rockers",
        "Riddim",
        "Lions",
        "Yard",
    ],
];

/// Each genre's tags (most given first) and decade of its records.
const GENRE_TAGS: [(&[&str], u16); 12] = [
    (
        &["indie", "alternative", "guitar", "british", "melancholic"],
        2000,
    ),
    (&["80s", "new wave", "electronic", "dance", "synth"], 1980),
    (
        &["rap", "underground", "beats", "west coast", "party"],
        1990,
    ),
    (
        &["saxophone", "smooth jazz", "instrumental", "bebop", "chill"],
        1950,
    ),
    (&["electronic", "dance", "minimal", "berlin", "club"], 2000),
    (
        &[
            "acoustic",
            "singer-songwriter",
            "mellow",
            "sad",
            "americana",
        ],
        1970,
    ),
    (
        &["heavy metal", "death metal", "aggressive", "thrash", "loud"],
        1990,
    ),
    (
        &["r&b", "motown", "romantic", "funk", "female vocalists"],
        1960,
    ),
    (
        &[
            "chillout",
            "atmospheric",
            "relaxing",
            "instrumental",
            "sleep",
        ],
        1990,
    ),
    (
        &["punk rock", "aggressive", "loud", "70s", "hardcore"],
        1970,
    ),
    (
        &["piano", "orchestral", "instrumental", "baroque", "calm"],
        1800,
    ),
    (&["dub", "jamaica", "chill", "roots reggae", "upbeat"], 1970),
];

/// Each genre's mean audio features, in `AUDIO` order: acousticness,
/// danceability, energy, instrumentalness, liveness, loudness (dB),
/// speechiness, tempo (BPM), valence.
const GENRE_AUDIO: [[f32; 9]; 12] = [
    [0.20, 0.50, 0.70, 0.10, 0.15, -6.0, 0.04, 125.0, 0.45],
    [0.10, 0.70, 0.75, 0.20, 0.12, -7.0, 0.04, 120.0, 0.60],
    [0.15, 0.80, 0.65, 0.02, 0.18, -6.5, 0.30, 95.0, 0.55],
    [0.80, 0.55, 0.35, 0.60, 0.20, -12.0, 0.05, 110.0, 0.50],
    [0.05, 0.75, 0.85, 0.80, 0.10, -8.0, 0.05, 128.0, 0.40],
    [0.85, 0.50, 0.30, 0.05, 0.15, -11.0, 0.04, 105.0, 0.40],
    [0.02, 0.35, 0.95, 0.15, 0.20, -4.5, 0.08, 140.0, 0.25],
    [0.40, 0.70, 0.55, 0.02, 0.15, -8.0, 0.06, 100.0, 0.70],
    [0.75, 0.30, 0.20, 0.85, 0.10, -18.0, 0.04, 90.0, 0.20],
    [0.05, 0.45, 0.92, 0.02, 0.30, -5.0, 0.07, 160.0, 0.50],
    [0.95, 0.25, 0.15, 0.90, 0.12, -20.0, 0.04, 100.0, 0.30],
    [0.30, 0.75, 0.55, 0.10, 0.15, -8.0, 0.10, 85.0, 0.75],
];

/// What the embedded default knows about an artist, beside its plays: a
/// catalogue like a real one (genre, tags with votes, a year, Spotify-style
/// audio features), drawn from its genre.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthItem {
    pub genre: &'static str,
    /// Tags with votes, heaviest first.
    pub tags: Vec<(String, u32)>,
    pub year: u16,
    pub audio: Vec<f32>,
}

/// Writes the catalogue of `s` (see [`catalogue`]) as an items file: TSV
/// with a header of the names `timbral train --items` finds by itself; tags
/// as `tag:weight|…`, a weight of `votes / 10` (the items reader counts a
/// weight `w` as `10·w` votes, so the votes come back as they are).
pub fn write_items(s: &Synthetic, seed: u64, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    use timbral_core::facts::AUDIO_FEATURES;
    writeln!(
        w,
        "id\tname\tgenres\ttags\tyear\t{}",
        AUDIO_FEATURES.join("\t")
    )?;
    let d = &s.data;
    for ((id, name), item) in d.item_ids.iter().zip(&d.item_names).zip(catalogue(s, seed)) {
        let tags: Vec<String> = item
            .tags
            .iter()
            .map(|(t, v)| format!("{t}:{}", *v as f32 / 10.0))
            .collect();
        let audio: Vec<String> = item.audio.iter().map(|a| a.to_string()).collect();
        writeln!(
            w,
            "{id}\t{name}\t{}\t{}\t{}\t{}",
            item.genre,
            tags.join("|"),
            item.year,
            audio.join("\t")
        )?;
    }
    Ok(())
}

/// The catalogue of `s`, deterministic for its seed (its own random
/// stream, so the plays do not depend on it). More listeners give an
/// artist's tags more votes, as on Last.fm.
pub fn catalogue(s: &Synthetic, seed: u64) -> Vec<SynthItem> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_ca7a);
    let mut listeners = vec![0u32; s.data.n_items()];
    for (_, i, _) in s.data.plays.triplets() {
        listeners[i as usize] += 1;
    }
    s.item_genre
        .iter()
        .zip(&listeners)
        .map(|(&k, &l)| {
            let (vocab, decade) = GENRE_TAGS[k];
            let scale = 1.0 + (l as f64).sqrt();
            let mut tags: Vec<(String, u32)> = Vec::new();
            for (r, t) in vocab.iter().enumerate() {
                if rng.random_bool(0.7) {
                    let v = scale / (r + 1) as f64 * rng.random_range(0.5..1.5);
                    tags.push((t.to_string(), v.round().max(1.0) as u32));
                }
            }
            tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let spread = if decade < 1900 { 200 } else { 25 };
            let year = decade + rng.random_range(0..spread);
            let audio = GENRE_AUDIO[k]
                .iter()
                .enumerate()
                .map(|(j, &m)| {
                    let (sd, lo, hi) = match j {
                        5 => (3.0, -40.0, 0.0),
                        7 => (15.0, 50.0, 220.0),
                        _ => (0.12, 0.0, 1.0),
                    };
                    let noise: f32 = rng.random_range(-1.0..1.0) + rng.random_range(-1.0..1.0);
                    (m + sd * noise).clamp(lo, hi)
                })
                .collect();
            SynthItem {
                genre: GENRES[k],
                tags,
                year: year.min(2025),
                audio,
            }
        })
        .collect()
}

/// The shape of a synthetic data set.
#[derive(Clone, Copy, Debug)]
pub struct SynthConfig {
    pub users: usize,
    pub items: usize,
    /// Mean number of play rows per listener.
    pub plays_per_user: usize,
    pub seed: u64,
}

impl Default for SynthConfig {
    /// The embedded default: small enough to train in a second or two.
    fn default() -> Self {
        SynthConfig {
            users: 2000,
            items: 3000,
            plays_per_user: 30,
            seed: 42,
        }
    }
}

/// A synthetic data set and the ground truth it was drawn from.
pub struct Synthetic {
    pub data: Dataset,
    /// Genre index of every item.
    pub item_genre: Vec<usize>,
    /// Each user's favourite genre.
    pub user_genre: Vec<usize>,
}

/// Draws an index from cumulative weights.
fn draw(cum: &[f64], rng: &mut impl Rng) -> usize {
    let total = *cum.last().expect("non-empty");
    let x = rng.random::<f64>() * total;
    cum.partition_point(|&c| c <= x).min(cum.len() - 1)
}

fn cumulative(w: impl Iterator<Item = f64>) -> Vec<f64> {
    w.scan(0.0, |s, x| {
        *s += x;
        Some(*s)
    })
    .collect()
}

pub fn generate(cfg: SynthConfig) -> Synthetic {
    let g = GENRES.len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
    // Genres of unequal size; artists' popularity is Zipf-like within a genre.
    let genre_cum = cumulative((0..g).map(|k| 1.0 / ((k + 1) as f64).sqrt()));
    let item_genre: Vec<usize> = (0..cfg.items).map(|_| draw(&genre_cum, &mut rng)).collect();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); g];
    for (i, &k) in item_genre.iter().enumerate() {
        members[k].push(i);
    }
    let member_cum: Vec<Vec<f64>> = members
        .iter()
        .map(|m| cumulative((0..m.len()).map(|r| 1.0 / (r + 1) as f64)))
        .collect();

    // Names are counted by their canonical key, so "The Velvet Lanterns"
    // and "Velvet Lanterns" are two artists that merging keeps apart.
    let mut names = std::collections::HashMap::<String, usize>::new();
    let item_names: Vec<String> = item_genre
        .iter()
        .map(|&k| {
            let adj = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
            let noun = NOUNS[k][rng.random_range(0..NOUNS[k].len())];
            let base = if rng.random_bool(0.3) {
                format!("The {adj} {noun}")
            } else {
                format!("{adj} {noun}")
            };
            let n = names.entry(artist_key(&base)).or_insert(0);
            *n += 1;
            if *n == 1 {
                base
            } else {
                format!("{base} {}", *n)
            }
        })
        .collect();

    let count = LogNormal::new((cfg.plays_per_user as f64 * 0.8).ln(), 0.6).expect("valid");
    let mut triplets = Vec::with_capacity(cfg.users * cfg.plays_per_user);
    let mut user_genre = Vec::with_capacity(cfg.users);
    for u in 0..cfg.users {
        // One to three favourite genres with decreasing weights.
        let n_tastes = 1 + usize::from(rng.random_bool(0.6)) + usize::from(rng.random_bool(0.3));
        let mut tastes: Vec<(usize, f64)> = Vec::with_capacity(n_tastes);
        for t in 0..n_tastes {
            let k = draw(&genre_cum, &mut rng);
            if !tastes.iter().any(|&(x, _)| x == k) {
                tastes.push((k, 1.0 / (t + 1) as f64 * rng.random_range(0.7..1.3)));
            }
        }
        user_genre.push(tastes[0].0);
        let taste_cum = cumulative(tastes.iter().map(|t| t.1));
        let total: f64 = tastes.iter().map(|t| t.1).sum();
        let n = (count.sample(&mut rng).round() as usize)
            .clamp(3, cfg.plays_per_user * 4)
            .min(cfg.items);
        for _ in 0..n {
            let (k, affinity) = if rng.random_bool(0.9) {
                let (k, w) = tastes[draw(&taste_cum, &mut rng)];
                (k, w / total)
            } else {
                (draw(&genre_cum, &mut rng), 0.0)
            };
            if members[k].is_empty() {
                continue;
            }
            let item = members[k][draw(&member_cum[k], &mut rng)];
            let mu = 3.0 + 2.5 * affinity;
            let plays = (mu + rng.random_range(-1.5..1.5f64)).exp().round().max(1.0);
            triplets.push((u as u32, item as u32, plays as f32));
        }
    }
    let rows = triplets.len() as u64;
    let plays = Csr::from_triplets(cfg.users, cfg.items, triplets);
    let report = LoadReport {
        rows,
        duplicates: rows - plays.nnz() as u64,
        ..LoadReport::default()
    };
    Synthetic {
        data: Dataset {
            user_ids: (0..cfg.users)
                .map(|u| format!("listener-{:05}", u + 1))
                .collect(),
            item_ids: (0..cfg.items)
                .map(|i| format!("artist-{:05}", i + 1))
                .collect(),
            item_names,
            plays,
            source: format!(
                "embedded default (synthetic: {} listeners, {} artists, seed {})",
                cfg.users, cfg.items, cfg.seed
            ),
            report,
            aliases: Default::default(),
            catalogue: None,
        },
        item_genre,
        user_genre,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The items file `timbral synth` writes reads back, through the items
    /// reader any catalogue goes through, as the embedded default's own
    /// metadata: same genres, tag votes, years and audio.
    #[test]
    fn the_written_items_file_reads_back_as_the_catalogue() {
        use crate::content::ItemMeta;
        use crate::data::items::{Catalogue, ItemsFormat};
        let cfg = SynthConfig {
            users: 60,
            items: 80,
            plays_per_user: 10,
            seed: 9,
        };
        let s = generate(cfg);
        let mut file = Vec::new();
        write_items(&s, cfg.seed, &mut file).unwrap();
        let mut c = Catalogue::default();
        let path = std::path::Path::new("synth.items.tsv");
        c.read_bytes(path, file, &ItemsFormat::default()).unwrap();
        assert_eq!(c.items.len(), 80);
        let expected = catalogue(&s, cfg.seed);
        for ((id, name), want) in s.data.item_ids.iter().zip(&s.data.item_names).zip(expected) {
            let item = c.get(id).unwrap_or_else(|| panic!("{id} not read"));
            assert_eq!(&item.name, name);
            let got = ItemMeta::from_catalogue(item);
            assert_eq!(got.genres, [want.genre], "{id}");
            assert_eq!(got.tags, want.tags, "{id}");
            assert_eq!(got.year, Some(want.year), "{id}");
            assert_eq!(got.audio, Some(want.audio), "{id}");
        }
    }

    #[test]
    fn deterministic_and_clustered() {
        let a = generate(SynthConfig {
            users: 300,
            items: 400,
            plays_per_user: 20,
            seed: 5,
        });
        let b = generate(SynthConfig {
            users: 300,
            items: 400,
            plays_per_user: 20,
            seed: 5,
        });
        assert_eq!(a.data.plays, b.data.plays);
        assert_eq!(a.data.item_names, b.data.item_names);
        // Most of a listener's plays are in their favourite genres.
        let (mut fav, mut all) = (0usize, 0usize);
        for u in 0..300 {
            for &i in a.data.plays.row(u).0 {
                all += 1;
                fav += usize::from(a.item_genre[i as usize] == a.user_genre[u]);
            }
        }
        assert!(fav * 3 > all, "{fav} of {all}");
        // No two artists are one artist's spellings.
        let keys: std::collections::HashSet<String> =
            a.data.item_names.iter().map(|n| artist_key(n)).collect();
        assert_eq!(keys.len(), a.data.n_items());
    }

    #[test]
    fn the_catalogue_follows_the_genres_and_popularity() {
        let s = generate(SynthConfig::default());
        let c = catalogue(&s, 42);
        assert_eq!(c, catalogue(&s, 42));
        assert_eq!(c.len(), s.data.n_items());
        let energy = |g: &str| {
            let e: Vec<f32> = c
                .iter()
                .filter(|x| x.genre == g)
                .map(|x| x.audio[2])
                .collect();
            e.iter().sum::<f32>() / e.len() as f32
        };
        assert!(energy("metal") > energy("ambient") + 0.4);
        assert!(c
            .iter()
            .all(|x| x.tags.windows(2).all(|w| w[0].1 >= w[1].1)));
        assert!(c
            .iter()
            .filter(|x| x.genre == "synthpop")
            .all(|x| (1980..2005).contains(&x.year)));
    }
}
