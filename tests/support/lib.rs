//! Helpers for the system tests in `tests/`.

use std::path::PathBuf;

use timbral_train::data::{self, ColumnNames, Dataset, ReadOptions};

/// `../shared/data`, as found by the build script, or `None` (with a
/// message saying the test is skipped) when it is absent.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = env!("TIMBRAL_SHARED_DATA");
    if dir.is_empty() {
        eprintln!(
            "SKIPPED {test}: ../shared/data is absent (set TIMBRAL_SHARED_DATA to point at it)"
        );
        return None;
    }
    Some(PathBuf::from(dir))
}

/// The HetRec Last.fm-2k data set, when present.
pub fn hetrec(test: &str) -> Option<Dataset> {
    let dir = shared_data(test)?.join("hetrec2011-lastfm-2k");
    Some(data::load(&dir, &ColumnNames::default(), ReadOptions::default()).expect("HetRec loads"))
}

/// Runs `f` on a dedicated rayon pool of `threads` threads.
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(f)
}
