//! A reader of the Universal Binary JSON that XGBoost writes (`model.ubj`),
//! for the model's metadata only: attributes, feature names and types, the
//! objective and the category container. `hessboost` decodes the trees; the
//! big typed arrays (the trees' node arrays) are skipped here, not decoded.

use serde_json::{Map, Number, Value};

/// Nesting deeper than this is refused (XGBoost's documents are ~6 deep).
const MAX_DEPTH: usize = 64;

/// Decodes a UBJSON document; typed numeric arrays (`[$<type>#<count>`)
/// become `null`.
pub(super) fn decode_metadata(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader { bytes, pos: 0 };
    let marker = r.marker()?;
    let value = r.value(marker, 0)?;
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    /// The next type marker, skipping no-ops.
    fn marker(&mut self) -> Result<u8, String> {
        loop {
            let m = self.byte()?;
            if m != b'N' {
                return Ok(m);
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn int(&mut self, marker: u8) -> Result<i64, String> {
        Ok(match marker {
            b'i' => i64::from(self.byte()? as i8),
            b'U' => i64::from(self.byte()?),
            b'I' => i64::from(i16::from_be_bytes(self.array()?)),
            b'l' => i64::from(i32::from_be_bytes(self.array()?)),
            b'L' => i64::from_be_bytes(self.array()?),
            m => return Err(format!("expected an integer marker, got {:?}", m as char)),
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn length(&mut self) -> Result<usize, String> {
        let m = self.marker()?;
        let n = self.int(m)?;
        usize::try_from(n).map_err(|_| format!("negative length {n}"))
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.length()?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|e| format!("a string is not UTF-8: {e}"))
    }

    /// The size in bytes of one value of a fixed-size type, for skipping.
    fn fixed_size(marker: u8) -> Option<usize> {
        Some(match marker {
            b'i' | b'U' | b'C' => 1,
            b'I' => 2,
            b'l' | b'd' => 4,
            b'L' | b'D' => 8,
            b'Z' | b'T' | b'F' | b'N' => 0,
            _ => return None,
        })
    }

    fn value(&mut self, marker: u8, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        Ok(match marker {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::from(self.int(marker)?),
            b'd' => float(f64::from(f32::from_be_bytes(self.array()?))),
            b'D' => float(f64::from_be_bytes(self.array()?)),
            b'C' => Value::String(char::from(self.byte()?).to_string()),
            b'S' | b'H' => Value::String(self.string()?),
            b'[' => self.container(depth, false)?,
            b'{' => self.container(depth, true)?,
            m => {
                return Err(format!(
                    "unknown marker {:?} at byte {}",
                    m as char,
                    self.pos - 1
                ))
            }
        })
    }

    /// An array or object, in plain (`]`/`}`-terminated), counted (`#`) or
    /// typed (`$t#n`) form.
    fn container(&mut self, depth: usize, object: bool) -> Result<Value, String> {
        let mut typed = None;
        let mut count = None;
        if self.peek() == Some(b'$') {
            self.pos += 1;
            typed = Some(self.byte()?);
            if self.byte()? != b'#' {
                return Err("a typed container without a count".into());
            }
            count = Some(self.length()?);
        } else if self.peek() == Some(b'#') {
            self.pos += 1;
            count = Some(self.length()?);
        }
        if let (Some(t), Some(n), false) = (typed, count, object) {
            if let Some(size) = Self::fixed_size(t) {
                // A node array of a tree: skipped.
                let bytes = n
                    .checked_mul(size)
                    .ok_or_else(|| "array too large".to_string())?;
                self.take(bytes)?;
                return Ok(Value::Null);
            }
        }
        let mut items = Vec::new();
        let mut map = Map::new();
        let mut i = 0usize;
        loop {
            if let Some(n) = count {
                if i == n {
                    break;
                }
            } else if self.peek() == Some(if object { b'}' } else { b']' }) {
                self.pos += 1;
                break;
            }
            let key = if object { Some(self.string()?) } else { None };
            let marker = match typed {
                Some(t) => t,
                None => self.marker()?,
            };
            let v = self.value(marker, depth + 1)?;
            match key {
                Some(k) => {
                    map.insert(k, v);
                }
                None => items.push(v),
            }
            i += 1;
        }
        Ok(if object {
            Value::Object(map)
        } else {
            Value::Array(items)
        })
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_objects_strings_numbers_and_skips_typed_arrays() {
        // {"a": "xy", "n": [$d#U2 <2 floats>], "b": [i1 i2], "c": {"t": T}}
        let mut b = vec![b'{'];
        b.extend([b'U', 1, b'a', b'S', b'U', 2, b'x', b'y']);
        b.extend([b'U', 1, b'n', b'[', b'$', b'd', b'#', b'U', 2]);
        b.extend(1.5f32.to_be_bytes());
        b.extend(2.5f32.to_be_bytes());
        b.extend([b'U', 1, b'b', b'[', b'i', 1, b'i', 2, b']']);
        b.extend([b'U', 1, b'c', b'{', b'U', 1, b't', b'T', b'}']);
        b.push(b'}');
        let v = decode_metadata(&b).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": "xy", "n": null, "b": [1, 2], "c": {"t": true}})
        );
    }

    #[test]
    fn truncated_or_unknown_input_is_an_error_not_a_panic() {
        for bad in [
            &b"{U\x01aS"[..],
            b"{U\x01a[$d#U\x09",
            b"Q",
            b"",
            b"[#L\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            assert!(decode_metadata(bad).is_err(), "{bad:?}");
        }
    }
}
