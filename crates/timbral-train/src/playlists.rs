//! Playlist continuation, the judge of autofill: hold out half of each
//! playlist, continue it from the other half, and count what comes back
//! (recall@k, R-precision), beside plain KNN of the seeds' centroid and a
//! genre-match baseline, and autofill without and with more diversity.
//!
//! Playlists come from any table with a playlist column and an item column
//! (`spotify_songs.csv`: `playlist_id`, `track_id`), through the one table
//! reader. Each playlist's tracks are ordered by a seeded hash and split in
//! two; playlists with fewer than four tracks in the bundle are skipped.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;
use timbral_core::listener::AUTOFILL_LAMBDA;
use timbral_core::{Model, Scored};

use crate::data::table::{file_error, read_table, Cell, TableFormat, Visitor};
use crate::data::DataError;

/// Playlist → its items (bundle indices), in file order, each once.
pub fn read_playlists(
    path: &Path,
    model: &Model,
    playlist_col: &str,
    item_col: &str,
) -> Result<(BTreeMap<String, Vec<u32>>, usize), DataError> {
    struct V<'m> {
        model: &'m Model,
        cols: (String, String),
        at: Option<(usize, usize)>,
        lists: BTreeMap<String, Vec<u32>>,
        unknown: usize,
        path: std::path::PathBuf,
    }
    impl Visitor for V<'_> {
        fn header(&mut self, columns: &[String]) -> Result<(), DataError> {
            let find = |c: &str| {
                columns.iter().position(|x| x == c).ok_or_else(|| {
                    file_error(
                        &self.path,
                        format!("no column `{c}` (columns: {})", columns.join(", ")),
                    )
                })
            };
            self.at = Some((find(&self.cols.0)?, find(&self.cols.1)?));
            Ok(())
        }
        fn row(&mut self, line: u64, row: Result<&[Cell<'_>], String>) -> Result<(), DataError> {
            let (p, i) = self.at.expect("header first");
            let bad = |problem: String| DataError::Row {
                path: self.path.clone(),
                line,
                problem,
            };
            let row = row.map_err(bad)?;
            let (Some(pl), Some(item)) = (
                row.get(p)
                    .map(|c| c.scalar(&self.cols.0))
                    .transpose()
                    .map_err(bad)?
                    .flatten(),
                row.get(i)
                    .map(|c| c.scalar(&self.cols.1))
                    .transpose()
                    .map_err(bad)?
                    .flatten(),
            ) else {
                return Ok(());
            };
            match self.model.item_index(&item) {
                Ok(ix) => {
                    let l = self.lists.entry(pl.into_owned()).or_default();
                    if !l.contains(&ix) {
                        l.push(ix);
                    }
                }
                Err(_) => self.unknown += 1,
            }
            Ok(())
        }
    }
    let mut v = V {
        model,
        cols: (playlist_col.to_string(), item_col.to_string()),
        at: None,
        lists: BTreeMap::new(),
        unknown: 0,
        path: path.to_path_buf(),
    };
    read_table(path, &TableFormat::default(), &mut v)?;
    Ok((v.lists, v.unknown))
}

fn mix(seed: u64, s: &str, i: u32) -> u64 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(s.as_bytes());
    h.update(&i.to_le_bytes());
    u64::from(h.finalize())
}

/// One method's figures.
#[derive(Clone, Debug, Serialize)]
pub struct MethodScore {
    pub method: &'static str,
    pub recall_10: f32,
    pub recall_50: f32,
    pub r_precision: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlaylistReport {
    pub playlists: usize,
    pub seeds: usize,
    pub held_out: usize,
    pub unknown_rows: usize,
    pub methods: Vec<MethodScore>,
}

/// Plain KNN: the items nearest the seeds' centroid (unit seeds, equal
/// weights), seeds left out.
fn knn(model: &Model, seeds: &[u32], k: usize) -> Vec<Scored> {
    if model.content().is_none() {
        return Vec::new();
    }
    let cos = model.seeds_cosines(seeds);
    let cands = (0..model.n_items() as u32)
        .filter(|i| !seeds.contains(i))
        .map(|i| Scored {
            index: i,
            score: cos[i as usize],
        })
        .collect();
    timbral_core::top_k(cands, k)
}

/// The genre-match baseline: items scored by how many seeds carry each of
/// their labels (the seeds' genre mix), popularity breaking ties; seeds
/// left out.
fn genre_match(model: &Model, seeds: &[u32], k: usize) -> Vec<Scored> {
    let Some(c) = model.content() else {
        return Vec::new();
    };
    let mut count: HashMap<&str, f32> = HashMap::new();
    for &s in seeds {
        for l in &c.labels[s as usize] {
            *count.entry(l.as_str()).or_default() += 1.0;
        }
    }
    let pop = model.popularity();
    let max = pop.listeners.iter().copied().max().unwrap_or(0);
    let cands = (0..model.n_items() as u32)
        .filter(|i| !seeds.contains(i))
        .filter_map(|i| {
            let g: f32 = c.labels[i as usize]
                .iter()
                .filter_map(|l| count.get(l.as_str()))
                .sum();
            (g > 0.0).then(|| Scored {
                index: i,
                score: g + 0.5 * pop.penalty_with_max(i as usize, max),
            })
        })
        .collect();
    timbral_core::top_k(cands, k)
}

/// Continues every playlist with each method and scores it.
pub fn evaluate(
    model: &Model,
    lists: &BTreeMap<String, Vec<u32>>,
    unknown: usize,
    seed: u64,
) -> PlaylistReport {
    type Method<'a> = (&'static str, Box<dyn Fn(&[u32], usize) -> Vec<Scored> + 'a>);
    let methods: Vec<Method<'_>> = vec![
        (
            "autofill",
            Box::new(|s: &[u32], k| {
                model
                    .autofill(s, &[], k, AUTOFILL_LAMBDA)
                    .unwrap_or_default()
            }),
        ),
        (
            "autofill, no diversity",
            Box::new(|s: &[u32], k| model.autofill(s, &[], k, 0.0).unwrap_or_default()),
        ),
        (
            "autofill, diversity 0.7",
            Box::new(|s: &[u32], k| model.autofill(s, &[], k, 0.7).unwrap_or_default()),
        ),
        ("knn", Box::new(|s: &[u32], k| knn(model, s, k))),
        ("genre", Box::new(|s: &[u32], k| genre_match(model, s, k))),
    ];
    let mut splits = Vec::new();
    for (name, items) in lists {
        if items.len() < 4 {
            continue;
        }
        let mut v = items.clone();
        v.sort_by_key(|&i| (mix(seed, name, i), i));
        let half = v.len().div_ceil(2);
        let held = v.split_off(half);
        splits.push((v, held));
    }
    let max_k = timbral_core::listener::MAX_K;
    let scores = methods
        .iter()
        .map(|(name, f)| {
            let (mut r10, mut r50, mut rp) = (0f64, 0f64, 0f64);
            for (seeds, held) in &splits {
                let k = held.len().clamp(50, max_k);
                let got: Vec<u32> = f(seeds, k).into_iter().map(|s| s.index).collect();
                let hits =
                    |n: usize| got.iter().take(n).filter(|i| held.contains(i)).count() as f64;
                r10 += hits(10) / held.len() as f64;
                r50 += hits(50) / held.len() as f64;
                rp += hits(held.len().min(max_k)) / held.len().min(max_k) as f64;
            }
            let n = splits.len().max(1) as f64;
            MethodScore {
                method: name,
                recall_10: (r10 / n) as f32,
                recall_50: (r50 / n) as f32,
                r_precision: (rp / n) as f32,
            }
        })
        .collect();
    PlaylistReport {
        playlists: splits.len(),
        seeds: splits.iter().map(|s| s.0.len()).sum(),
        held_out: splits.iter().map(|s| s.1.len()).sum(),
        unknown_rows: unknown,
        methods: scores,
    }
}

impl std::fmt::Display for PlaylistReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "playlist continuation: {} playlists, half of each held out ({} seeds, {} held out; {} rows not in the bundle)",
            self.playlists, self.seeds, self.held_out, self.unknown_rows
        )?;
        writeln!(
            f,
            "{:<24} {:>9} {:>9} {:>11}",
            "method", "recall@10", "recall@50", "R-precision"
        )?;
        for m in &self.methods {
            writeln!(
                f,
                "{:<24} {:>9.4} {:>9.4} {:>11.4}",
                m.method, m.recall_10, m.recall_50, m.r_precision
            )?;
        }
        Ok(())
    }
}
