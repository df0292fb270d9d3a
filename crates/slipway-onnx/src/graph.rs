//! Loading (decode, check every operator, plan) and running a model.

use std::collections::{BTreeSet, HashMap};

use crate::attrs::Attrs;
use crate::ops::{BinOp, CastTo, Norm, Op, PostTransform};
use crate::proto::{self, data_type, NodeProto, ValueInfoProto};
use crate::tensor::{self, Data, Tensor, Value};
use crate::tree::TreeEnsemble;
use crate::{
    Column, ElementType, Labels, OnnxError, OnnxOutputs, StringInputUse, TensorInfo, ValueKind,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    F32,
    I64,
    Str,
    ZipMap,
}

#[derive(Debug, Clone)]
struct Meta {
    kind: Kind,
    /// Columns of a `[n, width]` tensor, when known.
    width: Option<usize>,
    /// For probability tensors and ZipMaps: the class of each column.
    class_labels: Option<Labels>,
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    Const(usize),
    Dyn(usize),
}

#[derive(Debug, Clone)]
struct Step {
    name: String,
    op_type: String,
    op: Op,
    inputs: Vec<Slot>,
    outputs: Vec<Option<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Label,
    Probabilities,
    Values,
}

/// A loaded ONNX model, ready to run. Cheap to share across threads (`Sync`).
#[derive(Debug, Clone)]
pub struct OnnxModel {
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    input_slots: Vec<usize>,
    consts: Vec<Value>,
    n_dyn: usize,
    steps: Vec<Step>,
    /// (graph output slot, what it is for OnnxOutputs, its class labels)
    roles: Vec<(Slot, Role, Option<Labels>)>,
    producer: String,
}

struct Builder {
    names: HashMap<String, Slot>,
    metas: HashMap<String, Meta>,
    consts: Vec<Value>,
    n_dyn: usize,
}

impl Builder {
    fn input(&self, node: &NodeProto, i: usize) -> Result<(Slot, &Meta), OnnxError> {
        let name = node
            .input
            .get(i)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| node_err(node, format!("input {i} is missing")))?;
        match (self.names.get(name), self.metas.get(name)) {
            (Some(s), Some(m)) => Ok((*s, m)),
            _ => Err(node_err(
                node,
                format!("input '{name}' is not produced before this node (graph not sorted?)"),
            )),
        }
    }

    fn const_value(&self, node: &NodeProto, i: usize) -> Result<&Tensor, OnnxError> {
        match self.input(node, i)?.0 {
            Slot::Const(c) => match &self.consts[c] {
                Value::Tensor(t) => Ok(t),
                Value::ZipMap { .. } => Err(node_err(node, "constant is not a tensor")),
            },
            Slot::Dyn(_) => Err(node_err(
                node,
                format!("input {i} must be a constant (initializer) here"),
            )),
        }
    }

    fn define(
        &mut self,
        node: &NodeProto,
        i: usize,
        meta: Meta,
    ) -> Result<Option<usize>, OnnxError> {
        let Some(name) = node.output.get(i).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if self.names.contains_key(name) {
            return Err(node_err(node, format!("output '{name}' is defined twice")));
        }
        let slot = self.n_dyn;
        self.n_dyn += 1;
        self.names.insert(name.clone(), Slot::Dyn(slot));
        self.metas.insert(name.clone(), meta);
        Ok(Some(slot))
    }
}

fn node_err(node: &NodeProto, message: impl Into<String>) -> OnnxError {
    OnnxError::InvalidNode {
        node: node.name.clone(),
        op_type: node.op_type.clone(),
        message: message.into(),
    }
}

fn meta(kind: Kind, width: Option<usize>) -> Meta {
    Meta {
        kind,
        width,
        class_labels: None,
    }
}

fn value_meta(v: &Value) -> Meta {
    match v {
        Value::Tensor(t) => {
            let kind = match t.data {
                Data::F32(_) => Kind::F32,
                Data::I64(_) => Kind::I64,
                Data::Str(_) => Kind::Str,
            };
            meta(kind, t.rows_cols().ok().map(|rc| rc.1))
        }
        Value::ZipMap { labels, .. } => Meta {
            kind: Kind::ZipMap,
            width: Some(labels.len()),
            class_labels: Some(labels.clone()),
        },
    }
}

fn dims(v: &ValueInfoProto) -> Vec<i64> {
    v.r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| d.dim_value.filter(|v| *v > 0).unwrap_or(-1))
                .collect()
        })
        .unwrap_or_default()
}

fn expect_kind(node: &NodeProto, m: &Meta, kinds: &[Kind]) -> Result<(), OnnxError> {
    if !kinds.contains(&m.kind) {
        return Err(node_err(
            node,
            format!(
                "input of type {:?} is not supported here (expected {kinds:?})",
                m.kind
            ),
        ));
    }
    Ok(())
}

fn check_len(
    node: &NodeProto,
    what: &str,
    len: usize,
    width: Option<usize>,
) -> Result<(), OnnxError> {
    if let Some(w) = width {
        if len != 1 && len != w {
            return Err(node_err(
                node,
                format!("{what} has {len} values for {w} input columns"),
            ));
        }
    }
    Ok(())
}

fn labels_attr(a: &Attrs, int_name: &str, str_name: &str) -> Result<Labels, OnnxError> {
    let ints = a.ints(int_name)?;
    let strings = a.strings(str_name)?;
    match (ints.is_empty(), strings.is_empty()) {
        (false, true) => Ok(Labels::Int64(ints)),
        (true, false) => Ok(Labels::String(strings)),
        _ => Err(a.err(format!("exactly one of {int_name}, {str_name} must be set"))),
    }
}

fn label_kind(l: &Labels) -> Kind {
    match l {
        Labels::Int64(_) => Kind::I64,
        Labels::String(_) => Kind::Str,
    }
}

impl OnnxModel {
    /// Decodes a model, checks that every operator is supported and that
    /// shapes fit, and plans its execution.
    pub fn load(bytes: &[u8]) -> Result<OnnxModel, OnnxError> {
        let model = proto::decode_model(bytes).map_err(|e| OnnxError::Decode(e.to_string()))?;
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| OnnxError::InvalidModel("the model has no graph".into()))?;
        if !model.functions.is_empty() {
            return Err(OnnxError::InvalidModel(
                "model-local functions are not supported".into(),
            ));
        }
        if !graph.sparse_initializer.is_empty() {
            return Err(OnnxError::InvalidModel(
                "sparse initializers are not supported".into(),
            ));
        }
        let mut b = Builder {
            names: HashMap::new(),
            metas: HashMap::new(),
            consts: Vec::new(),
            n_dyn: 0,
        };
        for init in &graph.initializer {
            let t = tensor::from_proto(init).map_err(|e| {
                OnnxError::InvalidModel(format!("initializer '{}': {e}", init.name))
            })?;
            let v = Value::Tensor(t);
            b.metas.insert(init.name.clone(), value_meta(&v));
            b.names
                .insert(init.name.clone(), Slot::Const(b.consts.len()));
            b.consts.push(v);
        }
        let mut inputs = Vec::new();
        let mut input_slots = Vec::new();
        for vi in &graph.input {
            if b.names.contains_key(&vi.name) {
                continue; // an initializer listed as input (old IR): a constant
            }
            let tt = vi
                .r#type
                .as_ref()
                .and_then(|t| t.tensor_type.as_ref())
                .ok_or_else(|| {
                    OnnxError::InvalidModel(format!("graph input '{}' is not a tensor", vi.name))
                })?;
            let elem_type = ElementType::from_code(tt.elem_type);
            let kind = match tt.elem_type {
                data_type::FLOAT => Kind::F32,
                data_type::INT64 => Kind::I64,
                data_type::STRING => Kind::Str,
                _ => {
                    return Err(OnnxError::InvalidModel(format!(
                        "graph input '{}' has element type {elem_type:?}; float, int64 and string inputs are supported \
                         (convert with FloatTensorType)",
                        vi.name
                    )))
                }
            };
            let shape = dims(vi);
            let width = match shape.as_slice() {
                [_, w] if *w > 0 => Some(*w as usize),
                _ => None,
            };
            let slot = b.n_dyn;
            b.n_dyn += 1;
            b.names.insert(vi.name.clone(), Slot::Dyn(slot));
            b.metas.insert(vi.name.clone(), meta(kind, width));
            input_slots.push(slot);
            inputs.push(TensorInfo {
                name: vi.name.clone(),
                elem_type,
                shape,
                kind: ValueKind::Tensor,
            });
        }
        if inputs.is_empty() {
            return Err(OnnxError::InvalidModel("the graph has no inputs".into()));
        }
        let mut steps = Vec::with_capacity(graph.node.len());
        for node in &graph.node {
            if let Some(step) = compile_node(&mut b, node)? {
                steps.push(step);
            }
        }
        // outputs
        let mut outputs = Vec::new();
        let mut roles = Vec::new();
        let (mut has_label, mut has_probs, mut has_values) = (false, false, false);
        for vo in &graph.output {
            let (Some(&slot), Some(m)) = (b.names.get(&vo.name), b.metas.get(&vo.name)) else {
                return Err(OnnxError::InvalidModel(format!(
                    "graph output '{}' is not produced by any node",
                    vo.name
                )));
            };
            let declared = vo.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
            let (elem_type, kind, shape) = match m.kind {
                Kind::ZipMap => (
                    ElementType::Float,
                    ValueKind::SequenceOfMaps,
                    vec![-1, m.width.map_or(-1, |w| w as i64)],
                ),
                k => (
                    declared.map_or(
                        match k {
                            Kind::F32 => ElementType::Float,
                            Kind::I64 => ElementType::Int64,
                            _ => ElementType::String,
                        },
                        |t| ElementType::from_code(t.elem_type),
                    ),
                    ValueKind::Tensor,
                    dims(vo),
                ),
            };
            outputs.push(TensorInfo {
                name: vo.name.clone(),
                elem_type,
                shape,
                kind,
            });
            let role = match m.kind {
                Kind::I64 | Kind::Str if !has_label => {
                    has_label = true;
                    Some(Role::Label)
                }
                Kind::ZipMap if !has_probs => {
                    has_probs = true;
                    Some(Role::Probabilities)
                }
                Kind::F32 if m.class_labels.is_some() && !has_probs => {
                    has_probs = true;
                    Some(Role::Probabilities)
                }
                Kind::F32 if m.class_labels.is_none() && !has_values => {
                    has_values = true;
                    Some(Role::Values)
                }
                _ => None,
            };
            if let Some(role) = role {
                roles.push((slot, role, m.class_labels.clone()));
            }
        }
        Ok(OnnxModel {
            inputs,
            outputs,
            input_slots,
            consts: b.consts,
            n_dyn: b.n_dyn,
            steps,
            roles,
            producer: format!("{} {}", model.producer_name, model.producer_version)
                .trim()
                .to_string(),
        })
    }

    pub fn inputs(&self) -> &[TensorInfo] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[TensorInfo] {
        &self.outputs
    }

    /// The converter that wrote the model (`producer_name producer_version`).
    pub fn producer(&self) -> &str {
        &self.producer
    }

    /// Runs the model on one float tensor input `[n_rows, n_features]`
    /// (row-major). NaN is a missing value.
    pub fn run_f32(&self, input: &[f32], n_rows: usize) -> Result<OnnxOutputs, OnnxError> {
        if self.inputs.len() != 1 || self.inputs[0].elem_type != ElementType::Float {
            return Err(OnnxError::BadInput(format!(
                "this model takes {} inputs ({}); run_f32 feeds one float tensor",
                self.inputs.len(),
                self.inputs
                    .iter()
                    .map(|i| format!("{}: {:?}", i.name, i.elem_type))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let info = &self.inputs[0];
        let n_cols = match info.shape.as_slice() {
            [_, w] if *w > 0 => *w as usize,
            _ if n_rows > 0 => input.len() / n_rows,
            _ => 0,
        };
        if n_rows.checked_mul(n_cols) != Some(input.len()) {
            return Err(OnnxError::BadInput(format!(
                "input '{}' needs {n_rows} rows x {n_cols} columns = {} values, got {}",
                info.name,
                n_rows.saturating_mul(n_cols),
                input.len()
            )));
        }
        let t = Tensor::f32(vec![n_rows, n_cols], input.to_vec());
        self.run(vec![(self.input_slots[0], Value::Tensor(t))])
    }

    /// Runs a model with one or more inputs (e.g. a skl2onnx pipeline with a
    /// ColumnTransformer: a float block and a string category column), each
    /// given by name with `n_rows` rows. Every graph input must be given once.
    pub fn run_columns(
        &self,
        columns: &[(&str, Column)],
        n_rows: usize,
    ) -> Result<OnnxOutputs, OnnxError> {
        self.run_inputs(
            columns.iter().map(|(n, c)| (*n, c.clone())).collect(),
            n_rows,
        )
    }

    /// [`OnnxModel::run_columns`] taking the values by value (no copy).
    pub fn run_inputs(
        &self,
        mut columns: Vec<(&str, Column)>,
        n_rows: usize,
    ) -> Result<OnnxOutputs, OnnxError> {
        for (name, _) in &columns {
            if !self.inputs.iter().any(|i| i.name == *name) {
                return Err(OnnxError::BadInput(format!(
                    "the model has no input '{name}' (inputs: {})",
                    self.input_names()
                )));
            }
        }
        let mut feeds = Vec::with_capacity(self.inputs.len());
        for (info, &slot) in self.inputs.iter().zip(&self.input_slots) {
            let mut given = columns.iter().filter(|(n, _)| *n == info.name);
            let (Some(_), None) = (given.next(), given.next()) else {
                return Err(OnnxError::BadInput(format!(
                    "input '{}' must be given exactly once (inputs: {})",
                    info.name,
                    self.input_names()
                )));
            };
            let at = columns
                .iter()
                .position(|(n, _)| *n == info.name)
                .unwrap_or_default();
            let col = columns.swap_remove(at).1;
            let (data, len, kind) = match (col, info.elem_type) {
                (Column::Float(v), ElementType::Float) => {
                    let len = v.len();
                    (Data::F32(v), len, "float")
                }
                (Column::Int64(v), ElementType::Int64) => {
                    let len = v.len();
                    (Data::I64(v), len, "int64")
                }
                (Column::String(v), ElementType::String) => {
                    let len = v.len();
                    (Data::Str(v), len, "string")
                }
                _ => {
                    return Err(OnnxError::BadInput(format!(
                        "input '{}' takes {:?} values",
                        info.name, info.elem_type
                    )))
                }
            };
            let shape = match info.shape.as_slice() {
                [_] => vec![n_rows],
                [_, w] if *w > 0 => vec![n_rows, *w as usize],
                [_, _] if n_rows > 0 => vec![n_rows, len / n_rows],
                [_, _] => vec![0, 0],
                s => {
                    return Err(OnnxError::BadInput(format!(
                        "input '{}' has shape {s:?}; only [N] and [N, width] inputs are supported",
                        info.name
                    )))
                }
            };
            if shape.iter().product::<usize>() != len {
                return Err(OnnxError::BadInput(format!(
                    "input '{}' needs {} {kind} values for {n_rows} rows of shape {:?}, got {len}",
                    info.name,
                    shape.iter().product::<usize>(),
                    info.shape
                )));
            }
            feeds.push((slot, Value::Tensor(Tensor { shape, data })));
        }
        self.run(feeds)
    }

    /// What the graph does with string input `name`, when all it does is
    /// compare the strings with category lists (OneHotEncoder `cats_strings`,
    /// after Identity, Reshape, Flatten or Gather): then every string outside
    /// [`StringInputUse::categories`] gives the same outputs as any other, and
    /// a caller may feed one stand-in for all of them. None when `name` is not
    /// a string input, or when its strings reach anything else (an output).
    pub fn string_input_use(&self, name: &str) -> Option<StringInputUse> {
        let i = self
            .inputs
            .iter()
            .position(|x| x.name == name && x.elem_type == ElementType::String)?;
        let mut reached = vec![false; self.n_dyn];
        reached[self.input_slots[i]] = true;
        let is_reached = |s: &Slot, reached: &[bool]| matches!(s, Slot::Dyn(d) if reached[*d]);
        let mut all = BTreeSet::new();
        let mut strict: Option<BTreeSet<String>> = None;
        for step in &self.steps {
            if !step.inputs.iter().any(|s| is_reached(s, &reached)) {
                continue;
            }
            match &step.op {
                Op::Identity | Op::Reshape(_) | Op::Flatten(_) | Op::GatherCols { .. } => {
                    for o in step.outputs.iter().flatten() {
                        reached[*o] = true;
                    }
                }
                Op::OneHot {
                    cats: Labels::String(cats),
                    zeros,
                } => {
                    all.extend(cats.iter().cloned());
                    if !zeros {
                        // Only strings every strict encoder knows pass them all.
                        let these: BTreeSet<String> = cats.iter().cloned().collect();
                        strict = Some(match strict {
                            None => these,
                            Some(s) => s.intersection(&these).cloned().collect(),
                        });
                    }
                }
                _ => return None,
            }
        }
        if self.roles.iter().any(|(s, _, _)| is_reached(s, &reached)) {
            return None;
        }
        Some(StringInputUse {
            unknown_fails: strict.is_some(),
            categories: strict.unwrap_or(all).into_iter().collect(),
        })
    }

    /// The int64 categories that every OneHotEncoder refusing unknown values
    /// (`zeros=0`, `cats_int64s`) reading int64 input `name` knows (after
    /// Identity, Reshape, Flatten, Gather or Cast to int64): any other value
    /// makes the model fail. None when no such encoder reads the input.
    pub fn int_input_strict_categories(&self, name: &str) -> Option<Vec<i64>> {
        let i = self
            .inputs
            .iter()
            .position(|x| x.name == name && x.elem_type == ElementType::Int64)?;
        let mut reached = vec![false; self.n_dyn];
        reached[self.input_slots[i]] = true;
        let mut strict: Option<BTreeSet<i64>> = None;
        for step in &self.steps {
            if !step
                .inputs
                .iter()
                .any(|s| matches!(s, Slot::Dyn(d) if reached[*d]))
            {
                continue;
            }
            match &step.op {
                Op::Identity
                | Op::Reshape(_)
                | Op::Flatten(_)
                | Op::GatherCols { .. }
                | Op::Cast(CastTo::Int64) => {
                    for o in step.outputs.iter().flatten() {
                        reached[*o] = true;
                    }
                }
                Op::OneHot {
                    cats: Labels::Int64(cats),
                    zeros: false,
                } => {
                    let these: BTreeSet<i64> = cats.iter().copied().collect();
                    strict = Some(match strict {
                        None => these,
                        Some(s) => s.intersection(&these).copied().collect(),
                    });
                }
                // Other uses are numeric: no value makes them fail.
                _ => {}
            }
        }
        strict.map(|s| s.into_iter().collect())
    }

    fn input_names(&self) -> String {
        self.inputs
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn run(&self, feeds: Vec<(usize, Value)>) -> Result<OnnxOutputs, OnnxError> {
        let mut vals: Vec<Option<Value>> = vec![None; self.n_dyn];
        for (slot, v) in feeds {
            vals[slot] = Some(v);
        }
        for step in &self.steps {
            let outs = {
                let mut ins = Vec::with_capacity(step.inputs.len());
                for s in &step.inputs {
                    ins.push(self.get(&vals, *s).ok_or_else(|| OnnxError::Eval {
                        node: step.name.clone(),
                        op_type: step.op_type.clone(),
                        message: "an input has no value".into(),
                    })?);
                }
                step.op.eval(&ins).map_err(|message| {
                    let (node, op_type) = (step.name.clone(), step.op_type.clone());
                    if message.starts_with(crate::ops::UNKNOWN_CATEGORY) {
                        OnnxError::UnknownCategory {
                            node,
                            op_type,
                            message,
                        }
                    } else {
                        OnnxError::Eval {
                            node,
                            op_type,
                            message,
                        }
                    }
                })?
            };
            for (slot, v) in step.outputs.iter().zip(outs) {
                if let Some(s) = slot {
                    vals[*s] = Some(v);
                }
            }
        }
        let mut out = OnnxOutputs::default();
        for (slot, role, labels) in &self.roles {
            let v = self.get(&vals, *slot).ok_or_else(|| OnnxError::Eval {
                node: String::new(),
                op_type: String::new(),
                message: "a graph output has no value".into(),
            })?;
            match (role, v) {
                (Role::Label, Value::Tensor(t)) => {
                    out.label = Some(match &t.data {
                        Data::I64(v) => Labels::Int64(v.clone()),
                        Data::Str(v) => Labels::String(v.clone()),
                        Data::F32(_) => continue,
                    })
                }
                (Role::Probabilities, Value::ZipMap { probs, labels }) => {
                    let (_, c) = probs.rows_cols().unwrap_or((0, 0));
                    if let Data::F32(p) = &probs.data {
                        out.probabilities = Some((p.clone(), c));
                    }
                    out.class_labels = Some(labels.clone());
                }
                (Role::Probabilities, Value::Tensor(t)) => {
                    let (_, c) = t.rows_cols().unwrap_or((0, 0));
                    if let Data::F32(p) = &t.data {
                        out.probabilities = Some((p.clone(), c));
                    }
                    out.class_labels = labels.clone();
                }
                (Role::Values, Value::Tensor(t)) => {
                    let c = t.rows_cols().map(|rc| rc.1).unwrap_or(1);
                    if let Data::F32(p) = &t.data {
                        out.values = Some((p.clone(), c));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn get<'a>(&'a self, vals: &'a [Option<Value>], s: Slot) -> Option<&'a Value> {
        match s {
            Slot::Const(c) => self.consts.get(c),
            Slot::Dyn(d) => vals.get(d).and_then(|v| v.as_ref()),
        }
    }
}

fn compile_node(b: &mut Builder, node: &NodeProto) -> Result<Option<Step>, OnnxError> {
    let domain = match node.domain.as_str() {
        "" | "ai.onnx" => "ai.onnx",
        "ai.onnx.ml" => "ai.onnx.ml",
        other => other,
    };
    let unsupported = || OnnxError::UnsupportedOperator {
        op_type: node.op_type.clone(),
        domain: domain.to_string(),
        node: node.name.clone(),
    };
    let a = Attrs::new(node)?;
    let op_type = node.op_type.as_str();
    // Constant: becomes an initializer
    if domain == "ai.onnx" && op_type == "Constant" {
        let t = a
            .tensor("value")?
            .ok_or_else(|| a.err("only Constant with a 'value' tensor is supported"))?;
        let t = tensor::from_proto(t).map_err(|e| a.err(e))?;
        let name = node
            .output
            .first()
            .ok_or_else(|| a.err("Constant without output"))?;
        let v = Value::Tensor(t);
        b.metas.insert(name.clone(), value_meta(&v));
        b.names.insert(name.clone(), Slot::Const(b.consts.len()));
        b.consts.push(v);
        return Ok(None);
    }
    let mut inputs = Vec::new();
    let mut outs: Vec<Meta> = Vec::new();
    let op = match (domain, op_type) {
        ("ai.onnx.ml", "TreeEnsembleClassifier") | ("ai.onnx.ml", "TreeEnsembleRegressor") => {
            let classifier = op_type == "TreeEnsembleClassifier";
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            let e = TreeEnsemble::compile(&a, classifier)?;
            if let Some(w) = m.width {
                if e.n_features > w {
                    return Err(a.err(format!(
                        "the trees read feature {} but the input has {w} columns",
                        e.n_features - 1
                    )));
                }
            }
            inputs.push(s);
            if classifier {
                let labels = e.class_labels.clone().unwrap_or(Labels::Int64(Vec::new()));
                outs.push(meta(label_kind(&labels), None));
                outs.push(Meta {
                    kind: Kind::F32,
                    width: Some(e.n_outputs),
                    class_labels: Some(labels),
                });
                Op::TreeClassifier(Box::new(e))
            } else {
                outs.push(meta(Kind::F32, Some(e.n_outputs)));
                Op::TreeRegressor(Box::new(e))
            }
        }
        ("ai.onnx.ml", "LinearClassifier") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            let labels = labels_attr(&a, "classlabels_ints", "classlabels_strings")?;
            let coefficients = a.floats("coefficients")?;
            let intercepts = a.floats("intercepts")?;
            let post = PostTransform::parse(&a.string("post_transform", "NONE")?)
                .ok_or_else(|| a.err("unknown post_transform"))?;
            let nt = intercepts.len();
            if nt < 2 || nt != labels.len() {
                return Err(a.err(format!(
                    "{nt} intercepts for {} classes: only one coefficient row per class is supported",
                    labels.len()
                )));
            }
            if coefficients.is_empty() || coefficients.len() % nt != 0 {
                return Err(a.err("coefficients do not fit the classes"));
            }
            if let Some(w) = m.width {
                if coefficients.len() != w * nt {
                    return Err(a.err(format!(
                        "{} coefficients for {w} input columns and {nt} classes",
                        coefficients.len()
                    )));
                }
            }
            inputs.push(s);
            outs.push(meta(label_kind(&labels), None));
            outs.push(Meta {
                kind: Kind::F32,
                width: Some(nt),
                class_labels: Some(labels.clone()),
            });
            Op::LinearClassifier {
                coefficients,
                intercepts,
                labels,
                post,
            }
        }
        ("ai.onnx.ml", "LinearRegressor") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            let coefficients = a.floats("coefficients")?;
            let intercepts = a.floats("intercepts")?;
            let targets = a.int("targets", 1)?;
            if a.string("post_transform", "NONE")? != "NONE" {
                return Err(a.err("only post_transform NONE is supported for LinearRegressor"));
            }
            if targets < 1 || coefficients.is_empty() || coefficients.len() % targets as usize != 0
            {
                return Err(a.err("coefficients do not fit the targets"));
            }
            let targets = targets as usize;
            if !intercepts.is_empty() && intercepts.len() != targets {
                return Err(a.err("intercepts do not fit the targets"));
            }
            if let Some(w) = m.width {
                if coefficients.len() != w * targets {
                    return Err(a.err("coefficients do not fit the input columns"));
                }
            }
            inputs.push(s);
            outs.push(meta(Kind::F32, Some(targets)));
            Op::LinearRegressor {
                coefficients,
                intercepts,
                targets,
            }
        }
        ("ai.onnx.ml", "Scaler") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32, Kind::I64])?;
            let offset = a.floats("offset")?;
            let scale = a.floats("scale")?;
            if offset.is_empty() || scale.is_empty() {
                return Err(a.err("offset and scale are required"));
            }
            check_len(node, "offset", offset.len(), m.width)?;
            check_len(node, "scale", scale.len(), m.width)?;
            outs.push(meta(Kind::F32, m.width));
            inputs.push(s);
            Op::Scaler { offset, scale }
        }
        ("ai.onnx.ml", "Imputer") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            if a.has("imputed_value_int64s") {
                return Err(a.err("only float imputation is supported"));
            }
            let values = a.floats("imputed_value_floats")?;
            if values.is_empty() {
                return Err(a.err("imputed_value_floats is required"));
            }
            check_len(node, "imputed_value_floats", values.len(), m.width)?;
            let replaced = a.float("replaced_value_float", 0.0)?;
            outs.push(meta(Kind::F32, m.width));
            inputs.push(s);
            Op::Imputer { values, replaced }
        }
        ("ai.onnx.ml", "Normalizer") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            let norm = match a.string("norm", "MAX")?.as_str() {
                "MAX" => Norm::Max,
                "L1" => Norm::L1,
                "L2" => Norm::L2,
                other => return Err(a.err(format!("unknown norm {other}"))),
            };
            outs.push(m.clone());
            inputs.push(s);
            Op::Normalizer(norm)
        }
        ("ai.onnx.ml", "Binarizer") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            outs.push(meta(Kind::F32, m.width));
            inputs.push(s);
            Op::Binarizer(a.float("threshold", 0.0)?)
        }
        ("ai.onnx.ml", "ZipMap") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            let labels = labels_attr(&a, "classlabels_int64s", "classlabels_strings")?;
            if let Some(w) = m.width {
                if w != labels.len() {
                    return Err(a.err(format!(
                        "{} class labels for {w} probability columns",
                        labels.len()
                    )));
                }
            }
            outs.push(Meta {
                kind: Kind::ZipMap,
                width: Some(labels.len()),
                class_labels: Some(labels.clone()),
            });
            inputs.push(s);
            Op::ZipMap(labels)
        }
        ("ai.onnx", "Identity") => {
            let (s, m) = b.input(node, 0)?;
            outs.push(m.clone());
            inputs.push(s);
            Op::Identity
        }
        ("ai.onnx", "Cast") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32, Kind::I64])?;
            let (to, kind) = match a.int("to", 0)? as i32 {
                data_type::FLOAT => (CastTo::Float, Kind::F32),
                data_type::INT64 => (CastTo::Int64, Kind::I64),
                other => {
                    return Err(a.err(format!(
                        "Cast to data type {other} is not supported (float and int64 are)"
                    )))
                }
            };
            let mut out = m.clone();
            out.kind = kind;
            if kind != Kind::F32 {
                out.class_labels = None;
            }
            outs.push(out);
            inputs.push(s);
            Op::Cast(to)
        }
        ("ai.onnx", "Concat") => {
            let axis = a.int("axis", 1)?;
            if axis != 1 && axis != -1 {
                return Err(a.err("only Concat along axis 1 is supported"));
            }
            let mut width = Some(0usize);
            let mut kind = None;
            for i in 0..node.input.len() {
                let (s, m) = b.input(node, i)?;
                // skl2onnx joins int64 columns before scaling them.
                expect_kind(node, m, &[*kind.get_or_insert(m.kind)])?;
                expect_kind(node, m, &[Kind::F32, Kind::I64])?;
                width = width.zip(m.width).map(|(x, y)| x + y);
                inputs.push(s);
            }
            let Some(kind) = kind else {
                return Err(a.err("Concat without inputs"));
            };
            outs.push(meta(kind, width));
            Op::Concat(axis)
        }
        ("ai.onnx", "ArgMax") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            let axis = a.int("axis", 0)?;
            if axis != 1 && axis != -1 || a.int("select_last_index", 0)? != 0 {
                return Err(a.err("only ArgMax along axis 1 (first index) is supported"));
            }
            let keepdims = a.int("keepdims", 1)? != 0;
            outs.push(meta(Kind::I64, if keepdims { Some(1) } else { None }));
            inputs.push(s);
            Op::ArgMax { keepdims }
        }
        ("ai.onnx", "Sigmoid") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            outs.push(meta(Kind::F32, m.width));
            inputs.push(s);
            Op::Sigmoid
        }
        ("ai.onnx", "Softmax") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            let axis = a.int("axis", -1)?;
            if axis != 1 && axis != -1 {
                return Err(a.err("only Softmax along the last axis of a 2-D tensor is supported"));
            }
            outs.push(meta(Kind::F32, m.width));
            inputs.push(s);
            Op::Softmax
        }
        ("ai.onnx", "Add" | "Sub" | "Mul" | "Div") => {
            let op = match op_type {
                "Add" => BinOp::Add,
                "Sub" => BinOp::Sub,
                "Mul" => BinOp::Mul,
                _ => BinOp::Div,
            };
            let (s0, m0) = b.input(node, 0)?;
            let (s1, m1) = b.input(node, 1)?;
            expect_kind(node, m0, &[Kind::F32])?;
            expect_kind(node, m1, &[Kind::F32])?;
            let width = match (m0.width, m1.width) {
                (Some(x), Some(y)) => Some(x.max(y)),
                _ => None,
            };
            outs.push(meta(Kind::F32, width));
            inputs.push(s0);
            inputs.push(s1);
            Op::Binary(op)
        }
        ("ai.onnx", "MatMul") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            let bt = b.const_value(node, 1)?;
            let (k, mm) = match bt.shape.as_slice() {
                [k, m] => (*k, *m),
                _ => return Err(a.err("MatMul B must be a 2-D constant")),
            };
            check_len(node, "MatMul B rows", k, m.width)?;
            let bv = bt.as_f32().map_err(|e| a.err(e))?.to_vec();
            outs.push(meta(Kind::F32, Some(mm)));
            inputs.push(s);
            Op::MatMul { b: bv, k, m: mm }
        }
        ("ai.onnx", "Gemm") => {
            let (s, m) = b.input(node, 0)?;
            expect_kind(node, m, &[Kind::F32])?;
            if a.int("transA", 0)? != 0 {
                return Err(a.err("Gemm with transA is not supported"));
            }
            let trans_b = a.int("transB", 0)? != 0;
            let bt = b.const_value(node, 1)?;
            let (k, mm) = match (bt.shape.as_slice(), trans_b) {
                ([r, c], false) => (*r, *c),
                ([r, c], true) => (*c, *r),
                _ => return Err(a.err("Gemm B must be a 2-D constant")),
            };
            check_len(node, "Gemm B", k, m.width)?;
            let bv = bt.as_f32().map_err(|e| a.err(e))?.to_vec();
            let c = if node.input.get(2).is_some_and(|n| !n.is_empty()) {
                let ct = b.const_value(node, 2)?;
                ct.as_f32().map_err(|e| a.err(e))?;
                Some(ct.clone())
            } else {
                None
            };
            outs.push(meta(Kind::F32, Some(mm)));
            inputs.push(s);
            Op::Gemm {
                alpha: a.float("alpha", 1.0)?,
                beta: a.float("beta", 1.0)?,
                b: bv,
                trans_b,
                k,
                m: mm,
                c,
            }
        }
        ("ai.onnx", "Reshape") => {
            let (s, m) = b.input(node, 0)?;
            if m.kind == Kind::ZipMap {
                return Err(a.err("cannot reshape a ZipMap output"));
            }
            let shape = match &b.const_value(node, 1)?.data {
                Data::I64(v) => v.clone(),
                _ => return Err(a.err("Reshape shape must be an int64 constant")),
            };
            let width = match shape.as_slice() {
                [_, w] if *w > 0 => Some(*w as usize),
                _ => None,
            };
            let mut out = meta(m.kind, width);
            if width == m.width {
                out.class_labels = m.class_labels.clone();
            }
            outs.push(out);
            inputs.push(s);
            Op::Reshape(shape)
        }
        ("ai.onnx", "Gather") => {
            let (s, m) = b.input(node, 0)?;
            if m.kind == Kind::ZipMap {
                return Err(a.err("cannot gather from a ZipMap output"));
            }
            if a.int("axis", 0)? != 1 {
                return Err(a.err("only Gather along axis 1 (columns) is supported"));
            }
            let it = b.const_value(node, 1)?;
            let (indices, scalar) = match (&it.data, it.shape.len()) {
                (Data::I64(v), 0) => (v.clone(), true),
                (Data::I64(v), 1) => (v.clone(), false),
                _ => return Err(a.err("Gather indices must be a 0-D or 1-D int64 constant")),
            };
            if let Some(w) = m.width {
                if indices.iter().any(|&i| i >= w as i64 || i < -(w as i64)) {
                    return Err(a.err(format!("Gather index outside the {w} input columns")));
                }
            }
            outs.push(meta(
                m.kind,
                if scalar { None } else { Some(indices.len()) },
            ));
            inputs.push(s);
            Op::GatherCols { indices, scalar }
        }
        ("ai.onnx.ml", "OneHotEncoder") => {
            let (s, m) = b.input(node, 0)?;
            let cats = labels_attr(&a, "cats_int64s", "cats_strings")?;
            match (&cats, m.kind) {
                (Labels::String(_), Kind::Str) | (Labels::Int64(_), Kind::I64 | Kind::F32) => {}
                _ => return Err(a.err("input type does not match the categories")),
            }
            outs.push(meta(Kind::F32, None));
            inputs.push(s);
            Op::OneHot {
                cats,
                zeros: a.int("zeros", 1)? != 0,
            }
        }
        ("ai.onnx", "Flatten") => {
            let (s, m) = b.input(node, 0)?;
            if m.kind == Kind::ZipMap {
                return Err(a.err("cannot flatten a ZipMap output"));
            }
            let axis = a.int("axis", 1)?;
            if !(0..=8).contains(&axis) {
                return Err(a.err("negative Flatten axis is not supported"));
            }
            outs.push(meta(m.kind, None));
            inputs.push(s);
            Op::Flatten(axis as usize)
        }
        _ => return Err(unsupported()),
    };
    if node.output.len() > outs.len() {
        return Err(a.err(format!(
            "{} outputs, the operator has {}",
            node.output.len(),
            outs.len()
        )));
    }
    let mut outputs = Vec::new();
    for (i, m) in outs.into_iter().enumerate() {
        outputs.push(b.define(node, i, m)?);
    }
    Ok(Some(Step {
        name: node.name.clone(),
        op_type: node.op_type.clone(),
        op,
        inputs,
        outputs,
    }))
}
