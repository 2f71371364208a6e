//! The encoder's dense layers, `x · (q · scale) + bias`, as one op whose
//! weights stay int8: our own kernel, used where it beats tract's (wasm32).
//!
//! tract-linalg's wasm GEMM kernel is 8×8 with 16 accumulators; with its
//! operands that is more live vectors than V8 has registers on x64, and it
//! ran the encoder's 36 dense layers at about 22 GFLOP/s, three quarters of
//! the query's time. This kernel keeps 8 accumulators (8 output columns ×
//! 4 tokens): the weights as two vectors, each token's input splatted from
//! memory. The weights stay int8 in memory (21 MB, not 85 MB of f32):
//! each panel of 8 columns is dequantised into a small f32 scratch once
//! per call and then serves every token, so the values multiplied are the
//! export's own `f32(q) · scale`, bit for bit.
//!
//! The products and sums are those of tract's wasm kernel, in the same
//! order (from zero, in order of k, each product rounded then added, the
//! bias last), so the embeddings are the same bits as with tract's matmuls.
//! Natively tract's AVX2/FMA kernels are an order of magnitude faster than
//! the portable kernel below, so the rewrite is applied in wasm32 only
//! ([`BY_DEFAULT`]); the portable kernel does the simd128 one's arithmetic
//! in its order, and the native tests cover the op through it.

use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::expandable::{expand, Expansion};

use super::graph;

/// The op type the rewritten graph uses, registered with tract-onnx.
pub const OP_TYPE: &str = "TimbralDense";

/// Whether the encoder runs its dense layers on this op by default.
pub const BY_DEFAULT: bool = cfg!(target_arch = "wasm32");

/// Output columns per panel (two f32x4 vectors).
const COLS: usize = 8;
/// Tokens per kernel call (splatted one at a time).
const ROWS: usize = 4;

/// Rewrites each `MatMul(x, q)`, whose `q` is a weight that
/// `rewrite_dequantization` left to be dequantised (an int8 `[k, n]`
/// initializer times a per-column or single f32 scale), and the `Add` of an
/// `[n]` f32 initializer that may follow it, into one [`OP_TYPE`] node
/// `(x, q, scale[, bias])`. The pairs it takes are removed from `weights`,
/// so they are never dequantised. Returns how many layers were rewritten.
pub fn fuse(graph: &mut pb::GraphProto, weights: &mut Vec<(String, String)>) -> usize {
    const INT8: i32 = pb::tensor_proto::DataType::Int8 as i32;
    const FLOAT: i32 = pb::tensor_proto::DataType::Float as i32;
    let index = graph::Index::new(graph);
    let dims = |name: &str, dt: i32| index.initializer_dims(name, dt);
    let mut gone = vec![false; graph.node.len()];
    let mut rewritten: Vec<(usize, pb::NodeProto)> = Vec::new();
    let mut taken = Vec::new();
    for (m, mm) in graph.node.iter().enumerate() {
        let ("MatMul", [x, q], [y]) = (
            mm.op_type.as_str(),
            mm.input.as_slice(),
            mm.output.as_slice(),
        ) else {
            continue;
        };
        let Some(w) = weights.iter().position(|(wq, _)| wq == q) else {
            continue;
        };
        let scale = &weights[w].1;
        let (Some(&[_, n]), Some(sd)) = (dims(q, INT8), dims(scale, FLOAT)) else {
            continue;
        };
        let per_column = sd.last() == Some(&n) && sd.iter().rev().skip(1).all(|&d| d == 1);
        if !(per_column || sd.iter().all(|&d| d == 1)) {
            continue;
        }
        // Read only here, so nothing else is left reading int8 weights.
        if index.sole_user(q) != Some(m) {
            continue;
        }
        let mut inputs = vec![x.clone(), q.clone(), scale.clone()];
        let mut output = y.clone();
        let bias_add = index.sole_user(y).and_then(|a| {
            let add = &graph.node[a];
            let bias = match add.input.as_slice() {
                [a, b] | [b, a] if a == y => b,
                _ => return None,
            };
            let is_bias = dims(bias, FLOAT) == Some(&[n][..]);
            (add.op_type == "Add" && add.output.len() == 1 && is_bias).then_some((a, bias))
        });
        if let Some((a, bias)) = bias_add {
            inputs.push(bias.clone());
            output = graph.node[a].output[0].clone();
            gone[a] = true;
        }
        rewritten.push((
            m,
            pb::NodeProto {
                name: mm.name.clone(),
                op_type: OP_TYPE.into(),
                input: inputs,
                output: vec![output],
                ..Default::default()
            },
        ));
        taken.push(w);
    }
    let count = rewritten.len();
    for (m, node) in rewritten {
        graph.node[m] = node;
    }
    // The node takes the MatMul's place, before the Add's readers: the
    // graph stays topologically sorted.
    let nodes = std::mem::take(&mut graph.node);
    graph.node = nodes
        .into_iter()
        .zip(gone)
        .filter_map(|(n, gone)| (!gone).then_some(n))
        .collect();
    taken.sort_unstable();
    for w in taken.into_iter().rev() {
        weights.remove(w);
    }
    count
}

/// Registers [`OP_TYPE`] with a tract-onnx parser.
pub fn register(onnx: &mut tract_onnx::Onnx) {
    onnx.op_register
        .insert(OP_TYPE, |_, _| Ok((expand(DenseOnnx), vec![])));
}

/// The parsed node: typed once its weights are known constants.
#[derive(Debug, Clone)]
struct DenseOnnx;

impl Expansion for DenseOnnx {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        if !(3..=4).contains(&inputs.len()) {
            bail!("{OP_TYPE} takes 3 or 4 inputs, got {}", inputs.len());
        }
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].rank, &outputs[0].rank)?;
        s.given(&inputs[0].rank, move |s, rank| {
            let Some(last) = (rank as usize).checked_sub(1) else {
                bail!("{OP_TYPE} needs an input of rank 1 or more");
            };
            for axis in 0..last {
                s.equals(&inputs[0].shape[axis], &outputs[0].shape[axis])?;
            }
            s.equals(&inputs[0].shape[last], &inputs[1].shape[0])?;
            s.equals(&outputs[0].shape[last], &inputs[1].shape[1])
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let konst =
            |i: usize| -> TractResult<Arc<Tensor>> {
                model.outlet_fact(inputs[i])?.konst.clone().ok_or_else(|| {
                    format_err!("{prefix}: input {i} of {OP_TYPE} is not a constant")
                })
            };
        let q = konst(1)?;
        let scale = konst(2)?;
        let bias = inputs.get(3).map(|_| konst(3)).transpose()?;
        let q = q.to_plain_array_view::<i8>()?.into_dimensionality()?;
        let plain = scale.try_as_plain()?;
        let scale = plain.as_slice::<f32>()?;
        let bias_plain = bias.as_ref().map(|b| b.try_as_plain()).transpose()?;
        let bias = bias_plain
            .as_ref()
            .map(|b| b.as_slice::<f32>())
            .transpose()?;
        let panels = Panels::new(q, scale, bias).map_err(|e| format_err!("{prefix}: {e}"))?;
        model.wire_node(prefix, Dense(Arc::new(panels)), &inputs[..1])
    }
}

/// The typed op: `x · w + b` over the last axis of `x`.
#[derive(Debug, Clone)]
struct Dense(Arc<Panels>);

impl PartialEq for Dense {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Dense {}

impl Op for Dense {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("k: {}, n: {}", self.0.k, self.0.n)])
    }

    op_as_typed_op!();
}

impl EvalOp for Dense {
    fn is_stateless(&self) -> bool {
        true
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let Panels { k, n, .. } = *self.0;
        if x.shape().last() != Some(&k) {
            bail!(
                "{OP_TYPE}: input shape {:?}, expected last axis {k}",
                x.shape()
            );
        }
        let mut shape: TVec<usize> = x.shape().into();
        *shape.last_mut().unwrap() = n;
        let mut out = Tensor::zero::<f32>(&shape)?;
        self.0.apply(
            x.try_as_plain()?.as_slice::<f32>()?,
            out.try_as_plain_mut()?.as_slice_mut::<f32>()?,
        );
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for Dense {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.to_tvec();
        match shape.last_mut() {
            Some(last) if *last == self.0.k.to_dim() => *last = self.0.n.to_dim(),
            _ => bail!(
                "{OP_TYPE}: input {:?}, expected last axis {}",
                inputs[0].shape,
                self.0.k
            ),
        }
        Ok(tvec!(f32::fact(shape)))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let rows: TDim = inputs[0].shape.iter().rev().skip(1).product();
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            rows * (self.0.k * self.0.n)
        )))
    }
}

/// One layer's weights for the kernel: int8 panels of [`COLS`] output
/// columns, `[n / COLS][k][COLS]` (the last padded with zero columns),
/// with each column's scale and bias.
#[derive(Debug)]
pub struct Panels {
    k: usize,
    n: usize,
    q: Vec<i8>,
    scale: Vec<f32>,
    bias: Vec<f32>,
}

impl Panels {
    /// From the `[k, n]` int8 weight, its scale (one per column, or one in
    /// all) and an optional bias of `n`.
    pub fn new(
        q: tract_ndarray::ArrayView2<i8>,
        scale: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self, String> {
        let (k, n) = q.dim();
        if k == 0 || n == 0 {
            return Err(format!("empty weight [{k}, {n}]"));
        }
        let padded = n.div_ceil(COLS) * COLS;
        let column = |v: &[f32], what: &str| -> Result<Vec<f32>, String> {
            let mut out = vec![0f32; padded];
            match v.len() {
                1 => out[..n].fill(v[0]),
                len if len == n => out[..n].copy_from_slice(v),
                len => return Err(format!("{what} has {len} values for {n} columns")),
            }
            Ok(out)
        };
        let scale = column(scale, "the scale")?;
        let bias = match bias {
            Some(b) if b.len() != n => {
                return Err(format!("the bias has {} values for {n} columns", b.len()))
            }
            Some(b) => column(b, "the bias")?,
            None => vec![0f32; padded],
        };
        let mut packed = vec![0i8; padded * k];
        for ((row, col), &v) in q.indexed_iter() {
            packed[((col / COLS) * k + row) * COLS + col % COLS] = v;
        }
        Ok(Panels {
            k,
            n,
            q: packed,
            scale,
            bias,
        })
    }

    /// `out = x · w + b` for the rows of `x` (`rows × k`, row-major) into
    /// `out` (`rows × n`).
    pub fn apply(&self, x: &[f32], out: &mut [f32]) {
        let (k, n) = (self.k, self.n);
        let rows = x.len() / k;
        debug_assert_eq!(out.len(), rows * n);
        // Tokens by tiles of ROWS, `[tile][k][ROWS]`, zero-padded.
        let tiles = rows.div_ceil(ROWS);
        let mut xp = vec![0f32; tiles * k * ROWS];
        for (r, row) in x.chunks_exact(k).enumerate() {
            let tile = &mut xp[(r / ROWS) * k * ROWS..][..k * ROWS];
            for (dst, &v) in tile[r % ROWS..].iter_mut().step_by(ROWS).zip(row) {
                *dst = v;
            }
        }
        let mut w = vec![0f32; k * COLS];
        let mut acc = [[0f32; COLS]; ROWS];
        let panels = self.q.chunks_exact(k * COLS);
        for (p, (q, scale)) in panels.zip(self.scale.chunks_exact(COLS)).enumerate() {
            dequantize(q, scale, &mut w);
            let (col0, cols) = (p * COLS, COLS.min(n - p * COLS));
            let bias = &self.bias[col0..col0 + cols];
            for (t, xt) in xp.chunks_exact(k * ROWS).enumerate() {
                kernel(k, &w, xt, &mut acc);
                for (r, acc) in (t * ROWS..rows).zip(&acc) {
                    let dst = &mut out[r * n + col0..][..cols];
                    for ((d, a), b) in dst.iter_mut().zip(acc).zip(bias) {
                        *d = a + b;
                    }
                }
            }
        }
    }
}

/// `w[i] = f32(q[i]) · scale[i % COLS]`: the export's `Mul(Cast(q), scale)`.
fn dequantize(q: &[i8], scale: &[f32], w: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::*;
        assert!(q.len() == w.len() && scale.len() == COLS && w.len() % COLS == 0);
        // SAFETY: the loads read `scale[0..8]` and `q[i..i + 8]`, the stores
        // write `w[i..i + 8]`, `i + 8 <= len` (asserted above); wasm's
        // v128 loads and stores need no alignment.
        unsafe {
            let sl = v128_load(scale.as_ptr() as *const v128);
            let sh = v128_load(scale.as_ptr().add(4) as *const v128);
            for i in (0..q.len()).step_by(COLS) {
                let v = i16x8_load_extend_i8x8(q.as_ptr().add(i));
                let lo = f32x4_convert_i32x4(i32x4_extend_low_i16x8(v));
                let hi = f32x4_convert_i32x4(i32x4_extend_high_i16x8(v));
                v128_store(w.as_mut_ptr().add(i) as *mut v128, f32x4_mul(lo, sl));
                v128_store(w.as_mut_ptr().add(i + 4) as *mut v128, f32x4_mul(hi, sh));
            }
        }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    for (w, q) in w.chunks_exact_mut(COLS).zip(q.chunks_exact(COLS)) {
        for ((w, &q), &s) in w.iter_mut().zip(q).zip(scale) {
            *w = f32::from(q) * s;
        }
    }
}

/// `acc[r][c] = Σ_i x[i][r] · w[i][c]` over `k` steps, in order of `i`,
/// each product rounded and then added (no fused multiply-add): the same
/// bits from either version.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn kernel(k: usize, w: &[f32], x: &[f32], acc: &mut [[f32; COLS]; ROWS]) {
    use core::arch::wasm32::*;
    assert!(w.len() >= k * COLS && x.len() >= k * ROWS);
    // SAFETY: step `i` reads `w[8i..8i + 8]` and `x[4i..4i + 4]`, in bounds
    // for `i < k` (asserted above); wasm's v128 loads need no alignment,
    // and `acc` is 4 × 8 f32, written as eight v128.
    unsafe {
        let z = f32x4_splat(0.0);
        let (mut c0l, mut c0h, mut c1l, mut c1h) = (z, z, z, z);
        let (mut c2l, mut c2h, mut c3l, mut c3h) = (z, z, z, z);
        let (mut wp, mut xp) = (w.as_ptr(), x.as_ptr());
        for _ in 0..k {
            let wl = v128_load(wp as *const v128);
            let wh = v128_load(wp.add(4) as *const v128);
            let x0 = v128_load32_splat(xp as *const u32);
            c0l = f32x4_add(c0l, f32x4_mul(x0, wl));
            c0h = f32x4_add(c0h, f32x4_mul(x0, wh));
            let x1 = v128_load32_splat(xp.add(1) as *const u32);
            c1l = f32x4_add(c1l, f32x4_mul(x1, wl));
            c1h = f32x4_add(c1h, f32x4_mul(x1, wh));
            let x2 = v128_load32_splat(xp.add(2) as *const u32);
            c2l = f32x4_add(c2l, f32x4_mul(x2, wl));
            c2h = f32x4_add(c2h, f32x4_mul(x2, wh));
            let x3 = v128_load32_splat(xp.add(3) as *const u32);
            c3l = f32x4_add(c3l, f32x4_mul(x3, wl));
            c3h = f32x4_add(c3h, f32x4_mul(x3, wh));
            wp = wp.add(COLS);
            xp = xp.add(ROWS);
        }
        let out = acc.as_mut_ptr() as *mut v128;
        for (i, v) in [c0l, c0h, c1l, c1h, c2l, c2h, c3l, c3h]
            .into_iter()
            .enumerate()
        {
            v128_store(out.add(i), v);
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn kernel(k: usize, w: &[f32], x: &[f32], acc: &mut [[f32; COLS]; ROWS]) {
    *acc = [[0f32; COLS]; ROWS];
    for (w, x) in w.chunks_exact(COLS).zip(x.chunks_exact(ROWS)).take(k) {
        for (acc, &x) in acc.iter_mut().zip(x) {
            for (a, &w) in acc.iter_mut().zip(w) {
                *a += x * w;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::graph::build::node;
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The product summed the kernel's way (in order of k, from zero, each
    /// product rounded, the bias added last) in plain scalar code.
    fn reference(
        x: &[f32],
        q: &tract_ndarray::Array2<i8>,
        scale: &[f32],
        bias: &[f32],
    ) -> Vec<f32> {
        let (k, n) = q.dim();
        let s = |c: usize| if scale.len() == 1 { scale[0] } else { scale[c] };
        let mut out = Vec::new();
        for row in x.chunks_exact(k) {
            for c in 0..n {
                let mut acc = 0f32;
                for (i, &xv) in row.iter().enumerate() {
                    acc += xv * (f32::from(q[[i, c]]) * s(c));
                }
                out.push(acc + bias.get(c).copied().unwrap_or(0.0));
            }
        }
        out
    }

    #[test]
    fn panels_give_the_reference_bits_for_any_shape() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Row counts around the 4-token tiles, column counts around the
        // 8-column panels, one scale per column or one in all, with or
        // without a bias.
        for (rows, k, n, per_column, with_bias) in [
            (1, 5, 8, true, true),
            (3, 17, 13, true, false),
            (4, 32, 16, false, true),
            (5, 9, 1, true, true),
            (9, 64, 23, false, false),
            (32, 384, 24, true, true),
        ] {
            let q =
                tract_ndarray::Array2::from_shape_fn((k, n), |_| rng.random_range(-128..=127i8));
            let scale: Vec<f32> = (0..if per_column { n } else { 1 })
                .map(|_| rng.random_range(0.001..0.02f32))
                .collect();
            let bias: Vec<f32> = if with_bias {
                (0..n).map(|_| rng.random_range(-1.0..1.0f32)).collect()
            } else {
                vec![]
            };
            let x: Vec<f32> = (0..rows * k)
                .map(|_| rng.random_range(-2.0..2.0f32))
                .collect();
            let panels = Panels::new(q.view(), &scale, with_bias.then_some(&bias[..])).unwrap();
            let mut out = vec![f32::NAN; rows * n];
            panels.apply(&x, &mut out);
            let want = reference(&x, &q, &scale, &bias);
            let same = out
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "rows {rows}, k {k}, n {n}: {out:?} vs {want:?}");
        }
    }

    #[test]
    fn mismatched_scales_and_biases_are_refused() {
        let q = tract_ndarray::Array2::<i8>::zeros((4, 3));
        let err = Panels::new(q.view(), &[1.0, 2.0], None).unwrap_err();
        assert!(
            err.contains("the scale has 2 values for 3 columns"),
            "{err}"
        );
        let err = Panels::new(q.view(), &[1.0], Some(&[0.0; 4])).unwrap_err();
        assert!(err.contains("the bias has 4 values for 3 columns"), "{err}");
        let empty = tract_ndarray::Array2::<i8>::zeros((0, 3));
        assert!(Panels::new(empty.view(), &[1.0], None).is_err());
    }

    fn init(name: &str, dt: pb::tensor_proto::DataType, dims: &[i64]) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            data_type: dt as i32,
            dims: dims.to_vec(),
            ..Default::default()
        }
    }

    /// A graph as `rewrite_dequantization` leaves the export's layers:
    /// `MatMul(x, q)` then `Add(·, bias)`, with `(q, scale)` to dequantise.
    fn layer(scale_dims: &[i64], bias_dims: &[i64]) -> (pb::GraphProto, Vec<(String, String)>) {
        use pb::tensor_proto::DataType::{Float, Int8};
        let graph = pb::GraphProto {
            node: vec![
                node("Relu", &["in"], "x"),
                node("MatMul", &["x", "q"], "xw"),
                node("Add", &["xw", "b"], "y"),
                node("Relu", &["y"], "out"),
            ],
            initializer: vec![
                init("q", Int8, &[4, 6]),
                init("s", Float, scale_dims),
                init("b", Float, bias_dims),
            ],
            output: vec![pb::ValueInfoProto {
                name: "out".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        (graph, vec![("q".into(), "s".into())])
    }

    #[test]
    fn the_exports_layers_become_one_node_each() {
        let (mut g, mut weights) = layer(&[1, 6], &[6]);
        assert_eq!(fuse(&mut g, &mut weights), 1);
        let ops: Vec<_> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Relu", OP_TYPE, "Relu"]);
        assert_eq!(g.node[1].input, ["x", "q", "s", "b"]);
        assert_eq!(g.node[1].output, ["y"]);
        assert!(weights.is_empty(), "taken weights are not dequantised");
        // A bias of another shape stays an Add after the layer.
        let (mut g, mut weights) = layer(&[6], &[1, 6]);
        assert_eq!(fuse(&mut g, &mut weights), 1);
        let ops: Vec<_> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Relu", OP_TYPE, "Add", "Relu"]);
        assert_eq!(g.node[1].input, ["x", "q", "s"]);
        assert_eq!(g.node[1].output, ["xw"]);
    }

    #[test]
    fn layers_it_cannot_run_are_left_alone() {
        // One scale per row: not a per-column layer.
        let (mut g, mut weights) = layer(&[4, 1], &[6]);
        assert_eq!(fuse(&mut g, &mut weights), 0);
        assert_eq!(g.node.len(), 4);
        assert_eq!(weights.len(), 1);
        // The weight read by another node too.
        let (mut g, mut weights) = layer(&[1, 6], &[6]);
        g.node.push(node("Identity", &["q"], "q2"));
        assert_eq!(fuse(&mut g, &mut weights), 0);
        // A weight not left to be dequantised.
        let (mut g, _) = layer(&[1, 6], &[6]);
        assert_eq!(fuse(&mut g, &mut vec![]), 0);
    }
}
