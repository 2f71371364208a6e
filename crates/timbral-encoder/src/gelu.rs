//! The exact GELU, `x · ½(1 + erf(x/√2))`, as one element-wise op.
//!
//! The export spells it as five nodes (`Div`, `Erf`, `Add`, `Mul`, `Mul`),
//! and tract runs each as its own pass over the `S × 1536` activations,
//! the broadcasting ones through ndarray's strided iterators: a quarter of
//! the encoder's time natively, the largest cost after the matmuls. One
//! vectorised pass does the same arithmetic (tract's own erf polynomial).

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::Cost;
use tract_onnx::tract_core::ops::element_wise::{ElementWiseMiniOp, ElementWiseOp};
use tract_onnx::tract_hir::ops::element_wise::ElementWiseIntoHir;

use super::graph;

/// The op type the rewritten graph uses, registered with tract-onnx.
pub const OP_TYPE: &str = "TimbralGeluErf";

#[derive(Debug, Clone, PartialEq, Eq)]
struct GeluErf;

impl ElementWiseMiniOp for GeluErf {
    fn name(&self) -> String {
        OP_TYPE.into()
    }

    fn eval_in_place(&self, t: &mut Tensor, out_dt: Option<DatumType>) -> TractResult<()> {
        super::in_place_f32(OP_TYPE, t, out_dt, gelu_erf)
    }

    fn cost_per_element(&self, dt: DatumType) -> TVec<(Cost, usize)> {
        tvec!((Cost::FMA(dt), 12))
    }
}

/// `x · ½(1 + erf(x/√2))` in place. erf is Abramowitz & Stegun 7.1.28
/// (|error| ≤ 3e-7), the polynomial tract's generic `Erf` kernel uses, so
/// outputs match the unfused graph's to rounding. Branch-free, so the loop
/// vectorises (simd128 in wasm).
#[allow(clippy::excessive_precision)]
pub fn gelu_erf(xs: &mut [f32]) {
    const A1: f32 = 0.0705230784;
    const A2: f32 = 0.0422820123;
    const A3: f32 = 0.0092705272;
    const A4: f32 = 0.0001520143;
    const A5: f32 = 0.0002765672;
    const A6: f32 = 0.0000430638;
    for x in xs {
        let v = *x;
        let z = v * std::f32::consts::FRAC_1_SQRT_2;
        let a = z.abs();
        let p = ((((((A6 * a + A5) * a + A4) * a + A3) * a + A2) * a + A1) * a) + 1.0;
        let p2 = p * p;
        let p4 = p2 * p2;
        let p8 = p4 * p4;
        let erf = (1.0 - 1.0 / (p8 * p8)).copysign(z);
        *x = v * (0.5 * (erf + 1.0));
    }
}

/// Registers [`OP_TYPE`] with a tract-onnx parser.
pub fn register(onnx: &mut tract_onnx::Onnx) {
    onnx.op_register.insert(OP_TYPE, |_, _| {
        Ok((ElementWiseOp(Box::new(GeluErf), None).into_hir(), vec![]))
    });
}

/// Replaces each `Mul(x, Mul(½, Add(Erf(Div(x, √2)), 1)))` in `graph` (the
/// two `Mul`s in either order, operands either way round) by one
/// [`OP_TYPE`] node, where every intermediate is used only inside the
/// pattern and the constants are scalar initializers of exactly those
/// values. Returns how many were fused; anything else is left as it is.
pub fn fuse(graph: &mut pb::GraphProto) -> usize {
    let scalars = graph::scalars(graph);
    let index = graph::Index::new(graph);
    let sole_user = |name: &str| index.sole_user(name);
    let is = |name: &str, v: f32| {
        scalars
            .get(name)
            .is_some_and(|s| s.to_bits() == v.to_bits())
    };
    // Of a binary node's inputs, the one that is not the constant `v`.
    let other = |n: &pb::NodeProto, v: f32| match n.input.as_slice() {
        [a, b] if is(b, v) => Some(a.clone()),
        [a, b] if is(a, v) => Some(b.clone()),
        _ => None,
    };
    // Of a binary node's inputs, the one that is not `known`.
    let partner = |n: &pb::NodeProto, known: &str| match n.input.as_slice() {
        [a, b] if a == known => Some(b.clone()),
        [a, b] if b == known => Some(a.clone()),
        _ => None,
    };
    let single_out = |n: &pb::NodeProto| <[String; 1]>::try_from(n.output.clone()).ok();

    let mut fused: Vec<(usize, [usize; 4], String)> = Vec::new();
    for (e, erf) in graph.node.iter().enumerate() {
        let found = (|| {
            if erf.op_type != "Erf" || erf.input.len() != 1 {
                return None;
            }
            let [erf_out] = single_out(erf)?;
            let d = index.producer(&erf.input[0])?;
            let div = &graph.node[d];
            if div.op_type != "Div"
                || div.input.len() != 2
                || !is(&div.input[1], std::f32::consts::SQRT_2)
            {
                return None;
            }
            let x = div.input[0].clone();
            sole_user(&erf.input[0]).filter(|&u| u == e)?;
            let a = sole_user(&erf_out)?;
            let add = &graph.node[a];
            if add.op_type != "Add" || other(add, 1.0)? != erf_out {
                return None;
            }
            let [add_out] = single_out(add)?;
            let m1 = sole_user(&add_out)?;
            let mul1 = &graph.node[m1];
            if mul1.op_type != "Mul" {
                return None;
            }
            let [mul1_out] = single_out(mul1)?;
            let first = partner(mul1, &add_out)?;
            let m2 = sole_user(&mul1_out)?;
            let mul2 = &graph.node[m2];
            if mul2.op_type != "Mul" {
                return None;
            }
            let second = partner(mul2, &mul1_out)?;
            // One of the two factors is ½, the other is x itself.
            let half = |name: &str| is(name, 0.5);
            let ok = (half(&first) && second == x) || (first == x && half(&second));
            ok.then_some((m2, [d, e, a, m1], x))
        })();
        if let Some(f) = found {
            fused.push(f);
        }
    }
    let count = fused.len();
    let mut gone = vec![false; graph.node.len()];
    for (last, inner, x) in fused {
        for i in inner {
            gone[i] = true;
        }
        let node = &mut graph.node[last];
        node.op_type = OP_TYPE.into();
        node.input = vec![x];
        node.attribute.clear();
        node.domain.clear();
    }
    // The fused node takes the last node's place, after x's producer: the
    // graph stays topologically sorted.
    graph::remove(graph, &gone);
    count
}

#[cfg(test)]
mod tests {
    use super::super::graph::build::{node, scalar};
    use super::*;

    /// The exact GELU through libm's erf, for reference.
    fn reference(x: f32) -> f32 {
        let x = f64::from(x);
        (x * 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))) as f32
    }

    #[test]
    fn fused_gelu_matches_the_exact_gelu() {
        let mut xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 / 200.0).collect();
        xs.extend([0.0, -0.0, 1e-30, -1e-30, 50.0, -50.0]);
        let mut ys = xs.clone();
        gelu_erf(&mut ys);
        for (&x, &y) in xs.iter().zip(&ys) {
            let want = reference(x);
            assert!(
                (y - want).abs() <= 1e-6 * x.abs().max(1.0),
                "gelu({x}) = {y}, want {want}"
            );
        }
    }

    fn graph(nodes: Vec<pb::NodeProto>, half: f32) -> pb::GraphProto {
        pb::GraphProto {
            node: nodes,
            initializer: vec![
                scalar("sqrt2", std::f32::consts::SQRT_2),
                scalar("one", 1.0),
                scalar("half", half),
            ],
            output: vec![pb::ValueInfoProto {
                name: "y".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn export_gelu() -> Vec<pb::NodeProto> {
        vec![
            node("MatMul", &["a", "w"], "x"),
            node("Div", &["x", "sqrt2"], "z"),
            node("Erf", &["z"], "e"),
            node("Add", &["e", "one"], "p"),
            node("Mul", &["half", "p"], "h"),
            node("Mul", &["x", "h"], "g"),
            node("MatMul", &["g", "w2"], "y"),
        ]
    }

    #[test]
    fn the_exports_gelu_becomes_one_node() {
        let mut g = graph(export_gelu(), 0.5);
        assert_eq!(fuse(&mut g), 1);
        let ops: Vec<_> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["MatMul", OP_TYPE, "MatMul"]);
        assert_eq!(g.node[1].input, ["x"]);
        assert_eq!(g.node[1].output, ["g"]);
    }

    #[test]
    fn near_misses_are_left_alone() {
        // A different constant.
        let mut g = graph(export_gelu(), 0.25);
        assert_eq!(fuse(&mut g), 0);
        assert_eq!(g.node.len(), 7);
        // An intermediate read elsewhere too.
        let mut nodes = export_gelu();
        nodes.push(node("Add", &["e", "x"], "y2"));
        let mut g = graph(nodes, 0.5);
        assert_eq!(fuse(&mut g), 0);
        // The last factor is not the Div's input.
        let mut nodes = export_gelu();
        nodes[5] = node("Mul", &["a", "h"], "g");
        let mut g = graph(nodes, 0.5);
        assert_eq!(fuse(&mut g), 0);
    }
}
