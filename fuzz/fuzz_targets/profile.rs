//! The saved-profile decoder: any bytes are refused, or give a profile
//! that a model uses (unknown ids skipped) without a panic.
#![no_main]
use timbral_core::Profile;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Profile::from_bytes(data) {
        let m = timbral_fuzz::model();
        let history = p.history(m);
        let exclude = p.excluded(m);
        let _ = m.recommend_explained(&history, &exclude, 5, None);
        assert_eq!(Profile::from_bytes(&p.to_bytes()).ok(), Some(p));
    }
});
