//! Loading: malformed bytes never panic, unsupported operators are refused at
//! load naming the operator and domain, and the tree post-transforms and
//! aggregates compute what onnxruntime's kernels compute.

use prost::Message;
use slipway_onnx::proto::{
    attribute_type as at, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
};
use slipway_onnx::{Labels, OnnxError, OnnxModel};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../tests/onnx/fixtures/{name}.onnx",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: at::INTS,
        ..Default::default()
    }
}

fn floats(name: &str, v: &[f32]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        floats: v.to_vec(),
        r#type: at::FLOATS,
        ..Default::default()
    }
}

fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        s: v.as_bytes().to_vec(),
        r#type: at::STRING,
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: at::INT,
        ..Default::default()
    }
}

fn strings(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        r#type: at::STRINGS,
        ..Default::default()
    }
}

fn tensor_info(name: &str, elem: i32, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: elem,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: (d > 0).then_some(d),
                            dim_param: (d <= 0).then(|| "N".to_string()),
                        })
                        .collect(),
                }),
            }),
            ..Default::default()
        }),
    }
}

fn model(nodes: Vec<NodeProto>, n_features: i64, outputs: Vec<ValueInfoProto>) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        producer_name: "test".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            input: vec![tensor_info("X", data_type::FLOAT, &[-1, n_features])],
            output: outputs,
            ..Default::default()
        }),
        opset_import: opsets(),
        ..Default::default()
    }
    .encode_to_vec()
}

fn node(
    op: &str,
    domain: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: format!("{op}_0"),
        op_type: op.into(),
        attribute: attrs,
        domain: domain.into(),
    }
}

/// Two stumps on feature 0 (x <= 0.5): tree 0 leaves give weights to both
/// targets/classes, tree 1 to both as well.
fn stumps(prefix: &str, mode: &str) -> Vec<AttributeProto> {
    vec![
        ints("nodes_treeids", &[0, 0, 0, 1, 1, 1]),
        ints("nodes_nodeids", &[0, 1, 2, 0, 1, 2]),
        ints("nodes_featureids", &[0, 0, 0, 1, 0, 0]),
        floats("nodes_values", &[0.5, 0.0, 0.0, 2.0, 0.0, 0.0]),
        strings("nodes_modes", &[mode, "LEAF", "LEAF", mode, "LEAF", "LEAF"]),
        ints("nodes_truenodeids", &[1, 0, 0, 1, 0, 0]),
        ints("nodes_falsenodeids", &[2, 0, 0, 2, 0, 0]),
        ints(&format!("{prefix}_treeids"), &[0, 0, 0, 0, 1, 1, 1, 1]),
        ints(&format!("{prefix}_nodeids"), &[1, 1, 2, 2, 1, 1, 2, 2]),
        ints(&format!("{prefix}_ids"), &[0, 1, 0, 1, 0, 1, 0, 1]),
        floats(
            &format!("{prefix}_weights"),
            &[1.0, -1.0, 0.25, 0.5, 0.5, 2.0, -0.5, 0.0],
        ),
    ]
}

fn regressor(post: &str, aggregate: &str, base: &[f32]) -> OnnxModel {
    let mut attrs = stumps("target", "BRANCH_LEQ");
    attrs.push(int("n_targets", 2));
    attrs.push(string("post_transform", post));
    attrs.push(string("aggregate_function", aggregate));
    if !base.is_empty() {
        attrs.push(floats("base_values", base));
    }
    let bytes = model(
        vec![node(
            "TreeEnsembleRegressor",
            "ai.onnx.ml",
            &["X"],
            &["Y"],
            attrs,
        )],
        2,
        vec![tensor_info("Y", data_type::FLOAT, &[-1, 2])],
    );
    OnnxModel::load(&bytes).unwrap()
}

fn values(m: &OnnxModel, x: &[f32]) -> Vec<f32> {
    m.run_f32(x, x.len() / 2).unwrap().values.unwrap().0
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
    }
}

fn logistic(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

#[test]
fn regressor_sum_average_min_max() {
    // row (0, 1): tree 0 -> node 1 (1, -1), tree 1 -> node 1 (0.5, 2)
    // row (1, 3): tree 0 -> node 2 (0.25, 0.5), tree 1 -> node 2 (-0.5, 0)
    let x = [0.0, 1.0, 1.0, 3.0];
    close(
        &values(&regressor("NONE", "SUM", &[]), &x),
        &[1.5, 1.0, -0.25, 0.5],
    );
    close(
        &values(&regressor("NONE", "SUM", &[10.0, 20.0]), &x),
        &[11.5, 21.0, 9.75, 20.5],
    );
    close(
        &values(&regressor("NONE", "AVERAGE", &[1.0, 1.0]), &x),
        &[1.75, 1.5, 0.875, 1.25],
    );
    close(
        &values(&regressor("NONE", "MIN", &[]), &x),
        &[0.5, -1.0, -0.5, 0.0],
    );
    close(
        &values(&regressor("NONE", "MAX", &[]), &x),
        &[1.0, 2.0, 0.25, 0.5],
    );
}

#[test]
fn regressor_post_transforms() {
    let x = [0.0, 1.0];
    let raw = [1.5f32, 1.0];
    close(
        &values(&regressor("LOGISTIC", "SUM", &[]), &x),
        &[logistic(raw[0]), logistic(raw[1])],
    );
    let e = [(raw[0] - 1.5).exp(), (raw[1] - 1.5).exp()];
    let s = e[0] + e[1];
    close(
        &values(&regressor("SOFTMAX", "SUM", &[]), &x),
        &[e[0] / s, e[1] / s],
    );
    // SOFTMAX_ZERO: a zero score stays zero
    let z = values(&regressor("SOFTMAX_ZERO", "SUM", &[-1.5, 0.0]), &x);
    close(&z, &[0.0, 1.0]);
    // PROBIT: onnxruntime's erfinv approximation, probit(0.5) = 0
    let p = values(&regressor("PROBIT", "SUM", &[-1.0, -0.5]), &x);
    assert!(
        (p[0] - 0.0).abs() < 1e-3 && (p[1] - 0.0).abs() < 1e-3,
        "{p:?}"
    );
    let p = values(&regressor("PROBIT", "SUM", &[-1.5 + 0.8413447, 0.0]), &x);
    assert!((p[0] - 1.0).abs() < 5e-3, "probit(0.8413) ~ 1: {p:?}");
}

#[test]
fn all_branch_modes_and_missing_tracks() {
    for (mode, x, expect_true) in [
        ("BRANCH_LEQ", 0.5, true),
        ("BRANCH_LT", 0.5, false),
        ("BRANCH_GTE", 0.5, true),
        ("BRANCH_GT", 0.5, false),
        ("BRANCH_EQ", 0.5, true),
        ("BRANCH_NEQ", 0.5, false),
        ("BRANCH_NEQ", f32::NAN, true),
        ("BRANCH_LEQ", f32::NAN, false),
    ] {
        let mut attrs = stumps("target", mode);
        attrs.push(int("n_targets", 2));
        let m = OnnxModel::load(&model(
            vec![node(
                "TreeEnsembleRegressor",
                "ai.onnx.ml",
                &["X"],
                &["Y"],
                attrs,
            )],
            2,
            vec![tensor_info("Y", data_type::FLOAT, &[-1, 2])],
        ))
        .unwrap();
        // feature 1 = -10 routes tree 1 by the same mode; only tree 0 is checked
        let v = values(&m, &[x, 2.0]);
        let tree1 = if matches!(mode, "BRANCH_LEQ" | "BRANCH_GTE" | "BRANCH_EQ") {
            [0.5, 2.0]
        } else {
            [-0.5, 0.0]
        };
        let tree0 = if expect_true {
            [1.0, -1.0]
        } else {
            [0.25, 0.5]
        };
        close(&v, &[tree0[0] + tree1[0], tree0[1] + tree1[1]]);
    }
    // a missing value follows the true branch where missing tracks say so
    let mut attrs = stumps("target", "BRANCH_LEQ");
    attrs.push(int("n_targets", 2));
    attrs.push(ints("nodes_missing_value_tracks_true", &[1, 0, 0, 0, 0, 0]));
    let m = OnnxModel::load(&model(
        vec![node(
            "TreeEnsembleRegressor",
            "ai.onnx.ml",
            &["X"],
            &["Y"],
            attrs,
        )],
        2,
        vec![tensor_info("Y", data_type::FLOAT, &[-1, 2])],
    ))
    .unwrap();
    close(&values(&m, &[f32::NAN, 2.0]), &[1.5, 1.0]);
}

fn binary_classifier(post: &str, class_ids: &[i64], weights: &[f32], base: &[f32]) -> OnnxModel {
    let attrs = vec![
        ints("nodes_treeids", &[0, 0, 0]),
        ints("nodes_nodeids", &[0, 1, 2]),
        ints("nodes_featureids", &[0, 0, 0]),
        floats("nodes_values", &[0.5, 0.0, 0.0]),
        strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF"]),
        ints("nodes_truenodeids", &[1, 0, 0]),
        ints("nodes_falsenodeids", &[2, 0, 0]),
        ints("class_treeids", &vec![0; class_ids.len()]),
        ints(
            "class_nodeids",
            if class_ids.len() == 2 {
                &[1, 2]
            } else {
                &[1, 1, 2, 2]
            },
        ),
        ints("class_ids", class_ids),
        floats("class_weights", weights),
        strings("classlabels_strings", &["no", "yes"]),
        string("post_transform", post),
        floats("base_values", base),
    ];
    OnnxModel::load(&model(
        vec![node(
            "TreeEnsembleClassifier",
            "ai.onnx.ml",
            &["X"],
            &["label", "probabilities"],
            attrs,
        )],
        1,
        vec![
            tensor_info("label", data_type::STRING, &[-1]),
            tensor_info("probabilities", data_type::FLOAT, &[-1, 2]),
        ],
    ))
    .unwrap()
}

#[test]
fn binary_classifier_conventions() {
    // GBM-style: one class id, mixed weights, one base value, LOGISTIC
    let m = binary_classifier("LOGISTIC", &[0, 0], &[-2.0, 1.0], &[0.5]);
    let out = m.run_f32(&[0.0, 1.0], 2).unwrap();
    let (p, c) = out.probabilities.unwrap();
    assert_eq!(c, 2);
    close(
        &p,
        &[logistic(1.5), logistic(-1.5), logistic(-1.5), logistic(1.5)],
    );
    assert_eq!(
        out.label.unwrap(),
        Labels::String(vec!["no".into(), "yes".into()])
    );
    assert_eq!(
        out.class_labels.unwrap(),
        Labels::String(vec!["no".into(), "yes".into()])
    );
    // forest-style: one class id, positive weights (the positive share), NONE
    let m = binary_classifier("NONE", &[0, 0], &[0.25, 0.75], &[]);
    let out = m.run_f32(&[0.0, 1.0], 2).unwrap();
    close(&out.probabilities.unwrap().0, &[0.75, 0.25, 0.25, 0.75]);
    assert_eq!(
        out.label.unwrap(),
        Labels::String(vec!["no".into(), "yes".into()])
    );
    // both classes carry weights: SOFTMAX over the two scores
    let m = binary_classifier("SOFTMAX", &[0, 1, 0, 1], &[1.0, 0.0, 0.0, 2.0], &[]);
    let out = m.run_f32(&[0.0], 1).unwrap();
    let e = (-1.0f32).exp();
    close(
        &out.probabilities.unwrap().0,
        &[1.0 / (1.0 + e), e / (1.0 + e)],
    );
}

#[test]
fn unsupported_operator_is_refused_at_load_by_name_and_domain() {
    let bytes = model(
        vec![node(
            "SVMClassifier",
            "ai.onnx.ml",
            &["X"],
            &["label", "p"],
            vec![],
        )],
        2,
        vec![tensor_info("label", data_type::INT64, &[-1])],
    );
    let err = OnnxModel::load(&bytes).unwrap_err();
    assert!(matches!(err, OnnxError::UnsupportedOperator { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("SVMClassifier") && msg.contains("ai.onnx.ml"),
        "{msg}"
    );

    let bytes = model(
        vec![node("Conv", "", &["X"], &["Y"], vec![])],
        2,
        vec![tensor_info("Y", data_type::FLOAT, &[-1, 2])],
    );
    let msg = OnnxModel::load(&bytes).unwrap_err().to_string();
    assert!(msg.contains("Conv") && msg.contains("ai.onnx"), "{msg}");

    let bytes = model(
        vec![node("MyOp", "com.example", &["X"], &["Y"], vec![])],
        2,
        vec![tensor_info("Y", data_type::FLOAT, &[-1, 2])],
    );
    let msg = OnnxModel::load(&bytes).unwrap_err().to_string();
    assert!(msg.contains("MyOp") && msg.contains("com.example"), "{msg}");
}

#[test]
fn inconsistent_trees_are_refused_at_load() {
    // feature index beyond the input width
    let mut attrs = stumps("target", "BRANCH_LEQ");
    attrs.push(int("n_targets", 2));
    let bytes = model(
        vec![node(
            "TreeEnsembleRegressor",
            "ai.onnx.ml",
            &["X"],
            &["Y"],
            attrs.clone(),
        )],
        1,
        vec![tensor_info("Y", data_type::FLOAT, &[-1, 2])],
    );
    let msg = OnnxModel::load(&bytes).unwrap_err().to_string();
    assert!(msg.contains("feature 1"), "{msg}");
    // a cycle
    let mut cyc = attrs.clone();
    cyc[5] = ints("nodes_truenodeids", &[1, 0, 0, 2, 0, 0]);
    cyc[4] = strings(
        "nodes_modes",
        &[
            "BRANCH_LEQ",
            "BRANCH_LEQ",
            "LEAF",
            "BRANCH_LEQ",
            "LEAF",
            "LEAF",
        ],
    );
    let bytes = model(
        vec![node(
            "TreeEnsembleRegressor",
            "ai.onnx.ml",
            &["X"],
            &["Y"],
            cyc,
        )],
        2,
        vec![tensor_info("Y", data_type::FLOAT, &[-1, 2])],
    );
    let msg = OnnxModel::load(&bytes).unwrap_err().to_string();
    assert!(msg.contains("cycle"), "{msg}");
    // class id out of range
    let mut bad = attrs;
    bad[9] = ints("target_ids", &[0, 1, 0, 1, 0, 1, 0, 5]);
    let bytes = model(
        vec![node(
            "TreeEnsembleRegressor",
            "ai.onnx.ml",
            &["X"],
            &["Y"],
            bad,
        )],
        2,
        vec![tensor_info("Y", data_type::FLOAT, &[-1, 2])],
    );
    assert!(OnnxModel::load(&bytes).is_err());
}

#[test]
fn malformed_bytes_never_panic() {
    assert!(matches!(
        OnnxModel::load(b""),
        Err(OnnxError::InvalidModel(_))
    ));
    assert!(OnnxModel::load(b"not a model at all").is_err());
    assert!(OnnxModel::load(&[0xff; 64]).is_err());
    for name in ["gbc_breast_cancer", "lr_pipeline_churn", "xgb_churn"] {
        let good = fixture(name);
        // every truncation
        for cut in (0..good.len()).step_by(good.len() / 97 + 1) {
            let _ = OnnxModel::load(&good[..cut]);
        }
        // byte flips (deterministic xorshift)
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            let mut bad = good.clone();
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let i = (s % bad.len() as u64) as usize;
                bad[i] ^= (s >> 32) as u8 | 1;
            }
            if let Ok(m) = OnnxModel::load(&bad) {
                // a model that still loads runs without panicking too
                let n = m.inputs()[0].shape.get(1).copied().unwrap_or(4).max(1) as usize;
                let _ = m.run_f32(&vec![0.5; n * 3], 3);
                let _ = m.run_f32(&vec![f32::NAN; n], 1);
            }
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    let m = OnnxModel::load(&fixture("gbc_breast_cancer")).unwrap();
    assert!(matches!(
        m.run_f32(&[1.0; 29], 1),
        Err(OnnxError::BadInput(_))
    ));
    assert!(matches!(
        m.run_f32(&[1.0; 30], 2),
        Err(OnnxError::BadInput(_))
    ));
    let out = m.run_f32(&[], 0).unwrap();
    assert_eq!(out.probabilities.unwrap().0.len(), 0);
    // the interface the serving engine reads
    assert_eq!(m.inputs()[0].name, "input");
    assert_eq!(m.outputs().len(), 2);
    assert_eq!(m.outputs()[1].kind, slipway_onnx::ValueKind::SequenceOfMaps);
    assert_eq!(m.outputs()[1].shape, vec![-1, 2]);
}

#[test]
fn run_columns_checks_names_types_and_counts() {
    use slipway_onnx::Column;
    let m = OnnxModel::load(&fixture("gbc_columns_churn")).unwrap();
    let names: Vec<&str> = m.inputs().iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["num", "contract"]);
    let num = Column::Float(vec![0.1, 0.2, f32::NAN, 0.4, 0.5]);
    let contract = Column::String(vec!["one year".into()]);
    let out = m
        .run_columns(&[("num", num.clone()), ("contract", contract.clone())], 1)
        .unwrap();
    assert_eq!(out.probabilities.unwrap().0.len(), 2);
    // an unseen category is all zeros (handle_unknown="ignore"), not an error
    let unseen = Column::String(vec!["weekly".into()]);
    assert!(m
        .run_columns(&[("num", num.clone()), ("contract", unseen)], 1)
        .is_ok());
    for bad in [
        vec![("num", num.clone())],
        vec![
            ("num", num.clone()),
            ("contract", contract.clone()),
            ("x", contract.clone()),
        ],
        vec![("num", contract.clone()), ("contract", contract.clone())],
        vec![
            ("num", num.clone()),
            ("contract", contract.clone()),
            ("num", num.clone()),
        ],
    ] {
        assert!(matches!(
            m.run_columns(&bad, 1),
            Err(OnnxError::BadInput(_))
        ));
    }
    assert!(matches!(
        m.run_columns(&[("num", num), ("contract", contract)], 2),
        Err(OnnxError::BadInput(_))
    ));
    // run_f32 explains that this model has several inputs
    assert!(matches!(
        m.run_f32(&[0.0; 6], 1),
        Err(OnnxError::BadInput(_))
    ));
}

#[test]
fn model_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<OnnxModel>();
}

/// A model with one string input `s` [N, 1] and the given nodes/outputs.
fn string_model(nodes: Vec<NodeProto>, outputs: &[(&str, i32)]) -> OnnxModel {
    one_input_model(("s", data_type::STRING), nodes, outputs)
}

fn one_input_model(
    (input, elem): (&str, i32),
    nodes: Vec<NodeProto>,
    outputs: &[(&str, i32)],
) -> OnnxModel {
    let bytes = ModelProto {
        ir_version: 8,
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            input: vec![tensor_info(input, elem, &[-1, 1])],
            output: outputs
                .iter()
                .map(|(n, t)| tensor_info(n, *t, &[-1, 1]))
                .collect(),
            ..Default::default()
        }),
        opset_import: opsets(),
        ..Default::default()
    }
    .encode_to_vec();
    OnnxModel::load(&bytes).unwrap()
}

fn one_hot(input: &str, output: &str, cats: &[&str], zeros: i64) -> NodeProto {
    node(
        "OneHotEncoder",
        "ai.onnx.ml",
        &[input],
        &[output],
        vec![strings("cats_strings", cats), int("zeros", zeros)],
    )
}

#[test]
fn string_inputs_are_described_by_the_categories_they_are_compared_with() {
    use slipway_onnx::StringInputUse;
    // skl2onnx DataFrame pipeline: region ignores unknown categories, contract refuses them
    let m = OnnxModel::load(&fixture("gbc_frame_churn")).unwrap();
    assert_eq!(
        m.string_input_use("region"),
        Some(StringInputUse {
            categories: vec![
                "asia_pacific".into(),
                "europe".into(),
                "latam".into(),
                "north_america".into()
            ],
            unknown_fails: false,
        })
    );
    let contract = m.string_input_use("contract").unwrap();
    assert_eq!(
        contract.categories,
        ["month-to-month", "one-year", "two-year"]
    );
    assert!(contract.unknown_fails);
    assert_eq!(m.string_input_use("tenure_months"), None);
    assert_eq!(m.string_input_use("nope"), None);
    // through Gather
    let m = OnnxModel::load(&fixture("gbc_columns_churn")).unwrap();
    assert!(m.string_input_use("contract").is_some());

    // Two encoders: tolerant ones see the union, strict ones only what all of them know.
    let m = string_model(
        vec![
            node("Identity", "", &["s"], &["t"], vec![]),
            one_hot("s", "a", &["b", "a"], 1),
            one_hot("t", "c", &["c", "b"], 1),
        ],
        &[("a", data_type::FLOAT), ("c", data_type::FLOAT)],
    );
    assert_eq!(
        m.string_input_use("s"),
        Some(StringInputUse {
            categories: vec!["a".into(), "b".into(), "c".into()],
            unknown_fails: false
        })
    );
    let m = string_model(
        vec![
            one_hot("s", "a", &["a", "b", "c"], 0),
            one_hot("s", "c", &["d", "c", "b"], 0),
            one_hot("s", "e", &["e"], 1),
        ],
        &[("a", data_type::FLOAT), ("c", data_type::FLOAT)],
    );
    assert_eq!(
        m.string_input_use("s"),
        Some(StringInputUse {
            categories: vec!["b".into(), "c".into()],
            unknown_fails: true
        })
    );
    // A string that reaches an output is more than a category: None.
    let m = string_model(
        vec![
            node("Identity", "", &["s"], &["label"], vec![]),
            one_hot("s", "a", &["a"], 1),
        ],
        &[("label", data_type::STRING), ("a", data_type::FLOAT)],
    );
    assert_eq!(m.string_input_use("s"), None);
}

#[test]
fn int64_inputs_name_the_categories_strict_encoders_know() {
    let enc = |input: &str, output: &str, cats: &[i64], zeros: i64| {
        node(
            "OneHotEncoder",
            "ai.onnx.ml",
            &[input],
            &[output],
            vec![ints("cats_int64s", cats), int("zeros", zeros)],
        )
    };
    let cast = node(
        "Cast",
        "",
        &["t"],
        &["tc"],
        vec![int("to", i64::from(data_type::INT64))],
    );
    // skl2onnx: Cast to int64, then OneHotEncoder(handle_unknown="error") is zeros=0.
    let m = one_input_model(
        ("t", data_type::INT64),
        vec![
            cast.clone(),
            enc("tc", "a", &[2, 0, 1], 0),
            enc("t", "b", &[1, 2, 3], 0),
            enc("t", "c", &[7], 1),
        ],
        &[("a", data_type::FLOAT), ("b", data_type::FLOAT)],
    );
    assert_eq!(m.int_input_strict_categories("t"), Some(vec![1, 2]));
    let m = one_input_model(
        ("t", data_type::INT64),
        vec![cast, enc("tc", "a", &[2, 0, 1], 1)],
        &[("a", data_type::FLOAT)],
    );
    assert_eq!(m.int_input_strict_categories("t"), None);
    let m = OnnxModel::load(&fixture("gbc_frame_churn")).unwrap();
    assert_eq!(m.int_input_strict_categories("tenure_months"), None);
    assert_eq!(
        m.int_input_strict_categories("addons"),
        Some(vec![0, 1, 2, 3])
    );
    assert_eq!(m.int_input_strict_categories("plan"), None);
}

#[test]
fn a_strict_encoder_meeting_an_unknown_category_is_the_inputs_fault() {
    let enc = |zeros: i64| {
        node(
            "OneHotEncoder",
            "ai.onnx.ml",
            &["t"],
            &["b"],
            vec![ints("cats_int64s", &[1, 2, 3]), int("zeros", zeros)],
        )
    };
    let strict = one_input_model(
        ("t", data_type::INT64),
        vec![enc(0)],
        &[("b", data_type::FLOAT)],
    );
    let err = strict
        .run_inputs(vec![("t", slipway_onnx::Column::Int64(vec![2, 9]))], 2)
        .unwrap_err();
    assert!(
        matches!(&err, OnnxError::UnknownCategory { message, .. } if message.contains('9')),
        "{err:?}"
    );
    assert!(strict
        .run_inputs(vec![("t", slipway_onnx::Column::Int64(vec![2, 3]))], 2)
        .is_ok());
    // handle_unknown="ignore" gives zeros instead.
    let tolerant = one_input_model(
        ("t", data_type::INT64),
        vec![enc(1)],
        &[("b", data_type::FLOAT)],
    );
    assert!(tolerant
        .run_inputs(vec![("t", slipway_onnx::Column::Int64(vec![9]))], 1)
        .is_ok());
}

/// The opsets skl2onnx declares.
fn opsets() -> Vec<OperatorSetIdProto> {
    vec![
        OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        },
        OperatorSetIdProto {
            domain: "ai.onnx.ml".into(),
            version: 3,
        },
    ]
}
