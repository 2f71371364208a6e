//! JSON Lines plays and items files.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    timbral_fuzz::read_tables("fuzz.jsonl", data, None, None);
});
