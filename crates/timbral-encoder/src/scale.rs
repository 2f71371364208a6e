//! `x · c` for a scalar constant `c`, as one in-place element-wise op.
//!
//! The export scales the attention's queries and keys by `32^-¼` with a
//! `Mul` by a rank-0 initializer. tract keeps that as a generic broadcasting
//! binary op over `[1, S, 12, 32]` × `[1, 1, 1, 1]`, which walks ndarray's
//! dynamic-rank strided iterators element by element: 5% of a query's
//! time in wasm once the dense layers were fast. One vectorised pass does
//! the same multiplications, so the same bits.

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::Cost;
use tract_onnx::tract_core::ops::element_wise::{ElementWiseMiniOp, ElementWiseOp};
use tract_onnx::tract_hir::ops::element_wise::ElementWiseIntoHir;

use super::graph;

/// The op type the rewritten graph uses, registered with tract-onnx; the
/// factor is its float attribute `value`.
pub const OP_TYPE: &str = "TimbralScale";

/// The factor, by its bits (ops compare equal, and f32 is not `Eq`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scale(u32);

impl ElementWiseMiniOp for Scale {
    fn name(&self) -> String {
        OP_TYPE.into()
    }

    fn eval_in_place(&self, t: &mut Tensor, out_dt: Option<DatumType>) -> TractResult<()> {
        let dt = out_dt.unwrap_or(t.datum_type());
        if dt != f32::datum_type() {
            return Err(TractError::msg(format!(
                "{OP_TYPE} runs on f32, not {dt:?}"
            )));
        }
        let c = f32::from_bits(self.0);
        let mut plain = t.try_as_plain_mut()?;
        plain
            .as_slice_mut::<f32>()?
            .iter_mut()
            .for_each(|x| *x *= c);
        Ok(())
    }

    fn cost_per_element(&self, dt: DatumType) -> TVec<(Cost, usize)> {
        tvec!((Cost::FMA(dt), 1))
    }
}

/// Registers [`OP_TYPE`] with a tract-onnx parser.
pub fn register(onnx: &mut tract_onnx::Onnx) {
    onnx.op_register.insert(OP_TYPE, |_, node| {
        let c: f32 = node.get_attr("value")?;
        Ok((
            ElementWiseOp(Box::new(Scale(c.to_bits())), None).into_hir(),
            vec![],
        ))
    });
}

/// Replaces each `Mul` of an f32 value by a rank-0 f32 initializer (either
/// way round) by one [`OP_TYPE`] node. A rank-0 factor never changes the
/// product's shape; any other `Mul` is left as it is. Returns how many.
pub fn fuse(graph: &mut pb::GraphProto) -> usize {
    const FLOAT: i32 = pb::tensor_proto::DataType::Float as i32;
    let scalars = graph::scalars(graph);
    let index = graph::Index::new(graph);
    let factor = |name: &str| {
        let rank0 = index.initializer_dims(name, FLOAT) == Some(&[][..]);
        rank0.then(|| scalars.get(name).copied()).flatten()
    };
    let found: Vec<(usize, String, f32)> = graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.op_type == "Mul" && n.output.len() == 1)
        .filter_map(|(i, n)| match n.input.as_slice() {
            [x, c] | [c, x] if factor(x).is_none() => Some((i, x.clone(), factor(c)?)),
            _ => None,
        })
        .collect();
    for (i, x, c) in &found {
        let node = &mut graph.node[*i];
        node.op_type = OP_TYPE.into();
        node.input = vec![x.clone()];
        node.domain.clear();
        node.attribute = vec![pb::AttributeProto {
            name: "value".into(),
            r#type: pb::attribute_proto::AttributeType::Float as i32,
            f: *c,
            ..Default::default()
        }];
    }
    found.len()
}

#[cfg(test)]
mod tests {
    use super::super::graph::build::{node, scalar};
    use super::*;

    fn graph(nodes: Vec<pb::NodeProto>, scale_dims: &[i64]) -> pb::GraphProto {
        let mut c = scalar("c", 0.4204482);
        c.dims = scale_dims.to_vec();
        pb::GraphProto {
            node: nodes,
            initializer: vec![c, scalar("d", 2.0)],
            ..Default::default()
        }
    }

    #[test]
    fn muls_by_a_rank0_constant_become_the_op() {
        let mut g = graph(
            vec![node("Mul", &["x", "c"], "y"), node("Mul", &["c", "y"], "z")],
            &[],
        );
        assert_eq!(fuse(&mut g), 2);
        for (n, input) in g.node.iter().zip(["x", "y"]) {
            assert_eq!(n.op_type, OP_TYPE);
            assert_eq!(n.input, [input]);
            assert_eq!(n.attribute[0].f.to_bits(), 0.4204482f32.to_bits());
        }
    }

    #[test]
    fn other_muls_are_left_alone() {
        // A factor of rank 1 could change the product's rank.
        let mut g = graph(vec![node("Mul", &["x", "c"], "y")], &[1]);
        // Two activations, and two constants.
        g.node.push(node("Mul", &["x", "y"], "z"));
        g.node.push(node("Mul", &["d", "d"], "e"));
        assert_eq!(fuse(&mut g), 0);
        assert!(g.node.iter().all(|n| n.op_type == "Mul"));
    }

    #[test]
    fn the_op_multiplies_in_place() {
        let mut t = tensor1(&[1.5f32, -2.0, 0.0]);
        Scale(0.5f32.to_bits()).eval_in_place(&mut t, None).unwrap();
        assert_eq!(t, tensor1(&[0.75f32, -1.0, 0.0]));
        let mut ints = tensor1(&[1i32]);
        assert!(Scale(0).eval_in_place(&mut ints, None).is_err());
    }
}
