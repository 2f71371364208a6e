//! The bundle decoder: any bytes are refused with an error or load as a
//! model that serves every call without a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| timbral_train::fuzzing::bundle(data));
