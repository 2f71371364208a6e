//! JSON Lines plays and items files.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| timbral_train::fuzzing::table_jsonl(data));
