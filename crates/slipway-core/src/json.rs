//! Proto-JSON conventions MLflow clients use on the wire.
//!
//! Clients in different languages send `int64` fields either as JSON numbers
//! (the Python client) or as strings (proto3 canonical JSON), and `double`
//! fields may be the strings `"NaN"`, `"Infinity"`, `"-Infinity"`. Responses
//! carry int64 as numbers (the Python client expects that) and non-finite
//! doubles as those strings (JSON has no literal for them).

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;

/// Deserializes an int64 given as a number or a decimal string.
pub fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(I64Visitor)
}

/// Like [`de_i64`] for optional fields (`null` is `None`).
pub fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(OptI64Visitor)
}

/// Deserializes a double given as a number or one of the proto-JSON strings.
pub fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(F64Visitor)
}

/// Like [`de_f64`] for optional fields.
pub fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(OptF64Visitor)
}

/// Deserializes a bool given as a JSON bool or the strings `"true"`/`"false"`
/// (query strings carry every value as text).
pub fn de_opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(OptBoolVisitor)
}

struct OptBoolVisitor;
impl<'de> Visitor<'de> for OptBoolVisitor {
    type Value = Option<bool>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("true or false")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(E::custom(format!("'{v}' is not a boolean"))),
        }
    }
}

/// Serializes a double, writing non-finite values as proto-JSON strings.
pub fn ser_f64<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("NaN")
    } else if *v == f64::INFINITY {
        s.serialize_str("Infinity")
    } else if *v == f64::NEG_INFINITY {
        s.serialize_str("-Infinity")
    } else {
        s.serialize_f64(*v)
    }
}

/// Like [`ser_f64`] for optional fields (skip `None` with `skip_serializing_if`).
pub fn ser_opt_f64<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => ser_f64(v, s),
        None => s.serialize_none(),
    }
}

/// Parses a double from its proto-JSON string form.
pub fn parse_f64_str(v: &str) -> Option<f64> {
    match v.trim() {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "inf" | "+inf" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse::<f64>().ok(),
    }
}

struct I64Visitor;
impl<'de> Visitor<'de> for I64Visitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer or a string holding one")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("{v} does not fit in int64")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.fract() == 0.0 && v.abs() < 9.2e18 {
            Ok(v as i64)
        } else {
            Err(E::custom(format!("{v} is not an integer")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        v.trim()
            .parse::<i64>()
            .map_err(|_| E::custom(format!("'{v}' is not an integer")))
    }
}

struct OptI64Visitor;
impl<'de> Visitor<'de> for OptI64Visitor {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer, a string holding one, or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        I64Visitor.visit_i64(v).map(Some)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        I64Visitor.visit_u64(v).map(Some)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        I64Visitor.visit_f64(v).map(Some)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        I64Visitor.visit_str(v).map(Some)
    }
}

struct F64Visitor;
impl<'de> Visitor<'de> for F64Visitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, or one of \"NaN\", \"Infinity\", \"-Infinity\"")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        parse_f64_str(v).ok_or_else(|| E::custom(format!("'{v}' is not a number")))
    }
}

struct OptF64Visitor;
impl<'de> Visitor<'de> for OptF64Visitor {
    type Value = Option<f64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, a proto-JSON float string, or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        F64Visitor.visit_str(v).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Deserialize, Serialize)]
    struct M {
        #[serde(deserialize_with = "de_i64")]
        ts: i64,
        #[serde(deserialize_with = "de_f64", serialize_with = "ser_f64")]
        v: f64,
    }

    #[test]
    fn accepts_numbers_and_strings() {
        let m: M = serde_json::from_str(r#"{"ts":"12","v":"NaN"}"#).unwrap();
        assert_eq!(m.ts, 12);
        assert!(m.v.is_nan());
        let m: M = serde_json::from_str(r#"{"ts":12,"v":1.5}"#).unwrap();
        assert_eq!(m.v, 1.5);
        let m: M = serde_json::from_str(r#"{"ts":12,"v":"-Infinity"}"#).unwrap();
        assert_eq!(m.v, f64::NEG_INFINITY);
        assert!(serde_json::from_str::<M>(r#"{"ts":"x","v":1}"#).is_err());
        assert!(serde_json::from_str::<M>(r#"{"ts":1.5,"v":1}"#).is_err());
    }

    #[test]
    fn writes_non_finite_as_strings() {
        let s = serde_json::to_string(&M {
            ts: 1,
            v: f64::INFINITY,
        })
        .unwrap();
        assert_eq!(s, r#"{"ts":1,"v":"Infinity"}"#);
    }
}
