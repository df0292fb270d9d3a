//! `search_experiments`: MLflow's experiment filter and `order_by`.
//!
//! Parsing follows `SearchExperimentsUtils`: identifiers are `name`,
//! `experiment_id`, `creation_time`, `last_update_time` (bare or
//! `attribute.`-prefixed) and `tag.x` / `tags.x`. Evaluation and ordering
//! follow `SqlAlchemyStore._search_experiments`: a tag comparison needs the
//! tag, `experiment_id` compares as an integer, the default order is
//! `creation_time DESC, experiment_id ASC`, an explicit order gets an
//! `experiment_id DESC` tie-breaker, and a missing time sorts as SQL NULL
//! (lowest).

use super::common::*;
use super::grammar::RawCmp;
use super::lexer::{Kind, Token};
use super::py::{float_repr, set_repr};
use slipway_core::{Error, Result};
use slipway_protocol::Experiment;
use std::cmp::Ordering;
use std::collections::HashSet;

const SEARCH_ATTRIBUTE_KEYS: &[&str] =
    &["name", "experiment_id", "creation_time", "last_update_time"];
const ORDER_BY_ATTRIBUTE_KEYS: &[&str] = SEARCH_ATTRIBUTE_KEYS;
const NUMERIC_ATTRIBUTES: &[&str] = &["creation_time", "last_update_time"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EntityType {
    Attribute,
    Tag,
}

/// `SearchExperimentsUtils._get_identifier` (also used for model-version `order_by`).
pub(super) fn get_identifier(
    identifier: &str,
    valid_attributes: &[&str],
) -> Result<(EntityType, String)> {
    let (typ, key) = match identifier.split_once('.') {
        None => (EntityType::Attribute, identifier),
        Some((entity, key)) => {
            let typ = match entity {
                "attribute" => EntityType::Attribute,
                "tag" | "tags" => EntityType::Tag,
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid entity type '{entity}'. Valid entity types are ('attribute', 'tag', 'tags')"
                    )))
                }
            };
            (typ, key)
        }
    };
    let key = trim_backticks(strip_quotes(key));
    if typ == EntityType::Attribute && !valid_attributes.contains(&key) {
        return Err(Error::invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            set_repr(valid_attributes)
        )));
    }
    Ok((typ, key.to_string()))
}

/// `SearchUtils._get_value` with the experiment class attributes.
fn get_value(typ: EntityType, key: &str, tok: &Token<'_>) -> Result<Operand> {
    let text = tok.text;
    match typ {
        EntityType::Tag if is_string_token(tok) => {
            Ok(Operand::Str(strip_quoted_value(text)?.to_string()))
        }
        EntityType::Tag => Err(Error::invalid(format!(
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value {text}"
        ))),
        EntityType::Attribute if NUMERIC_ATTRIBUTES.contains(&key) => {
            if is_number_token(tok) {
                Ok(number_operand(tok))
            } else {
                Err(Error::invalid(format!(
                    "Expected numeric value type for numeric attribute: {key}. Found {text}"
                )))
            }
        }
        EntityType::Attribute if is_string_token(tok) => {
            Ok(Operand::Str(strip_quoted_value(text)?.to_string()))
        }
        EntityType::Attribute if tok.kind == Kind::Paren => {
            if key != "experiment_id" {
                return Err(Error::invalid(
                    "Only ['experiment_id'] attributes support comparison with a list of quoted string values.",
                ));
            }
            Ok(Operand::List(parse_list(text)?))
        }
        EntityType::Attribute => Err(Error::invalid(format!(
            "Expected a quoted string value for attributes. Got value {text}"
        ))),
    }
}

struct Parsed {
    typ: EntityType,
    key: String,
    comparator: String,
    operand: Operand,
}

/// `SearchExperimentsUtils._get_comparison`.
fn get_comparison(cmp: &RawCmp<'_>) -> Result<Parsed> {
    let ident = expect_identifier(cmp)?;
    let (typ, key) = get_identifier(ident, SEARCH_ATTRIBUTE_KEYS)?;
    let operand = match &cmp.rhs {
        None => {
            if typ != EntityType::Tag {
                return Err(Error::invalid(format!(
                    "IS NULL / IS NOT NULL is only supported for tags, not for attribute '{key}'"
                )));
            }
            Operand::None
        }
        Some(rhs) => get_value(typ, &key, rhs)?,
    };
    Ok(Parsed {
        typ,
        key,
        comparator: cmp.op.clone(),
        operand,
    })
}

#[derive(Debug, Clone)]
enum IdOp {
    Eq(i64),
    Ne(i64),
    In(HashSet<i64>),
    NotIn(HashSet<i64>),
}

#[derive(Debug, Clone)]
enum Clause {
    Name(StrOp),
    ExperimentId(IdOp),
    CreationTime(NumOp, i64),
    LastUpdateTime(NumOp, i64),
    Tag {
        key: String,
        op: Option<StrOp>,
        present: bool,
    },
}

/// `mlflow.utils.validation._parse_experiment_id`.
fn parse_experiment_id(v: &str) -> Result<i64> {
    let t = v.trim();
    t.strip_prefix('+')
        .unwrap_or(t)
        .replace('_', "")
        .parse::<i64>()
        .ok()
        .filter(|_| !t.starts_with('_') && !t.ends_with('_') && !t.contains("__"))
        .ok_or_else(|| {
            Error::invalid(format!(
                "Invalid experiment ID '{v}'. Experiment ID must be a valid integer."
            ))
        })
}

/// Comparator validation and compilation, as `_get_search_experiments_filter_clauses` does it.
fn compile(p: Parsed) -> Result<Clause> {
    let c = p.comparator.to_uppercase();
    let c = c.as_str();
    let key = p.key.as_str();
    match p.typ {
        EntityType::Attribute if key == "experiment_id" => {
            let op = match (c, &p.operand) {
                ("=", Operand::Str(v)) => IdOp::Eq(parse_experiment_id(v)?),
                ("!=", Operand::Str(v)) => IdOp::Ne(parse_experiment_id(v)?),
                ("IN" | "NOT IN", Operand::List(vs)) => {
                    let ids = vs
                        .iter()
                        .map(|v| parse_experiment_id(v))
                        .collect::<Result<HashSet<_>>>()?;
                    if c == "IN" {
                        IdOp::In(ids)
                    } else {
                        IdOp::NotIn(ids)
                    }
                }
                ("=" | "!=" | "IN" | "NOT IN", _) => return Err(operand_mismatch(c)),
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid comparator for experiment_id: {c}"
                    )))
                }
            };
            Ok(Clause::ExperimentId(op))
        }
        EntityType::Attribute if NUMERIC_ATTRIBUTES.contains(&key) => {
            // MLflow's message for numeric attributes lists the string comparators.
            let op = NumOp::parse(c).ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid comparator '{c}' not one of '{}",
                    comparators(STRING_ATTRIBUTE_COMPARATORS)
                ))
            })?;
            let Operand::Number { text, is_int } = &p.operand else {
                unreachable!("numeric attributes only take numbers")
            };
            let value = match NumVal::parse(text, *is_int) {
                NumVal::Int(i) => i,
                NumVal::Float(f) => {
                    return Err(Error::invalid(format!(
                        "Invalid value for numeric attribute '{key}': '{}'",
                        float_repr(f)
                    )))
                }
            };
            Ok(if key == "creation_time" {
                Clause::CreationTime(op, value)
            } else {
                Clause::LastUpdateTime(op, value)
            })
        }
        EntityType::Attribute => {
            if !STRING_ATTRIBUTE_COMPARATORS.contains(&c) {
                return Err(Error::invalid(format!(
                    "Invalid comparator '{c}' not one of '{}'",
                    comparators(STRING_ATTRIBUTE_COMPARATORS)
                )));
            }
            let op = StrOp::new(c, &p.operand)
                .filter(|_| !c.ends_with("IN"))
                .ok_or_else(|| {
                    Error::invalid(format!("Invalid comparator for string attribute: {c}"))
                })?;
            Ok(Clause::Name(op))
        }
        EntityType::Tag => match c {
            "IS NULL" | "IS NOT NULL" => Ok(Clause::Tag {
                key: p.key,
                op: None,
                present: c == "IS NOT NULL",
            }),
            "=" | "!=" | "LIKE" | "ILIKE" => Ok(Clause::Tag {
                op: Some(StrOp::new(c, &p.operand).ok_or_else(|| operand_mismatch(c))?),
                key: p.key,
                present: true,
            }),
            _ => Err(Error::invalid(format!("Invalid comparator for tag: {c}"))),
        },
    }
}

fn experiment_id(e: &Experiment) -> Option<i64> {
    e.experiment_id.parse().ok()
}

impl Clause {
    fn matches(&self, e: &Experiment) -> bool {
        match self {
            Clause::Name(op) => op.test(&e.name),
            Clause::ExperimentId(op) => experiment_id(e).is_some_and(|id| match op {
                IdOp::Eq(v) => id == *v,
                IdOp::Ne(v) => id != *v,
                IdOp::In(s) => s.contains(&id),
                IdOp::NotIn(s) => !s.contains(&id),
            }),
            Clause::CreationTime(op, v) => e.creation_time.is_some_and(|t| op.test(t, *v)),
            Clause::LastUpdateTime(op, v) => e.last_update_time.is_some_and(|t| op.test(t, *v)),
            Clause::Tag { key, op, present } => {
                let tag = e.tags.iter().find(|t| t.key == *key);
                match op {
                    None => tag.is_some() == *present,
                    Some(op) => tag.is_some_and(|t| op.test(&t.value)),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    ExperimentId,
    CreationTime,
    LastUpdateTime,
}

impl Field {
    fn cmp(self, a: &Experiment, b: &Experiment) -> Ordering {
        match self {
            Field::Name => a.name.cmp(&b.name),
            Field::ExperimentId => match (experiment_id(a), experiment_id(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (x, y) => y
                    .is_some()
                    .cmp(&x.is_some())
                    .then_with(|| a.experiment_id.cmp(&b.experiment_id)),
            },
            // SQL NULL sorts lowest.
            Field::CreationTime => a.creation_time.cmp(&b.creation_time),
            Field::LastUpdateTime => a.last_update_time.cmp(&b.last_update_time),
        }
    }
}

fn parse_order_by(order_by: &[String]) -> Result<Vec<(Field, bool)>> {
    let mut out = Vec::with_capacity(order_by.len() + 1);
    for clause in order_by {
        let (token, ascending) = parse_order_by_string(clause)?;
        let (typ, key) = get_identifier(token.trim(), ORDER_BY_ATTRIBUTE_KEYS)?;
        if typ != EntityType::Attribute {
            return Err(Error::invalid("Invalid order_by entity: tag"));
        }
        let field = match key.as_str() {
            "name" => Field::Name,
            "experiment_id" => Field::ExperimentId,
            "creation_time" => Field::CreationTime,
            _ => Field::LastUpdateTime,
        };
        out.push((field, ascending));
    }
    if out.is_empty() {
        out = vec![(Field::CreationTime, false), (Field::ExperimentId, true)];
    } else if !out.iter().any(|(f, _)| *f == Field::ExperimentId) {
        out.push((Field::ExperimentId, false));
    }
    Ok(out)
}

/// A parsed `search_experiments` filter and ordering.
#[derive(Debug, Clone)]
pub(crate) struct ExperimentQuery {
    clauses: Vec<Clause>,
    order: Vec<(Field, bool)>,
}

impl ExperimentQuery {
    /// Validates in MLflow's order: filter syntax and values, then comparators, then `order_by`.
    pub fn parse(filter: &str, order_by: &[String]) -> Result<Self> {
        let clauses = filter_comparisons(filter, false)?
            .iter()
            .map(get_comparison)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .map(compile)
            .collect::<Result<Vec<_>>>()?;
        let order = parse_order_by(order_by)?;
        Ok(ExperimentQuery { clauses, order })
    }

    pub fn matches(&self, e: &Experiment) -> bool {
        self.clauses.iter().all(|c| c.matches(e))
    }

    /// Sorts `hits` (indices into `exps`) into result order.
    pub fn sort_indices(&self, exps: &[Experiment], hits: &mut [usize]) {
        hits.sort_by(|&a, &b| {
            for (f, asc) in &self.order {
                let o = f.cmp(&exps[a], &exps[b]);
                let o = if *asc { o } else { o.reverse() };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }

    #[cfg(test)]
    fn sorted_indices(&self, exps: &[Experiment]) -> Vec<usize> {
        let mut v: Vec<usize> = (0..exps.len()).collect();
        self.sort_indices(exps, &mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_protocol::Tag;

    fn exp(id: &str, name: &str, created: Option<i64>, tags: &[(&str, &str)]) -> Experiment {
        Experiment {
            experiment_id: id.into(),
            name: name.into(),
            creation_time: created,
            last_update_time: created,
            tags: tags.iter().map(|(k, v)| Tag::new(*k, *v)).collect(),
            ..Default::default()
        }
    }

    fn fixture() -> Vec<Experiment> {
        vec![
            exp("0", "Default", Some(100), &[]),
            exp("2", "srch-c", Some(300), &[("idx", "0"), ("group", "h")]),
            exp("10", "srch-a", Some(400), &[("idx", "1"), ("group", "g")]),
            exp("11", "srch-d", Some(400), &[("idx", "2")]),
            exp("12", "Srch-b", None, &[("idx", "3"), ("group", "g")]),
        ]
    }

    fn search(filter: &str, order_by: &[&str]) -> Vec<String> {
        let v: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
        let q = ExperimentQuery::parse(filter, &v).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let exps: Vec<Experiment> = fixture().into_iter().filter(|e| q.matches(e)).collect();
        q.sorted_indices(&exps)
            .into_iter()
            .map(|i| exps[i].name.clone())
            .collect()
    }

    fn err(filter: &str, order_by: &[&str]) -> String {
        let v: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
        ExperimentQuery::parse(filter, &v).unwrap_err().message
    }

    #[test]
    fn filters_and_default_order() {
        assert_eq!(
            search("", &[]),
            ["srch-a", "srch-d", "srch-c", "Default", "Srch-b"]
        );
        assert_eq!(
            search("name LIKE 'srch%'", &[]),
            ["srch-a", "srch-d", "srch-c"]
        );
        assert_eq!(
            search("name ILIKE 'SRCH-%'", &["name"]),
            ["Srch-b", "srch-a", "srch-c", "srch-d"]
        );
        assert_eq!(
            search("attribute.name != 'Default'", &["name DESC"]),
            ["srch-d", "srch-c", "srch-a", "Srch-b"]
        );
        assert_eq!(search("tags.group = 'g'", &["name"]), ["Srch-b", "srch-a"]);
        assert_eq!(
            search("tag.group IS NULL", &["name"]),
            ["Default", "srch-d"]
        );
        assert_eq!(
            search("tags.group IS NOT NULL and tags.idx like '%3'", &[]),
            ["Srch-b"]
        );
        assert_eq!(search("creation_time >= 400", &[]), ["srch-a", "srch-d"]);
        assert_eq!(
            search("last_update_time < 400", &["name"]),
            ["Default", "srch-c"]
        );
        assert_eq!(search("experiment_id = '10'", &[]), ["srch-a"]);
        assert_eq!(
            search("experiment_id IN ('2', '12')", &["experiment_id"]),
            ["srch-c", "Srch-b"]
        );
        assert_eq!(
            search("experiment_id NOT IN ('2', '12')", &["experiment_id DESC"]),
            ["srch-d", "srch-a", "Default"]
        );
    }

    #[test]
    fn ordering_follows_sql() {
        // experiment_id is numeric: 2 < 10 < 11 < 12.
        assert_eq!(
            search("", &["experiment_id"]),
            ["Default", "srch-c", "srch-a", "srch-d", "Srch-b"]
        );
        // Ties on creation_time broken by experiment_id DESC; NULL lowest.
        assert_eq!(
            search("", &["creation_time"]),
            ["Srch-b", "Default", "srch-c", "srch-d", "srch-a"]
        );
        assert_eq!(
            search("", &["creation_time DESC", "experiment_id ASC"]),
            ["srch-a", "srch-d", "srch-c", "Default", "Srch-b"]
        );
    }

    #[test]
    fn mlflow_error_messages() {
        assert_eq!(
            err("name = 'a' OR name = 'b'", &[]),
            "Invalid clause(s) in filter string: OR"
        );
        assert_eq!(
            err("attributes.name = 'a'", &[]),
            "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')"
        );
        assert_eq!(
            err("nme = 'x'", &[]),
            format!(
                "Invalid attribute key 'nme' specified. Valid keys are '{}'",
                set_repr(SEARCH_ATTRIBUTE_KEYS)
            )
        );
        assert_eq!(
            err("metrics.x > 1", &[]),
            "Invalid entity type 'metrics'. Valid entity types are ('attribute', 'tag', 'tags')"
        );
        assert_eq!(
            err("name IN ('a')", &[]),
            "Only ['experiment_id'] attributes support comparison with a list of quoted string values."
        );
        assert_eq!(
            err("name IS NULL", &[]),
            "IS NULL / IS NOT NULL is only supported for tags, not for attribute 'name'"
        );
        assert_eq!(
            err("tags.x = 1", &[]),
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value 1"
        );
        assert_eq!(
            err("experiment_id = 1", &[]),
            "Expected a quoted string value for attributes. Got value 1"
        );
        assert_eq!(
            err("experiment_id = 'abc'", &[]),
            "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."
        );
        assert_eq!(
            err("experiment_id LIKE '1%'", &[]),
            "Invalid comparator for experiment_id: LIKE"
        );
        assert_eq!(
            err("creation_time > 5.5", &[]),
            "Invalid value for numeric attribute 'creation_time': '5.5'"
        );
        assert_eq!(
            err("creation_time > '5'", &[]),
            "Expected numeric value type for numeric attribute: creation_time. Found '5'"
        );
        assert_eq!(err("tags.x < 'a'", &[]), "Invalid comparator for tag: <");
        assert_eq!(
            err("name < 'a'", &[]),
            format!(
                "Invalid comparator '<' not one of '{}'",
                comparators(STRING_ATTRIBUTE_COMPARATORS)
            )
        );
        assert_eq!(err("", &["tags.x"]), "Invalid order_by entity: tag");
        assert_eq!(
            err("", &["attributes.name"]),
            "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')"
        );
        assert_eq!(
            err("", &["name DESC extra"]),
            "Invalid order_by clause 'name DESC extra'. Could not be parsed."
        );
    }
}
