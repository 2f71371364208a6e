//! Lookups the graph rewrites share: who reads a value, who makes it, the
//! initializers, and the scalar f32 ones.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb;

/// Readers and producers of each value name in one ONNX graph.
pub struct Index<'g> {
    users: HashMap<&'g str, Vec<usize>>,
    producer: HashMap<&'g str, usize>,
    outputs: HashSet<&'g str>,
    initializers: HashMap<&'g str, &'g pb::TensorProto>,
}

impl<'g> Index<'g> {
    pub fn new(graph: &'g pb::GraphProto) -> Self {
        let mut users: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            for input in &n.input {
                users.entry(input).or_default().push(i);
            }
        }
        let producer = graph
            .node
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i)))
            .collect();
        let outputs = graph.output.iter().map(|o| o.name.as_str()).collect();
        let initializers = graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        Index {
            users,
            producer,
            outputs,
            initializers,
        }
    }

    /// The one node that reads `name`, if `name` is an inner value (not a
    /// graph output) read exactly once.
    pub fn sole_user(&self, name: &str) -> Option<usize> {
        match self.users.get(name).map(Vec::as_slice) {
            Some(&[u]) if !self.is_output(name) => Some(u),
            _ => None,
        }
    }

    /// The node that makes `name`.
    pub fn producer(&self, name: &str) -> Option<usize> {
        self.producer.get(name).copied()
    }

    pub fn is_output(&self, name: &str) -> bool {
        self.outputs.contains(name)
    }

    /// The dimensions of the initializer `name`, if it holds `data_type`.
    pub fn initializer_dims(&self, name: &str, data_type: i32) -> Option<&'g [i64]> {
        let t = self.initializers.get(name)?;
        (t.data_type == data_type).then_some(t.dims.as_slice())
    }
}

/// The graph's scalar f32 initializers (every dimension 1), by name.
pub fn scalars(graph: &pb::GraphProto) -> HashMap<&str, f32> {
    const FLOAT: i32 = pb::tensor_proto::DataType::Float as i32;
    graph
        .initializer
        .iter()
        .filter(|t| t.data_type == FLOAT && t.dims.iter().all(|&d| d == 1))
        .filter_map(|t| {
            let v = match (t.float_data.as_slice(), t.raw_data.as_slice()) {
                ([v], _) => *v,
                ([], raw) => f32::from_le_bytes(raw.try_into().ok()?),
                _ => return None,
            };
            Some((t.name.as_str(), v))
        })
        .collect()
}

/// Drops the nodes marked `gone`, keeping the others in order.
pub fn remove(graph: &mut pb::GraphProto, gone: &[bool]) {
    let nodes = std::mem::take(&mut graph.node);
    graph.node = nodes
        .into_iter()
        .zip(gone)
        .filter_map(|(n, &gone)| (!gone).then_some(n))
        .collect();
}

/// Graph pieces for the rewrites' tests.
#[cfg(test)]
pub mod build {
    use super::pb;

    pub fn node(op: &str, input: &[&str], output: &str) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.into(),
            input: input.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    /// A scalar f32 initializer, stored as raw bytes as exports do.
    pub fn scalar(name: &str, v: f32) -> pb::TensorProto {
        pb::TensorProto {
            name: name.into(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: v.to_le_bytes().to_vec(),
            ..Default::default()
        }
    }
}
