//! The saved-profile decoder: any bytes are refused, or give a profile
//! that a model uses (unknown ids skipped) without a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| timbral_train::fuzzing::profile(data));
