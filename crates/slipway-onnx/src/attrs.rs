//! Typed access to a node's attributes, with errors naming the attribute.

use crate::proto::{attribute_type as at, AttributeProto, NodeProto, TensorProto};
use crate::OnnxError;

pub(crate) struct Attrs<'a> {
    pub node: &'a NodeProto,
}

impl<'a> Attrs<'a> {
    pub fn new(node: &'a NodeProto) -> Result<Attrs<'a>, OnnxError> {
        let a = Attrs { node };
        for attr in &node.attribute {
            if !attr.ref_attr_name.is_empty() {
                return Err(a.err(format!(
                    "attribute '{}' refers to a function attribute, which is not supported",
                    attr.name
                )));
            }
        }
        Ok(a)
    }

    pub fn err(&self, message: impl Into<String>) -> OnnxError {
        OnnxError::InvalidNode {
            node: self.node.name.clone(),
            op_type: self.node.op_type.clone(),
            message: message.into(),
        }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn check_type(&self, a: &AttributeProto, ty: i32) -> Result<(), OnnxError> {
        // type 0 (UNDEFINED) is accepted: old exporters omit it
        if a.r#type != 0 && a.r#type != ty {
            return Err(self.err(format!(
                "attribute '{}' has type {}, expected {ty}",
                a.name, a.r#type
            )));
        }
        Ok(())
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, OnnxError> {
        match self.get(name) {
            None => Ok(default),
            Some(a) => {
                self.check_type(a, at::INT)?;
                Ok(a.i)
            }
        }
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32, OnnxError> {
        match self.get(name) {
            None => Ok(default),
            Some(a) => {
                self.check_type(a, at::FLOAT)?;
                Ok(a.f)
            }
        }
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String, OnnxError> {
        match self.get(name) {
            None => Ok(default.to_string()),
            Some(a) => {
                self.check_type(a, at::STRING)?;
                String::from_utf8(a.s.clone())
                    .map_err(|_| self.err(format!("attribute '{name}' is not UTF-8")))
            }
        }
    }

    pub fn ints(&self, name: &str) -> Result<Vec<i64>, OnnxError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(a) => {
                self.check_type(a, at::INTS)?;
                Ok(a.ints.clone())
            }
        }
    }

    pub fn floats(&self, name: &str) -> Result<Vec<f32>, OnnxError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(a) => {
                self.check_type(a, at::FLOATS)?;
                Ok(a.floats.clone())
            }
        }
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>, OnnxError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(a) => {
                self.check_type(a, at::STRINGS)?;
                a.strings
                    .iter()
                    .map(|s| {
                        String::from_utf8(s.clone())
                            .map_err(|_| self.err(format!("attribute '{name}' is not UTF-8")))
                    })
                    .collect()
            }
        }
    }

    pub fn tensor(&self, name: &str) -> Result<Option<&'a TensorProto>, OnnxError> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => {
                self.check_type(a, at::TENSOR)?;
                Ok(a.t.as_ref())
            }
        }
    }

    /// A float list given either as `NAME` (floats) or `NAME_as_tensor`
    /// (a double tensor, ai.onnx.ml opset 3). Returns the values and whether
    /// they came as doubles.
    pub fn floats_or_tensor(&self, name: &str) -> Result<(Vec<f64>, bool), OnnxError> {
        let tensor_name = format!("{name}_as_tensor");
        if let Some(t) = self.tensor(&tensor_name)? {
            if self.has(name) {
                return Err(self.err(format!("both '{name}' and '{tensor_name}' are set")));
            }
            let v = crate::tensor::f64_from_proto(t)
                .map_err(|e| self.err(format!("attribute '{tensor_name}': {e}")))?;
            let double = t.data_type == crate::proto::data_type::DOUBLE;
            return Ok((v, double));
        }
        Ok((
            self.floats(name)?.into_iter().map(f64::from).collect(),
            false,
        ))
    }
}
