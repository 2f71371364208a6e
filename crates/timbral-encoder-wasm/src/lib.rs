//! The text encoder (MiniLM on tract-onnx, the tokenizer) as its own wasm
//! module: about 3 MB gzipped, so a page fetches it only when a listener
//! first searches, while the recommender module starts at once.

use timbral_encoder::Encoder;
use wasm_bindgen::prelude::*;

fn error(msg: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&msg.to_string()).into()
}

/// all-MiniLM-L6-v2: text in, a unit-length 384-d vector out.
///
/// Not named `TextEncoder`: wasm-bindgen's glue encodes strings with the
/// global `TextEncoder`, which a class of that name would shadow in the
/// module, breaking every query with a non-ASCII character.
#[wasm_bindgen]
pub struct MiniLmEncoder {
    enc: Encoder,
}

#[wasm_bindgen]
impl MiniLmEncoder {
    /// Builds the encoder from `model.onnx` and `tokenizer.json` bytes:
    /// parses and plans once. The model is taken by value
    /// so its copy in wasm memory is freed before the plan is built.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(model: Vec<u8>, tokenizer: &[u8]) -> Result<MiniLmEncoder, JsValue> {
        Ok(MiniLmEncoder {
            enc: Encoder::from_bytes(model, tokenizer).map_err(error)?,
        })
    }

    /// The query embedding (mean pooled, L2-normalised). Empty text is an
    /// error; long text is truncated to the model's limit.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, JsValue> {
        self.enc.embed(text).map_err(error)
    }

    /// Word-piece ids, [CLS] and [SEP] included.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, JsValue> {
        self.enc.tokenize(text).map_err(error)
    }

    #[wasm_bindgen(getter, js_name = modelSha256)]
    pub fn model_sha256(&self) -> String {
        self.enc.model_sha256().to_string()
    }

    #[wasm_bindgen(getter, js_name = tokenizerSha256)]
    pub fn tokenizer_sha256(&self) -> String {
        self.enc.tokenizer_sha256().to_string()
    }
}
