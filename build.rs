//! Build script of the root `timbral-tests` package: finds the shared data
//! the system tests read (`../shared/data` beside the checkout, or
//! `TIMBRAL_SHARED_DATA`) and bakes its location into the test support
//! library, so a missing data set is reported once at build time and each
//! test can skip with a clear message instead of failing on a path.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=TIMBRAL_SHARED_DATA");
    println!("cargo:rerun-if-changed=build.rs");
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let candidate = std::env::var_os("TIMBRAL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("..").join("shared").join("data"));
    let hetrec = candidate
        .join("hetrec2011-lastfm-2k")
        .join("user_artists.dat");
    // Rebuild when the data appears or disappears.
    println!("cargo:rerun-if-changed={}", candidate.display());
    if hetrec.is_file() {
        let dir = candidate.canonicalize().unwrap_or(candidate);
        println!("cargo:rustc-env=TIMBRAL_SHARED_DATA={}", dir.display());
    } else {
        println!("cargo:rustc-env=TIMBRAL_SHARED_DATA=");
        println!(
            "cargo:warning=shared data not found at {}: tests that need it will be skipped",
            candidate.display()
        );
    }
}
