//! The MiniLM text encoder: BERT WordPiece tokenization from the model's own
//! `tokenizer.json`, all-MiniLM-L6-v2 run by tract-onnx, mean pooling over
//! the attention mask, L2 normalisation. Same code natively and in wasm32.
//!
//! The model is parsed once; an optimised plan is built per input shape on
//! first use and reused (tract: model → optimised plan → run). tract cannot
//! run this export with a symbolic sequence length (its attention-mask
//! subgraph defeats shape inference), so lengths are padded up to a few
//! buckets — padding is masked out of attention and pooling, so results do
//! not change — and each (batch, bucket) shape gets its own plan.
//!
//! Constant subgraphs are folded when a plan is built, the int8
//! word-embedding table's dequantisation included: tract's own folding
//! skips it because the f32 table is larger than the int8 one, and left in
//! the plan it would be recomputed on every call.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::TurnState;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::source::TypedSource;

use crate::error::Error;

/// Embedding width of all-MiniLM-L6-v2.
pub const DIM: usize = 384;

/// Sequence lengths are padded up to one of these (the tokenizer's
/// truncation limit, 128, last).
const BUCKETS: &[usize] = &[8, 16, 24, 32, 48, 64, 96, 128];

/// Largest constant we are willing to materialise while folding (bytes).
const FOLD_LIMIT: usize = 128 << 20;

type Plan = Arc<TypedSimplePlan>;

pub struct Encoder {
    tokenizer: Tokenizer,
    model: InferenceModel,
    plans: Mutex<HashMap<(usize, usize), Plan>>,
    model_sha256: String,
    tokenizer_sha256: String,
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("text encoder model: {e}"))
}

/// The padded length for `n` word pieces.
fn bucket(n: usize) -> usize {
    BUCKETS.iter().copied().find(|&b| b >= n).unwrap_or(n)
}

/// Replaces every stateless node whose inputs are all constant by its value.
fn fold_constants(model: &mut TypedModel) -> TractResult<usize> {
    let mut folded = 0;
    'again: loop {
        for id in model.eval_order()? {
            let node = &model.nodes[id];
            if node.op_is::<Const>() || node.op_is::<TypedSource>() || !node.op.is_stateless() {
                continue;
            }
            let facts: TVec<TypedFact> = model.node_input_facts(id)?.into_iter().cloned().collect();
            if facts.is_empty() || facts.iter().any(|f| f.konst.is_none()) {
                continue;
            }
            let inputs: TVec<TValue> = facts
                .iter()
                .map(|f| f.konst.clone().unwrap().into_tvalue())
                .collect();
            let Ok(outputs) = node.op.eval_with_session(id, &TurnState::default(), inputs) else {
                continue;
            };
            if outputs
                .iter()
                .map(|t| t.datum_type().size_of() * t.volume())
                .sum::<usize>()
                > FOLD_LIMIT
            {
                continue;
            }
            let mut patch = TypedModelPatch::default();
            for (slot, value) in outputs.into_iter().enumerate() {
                let wire = patch.add_const(
                    format!("{}.folded.{slot}", node.name),
                    value.into_arc_tensor(),
                )?;
                patch.shunt_outside(model, OutletId::new(id, slot), wire)?;
            }
            patch.apply(model)?;
            model.compact()?;
            folded += 1;
            continue 'again;
        }
        return Ok(folded);
    }
}

impl Encoder {
    /// Loads the ONNX model and `tokenizer.json` from bytes, and prepares
    /// the plan for a single short query.
    pub fn from_bytes(model: &[u8], tokenizer_json: &[u8]) -> Result<Self, Error> {
        let mut tokenizer = Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| Error::InvalidInput(format!("tokenizer.json: {e}")))?;
        // The packaged file pads every input to a fixed length; padding is
        // ours to choose (the buckets above).
        tokenizer.with_padding(None);
        // The export's value_info and output shapes are symbolic and
        // contradict the fixed shapes we run with: let tract infer them.
        let parsed = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true)
            .model_for_read(&mut Cursor::new(model))
            .map_err(model_err)?;
        let enc = Encoder {
            tokenizer,
            model: parsed,
            plans: Mutex::new(HashMap::new()),
            model_sha256: sha256_hex(model),
            tokenizer_sha256: sha256_hex(tokenizer_json),
        };
        enc.plan(1, BUCKETS[0])?;
        Ok(enc)
    }

    /// The optimised plan for a (batch, length) shape, built on first use.
    fn plan(&self, batch: usize, len: usize) -> Result<Plan, Error> {
        if let Some(p) = self.plans.lock().map_err(model_err)?.get(&(batch, len)) {
            return Ok(p.clone());
        }
        let mut m = self.model.clone();
        for input in 0..3 {
            m.set_input_fact(
                input,
                InferenceFact::dt_shape(i64::datum_type(), tvec!(batch, len)),
            )
            .map_err(model_err)?;
        }
        let mut typed = m.into_typed().map_err(model_err)?;
        typed.declutter().map_err(model_err)?;
        fold_constants(&mut typed).map_err(model_err)?;
        let plan =
            TypedSimplePlan::new(typed.into_optimized().map_err(model_err)?).map_err(model_err)?;
        self.plans
            .lock()
            .map_err(model_err)?
            .insert((batch, len), plan.clone());
        Ok(plan)
    }

    /// Shapes with a ready plan, for diagnostics.
    pub fn planned_shapes(&self) -> Vec<(usize, usize)> {
        let mut v: Vec<_> = self
            .plans
            .lock()
            .map(|p| p.keys().copied().collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    pub fn model_sha256(&self) -> &str {
        &self.model_sha256
    }

    pub fn tokenizer_sha256(&self) -> &str {
        &self.tokenizer_sha256
    }

    /// WordPiece ids with `[CLS]` … `[SEP]`, truncated to the model's limit.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, Error> {
        if text.trim().is_empty() {
            return Err(Error::InvalidInput("cannot embed an empty text".into()));
        }
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| Error::InvalidInput(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// One L2-normalised embedding.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, Error> {
        Ok(self
            .embed_batch(&[text])?
            .pop()
            .expect("one text in, one vector out"))
    }

    /// Embeddings of several texts in one run (padded to a common bucket).
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.tokenize(t))
            .collect::<Result<_, _>>()?;
        let (b, s) = (
            ids.len(),
            bucket(ids.iter().map(Vec::len).max().unwrap_or(0)),
        );
        let mut input = vec![0i64; b * s];
        let mut mask = vec![0i64; b * s];
        for (r, row) in ids.iter().enumerate() {
            for (c, &id) in row.iter().enumerate() {
                input[r * s + c] = i64::from(id);
                mask[r * s + c] = 1;
            }
        }
        let types = vec![0i64; b * s];
        let tensor = |v: &[i64]| -> Result<TValue, Error> {
            Ok(Tensor::from_shape(&[b, s], v)
                .map_err(model_err)?
                .into_tvalue())
        };
        let plan = self.plan(b, s)?;
        let out = plan
            .run(tvec![tensor(&input)?, tensor(&mask)?, tensor(&types)?])
            .map_err(model_err)?;
        let hidden = out[0].to_plain_array_view::<f32>().map_err(model_err)?;
        let shape = hidden.shape().to_vec();
        if shape != [b, s, DIM] {
            return Err(model_err(format!(
                "unexpected output shape {shape:?}, expected [{b}, {s}, {DIM}]"
            )));
        }
        let hidden = hidden
            .as_slice()
            .ok_or_else(|| model_err("non-contiguous output"))?;
        Ok((0..b)
            .map(|r| {
                let mut v = vec![0f32; DIM];
                let mut n = 0f32;
                for c in 0..s {
                    if mask[r * s + c] == 1 {
                        n += 1.0;
                        let h = &hidden[(r * s + c) * DIM..(r * s + c + 1) * DIM];
                        v.iter_mut().zip(h).for_each(|(a, x)| *a += x);
                    }
                }
                v.iter_mut().for_each(|a| *a /= n.max(1.0));
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|a| *a /= norm);
                v
            })
            .collect())
    }
}
