//! The bits of Python MLflow's search code leans on: `ast.literal_eval` of an
//! `IN (...)` list, and `repr()` / `str()` of strings, floats and
//! collections, which end up verbatim in MLflow's error messages.

/// A Python literal as far as an `IN` list can contain one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PyLit {
    Str(String),
    Bytes(String),
    Int(String),
    Float(f64),
    Const(&'static str),
    Tuple(Vec<PyLit>),
}

impl PyLit {
    pub fn repr(&self) -> String {
        match self {
            PyLit::Str(s) => repr_str(s),
            PyLit::Bytes(s) => format!("b{}", repr_str(s)),
            PyLit::Int(s) => s.clone(),
            PyLit::Float(f) => float_repr(*f),
            PyLit::Const(c) => c.to_string(),
            PyLit::Tuple(items) => tuple_repr(&items.iter().map(PyLit::repr).collect::<Vec<_>>()),
        }
    }
}

/// `repr(tuple)` given the items' reprs.
pub(crate) fn tuple_repr(items: &[String]) -> String {
    match items.len() {
        1 => format!("({},)", items[0]),
        _ => format!("({})", items.join(", ")),
    }
}

/// `repr(list)` of strings.
pub(crate) fn list_repr(items: &[&str]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| repr_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `repr(set)` / `str(set)` of strings, in the given order (Python's own order
/// is hash-randomized, so no order is more correct than another).
pub(crate) fn set_repr(items: &[&str]) -> String {
    format!(
        "{{{}}}",
        items
            .iter()
            .map(|s| repr_str(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Python's `repr(str)`.
pub(crate) fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if ('\u{80}'..='\u{a0}').contains(&c) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `repr(float)` (same as `str(float)`).
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Shortest round-trip digits and decimal exponent, e.g. "1.5e3".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{m}e{esign}{:02}", exp.abs())
    }
}

/// Why `literal_eval` failed.
#[derive(Debug, PartialEq)]
pub(crate) enum EvalError {
    /// Python raises `SyntaxError`.
    Syntax,
    /// Python raises `ValueError` ("malformed node or string"), e.g. for bare names.
    Malformed,
}

/// `ast.literal_eval` restricted to what an `IN` list may hold: strings (with
/// implicit concatenation), numbers, `None`/`True`/`False` and (nested) tuples.
pub(crate) fn literal_eval(src: &str) -> Result<PyLit, EvalError> {
    let mut p = Parser {
        s: src.as_bytes(),
        src,
        i: 0,
    };
    p.ws();
    let v = p.expr()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(EvalError::Syntax);
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => self.i += 1,
                b'\\' if self.s.get(self.i + 1) == Some(&b'\n') => self.i += 2,
                _ => break,
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expr(&mut self) -> Result<PyLit, EvalError> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b')') {
                    self.i += 1;
                    return Ok(PyLit::Tuple(vec![]));
                }
                let first = self.expr()?;
                self.ws();
                match self.peek() {
                    Some(b')') => {
                        self.i += 1;
                        Ok(first) // parenthesized expression, not a tuple
                    }
                    Some(b',') => {
                        let mut items = vec![first];
                        loop {
                            self.i += 1; // ','
                            self.ws();
                            if self.peek() == Some(b')') {
                                self.i += 1;
                                return Ok(PyLit::Tuple(items));
                            }
                            items.push(self.expr()?);
                            self.ws();
                            match self.peek() {
                                Some(b',') => continue,
                                Some(b')') => {
                                    self.i += 1;
                                    return Ok(PyLit::Tuple(items));
                                }
                                _ => return Err(EvalError::Syntax),
                            }
                        }
                    }
                    _ => Err(EvalError::Syntax),
                }
            }
            Some(b'\'' | b'"') => self.strings(),
            Some(b'-' | b'+' | b'0'..=b'9' | b'.') => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_alphanumeric()
                        || self.s[self.i] == b'_'
                        || self.s[self.i] >= 0x80)
                {
                    self.i += 1;
                }
                let word = &self.src[start..self.i];
                let prefix = word.to_ascii_lowercase();
                if matches!(self.peek(), Some(b'\'' | b'"'))
                    && matches!(prefix.as_str(), "r" | "u" | "b" | "br" | "rb")
                {
                    self.i = start;
                    return self.strings();
                }
                match word {
                    "None" => Ok(PyLit::Const("None")),
                    "True" => Ok(PyLit::Const("True")),
                    "False" => Ok(PyLit::Const("False")),
                    _ => Err(EvalError::Malformed),
                }
            }
            _ => Err(EvalError::Syntax),
        }
    }

    fn number(&mut self) -> Result<PyLit, EvalError> {
        let start = self.i;
        let mut neg = false;
        while matches!(self.peek(), Some(b'-' | b'+')) {
            neg ^= self.peek() == Some(b'-');
            self.i += 1;
            self.ws();
        }
        let body_start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || matches!(self.s[self.i], b'.' | b'_'))
        {
            // exponent sign
            if matches!(self.s[self.i], b'e' | b'E')
                && matches!(self.s.get(self.i + 1), Some(b'+' | b'-'))
            {
                self.i += 1;
            }
            self.i += 1;
        }
        let body: String = self.src[body_start..self.i]
            .chars()
            .filter(|c| *c != '_')
            .collect();
        if body.is_empty() || start == self.i {
            return Err(EvalError::Syntax);
        }
        let sign = if neg { "-" } else { "" };
        if body.bytes().all(|b| b.is_ascii_digit()) {
            let trimmed = body.trim_start_matches('0');
            let digits = if trimmed.is_empty() { "0" } else { trimmed };
            if digits == "0" {
                return Ok(PyLit::Int("0".into()));
            }
            return Ok(PyLit::Int(format!("{sign}{digits}")));
        }
        match body.parse::<f64>() {
            Ok(f)
                if body
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_digit() || b == b'.') =>
            {
                Ok(PyLit::Float(if neg { -f } else { f }))
            }
            _ => Err(EvalError::Syntax),
        }
    }

    /// One or more adjacent string literals (Python concatenates them).
    fn strings(&mut self) -> Result<PyLit, EvalError> {
        let mut out = String::new();
        let mut bytes: Option<bool> = None;
        loop {
            self.ws();
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_alphabetic() {
                self.i += 1;
            }
            let prefix = self.src[start..self.i].to_ascii_lowercase();
            if !matches!(prefix.as_str(), "" | "r" | "u" | "b" | "br" | "rb") {
                self.i = start;
                break;
            }
            let Some(q @ (b'\'' | b'"')) = self.peek() else {
                self.i = start;
                break;
            };
            let is_bytes = prefix.contains('b');
            if bytes.is_some_and(|b| b != is_bytes) {
                return Err(EvalError::Syntax); // cannot mix bytes and str
            }
            bytes = Some(is_bytes);
            self.string_body(q, prefix.contains('r'), &mut out)?;
        }
        match bytes {
            None => Err(EvalError::Syntax),
            Some(true) => Ok(PyLit::Bytes(out)),
            Some(false) => Ok(PyLit::Str(out)),
        }
    }

    fn string_body(&mut self, q: u8, raw: bool, out: &mut String) -> Result<(), EvalError> {
        let triple = self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]);
        self.i += if triple { 3 } else { 1 };
        loop {
            let Some(c) = self.src[self.i..].chars().next() else {
                return Err(EvalError::Syntax);
            };
            if c as u32 == q as u32 {
                if !triple {
                    self.i += 1;
                    return Ok(());
                }
                if self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]) {
                    self.i += 3;
                    return Ok(());
                }
            }
            if c == '\n' && !triple {
                return Err(EvalError::Syntax);
            }
            if c == '\\' {
                let Some(n) = self.src[self.i + 1..].chars().next() else {
                    return Err(EvalError::Syntax);
                };
                if raw {
                    out.push('\\');
                    out.push(n);
                    self.i += 1 + n.len_utf8();
                    continue;
                }
                self.i += 1 + n.len_utf8();
                match n {
                    '\n' => {}
                    '\\' => out.push('\\'),
                    '\'' => out.push('\''),
                    '"' => out.push('"'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '0'..='7' => {
                        let mut v = n.to_digit(8).expect("octal");
                        for _ in 0..2 {
                            match self.peek() {
                                Some(d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    self.i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(char::from_u32(v).ok_or(EvalError::Syntax)?);
                    }
                    'x' | 'u' | 'U' => {
                        let len = match n {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex = self
                            .src
                            .get(self.i..self.i + len)
                            .ok_or(EvalError::Syntax)?;
                        let v = u32::from_str_radix(hex, 16).map_err(|_| EvalError::Syntax)?;
                        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                            return Err(EvalError::Syntax);
                        }
                        out.push(char::from_u32(v).ok_or(EvalError::Syntax)?);
                        self.i += len;
                    }
                    other => {
                        // Unknown escapes are kept as written (with a warning in Python).
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            out.push(c);
            self.i += c.len_utf8();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &PyLit) -> Vec<String> {
        match v {
            PyLit::Str(s) => vec![s.clone()],
            PyLit::Tuple(items) => items.iter().flat_map(strs).collect(),
            other => vec![format!("<{}>", other.repr())],
        }
    }

    #[test]
    fn evaluates_in_lists() {
        assert_eq!(strs(&literal_eval("('a', 'b')").unwrap()), ["a", "b"]);
        assert_eq!(literal_eval("('a')").unwrap(), PyLit::Str("a".into()));
        assert_eq!(strs(&literal_eval("('a',)").unwrap()), ["a"]);
        assert_eq!(
            strs(&literal_eval("('a' 'b', \"c\\n\")").unwrap()),
            ["ab", "c\n"]
        );
        assert_eq!(literal_eval("()").unwrap(), PyLit::Tuple(vec![]));
        assert_eq!(literal_eval("('a', None)").unwrap().repr(), "('a', None)");
        assert_eq!(literal_eval("(1, 2.5)").unwrap().repr(), "(1, 2.5)");
        assert_eq!(literal_eval("(a)"), Err(EvalError::Malformed));
        assert_eq!(literal_eval("('a' 'b'"), Err(EvalError::Syntax));
        assert_eq!(literal_eval("('a',,)"), Err(EvalError::Syntax));
        assert_eq!(
            strs(&literal_eval(r"(r'a\d', '\x41\u00e9')").unwrap()),
            ["a\\d", "Aé"]
        );
    }

    #[test]
    fn reprs_match_python() {
        assert_eq!(repr_str("abc"), "'abc'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a'\"b"), "'a\\'\"b'");
        assert_eq!(repr_str("a\nb\\"), "'a\\nb\\\\'");
        assert_eq!(float_repr(5.5), "5.5");
        assert_eq!(float_repr(1000.0), "1000.0");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1.5e-5), "1.5e-05");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(-0.5), "-0.5");
        assert_eq!(float_repr(123456789012345.6), "123456789012345.6");
        assert_eq!(tuple_repr(&["'a'".into()]), "('a',)");
        assert_eq!(list_repr(&["a", "b"]), "['a', 'b']");
        assert_eq!(set_repr(&["a"]), "{'a'}");
    }
}
