//! Pieces shared by the run, experiment and logged-model searches: MLflow's
//! quoting rules, comparator sets, `IN` lists, compiled string / number
//! predicates and `order_by` string parsing.

use super::grammar::{Node, RawCmp, Statement};
use super::lexer::{lex, Kind, Token};
use super::like::Like;
use super::py::{literal_eval, set_repr, tuple_repr, PyLit};
use slipway_core::{Error, Result};
use std::collections::HashSet;

pub(crate) const METRIC_COMPARATORS: &[&str] = &[">", ">=", "!=", "=", "<", "<="];
pub(crate) const PARAM_COMPARATORS: &[&str] =
    &["!=", "=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"];
pub(crate) const TAG_COMPARATORS: &[&str] = PARAM_COMPARATORS;
pub(crate) const STRING_ATTRIBUTE_COMPARATORS: &[&str] =
    &["!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"];
pub(crate) const DATASET_COMPARATORS: &[&str] = STRING_ATTRIBUTE_COMPARATORS;

/// Formats a comparator set the way MLflow's messages print it.
pub(crate) fn comparators(set: &[&str]) -> String {
    set_repr(set)
}

fn is_quoted(v: &str, q: char) -> bool {
    v.len() >= 2 && v.starts_with(q) && v.ends_with(q)
}

fn trim_ends(v: &str) -> &str {
    let mut c = v.chars();
    c.next();
    c.next_back();
    c.as_str()
}

/// `SearchUtils._strip_quotes(value)`: drops one pair of `'` or `"`.
pub(crate) fn strip_quotes(v: &str) -> &str {
    if is_quoted(v, '\'') || is_quoted(v, '"') {
        trim_ends(v)
    } else {
        v
    }
}

/// `SearchUtils._strip_quotes(value, expect_quoted_value=True)`.
pub(crate) fn strip_quoted_value(v: &str) -> Result<&str> {
    if is_quoted(v, '\'') || is_quoted(v, '"') {
        Ok(trim_ends(v))
    } else {
        Err(Error::invalid(format!(
            "Parameter value is either not quoted or unidentified quote types used for string value {v}. \
             Use either single or double quotes."
        )))
    }
}

/// `SearchUtils._trim_backticks`.
pub(crate) fn trim_backticks(v: &str) -> &str {
    if is_quoted(v, '`') {
        trim_ends(v)
    } else {
        v
    }
}

/// `_parse_list_from_sql_token`: the strings of an `IN (...)` list.
pub(crate) fn parse_list(text: &str) -> Result<Vec<String>> {
    let ill_formed = || {
        Error::invalid(
            "While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list.",
        )
    };
    let items = match literal_eval(text).map_err(|_| ill_formed())? {
        PyLit::Tuple(items) => items,
        single => vec![single],
    };
    if items.is_empty() {
        return Err(Error::invalid(
            "While parsing a list in the query, expected a non-empty list of string values, but got empty list",
        ));
    }
    items
        .iter()
        .map(|i| match i {
            PyLit::Str(s) => Ok(s.clone()),
            _ => Err(Error::invalid(format!(
                "While parsing a list in the query, expected string value, punctuation, or whitespace, \
                 but got different type in list: {}",
                tuple_repr(&items.iter().map(PyLit::repr).collect::<Vec<_>>())
            ))),
        })
        .collect()
}

/// A comparison's right-hand side once MLflow's `_get_value` accepted it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// A numeric literal, as written.
    Number {
        text: String,
        is_int: bool,
    },
    Str(String),
    List(Vec<String>),
    /// `IS [NOT] NULL` has no operand.
    None,
}

/// A number as MLflow binds it: Python `int` or `float`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum NumVal {
    Int(i64),
    Float(f64),
}

impl NumVal {
    pub fn parse(text: &str, is_int: bool) -> NumVal {
        if is_int {
            if let Ok(i) = text.parse::<i64>() {
                return NumVal::Int(i);
            }
        }
        NumVal::Float(parse_f64(text))
    }
}

/// Python `float(text)` for the numeric literals the lexer produces.
pub(crate) fn parse_f64(text: &str) -> f64 {
    text.parse::<f64>().unwrap_or(f64::NAN)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumOp {
    Gt,
    Ge,
    Eq,
    Ne,
    Lt,
    Le,
}

impl NumOp {
    pub fn parse(op: &str) -> Option<NumOp> {
        Some(match op {
            ">" => NumOp::Gt,
            ">=" => NumOp::Ge,
            "=" => NumOp::Eq,
            "!=" => NumOp::Ne,
            "<" => NumOp::Lt,
            "<=" => NumOp::Le,
            _ => return None,
        })
    }

    #[inline]
    pub fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            NumOp::Gt => a > b,
            NumOp::Ge => a >= b,
            NumOp::Eq => a == b,
            NumOp::Ne => a != b,
            NumOp::Lt => a < b,
            NumOp::Le => a <= b,
        }
    }

    /// Compares an integer column with a bound number, as SQL does.
    #[inline]
    pub fn test_i64(self, a: i64, b: NumVal) -> bool {
        match b {
            NumVal::Int(b) => self.test(a, b),
            NumVal::Float(b) => self.test(a as f64, b),
        }
    }
}

/// A compiled string predicate.
#[derive(Debug, Clone)]
pub(crate) enum StrOp {
    Eq(String),
    Ne(String),
    Like(Like),
    In(HashSet<String>),
    NotIn(HashSet<String>),
}

impl StrOp {
    /// Builds the predicate for an upper-cased comparator; `None` if the
    /// comparator is not a string one or does not fit the operand.
    pub fn new(comparator: &str, operand: &Operand) -> Option<StrOp> {
        Some(match (comparator, operand) {
            ("=", Operand::Str(v)) => StrOp::Eq(v.clone()),
            ("!=", Operand::Str(v)) => StrOp::Ne(v.clone()),
            ("LIKE", Operand::Str(v)) => StrOp::Like(Like::new(v, false)),
            ("ILIKE", Operand::Str(v)) => StrOp::Like(Like::new(v, true)),
            ("IN", Operand::List(v)) => StrOp::In(v.iter().cloned().collect()),
            ("NOT IN", Operand::List(v)) => StrOp::NotIn(v.iter().cloned().collect()),
            _ => return None,
        })
    }

    #[inline]
    pub fn test(&self, s: &str) -> bool {
        match self {
            StrOp::Eq(v) => s == v,
            StrOp::Ne(v) => s != v,
            StrOp::Like(l) => l.matches(s),
            StrOp::In(set) => set.contains(s),
            StrOp::NotIn(set) => !set.contains(s),
        }
    }
}

/// The error for a list operand used with `=`/`LIKE`/..., or a scalar with `IN`.
pub(crate) fn operand_mismatch(comparator: &str) -> Error {
    if comparator.ends_with("IN") {
        Error::invalid(format!(
            "Comparator '{comparator}' expects a list of quoted string values."
        ))
    } else {
        Error::invalid(format!(
            "Comparator '{comparator}' cannot be used with a list of values; use 'IN' or 'NOT IN'."
        ))
    }
}

/// The comparisons of a filter in the run / experiment dialect (MLflow's
/// `SearchUtils.parse_search_filter` up to `_process_statement`).
/// `quote_invalid`: runs quote each invalid clause in the message, experiments do not.
pub(crate) fn filter_comparisons<'a>(
    filter: &'a str,
    quote_invalid: bool,
) -> Result<Vec<RawCmp<'a>>> {
    if filter.is_empty() {
        return Ok(vec![]);
    }
    let nodes = match super::grammar::parse_statement(filter) {
        Statement::Empty => {
            return Err(Error::invalid(format!(
                "Invalid filter '{filter}'. Could not be parsed."
            )))
        }
        Statement::Multiple => {
            return Err(Error::invalid(format!(
                "Search filter contained multiple expression {}. Provide AND-ed expression list.",
                super::py::repr_str(filter)
            )))
        }
        Statement::Nodes(nodes) => nodes,
    };
    let invalid: Vec<&Node<'_>> = nodes
        .iter()
        .filter(|n| !matches!(n, Node::Cmp(_)) && !matches!(n, Node::Tok(t) if t.is_keyword("AND")))
        .collect();
    if !invalid.is_empty() {
        let list: Vec<String> = invalid
            .iter()
            .map(|n| {
                if quote_invalid {
                    format!("'{}'", n.text())
                } else {
                    n.text().to_string()
                }
            })
            .collect();
        return Err(Error::invalid(format!(
            "Invalid clause(s) in filter string: {}",
            list.join(", ")
        )));
    }
    Ok(nodes
        .into_iter()
        .filter_map(|n| match n {
            Node::Cmp(c) => Some(c),
            Node::Tok(_) | Node::Group(_) => None,
        })
        .collect())
}

/// `_validate_comparison`: the left-hand side must be an identifier.
pub(crate) fn expect_identifier<'a>(cmp: &RawCmp<'a>) -> Result<&'a str> {
    if cmp.lhs.kind != Kind::Ident {
        return Err(Error::invalid(format!(
            "Invalid comparison clause. Expected 'Identifier' found '{}'",
            cmp.lhs.text
        )));
    }
    Ok(cmp.lhs.text)
}

/// Whether `tok` is a string operand for `_get_value` (a quoted string or an identifier).
pub(crate) fn is_string_token(tok: &Token<'_>) -> bool {
    matches!(tok.kind, Kind::Str | Kind::Ident)
}

pub(crate) fn is_number_token(tok: &Token<'_>) -> bool {
    matches!(tok.kind, Kind::Int | Kind::Float)
}

pub(crate) fn number_operand(tok: &Token<'_>) -> Operand {
    Operand::Number {
        text: tok.text.to_string(),
        is_int: tok.kind == Kind::Int,
    }
}

/// `SearchUtils._parse_order_by_string`: the identifier text and direction.
pub(crate) fn parse_order_by_string(order_by: &str) -> Result<(String, bool)> {
    let unparsable = || {
        Error::invalid(format!(
            "Invalid order_by clause '{order_by}'. Could not be parsed."
        ))
    };
    // sqlparse must see exactly one Identifier: a name followed by names / ASC / DESC,
    // with nothing around it (not even whitespace).
    let tokens = lex(order_by);
    let (Some(first), Some(last)) = (tokens.first(), tokens.last()) else {
        return Err(unparsable());
    };
    if first.is_ws() || last.is_ws() || !matches!(first.kind, Kind::Ident | Kind::Int | Kind::Float)
    {
        return Err(unparsable());
    }
    if !tokens[1..]
        .iter()
        .all(|t| matches!(t.kind, Kind::Ident | Kind::Order | Kind::Ws))
    {
        return Err(unparsable());
    }
    let words = shlex_split(&order_by.replace('`', "\"")).ok_or_else(unparsable)?;
    match words.len() {
        0 | 1 => Ok((order_by.trim().to_string(), true)),
        2 => {
            let dir = words[1].to_lowercase();
            if dir != "asc" && dir != "desc" {
                return Err(Error::invalid(format!(
                    "Invalid ordering key in order_by clause '{order_by}'."
                )));
            }
            Ok((words[0].trim().to_string(), dir == "asc"))
        }
        _ => Err(unparsable()),
    }
}

/// Python's `shlex.split` (POSIX mode); `None` where Python raises `ValueError`.
pub(crate) fn shlex_split(s: &str) -> Option<Vec<String>> {
    #[derive(PartialEq)]
    enum St {
        Normal,
        Single,
        Double,
    }
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut st = St::Normal;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match st {
            St::Normal => match c {
                ' ' | '\t' | '\r' | '\n' => {
                    if let Some(w) = cur.take() {
                        out.push(w);
                    }
                }
                '\'' => {
                    cur.get_or_insert_with(String::new);
                    st = St::Single;
                }
                '"' => {
                    cur.get_or_insert_with(String::new);
                    st = St::Double;
                }
                '\\' => cur.get_or_insert_with(String::new).push(chars.next()?),
                c => cur.get_or_insert_with(String::new).push(c),
            },
            St::Single => match c {
                '\'' => st = St::Normal,
                c => cur.get_or_insert_with(String::new).push(c),
            },
            St::Double => match c {
                '"' => st = St::Normal,
                '\\' => {
                    let n = chars.next()?;
                    let w = cur.get_or_insert_with(String::new);
                    if n != '"' && n != '\\' {
                        w.push('\\');
                    }
                    w.push(n);
                }
                c => cur.get_or_insert_with(String::new).push(c),
            },
        }
    }
    if st != St::Normal {
        return None;
    }
    if let Some(w) = cur {
        out.push(w);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes() {
        assert_eq!(strip_quotes("'a'"), "a");
        assert_eq!(strip_quotes("\"a\""), "a");
        assert_eq!(strip_quotes("'"), "'");
        assert_eq!(trim_backticks("`a b`"), "a b");
        assert_eq!(strip_quoted_value("'x'").unwrap(), "x");
        assert_eq!(
            strip_quoted_value("abc").unwrap_err().message,
            "Parameter value is either not quoted or unidentified quote types used for string value abc. \
             Use either single or double quotes."
        );
    }

    #[test]
    fn shlex_like_python() {
        assert_eq!(shlex_split("a b").unwrap(), ["a", "b"]);
        assert_eq!(
            shlex_split("metrics.\"my acc\"  DESC").unwrap(),
            ["metrics.my acc", "DESC"]
        );
        assert_eq!(shlex_split("\"\"").unwrap(), [""]);
        assert_eq!(shlex_split("a\\ b").unwrap(), ["a b"]);
        assert_eq!(shlex_split("\"a\\\"b\"").unwrap(), ["a\"b"]);
        assert!(shlex_split("\"a").is_none());
    }

    #[test]
    fn order_by_strings() {
        assert_eq!(
            parse_order_by_string("metrics.acc").unwrap(),
            ("metrics.acc".into(), true)
        );
        assert_eq!(
            parse_order_by_string("metrics.acc DESC").unwrap(),
            ("metrics.acc".into(), false)
        );
        assert_eq!(
            parse_order_by_string("metrics.`my acc` asc").unwrap(),
            ("metrics.my acc".into(), true)
        );
        assert_eq!(
            parse_order_by_string("metrics.\"a\"").unwrap(),
            ("metrics.\"a\"".into(), true)
        );
        let err = |s: &str| parse_order_by_string(s).unwrap_err().message;
        assert_eq!(
            err(" metrics.a"),
            "Invalid order_by clause ' metrics.a'. Could not be parsed."
        );
        assert_eq!(err(""), "Invalid order_by clause ''. Could not be parsed.");
        assert_eq!(
            err("metrics.a > 1"),
            "Invalid order_by clause 'metrics.a > 1'. Could not be parsed."
        );
        assert_eq!(
            err("metrics.a DESC DESC"),
            "Invalid order_by clause 'metrics.a DESC DESC'. Could not be parsed."
        );
        assert_eq!(
            err("Run Name"),
            "Invalid ordering key in order_by clause 'Run Name'."
        );
        assert_eq!(
            err("metrics.a DESCENDING"),
            "Invalid ordering key in order_by clause 'metrics.a DESCENDING'."
        );
        assert_eq!(
            err("'a' DESC"),
            "Invalid order_by clause ''a' DESC'. Could not be parsed."
        );
    }

    #[test]
    fn lists() {
        assert_eq!(parse_list("('a', 'b')").unwrap(), ["a", "b"]);
        assert_eq!(parse_list("('a')").unwrap(), ["a"]);
        assert_eq!(
            parse_list("()").unwrap_err().message,
            "While parsing a list in the query, expected a non-empty list of string values, but got empty list"
        );
        assert_eq!(
            parse_list("(1,2)").unwrap_err().message,
            "While parsing a list in the query, expected string value, punctuation, or whitespace, \
             but got different type in list: (1, 2)"
        );
        assert_eq!(
            parse_list("('a'").unwrap_err().message,
            "While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list."
        );
    }
}
