//! The MiniLM text encoder: BERT WordPiece tokenization from the model's own
//! `tokenizer.json`, all-MiniLM-L6-v2 run by tract-onnx, mean pooling over
//! the attention mask, L2 normalisation. Same code natively and in wasm32.
//!
//! The model is parsed and optimised once, at load, into a single plan for
//! texts whose length is a symbol (tract: model → optimised plan → run):
//! any length runs on it, nothing is padded, no plan is built later.
//! Natively the batch is a symbol too, and `embed_batch` runs texts of one
//! token length together; in wasm the plan takes one text.
//!
//! The export stores every weight as int8 rows times f32 scales (`Cast` →
//! `Mul`). Embedding tables are only ever gathered from, so the gather is
//! moved in front of the dequantisation: a call dequantises the rows it
//! looks up, and the 47 MB f32 word-embedding table never exists.
//!
//! The dense layers (36 matmuls with their biases, nearly all the work)
//! run in wasm on our own kernel, whose weights stay int8 in memory
//! (`dense`): twice as fast there as tract's matmuls, with the same bits
//! out, and the encoder's wasm memory is 53 MiB. Natively, where tract's
//! kernels are faster, the matmul weights are dequantised by us, one at a
//! time, into constants the plan alone owns; tract's constant propagation
//! packs each for its matmul kernel and drops the f32 copy as it goes
//! (tract alone would hold 85 MB of f32 at once). Either way memory peaks
//! at load and does not grow with the lengths met later; per-length plans
//! sharing packed weights ran 10–13% faster in wasm with tract's matmuls,
//! but needed 113–121 MiB against 85 (`timbral bench` prints the native
//! figures).
//!
//! More rewrites of the graph, before tract sees it, take the plan's
//! remaining time to the matmuls: the exact GELU's five element-wise nodes
//! become one vectorised op (`gelu`); since a text is never padded, the
//! attention mask is made from the ids' shape and the bias and NaN guard it
//! feeds are dropped (`unpadded`); each layer norm is one two-pass op
//! (`layer_norm`) and each product by a scalar constant one in-place pass
//! (`scale`), not tract's broadcasting loops.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::konst::Const;

use timbral_core::Error;

mod dense;
mod gelu;
mod graph;
mod layer_norm;
mod scale;
mod unpadded;

/// Embedding width of all-MiniLM-L6-v2.
pub const DIM: usize = 384;

pub struct Encoder {
    tokenizer: Tokenizer,
    plan: Arc<TypedSimplePlan>,
    /// Whether the plan takes an attention mask (unless the graph makes
    /// its own, see `unpadded`).
    takes_mask: bool,
    model_sha256: String,
    tokenizer_sha256: String,
}

/// Runs `f` on `t`'s values in place, for an element-wise op `op` on f32.
fn in_place_f32(
    op: &str,
    t: &mut Tensor,
    out_dt: Option<DatumType>,
    f: impl FnOnce(&mut [f32]),
) -> TractResult<()> {
    let dt = out_dt.unwrap_or(t.datum_type());
    if dt != f32::datum_type() {
        return Err(TractError::msg(format!("{op} runs on f32, not {dt:?}")));
    }
    f(t.try_as_plain_mut()?.as_slice_mut::<f32>()?);
    Ok(())
}

/// The value of input `i` of node `prefix` (an op `op`), which must be a
/// constant: the weights our ops take into themselves when typed.
fn const_input(
    model: &TypedModel,
    inputs: &[OutletId],
    i: usize,
    prefix: &str,
    op: &str,
) -> TractResult<Arc<Tensor>> {
    let fact = model.outlet_fact(inputs[i])?;
    fact.konst
        .clone()
        .ok_or_else(|| TractError::msg(format!("{prefix}: input {i} of {op} is not a constant")))
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

/// Rewrites the export's dequantisations, `Mul(Cast(q), scale)` with `q` an
/// int8 initializer used only there and `scale` f32 initializers that
/// broadcast over it:
/// - an embedding table, only gathered from along axis 0 with one scale
///   per row (or one in all), becomes `Mul(Cast(Gather(q, ids)),
///   Gather(scale, ids))`, so lookups read int8 rows and the f32 table
///   never exists;
/// - any other (the matmul weights) is read as `q` directly, and the
///   returned (`q`, `scale`) pairs go to [`dequantize_weights`] once parsed.
///   Left to tract, type inference computes the cast and then the product
///   for all weights at once: 85 MB of f32 alive together, wasm's
///   high-water mark.
fn rewrite_dequantization(graph: &mut pb::GraphProto) -> Vec<(String, String)> {
    const INT8: i32 = pb::tensor_proto::DataType::Int8 as i32;
    const FLOAT: i32 = pb::tensor_proto::DataType::Float as i32;
    let index = graph::Index::new(graph);
    let to_float = |n: &pb::NodeProto| {
        n.op_type == "Cast"
            && n.input.len() == 1
            && n.attribute
                .iter()
                .any(|a| a.name == "to" && a.i == i64::from(FLOAT))
    };

    let mut gone = vec![false; graph.node.len()];
    let mut gathers: HashMap<usize, Vec<pb::NodeProto>> = HashMap::new();
    let mut renamed: HashMap<String, String> = HashMap::new();
    let mut weights = Vec::new();
    for (m, mul) in graph.node.iter().enumerate() {
        let ("Mul", [f, scale], [product]) = (
            mul.op_type.as_str(),
            mul.input.as_slice(),
            mul.output.as_slice(),
        ) else {
            continue;
        };
        let Some(c) = index.producer(f).filter(|&c| to_float(&graph.node[c])) else {
            continue;
        };
        let q = &graph.node[c].input[0];
        let (Some(qd), Some(sd)) = (
            index.initializer_dims(q, INT8),
            index.initializer_dims(scale, FLOAT),
        ) else {
            continue;
        };
        let broadcasts = sd.len() <= qd.len()
            && sd
                .iter()
                .rev()
                .zip(qd.iter().rev())
                .all(|(&a, &b)| a == 1 || a == b);
        let used_once = |name: &str| index.sole_user(name).is_some();
        if !(used_once(q) && used_once(f) && !index.is_output(product) && broadcasts) {
            continue;
        }
        let per_row = sd.len() == 2 && sd[1] == 1 && sd.first() == qd.first();
        let single = sd.iter().product::<i64>() == 1;
        let gather = index.sole_user(product).filter(|&g| {
            let n = &graph.node[g];
            n.op_type == "Gather"
                && n.input.len() == 2
                && n.input[0] == *product
                && n.attribute.iter().all(|a| a.name != "axis" || a.i == 0)
        });
        gone[m] = true;
        gone[c] = true;
        match gather {
            Some(g) if per_row || single => {
                gathers.insert(
                    g,
                    gather_rows(&graph.node[g], &graph.node[c], q, scale, per_row),
                );
            }
            _ => {
                renamed.insert(product.clone(), q.clone());
                weights.push((q.clone(), scale.clone()));
            }
        }
    }
    // Gathers come after their producers, and the nodes that replace one
    // read only initializers and the gather's own ids: rebuilt in order,
    // the graph stays topologically sorted.
    let nodes = std::mem::take(&mut graph.node);
    for (i, mut n) in nodes.into_iter().enumerate() {
        if let Some(rows) = gathers.remove(&i) {
            graph.node.extend(rows);
        } else if !gone[i] {
            for input in &mut n.input {
                if let Some(q) = renamed.get(input) {
                    input.clone_from(q);
                }
            }
            graph.node.push(n);
        }
    }
    weights
}

/// The nodes that replace `gather` (of a dequantised table `Mul(cast(q),
/// scale)`): gather the int8 rows (and their scales), then dequantise them.
fn gather_rows(
    gather: &pb::NodeProto,
    cast: &pb::NodeProto,
    q: &str,
    scale: &str,
    per_row: bool,
) -> Vec<pb::NodeProto> {
    let (ids, out) = (&gather.input[1], &gather.output[0]);
    let node = |op: &str, name: String, input: Vec<String>, attribute: Vec<pb::AttributeProto>| {
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
        vec![q.into(), ids.clone()],
        gather.attribute.clone(),
    );
    let f_rows = node(
        "Cast",
        format!("{out}.f_rows"),
        vec![q_rows.name.clone()],
        cast.attribute.clone(),
    );
    let mut new = vec![q_rows];
    let scale = if per_row {
        let rows = node(
            "Gather",
            format!("{out}.scale_rows"),
            vec![scale.into(), ids.clone()],
            gather.attribute.clone(),
        );
        let name = rows.name.clone();
        new.push(rows);
        name
    } else {
        scale.into()
    };
    let mut dequant = node(
        "Mul",
        gather.name.clone(),
        vec![f_rows.name.clone(), scale],
        vec![],
    );
    dequant.output = vec![out.clone()];
    new.extend([f_rows, dequant]);
    new
}

/// Replaces each parsed int8 constant `q` named in `weights` by the f32
/// constant `q · scale`, one weight at a time, so no more than one weight
/// exists twice.
fn dequantize_weights(model: &mut InferenceModel, weights: &[(String, String)]) -> TractResult<()> {
    let konst = |model: &InferenceModel, name: &str| -> TractResult<(usize, Arc<Tensor>)> {
        let node = model.node_by_name(name)?;
        let op = node
            .op_as::<Const>()
            .ok_or_else(|| TractError::msg(format!("{name} is not a constant")))?;
        Ok((node.id, op.val().clone()))
    };
    for (q, scale) in weights {
        let (id, qv) = konst(model, q)?;
        let (_, sv) = konst(model, scale)?;
        let w =
            qv.to_plain_array_view::<i8>()?.mapv(f32::from) * &sv.to_plain_array_view::<f32>()?;
        let w = Tensor::from(w).into_arc_tensor();
        let node = model.node_mut(id);
        node.outputs[0].fact = TypedFact::try_from(w.clone())?.into();
        node.op = Box::new(Const::new(w)?);
    }
    Ok(())
}

impl Encoder {
    /// Loads the ONNX model and `tokenizer.json` from bytes and builds the
    /// plan. Given the model by value (a `Vec`), the encoder frees it once
    /// decoded, before the weights are dequantised and packed: in wasm,
    /// where memory only grows, that is the difference between the file's
    /// size counted once or twice.
    pub fn from_bytes(model: impl Into<Vec<u8>>, tokenizer_json: &[u8]) -> Result<Self, Error> {
        Self::build(model.into(), tokenizer_json, dense::BY_DEFAULT)
    }

    /// [`Encoder::from_bytes`], with the dense layers on our kernel
    /// ([`dense`]) or on tract's matmuls.
    fn build(model: Vec<u8>, tokenizer_json: &[u8], own_dense: bool) -> Result<Self, Error> {
        let mut tokenizer = Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| Error::InvalidInput(format!("tokenizer.json: {e}")))?;
        // The packaged file pads every input to a fixed length; the plan
        // takes any length, so nothing is padded.
        tokenizer.with_padding(None);
        let model_sha256 = sha256_hex(&model);
        let mut proto = pb::ModelProto::decode(model.as_slice()).map_err(model_err)?;
        drop(model);
        let mut weights = proto
            .graph
            .as_mut()
            .map(rewrite_dequantization)
            .unwrap_or_default();
        let mut takes_mask = true;
        if let Some(graph) = proto.graph.as_mut() {
            if own_dense {
                dense::fuse(graph, &mut weights);
            }
            gelu::fuse(graph);
            layer_norm::fuse(graph);
            if unpadded::mask_from_ids(graph) {
                takes_mask = false;
                unpadded::drop_mask_bias(graph, "attention_mask");
            }
            // Last: the patterns above may hold a product by a constant.
            scale::fuse(graph);
        }
        let mut onnx = tract_onnx::onnx();
        gelu::register(&mut onnx);
        dense::register(&mut onnx);
        scale::register(&mut onnx);
        layer_norm::register(&mut onnx);
        // The export's value_info and output shapes name their own symbols:
        // let tract infer them from ours.
        let mut model = onnx
            .with_ignore_value_info(true)
            .with_ignore_output_shapes(true)
            .model_for_proto_model(&proto)
            .map_err(model_err)?;
        drop(proto);
        dequantize_weights(&mut model, &weights).map_err(model_err)?;
        // Texts of any length. Natively, a batch of texts of one length: a
        // trainer embeds catalogues, and short texts (an artist and a few
        // tags) leave the matmuls too small to run at speed one at a time.
        // In wasm, one text: there the batch symbol cost 25%, and a
        // browser embeds one query at a time.
        let len = model.symbols.sym("S");
        let batch: TDim = if cfg!(target_arch = "wasm32") {
            1.to_dim()
        } else {
            model.symbols.sym("B").into()
        };
        for input in 0..model.input_outlets().map_err(model_err)?.len() {
            let shape: TVec<TDim> = tvec!(batch.clone(), len.clone().into());
            model
                .set_input_fact(input, InferenceFact::dt_shape(i64::datum_type(), shape))
                .map_err(model_err)?;
        }
        // Consumed at each step, so the plan is the weights' only owner and
        // each f32 weight is freed once packed.
        let optimised = model
            .into_typed()
            .and_then(|m| m.into_optimized())
            .map_err(model_err)?;
        Ok(Encoder {
            tokenizer,
            plan: TypedSimplePlan::new(optimised).map_err(model_err)?,
            takes_mask,
            model_sha256,
            tokenizer_sha256: sha256_hex(tokenizer_json),
        })
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

    /// One L2-normalised embedding: the mean of the last hidden states.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, Error> {
        let ids: Vec<i64> = self.tokenize(text)?.into_iter().map(i64::from).collect();
        let len = ids.len();
        Ok(self.run(ids, 1, len)?.pop().expect("one embedding"))
    }

    /// Runs the plan on `batch` texts of `len` tokens each (`ids`, row
    /// after row), never padded: each gets the mean of its hidden states,
    /// L2-normalised.
    fn run(&self, ids: Vec<i64>, batch: usize, len: usize) -> Result<Vec<Vec<f32>>, Error> {
        let tensor = |v: Vec<i64>| -> Result<TValue, Error> {
            Ok(Tensor::from_shape(&[batch, len], &v)
                .map_err(model_err)?
                .into_tvalue())
        };
        let n = ids.len();
        let mut inputs = tvec![tensor(ids)?];
        if self.takes_mask {
            inputs.push(tensor(vec![1; n])?);
        }
        inputs.push(tensor(vec![0; n])?);
        // Token type ids, where the model takes them.
        inputs.truncate(self.plan.model().inputs.len());
        let out = self.plan.run(inputs).map_err(model_err)?;
        let hidden = out[0].to_plain_array_view::<f32>().map_err(model_err)?;
        let shape = hidden.shape().to_vec();
        if shape != [batch, len, DIM] {
            return Err(model_err(format!(
                "unexpected output shape {shape:?}, expected [{batch}, {len}, {DIM}]"
            )));
        }
        let flat = hidden
            .as_slice()
            .ok_or_else(|| model_err("hidden states not contiguous"))?;
        Ok(flat
            .chunks_exact(len * DIM)
            .map(|text| {
                let mut v = vec![0f32; DIM];
                for row in text.chunks_exact(DIM) {
                    v.iter_mut()
                        .zip(row)
                        .for_each(|(a, x)| *a += x / len as f32);
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|a| *a /= norm);
                v
            })
            .collect())
    }

    /// Embeddings of several texts, in their order. Natively, texts of one
    /// token length run together, up to [`MAX_BATCH`] a plan run, so
    /// nothing is padded and the embeddings are those of [`Self::embed`]
    /// (to float rounding); in wasm, one run a text.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        if cfg!(target_arch = "wasm32") {
            return texts.iter().map(|t| self.embed(t)).collect();
        }
        let ids: Vec<Vec<i64>> = texts
            .iter()
            .map(|t| Ok(self.tokenize(t)?.into_iter().map(i64::from).collect()))
            .collect::<Result<_, Error>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| (ids[i].len(), i));
        let mut out = vec![Vec::new(); texts.len()];
        for same in order.chunk_by(|&a, &b| ids[a].len() == ids[b].len()) {
            for group in same.chunks(MAX_BATCH) {
                let len = ids[group[0]].len();
                let flat: Vec<i64> = group.iter().flat_map(|&i| ids[i].iter().copied()).collect();
                for (&i, v) in group.iter().zip(self.run(flat, group.len(), len)?) {
                    out[i] = v;
                }
            }
        }
        Ok(out)
    }
}

/// Most texts one native plan run takes: past 32 the matmuls gain little,
/// and a batch's hidden states (`B × S × 384` floats per layer) stay small.
pub const MAX_BATCH: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use timbral_core::linalg::cosine;

    fn load(own_dense: bool) -> Encoder {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/minilm");
        let read = |f: &str| {
            std::fs::read(dir.join(f)).unwrap_or_else(|e| {
                panic!("{}/{f}: {e}; run `bash .ci/setup` first", dir.display())
            })
        };
        Encoder::build(read("model.onnx"), &read("tokenizer.json"), own_dense).unwrap()
    }

    /// The plan with every dense layer on our kernel against tract's
    /// matmuls (the onnxruntime fixture holds the default plan of each
    /// target, tests/encoder*.rs).
    #[test]
    fn dense_layers_on_our_kernel_match_tracts_matmuls() {
        let (ours, tracts) = (load(true), load(false));
        let count = |e: &Encoder| {
            e.plan
                .model()
                .nodes
                .iter()
                .filter(|n| n.op.name() == dense::OP_TYPE)
                .count()
        };
        // Six layers of Q, K, V, attention output, FFN in and out.
        assert_eq!(count(&ours), 36);
        assert_eq!(count(&tracts), 0);
        for text in [
            "sad acoustic songs",
            "rock",
            "a long night drive through neon city lights",
        ] {
            let c = cosine(&ours.embed(text).unwrap(), &tracts.embed(text).unwrap());
            assert!(c > 0.99999, "cosine {c} for {text:?}");
        }
    }
}
