//! CSV/TSV and whitespace-separated plays and items files, with a header
//! or named columns. The first byte picks the delimiter and whether the
//! columns are named.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| timbral_train::fuzzing::table_text(data));
