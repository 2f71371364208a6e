//! The bundle decoder: any bytes are refused with an error or load as a
//! model that serves every call without a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = timbral_core::Model::from_bytes(data) {
        timbral_fuzz::use_model(&m);
    }
    let _ = timbral_core::Model::inspect(data);
});
