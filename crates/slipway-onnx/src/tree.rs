//! ONNX-ML `TreeEnsembleClassifier` / `TreeEnsembleRegressor`, evaluated as
//! onnxruntime's CPU kernel does (tree_ensemble_common.h,
//! tree_ensemble_aggregator.h): thresholds compared in the threshold type
//! (f32, or f64 for the `*_as_tensor` attributes), leaf weights summed in that
//! type in tree order, base values added, then the post-transform in f32, with
//! onnxruntime's conventions for binary classifiers that carry weights for one
//! class only.

use std::collections::HashMap;
use std::ops::{Add, Div, Neg};

use crate::attrs::Attrs;
use crate::ops::{post_transform_scores, PostTransform};
use crate::{Labels, OnnxError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => Mode::Leaf,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

#[derive(Debug, Clone)]
struct Node {
    threshold: f64,
    feature: u32,
    mode: Mode,
    missing_true: bool,
    true_idx: u32,
    false_idx: u32,
    w_start: u32,
    w_len: u32,
}

/// A number type trees accumulate in: f32, or f64 for double thresholds.
pub(crate) trait Real:
    Copy + PartialOrd + Add<Output = Self> + Div<Output = Self> + Neg<Output = Self> + Default
{
    fn from_f64(v: f64) -> Self;
    fn to_f32(self) -> f32;
    fn from_usize(v: usize) -> Self;
}

impl Real for f32 {
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn from_usize(v: usize) -> f32 {
        v as f32
    }
}

impl Real for f64 {
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn from_usize(v: usize) -> f64 {
        v as f64
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TreeEnsemble {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    /// (output index, weight) of every leaf, in attribute order.
    weights: Vec<(u32, f64)>,
    base_values: Vec<f64>,
    pub post: PostTransform,
    aggregate: Aggregate,
    /// Classes (classifier) or targets (regressor).
    pub n_outputs: usize,
    /// Thresholds and weights came as double tensors: compare and sum in f64.
    double: bool,
    /// Smallest number of input columns the trees read.
    pub n_features: usize,
    has_missing_tracks: bool,
    all_leq: bool,
    // classifier only
    pub class_labels: Option<Labels>,
    binary_case: bool,
    weights_all_positive: bool,
}

impl TreeEnsemble {
    pub fn compile(a: &Attrs, classifier: bool) -> Result<TreeEnsemble, OnnxError> {
        let tree_ids = a.ints("nodes_treeids")?;
        let node_ids = a.ints("nodes_nodeids")?;
        let feature_ids = a.ints("nodes_featureids")?;
        let modes = a.strings("nodes_modes")?;
        let true_ids = a.ints("nodes_truenodeids")?;
        let false_ids = a.ints("nodes_falsenodeids")?;
        let missing = a.ints("nodes_missing_value_tracks_true")?;
        let (values, values_double) = a.floats_or_tensor("nodes_values")?;
        let (base_values, base_double) = a.floats_or_tensor("base_values")?;
        let post = PostTransform::parse(&a.string("post_transform", "NONE")?)
            .ok_or_else(|| a.err("unknown post_transform"))?;
        let prefix = if classifier { "class" } else { "target" };
        let w_ids = a.ints(&format!("{prefix}_ids"))?;
        let w_nodes = a.ints(&format!("{prefix}_nodeids"))?;
        let w_trees = a.ints(&format!("{prefix}_treeids"))?;
        let (w_values, w_double) = a.floats_or_tensor(&format!("{prefix}_weights"))?;
        // nodes_hitrates(_as_tensor) are ignored, as onnxruntime does

        let n = tree_ids.len();
        if n == 0 {
            return Err(a.err("no tree nodes"));
        }
        for (name, len) in [
            ("nodes_nodeids", node_ids.len()),
            ("nodes_featureids", feature_ids.len()),
            ("nodes_modes", modes.len()),
            ("nodes_truenodeids", true_ids.len()),
            ("nodes_falsenodeids", false_ids.len()),
            ("nodes_values", values.len()),
        ] {
            if len != n {
                return Err(a.err(format!("{name} has {len} entries, nodes_treeids has {n}")));
            }
        }
        if !missing.is_empty() && missing.len() != n {
            return Err(a.err(format!(
                "nodes_missing_value_tracks_true has {} entries for {n} nodes",
                missing.len()
            )));
        }
        let nw = w_ids.len();
        if w_nodes.len() != nw || w_trees.len() != nw || w_values.len() != nw {
            return Err(a.err(format!(
                "{prefix}_ids/_nodeids/_treeids/_weights have different lengths"
            )));
        }
        if n > u32::MAX as usize / 2 || nw > u32::MAX as usize / 2 {
            return Err(a.err("too many nodes"));
        }

        let (n_outputs, class_labels, aggregate) = if classifier {
            let ints = a.ints("classlabels_int64s")?;
            let strings = a.strings("classlabels_strings")?;
            let labels = match (ints.is_empty(), strings.is_empty()) {
                (false, true) => Labels::Int64(ints),
                (true, false) => Labels::String(strings),
                _ => {
                    return Err(
                        a.err("exactly one of classlabels_int64s, classlabels_strings must be set")
                    )
                }
            };
            (labels.len(), Some(labels), Aggregate::Sum)
        } else {
            let t = a.int("n_targets", 1)?;
            if !(1..=100_000).contains(&t) {
                return Err(a.err(format!("n_targets {t} out of range")));
            }
            let agg = match a.string("aggregate_function", "SUM")?.as_str() {
                "SUM" => Aggregate::Sum,
                "AVERAGE" => Aggregate::Average,
                "MIN" => Aggregate::Min,
                "MAX" => Aggregate::Max,
                other => return Err(a.err(format!("unknown aggregate_function {other}"))),
            };
            (t as usize, None, agg)
        };
        if n_outputs == 0 {
            return Err(a.err("no classes"));
        }
        if classifier && n_outputs > 2 && base_values.len() > n_outputs
            || !classifier && ![0, 1, n_outputs].contains(&base_values.len())
            || classifier && n_outputs <= 2 && base_values.len() > 2
        {
            return Err(a.err(format!(
                "{} base_values for {n_outputs} outputs",
                base_values.len()
            )));
        }

        // nodes, indexed by (tree id, node id)
        let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(n);
        let mut nodes = Vec::with_capacity(n);
        let mut max_feature: i64 = -1;
        for i in 0..n {
            let mode = Mode::parse(&modes[i])
                .ok_or_else(|| a.err(format!("unknown node mode '{}'", modes[i])))?;
            if index.insert((tree_ids[i], node_ids[i]), i as u32).is_some() {
                return Err(a.err(format!(
                    "node {} of tree {} is defined twice",
                    node_ids[i], tree_ids[i]
                )));
            }
            let feature = feature_ids[i];
            if mode != Mode::Leaf {
                if !(0..=i64::from(u32::MAX) / 2).contains(&feature) {
                    return Err(a.err(format!("feature id {feature} out of range")));
                }
                max_feature = max_feature.max(feature);
            }
            nodes.push(Node {
                threshold: values[i],
                feature: if mode == Mode::Leaf {
                    0
                } else {
                    feature as u32
                },
                mode,
                missing_true: missing.get(i).copied().unwrap_or(0) == 1,
                true_idx: 0,
                false_idx: 0,
                w_start: 0,
                w_len: 0,
            });
        }
        for i in 0..n {
            if nodes[i].mode == Mode::Leaf {
                continue;
            }
            for (target, is_true) in [(true_ids[i], true), (false_ids[i], false)] {
                let j = *index.get(&(tree_ids[i], target)).ok_or_else(|| {
                    a.err(format!(
                        "node {} of tree {} points to missing node {target}",
                        node_ids[i], tree_ids[i]
                    ))
                })?;
                if j as usize == i {
                    return Err(a.err(format!("node {} points to itself", node_ids[i])));
                }
                if is_true {
                    nodes[i].true_idx = j;
                } else {
                    nodes[i].false_idx = j;
                }
            }
        }
        // roots: the first node of each run of equal tree ids (as onnxruntime)
        let mut roots = Vec::new();
        for i in 0..n {
            if i == 0 || tree_ids[i] != tree_ids[i - 1] {
                roots.push(i as u32);
            }
        }
        // leaf weights, grouped per node in attribute order
        let mut per_node: Vec<Vec<(u32, f64)>> = vec![Vec::new(); n];
        let mut classes_seen = std::collections::HashSet::new();
        let mut all_positive = true;
        for k in 0..nw {
            let j = *index.get(&(w_trees[k], w_nodes[k])).ok_or_else(|| {
                a.err(format!(
                    "weight {k} refers to missing node {} of tree {}",
                    w_nodes[k], w_trees[k]
                ))
            })?;
            let id = w_ids[k];
            if id < 0 || id as usize >= n_outputs {
                return Err(a.err(format!("{prefix}_ids has {id}, outside 0..{n_outputs}")));
            }
            classes_seen.insert(id);
            if w_values[k] < 0.0 {
                all_positive = false;
            }
            per_node[j as usize].push((id as u32, w_values[k]));
        }
        let mut weights = Vec::with_capacity(nw);
        for (node, ws) in nodes.iter_mut().zip(per_node) {
            node.w_start = weights.len() as u32;
            node.w_len = ws.len() as u32;
            weights.extend(ws);
        }
        // every tree must be finite: no cycles, bounded depth
        let mut state = vec![0u8; n]; // 0 new, 1 on the path, 2 done
        for &r in &roots {
            check_acyclic(&nodes, r as usize, &mut state).map_err(|e| a.err(e))?;
        }

        let double = values_double || w_double || base_double;
        let binary_case = classifier && n_outputs == 2 && classes_seen.len() == 1;
        if binary_case && post == PostTransform::Probit {
            return Err(
                a.err("PROBIT on a binary classifier with weights for one class is not supported")
            );
        }
        let all_leq = nodes
            .iter()
            .all(|nd| nd.mode == Mode::Leq || nd.mode == Mode::Leaf);
        Ok(TreeEnsemble {
            has_missing_tracks: nodes.iter().any(|nd| nd.missing_true),
            nodes,
            roots,
            weights,
            base_values,
            post,
            aggregate,
            n_outputs,
            double,
            n_features: (max_feature + 1) as usize,
            all_leq,
            class_labels,
            binary_case,
            weights_all_positive: all_positive,
        })
    }

    #[inline]
    fn leaf(&self, root: u32, row: &[f32]) -> &Node {
        let nodes = &self.nodes;
        let mut node = &nodes[root as usize];
        if self.all_leq && !self.has_missing_tracks {
            while node.mode != Mode::Leaf {
                let x = f64::from(row[node.feature as usize]);
                node = &nodes[if x <= node.threshold {
                    node.true_idx
                } else {
                    node.false_idx
                } as usize];
            }
            return node;
        }
        while node.mode != Mode::Leaf {
            let x = f64::from(row[node.feature as usize]);
            let t = node.threshold;
            let go = match node.mode {
                Mode::Leq => x <= t,
                Mode::Lt => x < t,
                Mode::Gte => x >= t,
                Mode::Gt => x > t,
                Mode::Eq => x == t,
                Mode::Neq => x != t,
                Mode::Leaf => false,
            } || (node.missing_true && x.is_nan());
            node = &nodes[if go { node.true_idx } else { node.false_idx } as usize];
        }
        node
    }

    fn leaf_weights(&self, node: &Node) -> &[(u32, f64)] {
        &self.weights[node.w_start as usize..(node.w_start + node.w_len) as usize]
    }

    /// Regressor: `[n_rows, n_targets]` values.
    pub fn regress(&self, x: &[f32], n_rows: usize, n_cols: usize) -> Vec<f32> {
        if self.double {
            self.regress_t::<f64>(x, n_rows, n_cols)
        } else {
            self.regress_t::<f32>(x, n_rows, n_cols)
        }
    }

    fn regress_t<T: Real>(&self, x: &[f32], n_rows: usize, n_cols: usize) -> Vec<f32> {
        let nt = self.n_outputs;
        let mut out = vec![0f32; n_rows * nt];
        let n_trees = T::from_usize(self.roots.len());
        let base: Vec<T> = self.base_values.iter().map(|&b| T::from_f64(b)).collect();
        let use_base = base.len() == nt;
        let mut scores: Vec<(T, bool)> = vec![(T::default(), false); nt];
        for r in 0..n_rows {
            let row = &x[r * n_cols..(r + 1) * n_cols];
            if nt == 1 {
                let origin = if base.len() == 1 {
                    base[0]
                } else {
                    T::default()
                };
                let mut s = (T::default(), false);
                for &root in &self.roots {
                    let leaf = self.leaf(root, row);
                    let mut w = T::default();
                    for &(_, v) in self.leaf_weights(leaf) {
                        w = w + T::from_f64(v);
                    }
                    s = match self.aggregate {
                        Aggregate::Sum | Aggregate::Average => (s.0 + w, true),
                        Aggregate::Min => (if !s.1 || w < s.0 { w } else { s.0 }, true),
                        Aggregate::Max => (if !s.1 || w > s.0 { w } else { s.0 }, true),
                    };
                }
                let v = match self.aggregate {
                    Aggregate::Sum => s.0 + origin,
                    Aggregate::Average => s.0 / n_trees + origin,
                    Aggregate::Min | Aggregate::Max => {
                        if s.1 {
                            s.0 + origin
                        } else {
                            origin
                        }
                    }
                };
                out[r] = if self.post == PostTransform::Probit {
                    crate::ops::probit(v.to_f32())
                } else {
                    v.to_f32()
                };
                continue;
            }
            scores.iter_mut().for_each(|s| *s = (T::default(), false));
            for &root in &self.roots {
                let leaf = self.leaf(root, row);
                for &(t, v) in self.leaf_weights(leaf) {
                    let s = &mut scores[t as usize];
                    let w = T::from_f64(v);
                    s.0 = match self.aggregate {
                        Aggregate::Sum | Aggregate::Average => s.0 + w,
                        Aggregate::Min => {
                            if !s.1 || w < s.0 {
                                w
                            } else {
                                s.0
                            }
                        }
                        Aggregate::Max => {
                            if !s.1 || w > s.0 {
                                w
                            } else {
                                s.0
                            }
                        }
                    };
                    s.1 = true;
                }
            }
            let o = &mut out[r * nt..(r + 1) * nt];
            for (k, (s, has)) in scores.iter().enumerate() {
                let b = if use_base { base[k] } else { T::default() };
                let v = match self.aggregate {
                    Aggregate::Sum => *s + b,
                    Aggregate::Average => *s / n_trees + b,
                    Aggregate::Min | Aggregate::Max => b + if *has { *s } else { T::default() },
                };
                o[k] = v.to_f32();
            }
            post_transform_scores(o, self.post);
        }
        out
    }

    /// Classifier: label index per row, and `[n_rows, n_classes]` scores.
    pub fn classify(&self, x: &[f32], n_rows: usize, n_cols: usize) -> (Vec<usize>, Vec<f32>) {
        if self.double {
            self.classify_t::<f64>(x, n_rows, n_cols)
        } else {
            self.classify_t::<f32>(x, n_rows, n_cols)
        }
    }

    fn classify_t<T: Real>(
        &self,
        x: &[f32],
        n_rows: usize,
        n_cols: usize,
    ) -> (Vec<usize>, Vec<f32>) {
        let nc = self.n_outputs;
        let mut labels = Vec::with_capacity(n_rows);
        let mut out = vec![0f32; n_rows * nc];
        let base: Vec<T> = self.base_values.iter().map(|&b| T::from_f64(b)).collect();
        let mut preds: Vec<(T, bool)> = Vec::with_capacity(nc);
        for r in 0..n_rows {
            let row = &x[r * n_cols..(r + 1) * n_cols];
            preds.clear();
            preds.resize(nc, (T::default(), false));
            for &root in &self.roots {
                let leaf = self.leaf(root, row);
                for &(c, v) in self.leaf_weights(leaf) {
                    let p = &mut preds[c as usize];
                    p.0 = p.0 + T::from_f64(v);
                    p.1 = true;
                }
            }
            let o = &mut out[r * nc..(r + 1) * nc];
            labels.push(self.finalize_classifier(&mut preds, &base, o));
        }
        (labels, out)
    }

    /// onnxruntime's TreeAggregatorClassifier::FinalizeScores + write_scores.
    fn finalize_classifier<T: Real>(
        &self,
        preds: &mut Vec<(T, bool)>,
        base: &[T],
        out: &mut [f32],
    ) -> usize {
        if self.n_outputs > 2 {
            for (k, &b) in base.iter().enumerate() {
                let p = &mut preds[k];
                if p.1 {
                    p.0 = p.0 + b;
                } else {
                    *p = (b, true);
                }
            }
            let mut maxclass: Option<usize> = None;
            let mut maxweight = T::default();
            for (i, &(s, has)) in preds.iter().enumerate() {
                if has && (maxclass.is_none() || s > maxweight) {
                    maxclass = Some(i);
                    maxweight = s;
                }
            }
            for (o, p) in out.iter_mut().zip(preds.iter()) {
                *o = p.0.to_f32();
            }
            post_transform_scores(out, self.post);
            return maxclass.unwrap_or(0);
        }
        // binary
        let mut add_second: i32 = -1;
        match base.len() {
            2 => {
                if preds[1].1 {
                    // onnxruntime: base_values[0] is not used
                    preds[1].0 = base[1] + preds[0].0;
                    preds[0].0 = -preds[1].0;
                } else {
                    preds[1].0 = preds[1].0 + base[1];
                    preds[0].0 = preds[0].0 + base[0];
                }
            }
            1 => {
                preds[0].0 = preds[0].0 + base[0];
                if !preds[1].1 {
                    preds.pop();
                }
            }
            _ => {
                add_second = 3;
                if !preds[1].1 {
                    preds.pop();
                }
            }
        }
        let (s0, h0) = preds[0];
        let (s1, h1) = if preds.len() == 2 && preds[1].1 {
            preds[1]
        } else {
            (T::default(), false)
        };
        let pos_weight = if h1 {
            s1
        } else if h0 {
            s0
        } else {
            T::default()
        };
        let label = if self.binary_case {
            if self.weights_all_positive {
                if pos_weight > T::from_f64(0.5) {
                    add_second = 0;
                    1
                } else {
                    add_second = 1;
                    0
                }
            } else if pos_weight > T::default() {
                add_second = 2;
                1
            } else {
                add_second = 3;
                0
            }
        } else if pos_weight > T::default() {
            1
        } else {
            0
        };
        if preds.len() == 2 {
            out[0] = preds[0].0.to_f32();
            out[1] = preds[1].0.to_f32();
            post_transform_scores(out, self.post);
        } else {
            let s = preds[0].0.to_f32();
            let logistic = self.post == PostTransform::Logistic;
            let (a, b) = match add_second {
                0 | 1 => (1.0 - s, s),
                2 | 3 if logistic => (crate::ops::logistic(-s), crate::ops::logistic(s)),
                2 => (-s, s),
                3 => (s, -s),
                _ => (s, 0.0),
            };
            out[0] = a;
            out[1] = b;
        }
        label
    }
}

fn check_acyclic(nodes: &[Node], root: usize, state: &mut [u8]) -> Result<(), String> {
    // iterative DFS; a node reached twice within one tree is fine (a DAG), a cycle is not
    let mut stack = vec![(root, false)];
    while let Some((i, leaving)) = stack.pop() {
        if leaving {
            state[i] = 2;
            continue;
        }
        match state[i] {
            2 => continue,
            1 => return Err("the trees contain a cycle".into()),
            _ => {}
        }
        state[i] = 1;
        stack.push((i, true));
        if stack.len() > 100_000 {
            return Err("tree too deep".into());
        }
        let nd = &nodes[i];
        if nd.mode != Mode::Leaf {
            for j in [nd.true_idx as usize, nd.false_idx as usize] {
                if state[j] == 1 {
                    return Err("the trees contain a cycle".into());
                }
                if state[j] == 0 {
                    stack.push((j, false));
                }
            }
        }
    }
    Ok(())
}
