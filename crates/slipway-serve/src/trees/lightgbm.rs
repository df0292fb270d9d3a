//! LightGBM's text model (`Booster.save_model`; `mlflow.lightgbm` writes a
//! Booster as `model.lgb`), scored as LightGBM's C++ predictor scores a dense
//! row: `f64` thresholds compared with the `f64` input, leaf values added in
//! `f64` in tree order, then the objective's output transform. Written here
//! (not taken from a crate) because none measured both exact and complete:
//! `hessboost` rounds leaves and thresholds to `f32` (3.4e-3 off), `bosk`
//! refuses multiclass models. LightGBM's rules followed (4.x, `tree.h`,
//! `c_api.cpp`, `objective/*.hpp`):
//! - a dense input with `|x| <= 1e-35` is read as 0 (the C API drops such
//!   entries before the trees);
//! - numerical split: `NaN` is read as 0 unless the node's missing type is
//!   `NaN`; a missing value (type `Zero`: `|x| <= 1e-35`; type `NaN`: `NaN`)
//!   takes the default direction; otherwise `x <= threshold` goes left;
//! - categorical split: `NaN` and negative values go right; otherwise the
//!   integer part is looked up in the node's bitset (found: left);
//! - `average_output` (random forest) divides the sums by the iterations.
//!
//! Refused at load, naming why: linear trees, `pandas_categorical` models
//! (their inputs are strings recoded by pandas), unknown objectives or
//! objective parameters, anything malformed.

use super::TreeError;

/// LightGBM's `kZeroThreshold` (`1e-35f`, a float literal widened).
const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// The prediction transform of the model's objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Transform {
    /// Raw scores: the regression family, ranking, custom objectives.
    Identity,
    /// `sign(x) * x * x`: regression trained with `reg_sqrt`.
    Sqrt,
    /// `1 / (1 + exp(-k x))`: `binary` (`sigmoid:k`), `cross_entropy` (k=1).
    Sigmoid(f64),
    /// `log(1 + exp(x))`: `cross_entropy_lambda`.
    Log1pExp,
    /// `exp(x)`: `poisson`, `gamma`, `tweedie`.
    Exp,
    /// Softmax across the classes: `multiclass`.
    Softmax,
    /// A sigmoid per class (not normalised): `multiclassova`.
    SigmoidPerClass(f64),
}

/// What the objective's predictions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One probability per row (`binary`).
    Binary,
    /// One probability per class (`multiclass`, `multiclassova`).
    Multiclass,
    /// One value per row.
    Value,
}

/// An internal node, laid out together (one cache line holds two).
#[derive(Debug, Clone, Copy)]
struct Node {
    /// The split value; a categorical node's category set index.
    threshold: f64,
    feature: u32,
    /// Children: a node index, or `!leaf` (negative) for a leaf.
    left: i32,
    right: i32,
    /// LightGBM's `decision_type`: bit 0 categorical, bit 1 default left,
    /// bits 2-3 the missing type (0 none, 1 zero, 2 NaN).
    decision_type: u8,
}

#[derive(Debug)]
struct Tree {
    /// Internal nodes (`num_leaves - 1`), checked at load: features in
    /// range, children in range, every node reached once from the root.
    nodes: Vec<Node>,
    leaf_value: Vec<f64>,
    cat_boundaries: Vec<u32>,
    cat_threshold: Vec<u32>,
}

impl Tree {
    #[inline]
    fn predict(&self, row: &[f64]) -> f64 {
        if self.nodes.is_empty() {
            return self.leaf_value[0];
        }
        let mut i: i32 = 0;
        while i >= 0 {
            let node = &self.nodes[i as usize];
            let x = row[node.feature as usize];
            i = if node.decision_type & 1 != 0 {
                self.categorical(node, x)
            } else {
                numerical(node, x)
            };
        }
        self.leaf_value[!i as usize]
    }

    #[inline]
    fn categorical(&self, node: &Node, x: f64) -> i32 {
        if x.is_nan() {
            return node.right;
        }
        // C++'s int cast; out-of-range values go right either way.
        let category = x as i64;
        if category < 0 || category > i64::from(i32::MAX) {
            return node.right;
        }
        let set = node.threshold as usize;
        let (lo, hi) = (
            self.cat_boundaries[set] as usize,
            self.cat_boundaries[set + 1] as usize,
        );
        let word = (category / 32) as usize;
        if word < hi - lo && (self.cat_threshold[lo + word] >> (category % 32)) & 1 == 1 {
            node.left
        } else {
            node.right
        }
    }
}

#[inline]
fn numerical(node: &Node, mut x: f64) -> i32 {
    let dt = node.decision_type;
    let missing_type = (dt >> 2) & 3;
    if x.is_nan() && missing_type != 2 {
        x = 0.0;
    }
    let missing = (missing_type == 1 && (-ZERO_THRESHOLD..=ZERO_THRESHOLD).contains(&x))
        || (missing_type == 2 && x.is_nan());
    if missing {
        if dt & 2 != 0 {
            node.left
        } else {
            node.right
        }
    } else if x <= node.threshold {
        node.left
    } else {
        node.right
    }
}

/// A loaded LightGBM model.
#[derive(Debug)]
pub(crate) struct LightGbm {
    trees: Vec<Tree>,
    /// Trees per iteration: the classes of a multiclass model, else 1.
    outputs: usize,
    n_features: usize,
    average_output: bool,
    transform: Transform,
    pub(crate) kind: Kind,
    pub(crate) objective: String,
    pub(crate) feature_names: Vec<String>,
}

impl LightGbm {
    pub(crate) fn n_features(&self) -> usize {
        self.n_features
    }

    /// Values per row: the classes of a multiclass model, else 1.
    pub(crate) fn outputs(&self) -> usize {
        self.outputs
    }

    /// A row as LightGBM's C API hands dense rows to the trees: entries
    /// with `|x| <= kZeroThreshold` are dropped, i.e. read as 0.
    #[inline]
    pub(crate) fn prepare(x: f64) -> f64 {
        if (-ZERO_THRESHOLD..=ZERO_THRESHOLD).contains(&x) {
            0.0
        } else {
            x
        }
    }

    /// Scores one row (`n_features` values, `NaN` missing, each through
    /// [`LightGbm::prepare`]) into `out` (`outputs` values), as
    /// `Booster.predict` does.
    pub(crate) fn predict_row(&self, row: &[f64], out: &mut [f64]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        let k = self.outputs;
        if k == 1 {
            out[0] = self
                .trees
                .iter()
                .fold(0.0, |sum, tree| sum + tree.predict(row));
        } else {
            for (t, tree) in self.trees.iter().enumerate() {
                out[t % k] += tree.predict(row);
            }
        }
        if self.average_output {
            let iterations = (self.trees.len() / k) as f64;
            out.iter_mut().for_each(|o| *o /= iterations);
        }
        match self.transform {
            Transform::Identity => {}
            Transform::Sqrt => {
                for o in out.iter_mut() {
                    let sign = if *o > 0.0 {
                        1.0
                    } else if *o < 0.0 {
                        -1.0
                    } else {
                        0.0
                    };
                    *o = sign * *o * *o;
                }
            }
            Transform::Sigmoid(s) | Transform::SigmoidPerClass(s) => {
                for o in out.iter_mut() {
                    *o = 1.0 / (1.0 + (-s * *o).exp());
                }
            }
            Transform::Log1pExp => out.iter_mut().for_each(|o| *o = o.exp().ln_1p()),
            Transform::Exp => out.iter_mut().for_each(|o| *o = o.exp()),
            Transform::Softmax => {
                let max = out.iter().copied().fold(out[0], f64::max);
                let mut sum = 0.0;
                for o in out.iter_mut() {
                    *o = (*o - max).exp();
                    sum += *o;
                }
                out.iter_mut().for_each(|o| *o /= sum);
            }
        }
    }

    /// Parses a LightGBM text model.
    pub(crate) fn parse(text: &str) -> Result<LightGbm, TreeError> {
        let malformed = |m: String| TreeError::Malformed(m);
        let mut lines = text.lines().enumerate().peekable();
        match lines.next() {
            Some((_, first)) if first.trim() == "tree" => {}
            _ => {
                return Err(malformed(
                    "not a LightGBM text model (the first line is not `tree`)".into(),
                ))
            }
        }
        // Header: key=value lines up to the first tree.
        let mut header = std::collections::HashMap::new();
        while let Some(&(_, line)) = lines.peek() {
            if line.starts_with("Tree=") || line.starts_with("end of trees") {
                break;
            }
            lines.next();
            // `average_output` is a bare flag.
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            if !k.trim().is_empty() {
                header.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        let get = |k: &str| header.get(k).map(String::as_str);
        let count = |k: &str| -> Result<usize, TreeError> {
            let v = get(k).ok_or_else(|| malformed(format!("the header has no `{k}`")))?;
            v.parse()
                .map_err(|_| malformed(format!("`{k}={v}` is not a count")))
        };
        if let Some(v) = get("version") {
            if v != "v4" && v != "v3" && v != "v2" {
                return Err(TreeError::Unsupported(format!(
                    "LightGBM model version `{v}` (v2 to v4 are read)"
                )));
            }
        }
        let n_features = count("max_feature_idx")? + 1;
        let num_class = count("num_class")?;
        let outputs = match get("num_tree_per_iteration") {
            Some(_) => count("num_tree_per_iteration")?,
            None => num_class,
        };
        if outputs == 0 || num_class == 0 {
            return Err(malformed(
                "`num_class` and `num_tree_per_iteration` must be at least 1".into(),
            ));
        }
        let objective = get("objective").unwrap_or("custom").to_string();
        let (transform, kind) = parse_objective(&objective, num_class)?;
        let expected_outputs = if kind == Kind::Multiclass {
            num_class
        } else {
            1
        };
        if outputs != expected_outputs {
            return Err(malformed(format!(
                "{outputs} trees per iteration for objective `{objective}` (expected {expected_outputs})"
            )));
        }
        let feature_names: Vec<String> = get("feature_names")
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        if !feature_names.is_empty() && feature_names.len() != n_features {
            return Err(malformed(format!(
                "{} feature names for {n_features} features",
                feature_names.len()
            )));
        }
        let average_output = header.contains_key("average_output");

        // Trees, until "end of trees".
        let mut trees = Vec::new();
        let mut ended = false;
        while let Some((lineno, line)) = lines.next() {
            if line.starts_with("end of trees") {
                ended = true;
                break;
            }
            let Some(id) = line.strip_prefix("Tree=") else {
                continue;
            };
            let mut fields = std::collections::HashMap::new();
            while let Some(&(_, l)) = lines.peek() {
                if l.starts_with("Tree=") || l.starts_with("end of trees") {
                    break;
                }
                lines.next();
                if let Some((k, v)) = l.split_once('=') {
                    fields.insert(k.trim(), v.trim());
                }
            }
            let tree = parse_tree(&fields, n_features)
                .map_err(|m| malformed(format!("tree {id} (line {}): {m}", lineno + 1)))?;
            trees.push(tree);
        }
        if !ended {
            return Err(malformed(
                "no `end of trees` line: the file is truncated".into(),
            ));
        }
        if trees.is_empty() || trees.len() % outputs != 0 {
            return Err(malformed(format!(
                "{} trees do not make whole iterations of {outputs}",
                trees.len()
            )));
        }
        // The trailer: a pandas categorical mapping means string inputs.
        for (_, line) in lines {
            if let Some(v) = line.strip_prefix("pandas_categorical:") {
                let v = v.trim();
                if !(v.is_empty() || v == "null" || v == "[]") {
                    return Err(TreeError::Unsupported(
                        "the model was trained on pandas `category` columns (`pandas_categorical` in \
                         the model file): its inputs are strings recoded by pandas; train on integer \
                         codes (categorical_feature=[...]) to serve it natively"
                            .into(),
                    ));
                }
            }
        }
        Ok(LightGbm {
            trees,
            outputs,
            n_features,
            average_output,
            transform,
            kind,
            objective,
            feature_names,
        })
    }
}

/// The transform and kind of an `objective=` line, e.g. `binary sigmoid:1`.
fn parse_objective(line: &str, num_class: usize) -> Result<(Transform, Kind), TreeError> {
    let mut tokens = line.split_whitespace();
    let name = tokens.next().unwrap_or("custom");
    let mut sigmoid = 1.0;
    let mut sqrt = false;
    for token in tokens {
        if let Some(v) = token.strip_prefix("sigmoid:") {
            sigmoid = v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .ok_or_else(|| TreeError::Malformed(format!("objective `{line}`: bad sigmoid")))?;
        } else if token == "sqrt" {
            sqrt = true;
        } else if let Some(v) = token.strip_prefix("num_class:") {
            if v.parse::<usize>().ok() != Some(num_class) {
                return Err(TreeError::Malformed(format!(
                    "objective `{line}` disagrees with num_class={num_class}"
                )));
            }
        } else {
            // An unknown token may change the transform: refuse rather
            // than mispredict.
            return Err(TreeError::Unsupported(format!(
                "objective `{line}`: unknown parameter `{token}`"
            )));
        }
    }
    let single = |t: Transform| -> Result<(Transform, Kind), TreeError> {
        if num_class != 1 {
            return Err(TreeError::Malformed(format!(
                "objective `{name}` with num_class={num_class}"
            )));
        }
        Ok((t, Kind::Value))
    };
    let regression = if sqrt {
        Transform::Sqrt
    } else {
        Transform::Identity
    };
    match name {
        "binary" => single(Transform::Sigmoid(sigmoid)).map(|(t, _)| (t, Kind::Binary)),
        "multiclass" | "softmax" => Ok((Transform::Softmax, Kind::Multiclass)),
        "multiclassova" | "multiclass_ova" | "ova" | "ovr" => {
            Ok((Transform::SigmoidPerClass(sigmoid), Kind::Multiclass))
        }
        "regression"
        | "regression_l2"
        | "l2"
        | "mean_squared_error"
        | "mse"
        | "regression_l1"
        | "l1"
        | "mean_absolute_error"
        | "mae"
        | "huber"
        | "fair"
        | "quantile"
        | "mape"
        | "mean_absolute_percentage_error" => single(regression),
        "poisson" | "gamma" | "tweedie" => single(Transform::Exp),
        "cross_entropy" | "xentropy" => single(Transform::Sigmoid(1.0)),
        "cross_entropy_lambda" | "xentlambda" => single(Transform::Log1pExp),
        "lambdarank" | "rank_xendcg" | "xendcg" | "custom" | "none" => single(Transform::Identity),
        other => Err(TreeError::Unsupported(format!(
            "LightGBM objective `{other}`"
        ))),
    }
}

fn numbers<T: std::str::FromStr>(
    fields: &std::collections::HashMap<&str, &str>,
    key: &str,
    len: usize,
) -> Result<Vec<T>, String> {
    let Some(text) = fields.get(key) else {
        return if len == 0 {
            Ok(Vec::new())
        } else {
            Err(format!("no `{key}`"))
        };
    };
    let values: Vec<T> = text
        .split_whitespace()
        .map(|s| s.parse::<T>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{key}` holds a value that is not a number"))?;
    if values.len() != len {
        return Err(format!(
            "`{key}` has {} values, expected {len}",
            values.len()
        ));
    }
    Ok(values)
}

fn parse_tree(
    fields: &std::collections::HashMap<&str, &str>,
    n_features: usize,
) -> Result<Tree, String> {
    let num_leaves: usize = fields
        .get("num_leaves")
        .and_then(|v| v.parse().ok())
        .filter(|&n| n >= 1)
        .ok_or("no valid `num_leaves`")?;
    if fields.get("is_linear").is_some_and(|v| *v != "0") {
        return Err("linear trees (linear_tree=true) are not served natively".into());
    }
    let internal = num_leaves - 1;
    let num_cat: usize = fields
        .get("num_cat")
        .map_or(Ok(0), |v| v.parse())
        .map_err(|_| "`num_cat` is not a count")?;
    let split_feature: Vec<u32> = numbers(fields, "split_feature", internal)?;
    let threshold: Vec<f64> = numbers(fields, "threshold", internal)?;
    let decision_type: Vec<u8> = numbers(fields, "decision_type", internal)?;
    let left: Vec<i32> = numbers(fields, "left_child", internal)?;
    let right: Vec<i32> = numbers(fields, "right_child", internal)?;
    let leaf_value: Vec<f64> = numbers(fields, "leaf_value", num_leaves)?;
    let (cat_boundaries, cat_threshold): (Vec<u32>, Vec<u32>) = if num_cat > 0 {
        let b: Vec<u32> = numbers(fields, "cat_boundaries", num_cat + 1)?;
        let n = *b.last().unwrap_or(&0) as usize;
        (b, numbers(fields, "cat_threshold", n)?)
    } else {
        (vec![0], Vec::new())
    };
    if cat_boundaries.windows(2).any(|w| w[0] > w[1]) {
        return Err("`cat_boundaries` is not increasing".into());
    }
    for i in 0..internal {
        if split_feature[i] as usize >= n_features {
            return Err(format!(
                "node {i} splits on feature {} of {n_features}",
                split_feature[i]
            ));
        }
        if decision_type[i] > 0b1111 {
            return Err(format!(
                "node {i} has unknown decision type {}",
                decision_type[i]
            ));
        }
        if decision_type[i] & 1 != 0 {
            let set = threshold[i];
            if set.fract() != 0.0 || set < 0.0 || set as usize >= num_cat {
                return Err(format!("categorical node {i} names category set {set}"));
            }
        }
    }
    // Every node and leaf reached exactly once from the root: no cycles, no
    // child out of range (so `predict` always ends and never indexes out).
    if internal > 0 {
        let mut seen_node = vec![false; internal];
        let mut seen_leaf = vec![false; num_leaves];
        let mut stack = vec![0i32];
        while let Some(n) = stack.pop() {
            let seen = if n >= 0 {
                seen_node.get_mut(n as usize)
            } else {
                seen_leaf.get_mut(!n as usize)
            }
            .ok_or_else(|| format!("child {n} is out of range"))?;
            if *seen {
                return Err(format!("node {n} is reached twice"));
            }
            *seen = true;
            if n >= 0 {
                stack.push(left[n as usize]);
                stack.push(right[n as usize]);
            }
        }
        if seen_node.iter().chain(&seen_leaf).any(|s| !s) {
            return Err("some nodes are not reachable from the root".into());
        }
    }
    let nodes = (0..internal)
        .map(|i| Node {
            threshold: threshold[i],
            feature: split_feature[i],
            left: left[i],
            right: right[i],
            decision_type: decision_type[i],
        })
        .collect();
    Ok(Tree {
        nodes,
        leaf_value,
        cat_boundaries,
        cat_threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(objective: &str, trees: &str) -> String {
        format!(
            "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n\
             max_feature_idx=1\nobjective={objective}\nfeature_names=a b\n\n{trees}end of trees\n\n\
             pandas_categorical:null\n"
        )
    }

    fn one_split(decision_type: u8, threshold: &str) -> String {
        format!(
            "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold={threshold}\n\
             decision_type={decision_type}\nleft_child=-1\nright_child=-2\nleaf_value=1 2\n\
             is_linear=0\nshrinkage=1\n\n\n"
        )
    }

    fn predict(m: &LightGbm, row: &[f64]) -> f64 {
        let mut out = vec![0.0; m.outputs()];
        let row: Vec<f64> = row.iter().map(|&x| LightGbm::prepare(x)).collect();
        m.predict_row(&row, &mut out);
        out[0]
    }

    #[test]
    fn numerical_split_rules_follow_lightgbm() {
        // missing type None (0): NaN reads as 0.
        let m = LightGbm::parse(&model("regression", &one_split(0, "0.5"))).unwrap();
        assert_eq!(predict(&m, &[0.5, 0.0]), 1.0);
        assert_eq!(predict(&m, &[0.6, 0.0]), 2.0);
        assert_eq!(predict(&m, &[f64::NAN, 0.0]), 1.0);
        // missing type NaN (8), default right: NaN goes right.
        let m = LightGbm::parse(&model("regression", &one_split(8, "0.5"))).unwrap();
        assert_eq!(predict(&m, &[f64::NAN, 0.0]), 2.0);
        // ... default left (8 | 2).
        let m = LightGbm::parse(&model("regression", &one_split(10, "0.5"))).unwrap();
        assert_eq!(predict(&m, &[f64::NAN, 0.0]), 1.0);
        // missing type Zero (4), default right: zeros (and NaN, read as 0) go right.
        let m = LightGbm::parse(&model("regression", &one_split(4, "0.5"))).unwrap();
        assert_eq!(predict(&m, &[0.0, 0.0]), 2.0);
        assert_eq!(predict(&m, &[1e-36, 0.0]), 2.0);
        assert_eq!(predict(&m, &[f64::NAN, 0.0]), 2.0);
        assert_eq!(predict(&m, &[0.25, 0.0]), 1.0);
        // tiny inputs are read as 0 before the trees
        let m = LightGbm::parse(&model("regression", &one_split(0, "-1e-36"))).unwrap();
        assert_eq!(predict(&m, &[-1e-37, 0.0]), 2.0);
    }

    #[test]
    fn categorical_split_rules_follow_lightgbm() {
        // Left set {1, 33}: bit 1 of word 0, bit 1 of word 1.
        let tree = "Tree=0\nnum_leaves=2\nnum_cat=1\nsplit_feature=1\nthreshold=0\n\
                    decision_type=1\nleft_child=-1\nright_child=-2\nleaf_value=1 2\n\
                    cat_boundaries=0 2\ncat_threshold=2 2\nis_linear=0\nshrinkage=1\n\n\n";
        let m = LightGbm::parse(&model("regression", tree)).unwrap();
        for (x, want) in [
            (1.0, 1.0),
            (1.7, 1.0),
            (33.0, 1.0),
            (0.0, 2.0),
            (2.0, 2.0),
            (65.0, 2.0),
            (-1.0, 2.0),
            (f64::NAN, 2.0),
            (1e12, 2.0),
        ] {
            assert_eq!(predict(&m, &[0.0, x]), want, "category {x}");
        }
    }

    #[test]
    fn transforms() {
        let t = one_split(0, "0.5");
        let m = LightGbm::parse(&model("binary sigmoid:1", &t)).unwrap();
        assert_eq!(m.kind, Kind::Binary);
        assert_eq!(predict(&m, &[0.0, 0.0]), 1.0 / (1.0 + (-1.0f64).exp()));
        let m = LightGbm::parse(&model("regression sqrt", &t)).unwrap();
        assert_eq!(predict(&m, &[1.0, 0.0]), 4.0);
        let m = LightGbm::parse(&model("poisson", &t)).unwrap();
        assert_eq!(predict(&m, &[1.0, 0.0]), 2.0f64.exp());
        let m = LightGbm::parse(&model("cross_entropy_lambda", &t)).unwrap();
        assert_eq!(predict(&m, &[0.0, 0.0]), 1.0f64.exp().ln_1p());
    }

    #[test]
    fn refuses_what_it_cannot_score_exactly() {
        let t = one_split(0, "0.5");
        let err = |text: &str| LightGbm::parse(text).unwrap_err().to_string();
        assert!(err(&model("binary sigmoid:1 newthing:2", &t)).contains("newthing"));
        assert!(err(&model("lambdamart", &t)).contains("lambdamart"));
        assert!(err(&model(
            "regression",
            &t.replace("is_linear=0", "is_linear=1")
        ))
        .contains("linear trees"));
        assert!(err(&model("regression", &t).replace(
            "pandas_categorical:null",
            "pandas_categorical:[[\"a\", \"b\"]]"
        ))
        .contains("pandas"));
        // malformed: cycles, bad children, features out of range, truncation
        assert!(err(&model(
            "regression",
            &t.replace("right_child=-2", "right_child=0")
        ))
        .contains("reached twice"));
        assert!(err(&model(
            "regression",
            &t.replace("right_child=-2", "right_child=-7")
        ))
        .contains("out of range"));
        assert!(err(&model(
            "regression",
            &t.replace("split_feature=0", "split_feature=5")
        ))
        .contains("feature 5"));
        assert!(err(&model("regression", &t).replace("end of trees", "")).contains("truncated"));
        assert!(err("not a model").contains("not a LightGBM"));
        assert!(err(&model(
            "regression",
            &t.replace("threshold=0.5", "threshold=x")
        ))
        .contains("not a number"));
    }
}
