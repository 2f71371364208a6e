//! What the fuzz targets share: a small trained model to use what a
//! decoder accepted against, and the table readers' entry points.

use std::path::Path;
use std::sync::OnceLock;

use timbral_core::{AlsParams, Model};
use timbral_train::data::items::{Catalogue, ItemsFormat};
use timbral_train::data::table::Delimiter;
use timbral_train::data::{read_plays_bytes, ColumnNames, ReadOptions};

/// A 60-item model of the embedded default, trained once.
pub fn model() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| {
        let s = timbral_train::synth::generate(timbral_train::synth::SynthConfig {
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
        timbral_train::train_dataset(&s.data, params, false)
    })
}

/// Exercises what a decoded model serves: every call must return, never
/// panic, whatever the bundle held.
pub fn use_model(m: &Model) {
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
    let _ = m.popular(&[], 5);
    let _ = m.to_bytes();
}

/// Reads `data` as a plays file and as an items file named `name` (whose
/// extension picks the format), with and without bad rows skipped.
///
/// A panic inside the parquet crate is caught by our reader and reported
/// as the file's error; [`timbral_train::data::table::quiet_decoder_panics`]
/// keeps libFuzzer's abort-on-panic hook for every other panic.
pub fn read_tables(
    name: &str,
    data: &[u8],
    delimiter: Option<Delimiter>,
    columns: Option<Vec<String>>,
) {
    timbral_train::data::table::quiet_decoder_panics();
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
