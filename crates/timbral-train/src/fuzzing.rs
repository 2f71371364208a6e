//! The fuzz targets' bodies: `fuzz/fuzz_targets/*` (cargo-fuzz, the long
//! runs: `bash fuzz/run.sh`) call these, and so does CI's smoke
//! (`tests/fuzz_corpus.rs`), which replays the committed corpus and
//! deterministic mutations of it without a sanitizer build. Every decoder
//! of user input is here: the bundle, the saved profile and each table
//! reader. A target returns for any input; a panic is the bug it finds.

use std::path::Path;
use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use timbral_core::{AlsParams, Model, Profile};

use crate::data::items::{Catalogue, ItemsFormat};
use crate::data::table::Delimiter;
use crate::data::{read_plays_bytes, ColumnNames, ReadOptions};

/// A fuzz target: returns for any input.
pub type Target = fn(&[u8]);

/// Every target by name (as `fuzz/fuzz_targets/NAME.rs` and
/// `fuzz/corpus/NAME/`).
pub const TARGETS: [(&str, Target); 5] = [
    ("bundle", bundle),
    ("profile", profile),
    ("table_text", table_text),
    ("table_jsonl", table_jsonl),
    ("table_parquet", table_parquet),
];

/// The bundle decoder: any bytes are refused with an error or load as a
/// model that serves every call.
pub fn bundle(data: &[u8]) {
    if let Ok(m) = Model::from_bytes(data) {
        use_model(&m);
    }
    let _ = Model::inspect(data);
}

/// The saved-profile decoder: any bytes are refused, or give a profile
/// that a model uses (unknown ids skipped) and that round-trips.
pub fn profile(data: &[u8]) {
    if let Ok(p) = Profile::from_bytes(data) {
        let m = model();
        let history = p.history(m);
        let exclude = p.excluded(m);
        let _ = m.recommend_explained(&history, &exclude, 5, None);
        assert_eq!(Profile::from_bytes(&p.to_bytes()).ok(), Some(p));
    }
}

/// CSV/TSV and whitespace-separated plays and items files, with a header
/// or named columns. The first byte picks the delimiter and whether the
/// columns are named.
pub fn table_text(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let delimiter = match mode % 4 {
        0 => None,
        1 => Some(Delimiter::Byte(b'\t')),
        2 => Some(Delimiter::Whitespace),
        _ => Some(Delimiter::Byte(b',')),
    };
    let columns = (mode & 4 != 0).then(|| vec!["user".into(), "item".into(), "plays".into()]);
    read_tables("fuzz.csv", rest, delimiter, columns);
}

/// JSON Lines plays and items files.
pub fn table_jsonl(data: &[u8]) {
    read_tables("fuzz.jsonl", data, None, None);
}

/// Parquet plays and items files (the parquet crate's decoder and ours).
pub fn table_parquet(data: &[u8]) {
    read_tables("fuzz.parquet", data, None, None);
}

/// `n` deterministic mutations of `seed` for the smoke replay: bit flips,
/// bytes set to edge values, deletions, duplications, insertions and
/// truncations, one to four a mutant, as a fuzzer's first steps would be.
pub fn mutations(seed: &[u8], n: usize, rng_seed: u64) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(rng_seed);
    (0..n).map(move |_| {
        let mut d = seed.to_vec();
        for _ in 0..rng.random_range(1..=4) {
            let len = d.len();
            let at = if len == 0 {
                0
            } else {
                rng.random_range(0..len)
            };
            match rng.random_range(0..6) {
                0 if len > 0 => d[at] ^= 1 << rng.random_range(0..8),
                1 if len > 0 => d[at] = [0, 1, 0x7f, 0x80, 0xff][rng.random_range(0..5)],
                2 if len > 0 => {
                    let end = (at + rng.random_range(1..=16)).min(len);
                    d.drain(at..end);
                }
                3 if len > 0 => {
                    let end = (at + rng.random_range(1..=16)).min(len);
                    let copy = d[at..end].to_vec();
                    d.splice(at..at, copy);
                }
                4 => {
                    let bytes: Vec<u8> =
                        (0..rng.random_range(1..=8)).map(|_| rng.random()).collect();
                    d.splice(at..at, bytes);
                }
                _ => d.truncate(at),
            }
        }
        d
    })
}

/// A 60-item model of the embedded default, trained once.
fn model() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| {
        let s = crate::synth::generate(crate::synth::SynthConfig {
            users: 40,
            items: 60,
            plays_per_user: 8,
            seed: 7,
        });
        let params = AlsParams {
            factors: 4,
            iterations: 2,
            ..AlsParams::default()
        };
        crate::train_dataset(&s.data, params, false)
    })
}

/// Exercises what a decoded model serves: every call must return, never
/// panic, whatever the bundle held.
fn use_model(m: &Model) {
    let n = m.n_items() as u32;
    let history: Vec<(u32, f32)> = (0..n.min(3)).map(|i| (i, 1.0 + i as f32)).collect();
    let _ = m.recommend_explained(&history, &[], 5, None);
    let _ = m.recommend_explained(&[], &[], 5, None);
    if n > 0 {
        let _ = m.similar(0, 5);
        let _ = m.similar(n - 1, 5);
        let _ = m.autofill(&[0], &[], 5, 0.7);
        let _ = m.item_index(m.item_id(0));
    }
    if m.n_users() > 0 {
        let _ = m.recommend_user(0, 5);
    }
    if let Some(c) = m.content() {
        // A query embedding of the width the bundle says it takes.
        let e: Vec<f32> = (0..c.embedding_dim())
            .map(|j| (j % 7) as f32 - 3.0)
            .collect();
        let _ = m.search("rock 80s", &e, None, 5);
    }
    if let Some(c) = m.credits() {
        for i in 0..m.n_items() {
            let _ = (c.artist(i), c.album(i), c.genres(i));
        }
    }
    let _ = m.popular(&[], 5);
    let _ = m.to_bytes();
}

/// Reads `data` as a plays file and as an items file named `name` (whose
/// extension picks the format), with and without bad rows skipped.
///
/// A panic inside the parquet crate is caught by our reader and reported
/// as the file's error; [`crate::data::table::quiet_decoder_panics`]
/// keeps libFuzzer's abort-on-panic hook for every other panic.
fn read_tables(
    name: &str,
    data: &[u8],
    delimiter: Option<Delimiter>,
    columns: Option<Vec<String>>,
) {
    crate::data::table::quiet_decoder_panics();
    let path = Path::new(name);
    for skip in [false, true] {
        let cols = ColumnNames {
            delimiter,
            columns: columns.clone(),
            ..ColumnNames::default()
        };
        if let Ok(ds) = read_plays_bytes(
            path,
            data.to_vec(),
            &cols,
            ReadOptions {
                skip_bad_rows: skip,
            },
        ) {
            assert_eq!(ds.item_ids.len(), ds.plays.n_cols());
            assert_eq!(ds.user_ids.len(), ds.plays.n_rows());
        }
        let format = ItemsFormat {
            delimiter,
            columns: columns.clone(),
            skip_bad_rows: skip,
            ..ItemsFormat::default()
        };
        let mut c = Catalogue::default();
        if c.read_bytes(path, data.to_vec(), &format).is_ok() {
            c.merge_tracks();
        }
    }
}
