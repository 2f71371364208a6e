//! Parquet plays and items files (the parquet crate's decoder and ours).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| timbral_train::fuzzing::table_parquet(data));
