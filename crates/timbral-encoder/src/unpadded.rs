//! The encoder embeds one text at a time and never pads it, so the
//! attention mask it would feed is all ones, of the ids' shape. Written into
//! the graph as `ConstantOfShape(Shape(input_ids), 1)`, that is something
//! tract can see: the mask's bias folds to zero and its selects to one
//! branch, and the per-layer `Add`/`Where`/`IsNaN` over `12 × S × S`
//! scores are gone from the plan.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb;

use super::graph;

/// Replaces the graph's second input (BERT's `attention_mask`) by ones of
/// the first input's (`input_ids`) shape. Returns false, changing nothing,
/// where the graph has no such pair of int64 inputs.
pub fn mask_from_ids(graph: &mut pb::GraphProto) -> bool {
    const INT64: i32 = pb::tensor_proto::DataType::Int64 as i32;
    let elem = |i: &pb::ValueInfoProto| match i.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => Some(t.elem_type),
        _ => None,
    };
    let ([ids, mask, ..], true) = (graph.input.as_slice(), graph.input.len() >= 2) else {
        return false;
    };
    if mask.name != "attention_mask" || elem(ids) != Some(INT64) || elem(mask) != Some(INT64) {
        return false;
    }
    let (ids, mask) = (ids.name.clone(), mask.name.clone());
    let shape = format!("{mask}.shape");
    let nodes = [
        pb::NodeProto {
            name: shape.clone(),
            op_type: "Shape".into(),
            input: vec![ids],
            output: vec![shape.clone()],
            ..Default::default()
        },
        pb::NodeProto {
            name: mask.clone(),
            op_type: "ConstantOfShape".into(),
            input: vec![shape],
            output: vec![mask],
            attribute: vec![pb::AttributeProto {
                name: "value".into(),
                r#type: pb::attribute_proto::AttributeType::Tensor as i32,
                t: Some(pb::TensorProto {
                    dims: vec![1],
                    data_type: INT64,
                    int64_data: vec![1],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        },
    ];
    graph.input.remove(1);
    graph.node.splice(0..0, nodes);
    true
}

/// With the mask all ones (after [`mask_from_ids`]), drops what it feeds in
/// each attention block: `Add(scores, Where(cond, 0, −big))`, `cond` made
/// from the mask and shapes alone, becomes `scores` (the bias is zero where
/// nothing is masked), and `Where(IsNaN(p), 0, p)` becomes `p` (softmax
/// over unmasked scores is never NaN; the guard is for rows masked
/// entirely). Nodes left without users go too. The encoder's fixture tests
/// hold the result to onnxruntime's embeddings. Returns how many nodes were
/// bypassed.
pub fn drop_mask_bias(graph: &mut pb::GraphProto, mask: &str) -> usize {
    let scalars = graph::scalars(graph);
    let zero = |name: &str| scalars.get(name) == Some(&0.0);
    // Values computed from the mask, initializers and shapes alone.
    let mut constant: HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let mut from_mask: HashSet<String> = HashSet::from([mask.to_string()]);
    constant.insert(mask.to_string());
    for n in &graph.node {
        let pure =
            n.op_type == "Shape" || n.input.iter().all(|i| i.is_empty() || constant.contains(i));
        let masked = n.input.iter().any(|i| from_mask.contains(i));
        for o in &n.output {
            if pure {
                constant.insert(o.clone());
            }
            if pure && masked {
                from_mask.insert(o.clone());
            }
        }
    }
    let index = graph::Index::new(graph);
    let producer = |name: &str| index.producer(name).map(|i| &graph.node[i]);
    let is_bias = |name: &str| {
        producer(name).is_some_and(|w| {
            w.op_type == "Where"
                && w.input.len() == 3
                && from_mask.contains(&w.input[0])
                && zero(&w.input[1])
                && constant.contains(&w.input[2])
        })
    };
    let mut renames: HashMap<String, String> = HashMap::new();
    for n in &graph.node {
        let [out] = n.output.as_slice() else { continue };
        let kept = match (n.op_type.as_str(), n.input.as_slice()) {
            ("Add", [a, b]) if is_bias(b) => a,
            ("Add", [a, b]) if is_bias(a) => b,
            ("Where", [c, z, p])
                if zero(z)
                    && producer(c)
                        .is_some_and(|n| n.op_type == "IsNaN" && n.input == [p.clone()]) =>
            {
                p
            }
            _ => continue,
        };
        renames.insert(out.clone(), kept.clone());
    }
    renames.retain(|from, _| !index.is_output(from));
    let bypassed = renames.len();
    let resolve = |mut name: String| {
        while let Some(to) = renames.get(&name) {
            name = to.clone();
        }
        name
    };
    for n in &mut graph.node {
        for i in &mut n.input {
            *i = resolve(std::mem::take(i));
        }
    }
    // Drop what no longer reaches an output.
    let mut needed: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let mut keep = vec![false; graph.node.len()];
    for (k, n) in graph.node.iter().enumerate().rev() {
        if n.output.iter().any(|o| needed.contains(o)) {
            keep[k] = true;
            needed.extend(n.input.iter().cloned());
        }
    }
    let nodes = std::mem::take(&mut graph.node);
    graph.node = nodes
        .into_iter()
        .zip(keep)
        .filter_map(|(n, k)| k.then_some(n))
        .collect();
    bypassed
}

#[cfg(test)]
mod tests {
    use super::super::graph::build::{node, scalar};
    use super::*;

    fn value(name: &str) -> pb::ValueInfoProto {
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: pb::tensor_proto::DataType::Int64 as i32,
                    shape: None,
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// One attention block as the export writes it; `cond` names what the
    /// mask bias is selected by.
    fn attention(cond_from: &str) -> pb::GraphProto {
        pb::GraphProto {
            input: vec![
                value("input_ids"),
                value("attention_mask"),
                value("token_type_ids"),
            ],
            output: vec![pb::ValueInfoProto {
                name: "out".into(),
                ..Default::default()
            }],
            initializer: vec![scalar("zero", 0.0), scalar("neg", f32::MIN)],
            node: vec![
                node("Cast", &[cond_from], "mask_b"),
                node("Where", &["mask_b", "zero", "neg"], "bias"),
                node("Gather", &["emb", "input_ids"], "h"),
                node("MatMul", &["h", "h"], "scores"),
                node("Add", &["scores", "bias"], "masked"),
                node("Softmax", &["masked"], "p"),
                node("IsNaN", &["p"], "nan"),
                node("Where", &["nan", "zero", "p"], "p_safe"),
                node("MatMul", &["p_safe", "h"], "out"),
            ],
            ..Default::default()
        }
    }

    fn ops(g: &pb::GraphProto) -> Vec<&str> {
        g.node.iter().map(|n| n.op_type.as_str()).collect()
    }

    #[test]
    fn the_mask_is_made_from_the_ids_and_its_bias_and_guard_are_dropped() {
        let mut g = attention("attention_mask");
        assert!(mask_from_ids(&mut g));
        let inputs: Vec<_> = g.input.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(inputs, ["input_ids", "token_type_ids"]);
        assert_eq!(drop_mask_bias(&mut g, "attention_mask"), 2);
        assert_eq!(ops(&g), ["Gather", "MatMul", "Softmax", "MatMul"]);
        assert_eq!(g.node[2].input, ["scores"]);
        assert_eq!(g.node[3].input, ["p", "h"]);
    }

    #[test]
    fn a_bias_that_depends_on_activations_is_kept() {
        // The select reads the scores, not the mask: not a mask bias.
        let mut g = attention("h");
        assert!(mask_from_ids(&mut g));
        assert_eq!(
            drop_mask_bias(&mut g, "attention_mask"),
            1,
            "only the NaN guard goes"
        );
        assert!(ops(&g).contains(&"Add"));
    }

    #[test]
    fn a_graph_without_a_mask_input_is_left_alone() {
        let mut g = attention("attention_mask");
        g.input.truncate(1);
        let before = g.clone();
        assert!(!mask_from_ids(&mut g));
        assert_eq!(g, before);
    }
}
