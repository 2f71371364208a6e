//! The MiniLM encoder compiled to wasm32 and run under Node by
//! wasm-bindgen-test: the same fixture as the native test (token ids exact,
//! cosine ≥ 0.999), plus query-embedding latency figures (printed, not
//! asserted). The model files are embedded at compile time: there is no
//! file system here.
#![cfg(target_arch = "wasm32")]

mod common;

use timbral_encoder::Encoder;
use wasm_bindgen_test::*;

static MODEL: &[u8] = include_bytes!("../../../models/minilm/model.onnx");
static TOKENIZER: &[u8] = include_bytes!("../../../models/minilm/tokenizer.json");

fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen_test]
fn matches_onnxruntime_in_wasm_and_reports_latency() {
    let t = now_ms();
    let enc = Encoder::from_bytes(MODEL, TOKENIZER).expect("the encoder loads in wasm");
    let load = now_ms() - t;
    let worst = common::check_fixture(&enc);
    console_log!(
        "wasm32: encoder loaded in {load:.0} ms; worst cosine against onnxruntime {worst:.6}"
    );
    for pieces in [8usize, 32] {
        let text = vec!["rock"; pieces - 2].join(" ");
        assert_eq!(enc.tokenize(&text).unwrap().len(), pieces);
        enc.embed(&text).unwrap(); // warm-up
        let mut times: Vec<f64> = (0..50)
            .map(|_| {
                let t = now_ms();
                enc.embed(&text).unwrap();
                now_ms() - t
            })
            .collect();
        times.sort_by(f64::total_cmp);
        console_log!(
            "wasm32 simd128: query embedding, {pieces} word pieces: median {:.1} ms over 50 runs",
            times[25]
        );
    }
}
