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
//! The export stores every weight as int8 rows times an f32 scale
//! (`Cast` → `Mul`). Embedding tables are only ever gathered from, so the
//! gather is moved in front of the dequantisation at load: a call
//! dequantises the rows it looks up, and the 47 MB f32 word-embedding table
//! never exists. tract's constant propagation dequantises and packs the
//! matmul weights when a plan is built; packed weights are kept by name and
//! packing and handed to later plans before they would be computed again,
//! so plans whose kernels pack alike share one copy. In wasm, where linear
//! memory never shrinks, this took the encoder from 281 MB after load
//! (+90 MB per shape) to 117 MB (`timbral bench` prints the native figures).
//! What a new shape still costs, transiently, is tract's type inference
//! materialising the f32 weights (about 80 MB).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prost::Message;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::ExoticFact;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::matmul::pack::DynPackedExoticFact;
use tract_onnx::tract_core::tract_linalg::mmm::PackedExoticFact;

use crate::error::Error;

/// Embedding width of all-MiniLM-L6-v2.
pub const DIM: usize = 384;

/// Sequence lengths are padded up to one of these (the tokenizer's
/// truncation limit, 128, last).
const BUCKETS: &[usize] = &[8, 16, 24, 32, 48, 64, 96, 128];

type Plan = Arc<TypedSimplePlan>;

pub struct Encoder {
    tokenizer: Tokenizer,
    model: InferenceModel,
    plans: Mutex<HashMap<(usize, usize), Plan>>,
    shared: Arc<Mutex<Shared>>,
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
    Error::InvalidInput(format!("text encoder model: {e:#}"))
}

/// The padded length for `n` word pieces.
fn bucket(n: usize) -> usize {
    BUCKETS.iter().copied().find(|&b| b >= n).unwrap_or(n)
}

/// Moves `Gather(Mul(Cast(q), scale), ids)` to
/// `Mul(Cast(Gather(q, ids)), Gather(scale, ids))` where `q` is an int8
/// initializer with one scale per row (or one scale in all), so lookups read
/// int8 rows.
fn gather_before_dequantize(graph: &mut pb::GraphProto) {
    let dims: HashMap<String, Vec<i64>> = graph
        .initializer
        .iter()
        .map(|t| (t.name.clone(), t.dims.clone()))
        .collect();
    loop {
        let producer = |name: &str, op: &str| {
            graph
                .node
                .iter()
                .position(|n| n.op_type == op && n.output.first().is_some_and(|o| o == name))
        };
        let uses = |name: &str| {
            graph
                .node
                .iter()
                .flat_map(|n| &n.input)
                .filter(|i| *i == name)
                .count()
                + graph.output.iter().filter(|o| o.name == name).count()
        };
        let candidate = graph.node.iter().enumerate().find_map(|(g, node)| {
            let axis0 = node.attribute.iter().all(|a| a.name != "axis" || a.i == 0);
            if node.op_type != "Gather" || node.input.len() != 2 || !axis0 {
                return None;
            }
            let mul = producer(&node.input[0], "Mul")?;
            let [f, scale] = graph.node[mul].input.as_slice() else {
                return None;
            };
            let cast = producer(f, "Cast")?;
            let q = graph.node[cast].input.first()?;
            let (qd, sd) = (dims.get(q)?, dims.get(scale)?);
            let per_row = sd.len() == 2 && sd[1] == 1 && sd.first() == qd.first();
            let single = sd.iter().product::<i64>() == 1;
            let only_here = uses(&node.input[0]) == 1 && uses(f) == 1;
            (only_here && (per_row || single)).then_some((g, mul, cast, per_row))
        });
        let Some((g, mul, cast, per_row)) = candidate else {
            return;
        };
        let gather = graph.node[g].clone();
        let (q, scale) = (
            graph.node[cast].input[0].clone(),
            graph.node[mul].input[1].clone(),
        );
        let (ids, out) = (gather.input[1].clone(), gather.output[0].clone());
        let node =
            |op: &str, name: String, input: Vec<String>, attribute: Vec<pb::AttributeProto>| {
                pb::NodeProto {
                    name: name.clone(),
                    op_type: op.into(),
                    input,
                    output: vec![name],
                    attribute,
                    ..Default::default()
                }
            };
        let q_rows = node(
            "Gather",
            format!("{out}.q_rows"),
            vec![q, ids.clone()],
            gather.attribute.clone(),
        );
        let f_rows = node(
            "Cast",
            format!("{out}.f_rows"),
            vec![q_rows.name.clone()],
            graph.node[cast].attribute.clone(),
        );
        let mut new = vec![q_rows, f_rows];
        let scale = if per_row {
            let rows = format!("{out}.scale_rows");
            new.push(node(
                "Gather",
                rows.clone(),
                vec![scale, ids],
                gather.attribute,
            ));
            rows
        } else {
            scale
        };
        let mut dequant = node(
            "Mul",
            gather.name.clone(),
            vec![new[1].name.clone(), scale],
            vec![],
        );
        dequant.output = vec![out];
        new.push(dequant);
        // Gather comes after its producers, so removing from the back keeps
        // the earlier indices valid; the new nodes take the gather's place.
        let mut gone = [g, mul, cast];
        gone.sort_unstable();
        let at = gone.iter().filter(|&&i| i < g).count();
        for i in gone.into_iter().rev() {
            graph.node.remove(i);
        }
        graph.node.splice(at..at, new);
    }
}

/// Constants shared by all plans, by the name of the node that computes
/// them: each plan's weights, dequantised and packed for tract's matmul
/// kernels. tract picks the kernel, and so the packing, by shape, so a name
/// may hold a few packings.
type Shared = HashMap<String, Vec<Arc<Tensor>>>;

/// A packing as tract describes it, before (`DynPackedExoticFact`, on a
/// packing node) and after (`PackedExoticFact`, on the packed value) it
/// runs: the format, k and mn.
fn packing(fact: &dyn ExoticFact) -> Option<(String, TDim, TDim)> {
    if let Some(f) = fact.downcast_ref::<DynPackedExoticFact>() {
        let [format] = f.packers.as_slice() else {
            return None;
        };
        return Some((format!("{format:?}"), f.k.clone(), f.mn.clone()));
    }
    let f = fact.downcast_ref::<PackedExoticFact>()?;
    Some((format!("{:?}", f.format), f.k.into(), f.mn.clone()))
}

fn packing_of(t: &Tensor) -> Option<(String, TDim, TDim)> {
    packing(t.exotic_fact().ok().flatten()?.as_ref())
}

/// Whether the packed tensor `t` is what a packing node with output fact
/// `fact` computes. Packed weights cannot be compared by value (their
/// padding bytes are not initialised); they are the same when the node (so
/// the weight it packs: the same in every plan) and the packing are.
fn fits(t: &Tensor, fact: &TypedFact) -> bool {
    let packed = packing_of(t);
    packed.is_some() && packed == fact.exotic_fact().and_then(packing)
}

/// An optimiser pass run before tract's constant propagation: a weight
/// packing node whose packed value an earlier plan holds becomes that
/// value, so the weight is neither dequantised nor packed again.
#[derive(Clone, Debug)]
struct ReusePackedWeights(Arc<Mutex<Shared>>);

impl tract_onnx::tract_core::optim::TypedPass for ReusePackedWeights {
    fn reset(&mut self) -> TractResult<()> {
        Ok(())
    }

    fn next(
        &mut self,
        _session: &mut tract_onnx::tract_core::optim::OptimizerSession,
        model: &TypedModel,
    ) -> TractResult<Option<TypedModelPatch>> {
        let shared = self.0.lock().map_err(|e| TractError::msg(e.to_string()))?;
        for node in &model.nodes {
            let [out] = node.outputs.as_slice() else {
                continue;
            };
            if node.op_is::<Const>() || out.fact.exotic_fact().is_none() {
                continue;
            }
            let Some(value) = shared
                .get(&node.name)
                .and_then(|known| known.iter().find(|t| fits(t, &out.fact)))
            else {
                continue;
            };
            let mut patch = TypedModelPatch::default();
            // As tract's constant propagation does: the constant keeps the
            // packing node's fact, which its consumers were planned for.
            let konst =
                Const::new_with_opt_exotic_fact(value.clone(), out.fact.exotic_fact.clone())?;
            let wire = patch.wire_node(&node.name, konst, &[])?[0];
            patch.shunt_outside(model, node.id.into(), wire)?;
            return Ok(Some(patch));
        }
        Ok(None)
    }
}

/// Records the packed weights of an optimised plan in `shared`, by name.
fn remember_packed_weights(model: &TypedModel, shared: &mut Shared) {
    for node in &model.nodes {
        let Some(konst) = node.op_as::<Const>() else {
            continue;
        };
        let Some(packed) = packing_of(konst.val()) else {
            continue;
        };
        let known = shared.entry(node.name.clone()).or_default();
        if !known
            .iter()
            .any(|t| packing_of(t).as_ref() == Some(&packed))
        {
            known.push(konst.val().clone());
        }
    }
}

impl Encoder {
    /// Loads the ONNX model and `tokenizer.json` from bytes, and prepares
    /// the plan for a single short query. Given the model by value (a
    /// `Vec`), the encoder frees it once decoded, before the weights are
    /// dequantised and packed: in wasm, where memory only grows, that is
    /// the difference between the file's size counted once or twice.
    pub fn from_bytes(model: impl Into<Vec<u8>>, tokenizer_json: &[u8]) -> Result<Self, Error> {
        let model: Vec<u8> = model.into();
        let mut tokenizer = Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| Error::InvalidInput(format!("tokenizer.json: {e}")))?;
        // The packaged file pads every input to a fixed length; padding is
        // ours to choose (the buckets above).
        tokenizer.with_padding(None);
        let model_sha256 = sha256_hex(&model);
        let mut proto = pb::ModelProto::decode(model.as_slice()).map_err(model_err)?;
        drop(model);
        if let Some(graph) = proto.graph.as_mut() {
            gather_before_dequantize(graph);
        }
        // The export's value_info and output shapes are symbolic and
        // contradict the fixed shapes we run with: let tract infer them.
        let parsed = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true)
            .model_for_proto_model(&proto)
            .map_err(model_err)?;
        drop(proto);
        let enc = Encoder {
            tokenizer,
            model: parsed,
            plans: Mutex::new(HashMap::new()),
            shared: Arc::default(),
            model_sha256,
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
        // tract's `into_optimized` is declutter + codegen; ours puts the
        // reuse of packed weights in front of codegen's passes.
        let mut codegen = tract_onnx::tract_core::optim::Optimizer::codegen();
        codegen.add_pass(0, Box::new(ReusePackedWeights(self.shared.clone())));
        codegen.optimize(&mut typed).map_err(model_err)?;
        remember_packed_weights(&typed, &mut *self.shared.lock().map_err(model_err)?);
        let plan = TypedSimplePlan::new(typed).map_err(model_err)?;
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
