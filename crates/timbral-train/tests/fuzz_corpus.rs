//! CI's fuzz smoke: every fuzz target (the same functions the cargo-fuzz
//! binaries call) on its committed corpus, on the inputs a long run left in
//! fuzz/artifacts/, and on deterministic mutations of each. A panic fails
//! the test and names the input. The coverage-guided long run is
//! `bash fuzz/run.sh --runs 1000000`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use timbral_train::fuzzing::{mutations, TARGETS};

/// Mutants a seed gets: enough to reach every decoder's error paths (a
/// table seed is ~100 bytes, a bundle ~3 KB), in seconds.
const MUTANTS: usize = 4000;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files: Vec<PathBuf> = ["corpus", "artifacts"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d).join(target)).ok())
        .flatten()
        .map(|e| e.expect("a readable fuzz directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_survives_its_corpus_and_mutations_of_it() {
    timbral_train::data::table::quiet_decoder_panics();
    for (name, target) in TARGETS {
        let files = inputs(name);
        assert!(!files.is_empty(), "fuzz/corpus/{name}/ has no seed");
        let mut runs = 0;
        for (k, file) in files.iter().enumerate() {
            let seed = std::fs::read(file).expect("a readable seed");
            for (m, data) in std::iter::once(seed.clone())
                .chain(mutations(&seed, MUTANTS, k as u64))
                .enumerate()
            {
                if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
                    let out = std::env::temp_dir().join(format!("timbral-fuzz-{name}-{k}-{m}"));
                    std::fs::write(&out, &data).expect("write the failing input");
                    panic!(
                        "fuzz target {name} panicked on mutant {m} of {}; the input is in {}",
                        file.display(),
                        out.display()
                    );
                }
                runs += 1;
            }
        }
        println!("{name}: {runs} inputs from {} seeds", files.len());
    }
}

#[test]
fn mutations_are_deterministic_and_change_the_seed() {
    let seed = b"user,item,plays\nu1,i1,3\n".to_vec();
    let a: Vec<Vec<u8>> = mutations(&seed, 50, 1).collect();
    let b: Vec<Vec<u8>> = mutations(&seed, 50, 1).collect();
    assert_eq!(a, b);
    assert!(a.iter().filter(|m| **m != seed).count() >= 45);
    assert_ne!(a, mutations(&seed, 50, 2).collect::<Vec<_>>());
}
