//! The embedded default data set: a synthetic catalogue of artists in genre
//! clusters and listeners whose plays follow their tastes. Deterministic for
//! a seed, so the main job, the tests and the benchmarks run with nothing
//! but the repository — and the structure is known, so results can be
//! checked (a listener of one genre should be recommended that genre).

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use timbral_core::Csr;

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
            let n = names.entry(base.clone()).or_insert(0);
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
        },
        item_genre,
        user_genre,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
