//! `LayerNormalization` over the last axis as one op: per row, the mean and
//! variance, then `(x - mean) / √(var + ε) · γ + β`, in two passes.
//!
//! tract decomposes the export's 13 layer norms into a mean, an `RmsNorm`
//! and products by γ and β; `RmsNorm`'s scaling goes through the generic
//! broadcasting product, ndarray's dynamic-rank iterators element by
//! element, which took 10% of a query's time in wasm once the dense
//! layers were fast. The sums run in linalg's fixed lanes (so they
//! vectorise, the same order on every target) and the result matches onnxruntime's
//! (the fixture tests).

use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::expandable::{expand, Expansion};

use super::graph;
use timbral_core::linalg::sum_map;

/// The op type the rewritten graph uses, registered with tract-onnx; ε is
/// its float attribute `epsilon`.
pub const OP_TYPE: &str = "TimbralLayerNorm";

/// Rewrites each `LayerNormalization(x, γ, β)` over the last axis with one
/// output, f32 computation, and γ, β f32 initializers of the same rank-1
/// shape into one [`OP_TYPE`] node. Returns how many.
pub fn fuse(graph: &mut pb::GraphProto) -> usize {
    const FLOAT: i32 = pb::tensor_proto::DataType::Float as i32;
    let index = graph::Index::new(graph);
    let attr = |n: &pb::NodeProto, name: &str| n.attribute.iter().find(|a| a.name == name).cloned();
    let found: Vec<usize> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            let [_, gamma, beta] = n.input.as_slice() else {
                return false;
            };
            let dims = |name: &str| index.initializer_dims(name, FLOAT);
            n.op_type == "LayerNormalization"
                && n.output.len() == 1
                && attr(n, "axis").is_none_or(|a| a.i == -1)
                && attr(n, "stash_type").is_none_or(|a| a.i == 1)
                && dims(gamma).is_some_and(|d| d.len() == 1)
                && dims(gamma) == dims(beta)
        })
        .map(|(i, _)| i)
        .collect();
    for &i in &found {
        let node = &mut graph.node[i];
        let epsilon = attr(node, "epsilon").map_or(1e-5, |a| a.f);
        node.op_type = OP_TYPE.into();
        node.domain.clear();
        node.attribute = vec![pb::AttributeProto {
            name: "epsilon".into(),
            r#type: pb::attribute_proto::AttributeType::Float as i32,
            f: epsilon,
            ..Default::default()
        }];
    }
    found.len()
}

/// Registers [`OP_TYPE`] with a tract-onnx parser.
pub fn register(onnx: &mut tract_onnx::Onnx) {
    onnx.op_register.insert(OP_TYPE, |_, node| {
        let epsilon: f32 = node.get_attr("epsilon")?;
        Ok((expand(LayerNormOnnx { epsilon }), vec![]))
    });
}

/// The parsed node: typed once γ and β are known constants.
#[derive(Debug, Clone)]
struct LayerNormOnnx {
    epsilon: f32,
}

impl Expansion for LayerNormOnnx {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].shape, &outputs[0].shape)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let konst = |i| -> TractResult<Vec<f32>> {
            let t = super::const_input(model, inputs, i, prefix, OP_TYPE)?;
            Ok(t.try_as_plain()?.as_slice::<f32>()?.to_vec())
        };
        let (gamma, beta) = (konst(1)?, konst(2)?);
        if gamma.is_empty() || gamma.len() != beta.len() {
            bail!(
                "{prefix}: γ has {} values and β {}",
                gamma.len(),
                beta.len()
            );
        }
        let op = LayerNorm {
            epsilon: self.epsilon.to_bits(),
            gamma_beta: Arc::new((gamma, beta)),
        };
        model.wire_node(prefix, op, &inputs[..1])
    }
}

/// The typed op.
#[derive(Debug, Clone)]
struct LayerNorm {
    /// ε by its bits (ops compare equal, and f32 is not `Eq`).
    epsilon: u32,
    gamma_beta: Arc<(Vec<f32>, Vec<f32>)>,
}

impl PartialEq for LayerNorm {
    fn eq(&self, other: &Self) -> bool {
        self.epsilon == other.epsilon && Arc::ptr_eq(&self.gamma_beta, &other.gamma_beta)
    }
}
impl Eq for LayerNorm {}

impl Op for LayerNorm {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    op_as_typed_op!();
}

impl EvalOp for LayerNorm {
    fn is_stateless(&self) -> bool {
        true
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut x = args_1!(inputs).into_tensor();
        let (gamma, beta) = &*self.gamma_beta;
        if x.shape().last() != Some(&gamma.len()) {
            bail!(
                "{OP_TYPE}: input {:?}, expected last axis {}",
                x.shape(),
                gamma.len()
            );
        }
        let mut plain = x.try_as_plain_mut()?;
        let eps = f32::from_bits(self.epsilon);
        for row in plain.as_slice_mut::<f32>()?.chunks_exact_mut(gamma.len()) {
            normalize(row, gamma, beta, eps);
        }
        Ok(tvec!(x.into_tvalue()))
    }
}

impl TypedOp for LayerNorm {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let d = self.gamma_beta.0.len();
        if inputs[0].shape.last() != Some(&d.to_dim()) {
            bail!(
                "{OP_TYPE}: input {:?}, expected last axis {d}",
                inputs[0].shape
            );
        }
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }
}

/// One row in place: `(x - mean) / √(var + ε) · γ + β`.
pub fn normalize(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum_map(row, |x| x) / n;
    let var = sum_map(row, |x| (x - mean) * (x - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *x = (*x - mean) * inv * g + b;
    }
}

#[cfg(test)]
mod tests {
    use super::super::graph::build::node;
    use super::*;

    #[test]
    fn rows_are_normalised_as_in_f64() {
        let d = 37;
        let gamma: Vec<f32> = (0..d).map(|i| 0.5 + i as f32 / 40.0).collect();
        let beta: Vec<f32> = (0..d).map(|i| (i as f32 - 18.0) / 10.0).collect();
        let mut row: Vec<f32> = (0..d)
            .map(|i| ((i * 7919) % 101) as f32 / 13.0 - 3.0)
            .collect();
        let x: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        let mean = x.iter().sum::<f64>() / d as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
        normalize(&mut row, &gamma, &beta, 1e-12);
        for i in 0..d {
            let want =
                (x[i] - mean) / (var + 1e-12).sqrt() * f64::from(gamma[i]) + f64::from(beta[i]);
            assert!(
                (f64::from(row[i]) - want).abs() < 1e-5,
                "{i}: {} vs {want}",
                row[i]
            );
        }
    }

    fn graph(axis: i64) -> pb::GraphProto {
        let init = |name: &str, dims: &[i64]| pb::TensorProto {
            name: name.into(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            dims: dims.to_vec(),
            ..Default::default()
        };
        let mut ln = node("LayerNormalization", &["x", "g", "b"], "y");
        ln.attribute = vec![
            pb::AttributeProto {
                name: "axis".into(),
                i: axis,
                ..Default::default()
            },
            pb::AttributeProto {
                name: "epsilon".into(),
                f: 1e-12,
                ..Default::default()
            },
        ];
        pb::GraphProto {
            node: vec![ln],
            initializer: vec![init("g", &[384]), init("b", &[384])],
            ..Default::default()
        }
    }

    #[test]
    fn last_axis_layer_norms_become_the_op_and_others_stay() {
        let mut g = graph(-1);
        assert_eq!(fuse(&mut g), 1);
        assert_eq!(g.node[0].op_type, OP_TYPE);
        assert_eq!(g.node[0].input, ["x", "g", "b"]);
        assert_eq!(g.node[0].attribute[0].f, 1e-12);
        let mut g = graph(1);
        assert_eq!(fuse(&mut g), 0);
        assert_eq!(g.node[0].op_type, "LayerNormalization");
    }
}
