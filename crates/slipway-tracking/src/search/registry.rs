//! Model registry searches: `registered-models/search` and `model-versions/search`.
//!
//! Parsing follows `SearchModelUtils` / `SearchModelVersionUtils`; comparator
//! checks, evaluation and ordering follow the SQL registry store
//! (`search_registered_models` / `search_model_versions`):
//! * registered models filter on `name` (`=`, `!=`, `LIKE`, `ILIKE`, `IN`,
//!   `NOT IN`) and `tags.<key>` (`=`, `!=`, `LIKE`, `ILIKE`); model versions
//!   also on `run_id` (string comparators, `IN`, `NOT IN`), `source_path`
//!   (no lists) and `version_number` (numeric comparators; a quoted integer is
//!   accepted too). Entity prefixes are `attribute.`, `tag.` and `tags.`;
//! * a tag comparison needs the tag; a version without a `run_id` matches no
//!   `run_id` comparison (SQL `NULL`);
//! * prompts (tag `mlflow.prompt.is_prompt = 'true'`; for versions, any
//!   version of the same model carrying it) are left out unless the first
//!   filter on that tag is `= 'true'` or `!= 'false'` (values compared
//!   case-insensitively); when they are left out, filters on that tag are
//!   dropped;
//! * versions in the internal `Deleted_Internal` stage are never returned
//!   (no status filter: MLflow returns versions of any status);
//! * registered models order by `name` or `timestamp` /
//!   `last_updated_timestamp` (the same column), then `name ASC`; versions by
//!   `name`, `version_number`, `creation_timestamp`, `last_updated_timestamp`
//!   (default `last_updated_timestamp DESC`), then `name ASC`, `version_number
//!   DESC`. A missing timestamp sorts as SQL `NULL` (lowest), as in SQLite.
//!
//! Deliberate differences (where MLflow fails with an internal error):
//! `IS [NOT] NULL`, a list operand with a non-list comparator and a duplicate
//! `order_by` field are `INVALID_PARAMETER_VALUE`; an out-of-range
//! `version_number` saturates; `max_results < 1` is rejected for registered
//! models as it is for versions. `ILIKE` folds non-ASCII case (see `like`).

use super::common::*;
use super::experiments;
use super::grammar::RawCmp;
use super::lexer::{Kind, Token};
use super::py::{float_repr, list_repr, repr_str, set_repr};
use slipway_core::{Error, Result};
use slipway_protocol::{ModelVersion, RegisteredModel, Tag};
use std::cmp::Ordering;
use std::collections::HashSet;

/// The tag that marks a registered model / model version as a prompt.
pub(crate) const PROMPT_TAG: &str = "mlflow.prompt.is_prompt";
/// `STAGE_DELETED_INTERNAL`: versions MLflow keeps but never shows.
pub(crate) const STAGE_DELETED_INTERNAL: &str = "Deleted_Internal";

pub(crate) const REGISTERED_MODELS_MAX_RESULTS_DEFAULT: usize = 100;
pub(crate) const REGISTERED_MODELS_MAX_RESULTS_THRESHOLD: usize = 1000;
/// The REST default (`SearchModelVersions.max_results` defaults to 200000 in
/// the proto; the Python client sends 10000 explicitly).
pub(crate) const MODEL_VERSIONS_MAX_RESULTS_DEFAULT: usize = 200_000;
pub(crate) const MODEL_VERSIONS_MAX_RESULTS_THRESHOLD: usize = 200_000;

const MODEL_SEARCH_KEYS: &[&str] = &["name"];
const MODEL_LIST_KEYS: &[&str] = &["name"];
const MODEL_ORDER_BY_KEYS: &[&str] = &["timestamp", "last_updated_timestamp", "name"];
/// `RECOMMENDED_ORDER_BY_KEYS_REGISTERED_MODELS`, quoted in the error.
const MODEL_RECOMMENDED_ORDER_BY_KEYS: &[&str] = &["name", "timestamp"];

const VERSION_SEARCH_KEYS: &[&str] = &["name", "version_number", "run_id", "source_path"];
const VERSION_LIST_KEYS: &[&str] = &["name", "run_id"];
const VERSION_NUMERIC_KEYS: &[&str] = &[
    "version_number",
    "creation_timestamp",
    "last_updated_timestamp",
];
const VERSION_ORDER_BY_KEYS: &[&str] = &[
    "name",
    "version_number",
    "creation_timestamp",
    "last_updated_timestamp",
];
const REGISTRY_TAG_COMPARATORS: &[&str] = &["=", "!=", "LIKE", "ILIKE"];

/// Which of the two searches a filter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registry {
    Models,
    Versions,
}

impl Registry {
    fn search_keys(self) -> &'static [&'static str] {
        match self {
            Registry::Models => MODEL_SEARCH_KEYS,
            Registry::Versions => VERSION_SEARCH_KEYS,
        }
    }

    /// `LIST_SUPPORTED_KEYS`, sorted as MLflow prints them.
    fn list_keys(self) -> &'static [&'static str] {
        match self {
            Registry::Models => MODEL_LIST_KEYS,
            Registry::Versions => VERSION_LIST_KEYS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntityType {
    Attribute,
    Tag,
}

/// `_get_model_search_identifier` / `_get_model_version_search_identifier`.
/// Unlike the experiment version, the attribute key is checked before its
/// quotes are stripped (so `` `name` `` is not an attribute).
fn get_identifier(identifier: &str, valid_attributes: &[&str]) -> Result<(EntityType, String)> {
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
    if typ == EntityType::Attribute && !valid_attributes.contains(&key) {
        return Err(Error::invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            set_repr(valid_attributes)
        )));
    }
    Ok((typ, trim_backticks(strip_quotes(key)).to_string()))
}

/// `SearchModelUtils._get_value` / `SearchModelVersionUtils._get_value`.
fn get_value(reg: Registry, typ: EntityType, key: &str, tok: &Token<'_>) -> Result<Operand> {
    let text = tok.text;
    if is_string_token(tok) {
        return Ok(Operand::Str(strip_quoted_value(text)?.to_string()));
    }
    if typ == EntityType::Tag {
        return Err(Error::invalid(format!(
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value {text}"
        )));
    }
    if tok.kind == Kind::Paren {
        if !reg.list_keys().contains(&key) {
            return Err(Error::invalid(format!(
                "Only {} attributes support comparison with a list of quoted string values.",
                list_repr(reg.list_keys())
            )));
        }
        return Ok(Operand::List(parse_list(text)?));
    }
    if reg == Registry::Versions && is_number_token(tok) {
        if !VERSION_NUMERIC_KEYS.contains(&key) {
            return Err(Error::invalid(format!(
                "Only the '{}' attributes support comparison with numeric values.",
                set_repr(VERSION_NUMERIC_KEYS)
            )));
        }
        return Ok(number_operand(tok));
    }
    Err(Error::invalid(format!(
        "Expected a quoted string value or a list of quoted string values for attributes. Got value {text}"
    )))
}

/// One comparison after `parse_search_filter`, before the store's checks.
struct Parsed {
    typ: EntityType,
    key: String,
    /// Upper-cased, as `_get_comparison` stores it.
    comparator: String,
    operand: Operand,
}

/// `_get_comparison` of the two registry utils.
fn get_comparison(reg: Registry, cmp: &RawCmp<'_>) -> Result<Parsed> {
    let ident = expect_identifier(cmp)?;
    let (typ, key) = get_identifier(ident, reg.search_keys())?;
    let operand = match &cmp.rhs {
        // MLflow fails to unpack these (an internal error); the comparator
        // checks reject them below.
        None => Operand::None,
        Some(rhs) => get_value(reg, typ, &key, rhs)?,
    };
    Ok(Parsed {
        typ,
        key,
        comparator: cmp.op.to_uppercase(),
        operand,
    })
}

fn parse_filter(reg: Registry, filter: &str) -> Result<Vec<Parsed>> {
    filter_comparisons(filter, false)?
        .iter()
        .map(|c| get_comparison(reg, c))
        .collect()
}

/// `_is_querying_prompt`: the first filter on the prompt tag decides.
fn querying_prompts(parsed: &[Parsed]) -> bool {
    for p in parsed {
        if p.typ != EntityType::Tag || p.key != PROMPT_TAG {
            continue;
        }
        let Operand::Str(v) = &p.operand else {
            return false;
        };
        let v = v.to_lowercase();
        return (p.comparator == "=" && v == "true") || (p.comparator == "!=" && v == "false");
    }
    false
}

fn is_prompt(tags: &[Tag]) -> bool {
    tags.iter()
        .any(|t| t.key == PROMPT_TAG && t.value == "true")
}

fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

/// A compiled tag comparison (the same for models and versions).
#[derive(Debug, Clone)]
struct TagClause {
    key: String,
    op: StrOp,
}

impl TagClause {
    fn compile(p: Parsed) -> Result<TagClause> {
        let c = p.comparator.as_str();
        if !REGISTRY_TAG_COMPARATORS.contains(&c) {
            return Err(Error::invalid(format!("Invalid comparator for tag: {c}")));
        }
        Ok(TagClause {
            op: StrOp::new(c, &p.operand).ok_or_else(|| operand_mismatch(c))?,
            key: p.key,
        })
    }

    fn matches(&self, tags: &[Tag]) -> bool {
        tag_value(tags, &self.key).is_some_and(|v| self.op.test(v))
    }
}

/// Python's `int(str)` (ASCII digits): optional sign, `_` between digits,
/// surrounding whitespace. Out-of-range values saturate.
fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty()
        || body.starts_with('_')
        || body.ends_with('_')
        || body.contains("__")
        || !body.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let mut v: i128 = 0;
    for b in body.bytes().filter(u8::is_ascii_digit) {
        v = (v * 10 + i128::from(b - b'0')).min(i128::from(i64::MAX) + 1);
    }
    let v = if neg { -v } else { v };
    Some(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// The integer a version string holds (`None` sorts and compares as SQL NULL).
fn version_number(v: &ModelVersion) -> Option<i64> {
    v.version.trim().parse().ok()
}

/// The page-size bound of the SQL registry store.
pub(crate) fn check_max_results(max_results: i64, threshold: usize) -> Result<usize> {
    if max_results < 1 {
        return Err(Error::invalid(format!(
            "Invalid value for max_results. It must be a positive integer, but got {max_results}"
        )));
    }
    if max_results as u64 > threshold as u64 {
        return Err(Error::invalid(format!(
            "Invalid value for request parameter max_results. It must be at most {threshold}, \
             but got value {max_results}"
        )));
    }
    Ok(max_results as usize)
}

fn duplicate_fields(order_by: &[String]) -> Error {
    let list: Vec<&str> = order_by.iter().map(String::as_str).collect();
    Error::invalid(format!(
        "`order_by` contains duplicate fields: {}",
        list_repr(&list)
    ))
}

fn directed(o: Ordering, ascending: bool) -> Ordering {
    if ascending {
        o
    } else {
        o.reverse()
    }
}

// ---------------------------------------------------------------------------
// Registered models

#[derive(Debug, Clone)]
enum ModelClause {
    Name(StrOp),
    Tag(TagClause),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelField {
    Name,
    LastUpdated,
}

impl ModelField {
    fn cmp(self, a: &RegisteredModel, b: &RegisteredModel) -> Ordering {
        match self {
            ModelField::Name => a.name.cmp(&b.name),
            ModelField::LastUpdated => a.last_updated_timestamp.cmp(&b.last_updated_timestamp),
        }
    }
}

/// `SqlAlchemyStore._parse_search_registered_models_order_by`.
fn parse_model_order_by(order_by: &[String]) -> Result<Vec<(ModelField, bool)>> {
    let mut out = Vec::with_capacity(order_by.len() + 1);
    for clause in order_by {
        let (token, ascending) = parse_order_by_string(clause)?;
        let token = token.trim();
        if !MODEL_ORDER_BY_KEYS.contains(&token) {
            return Err(Error::invalid(format!(
                "Invalid order by key '{token}' specified. Valid keys are '{}'",
                set_repr(MODEL_RECOMMENDED_ORDER_BY_KEYS)
            )));
        }
        let field = if token == "name" {
            ModelField::Name
        } else {
            ModelField::LastUpdated
        };
        if out.iter().any(|(f, _)| *f == field) {
            return Err(duplicate_fields(order_by));
        }
        out.push((field, ascending));
    }
    if !out.iter().any(|(f, _)| *f == ModelField::Name) {
        out.push((ModelField::Name, true));
    }
    Ok(out)
}

/// A parsed `registered-models/search` filter and ordering.
#[derive(Debug, Clone)]
pub(crate) struct RegisteredModelQuery {
    clauses: Vec<ModelClause>,
    include_prompts: bool,
    order: Vec<(ModelField, bool)>,
}

impl RegisteredModelQuery {
    /// Validates in the store's order: filter syntax and values, `order_by`,
    /// then comparators.
    pub fn parse(filter: &str, order_by: &[String]) -> Result<Self> {
        let parsed = parse_filter(Registry::Models, filter)?;
        let order = parse_model_order_by(order_by)?;
        let include_prompts = querying_prompts(&parsed);
        let mut clauses = Vec::with_capacity(parsed.len());
        for p in parsed {
            clauses.push(match p.typ {
                EntityType::Attribute => {
                    let c = p.comparator.as_str();
                    if !STRING_ATTRIBUTE_COMPARATORS.contains(&c) {
                        return Err(Error::invalid(format!(
                            "Invalid comparator for attribute: {c}"
                        )));
                    }
                    ModelClause::Name(StrOp::new(c, &p.operand).ok_or_else(|| operand_mismatch(c))?)
                }
                EntityType::Tag => ModelClause::Tag(TagClause::compile(p)?),
            });
        }
        if !include_prompts {
            clauses.retain(|c| !matches!(c, ModelClause::Tag(t) if t.key == PROMPT_TAG));
        }
        Ok(RegisteredModelQuery {
            clauses,
            include_prompts,
            order,
        })
    }

    pub fn matches(&self, m: &RegisteredModel) -> bool {
        (self.include_prompts || !is_prompt(&m.tags))
            && self.clauses.iter().all(|c| match c {
                ModelClause::Name(op) => op.test(&m.name),
                ModelClause::Tag(t) => t.matches(&m.tags),
            })
    }

    /// Sorts `hits` (indices into `models`) into result order.
    pub fn sort_indices(&self, models: &[RegisteredModel], hits: &mut [usize]) {
        hits.sort_by(|&a, &b| {
            let (a, b) = (&models[a], &models[b]);
            for (f, asc) in &self.order {
                let o = directed(f.cmp(a, b), *asc);
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
}

// ---------------------------------------------------------------------------
// Model versions

#[derive(Debug, Clone)]
enum VersionClause {
    Name(StrOp),
    RunId(StrOp),
    Source(StrOp),
    Version(NumOp, i64),
    Tag(TagClause),
}

fn invalid_numeric_value(key: &str, shown: String) -> Error {
    Error::invalid(format!(
        "Invalid value for numeric attribute '{key}': {shown}"
    ))
}

/// The checks of `_get_search_model_versions_filter_clauses`.
fn compile_version_clause(p: Parsed) -> Result<VersionClause> {
    let c = p.comparator.as_str();
    let key = p.key.as_str();
    if p.typ == EntityType::Tag {
        return Ok(VersionClause::Tag(TagClause::compile(p)?));
    }
    if key == "version_number" {
        let op = NumOp::parse(c).ok_or_else(|| {
            Error::invalid(format!("Invalid comparator for attribute {key}: {c}"))
        })?;
        let value = match &p.operand {
            Operand::Number { text, is_int: true } => py_int(text),
            Operand::Number { text, .. } => {
                return Err(invalid_numeric_value(key, float_repr(parse_f64(text))))
            }
            Operand::Str(s) => {
                Some(py_int(s).ok_or_else(|| invalid_numeric_value(key, repr_str(s)))?)
            }
            Operand::List(_) | Operand::None => None,
        }
        .ok_or_else(|| operand_mismatch(c))?;
        return Ok(VersionClause::Version(op, value));
    }
    if !STRING_ATTRIBUTE_COMPARATORS.contains(&c)
        || (matches!(c, "IN" | "NOT IN") && !VERSION_LIST_KEYS.contains(&key))
    {
        return Err(Error::invalid(format!(
            "Invalid comparator for attribute: {c}"
        )));
    }
    let op = StrOp::new(c, &p.operand).ok_or_else(|| operand_mismatch(c))?;
    Ok(match key {
        "name" => VersionClause::Name(op),
        "run_id" => VersionClause::RunId(op),
        _ => VersionClause::Source(op),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionField {
    Name,
    Version,
    CreationTime,
    LastUpdated,
}

/// `SqlAlchemyStore._parse_search_model_versions_order_by`, with its default.
fn parse_version_order_by(order_by: &[String]) -> Result<Vec<(VersionField, bool)>> {
    if order_by.is_empty() {
        return Ok(vec![
            (VersionField::LastUpdated, false),
            (VersionField::Name, true),
            (VersionField::Version, false),
        ]);
    }
    let mut out = Vec::with_capacity(order_by.len() + 2);
    for clause in order_by {
        let (token, ascending) = parse_order_by_string(clause)?;
        // The entity type is validated, then ignored: `tags.name` orders by name.
        let (_, key) = experiments::get_identifier(token.trim(), VERSION_ORDER_BY_KEYS)?;
        let field = match key.as_str() {
            "name" => VersionField::Name,
            "version_number" => VersionField::Version,
            "creation_timestamp" => VersionField::CreationTime,
            "last_updated_timestamp" => VersionField::LastUpdated,
            _ => {
                return Err(Error::invalid(format!(
                    "Invalid order by key '{key}' specified. Valid keys are {}",
                    set_repr(VERSION_ORDER_BY_KEYS)
                )))
            }
        };
        if out.iter().any(|(f, _)| *f == field) {
            return Err(duplicate_fields(order_by));
        }
        out.push((field, ascending));
    }
    if !out.iter().any(|(f, _)| *f == VersionField::Name) {
        out.push((VersionField::Name, true));
    }
    if !out.iter().any(|(f, _)| *f == VersionField::Version) {
        out.push((VersionField::Version, false));
    }
    Ok(out)
}

/// A parsed `model-versions/search` filter and ordering.
#[derive(Debug, Clone)]
pub(crate) struct ModelVersionQuery {
    clauses: Vec<VersionClause>,
    include_prompts: bool,
    order: Vec<(VersionField, bool)>,
}

impl ModelVersionQuery {
    /// Validates in the store's order: filter syntax and values, comparators
    /// and values, then `order_by`.
    pub fn parse(filter: &str, order_by: &[String]) -> Result<Self> {
        let parsed = parse_filter(Registry::Versions, filter)?;
        let include_prompts = querying_prompts(&parsed);
        let mut clauses = parsed
            .into_iter()
            .map(compile_version_clause)
            .collect::<Result<Vec<_>>>()?;
        let order = parse_version_order_by(order_by)?;
        if !include_prompts {
            clauses.retain(|c| !matches!(c, VersionClause::Tag(t) if t.key == PROMPT_TAG));
        }
        Ok(ModelVersionQuery {
            clauses,
            include_prompts,
            order,
        })
    }

    /// Names of the models whose versions are prompts, if prompts are excluded.
    fn prompt_names<'a>(&self, versions: &'a [ModelVersion]) -> HashSet<&'a str> {
        if self.include_prompts {
            return HashSet::new();
        }
        versions
            .iter()
            .filter(|v| is_prompt(&v.tags))
            .map(|v| v.name.as_str())
            .collect()
    }

    fn clause_matches(c: &VersionClause, v: &ModelVersion, number: Option<i64>) -> bool {
        match c {
            VersionClause::Name(op) => op.test(&v.name),
            VersionClause::RunId(op) => v.run_id.as_deref().is_some_and(|r| op.test(r)),
            VersionClause::Source(op) => op.test(&v.source),
            VersionClause::Version(op, value) => number.is_some_and(|n| op.test(n, *value)),
            VersionClause::Tag(t) => t.matches(&v.tags),
        }
    }

    /// Indices of the matching versions, in result order.
    pub fn select_sorted(&self, versions: &[ModelVersion]) -> Vec<usize> {
        let prompts = self.prompt_names(versions);
        let numbers: Vec<Option<i64>> = versions.iter().map(version_number).collect();
        let mut hits: Vec<usize> = (0..versions.len())
            .filter(|&i| {
                let v = &versions[i];
                v.current_stage != STAGE_DELETED_INTERNAL
                    && !prompts.contains(v.name.as_str())
                    && self
                        .clauses
                        .iter()
                        .all(|c| Self::clause_matches(c, v, numbers[i]))
            })
            .collect();
        hits.sort_by(|&a, &b| {
            let (x, y) = (&versions[a], &versions[b]);
            for (f, asc) in &self.order {
                let o = match f {
                    VersionField::Name => x.name.cmp(&y.name),
                    VersionField::Version => numbers[a].cmp(&numbers[b]),
                    VersionField::CreationTime => x.creation_timestamp.cmp(&y.creation_timestamp),
                    VersionField::LastUpdated => {
                        x.last_updated_timestamp.cmp(&y.last_updated_timestamp)
                    }
                };
                let o = directed(o, *asc);
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[(&str, &str)]) -> Vec<Tag> {
        t.iter().map(|(k, v)| Tag::new(*k, *v)).collect()
    }

    fn rm(name: &str, updated: Option<i64>, t: &[(&str, &str)]) -> RegisteredModel {
        RegisteredModel {
            name: name.into(),
            creation_timestamp: updated,
            last_updated_timestamp: updated,
            tags: tags(t),
            ..Default::default()
        }
    }

    fn models() -> Vec<RegisteredModel> {
        vec![
            rm("churn", Some(300), &[("team", "growth"), ("tier", "gold")]),
            rm("Churn-v2", Some(100), &[("team", "Growth")]),
            rm("fraud", Some(300), &[("team", "risk")]),
            rm("ranker", None, &[]),
            rm(
                "my-prompt",
                Some(500),
                &[(PROMPT_TAG, "true"), ("team", "growth")],
            ),
            rm("not-a-prompt", Some(50), &[(PROMPT_TAG, "false")]),
        ]
    }

    fn search_models(filter: &str, order_by: &[&str]) -> Vec<String> {
        let v: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
        let q = RegisteredModelQuery::parse(filter, &v).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let ms = models();
        let mut hits: Vec<usize> = (0..ms.len()).filter(|&i| q.matches(&ms[i])).collect();
        q.sort_indices(&ms, &mut hits);
        hits.into_iter().map(|i| ms[i].name.clone()).collect()
    }

    fn model_err(filter: &str, order_by: &[&str]) -> String {
        let v: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
        let e = RegisteredModelQuery::parse(filter, &v).unwrap_err();
        assert_eq!(
            e.code,
            slipway_core::ErrorCode::InvalidParameterValue,
            "{filter}"
        );
        e.message
    }

    #[test]
    fn registered_model_filters() {
        assert_eq!(
            search_models("", &[]),
            ["Churn-v2", "churn", "fraud", "not-a-prompt", "ranker"]
        );
        assert_eq!(search_models("name = 'churn'", &[]), ["churn"]);
        assert_eq!(search_models("attribute.name = \"fraud\"", &[]), ["fraud"]);
        assert_eq!(
            search_models("name != 'churn'", &[]),
            ["Churn-v2", "fraud", "not-a-prompt", "ranker"]
        );
        assert_eq!(search_models("name LIKE 'churn%'", &[]), ["churn"]);
        assert_eq!(
            search_models("name like 'CHURN%'", &[]),
            Vec::<String>::new()
        );
        assert_eq!(
            search_models("name ILIKE 'churn%'", &[]),
            ["Churn-v2", "churn"]
        );
        assert_eq!(search_models("name LIKE '_raud'", &[]), ["fraud"]);
        assert_eq!(
            search_models("name IN ('fraud', 'ranker', 'nope')", &[]),
            ["fraud", "ranker"]
        );
        assert_eq!(
            search_models("name NOT IN ('fraud', 'ranker')", &[]),
            ["Churn-v2", "churn", "not-a-prompt"]
        );
        assert_eq!(search_models("tags.team = 'growth'", &[]), ["churn"]);
        assert_eq!(
            search_models("tag.team != 'growth'", &[]),
            ["Churn-v2", "fraud"]
        );
        assert_eq!(search_models("tags.team LIKE 'gr%'", &[]), ["churn"]);
        assert_eq!(
            search_models("tags.team ILIKE 'GR%'", &[]),
            ["Churn-v2", "churn"]
        );
        assert_eq!(
            search_models("tags.team ILIKE 'gr%' and tags.tier = 'gold'", &[]),
            ["churn"]
        );
        assert_eq!(
            search_models("tags.`team` = 'risk' AND name LIKE 'f%'", &[]),
            ["fraud"]
        );
        assert_eq!(search_models("tags.nope != 'x'", &[]), Vec::<String>::new());
    }

    #[test]
    fn registered_model_prompts() {
        // Only `= 'true'` / `!= 'false'` (any case) on the prompt tag include prompts.
        assert_eq!(
            search_models("tags.`mlflow.prompt.is_prompt` = 'true'", &[]),
            ["my-prompt"]
        );
        assert_eq!(
            search_models("tags.`mlflow.prompt.is_prompt` != 'false'", &[]),
            ["my-prompt"]
        );
        assert_eq!(
            search_models("tags.`mlflow.prompt.is_prompt` != 'False'", &[]),
            ["my-prompt", "not-a-prompt"]
        );
        // Querying prompts, but the value itself compares case-sensitively.
        assert_eq!(
            search_models("tags.`mlflow.prompt.is_prompt` = 'TRUE'", &[]),
            Vec::<String>::new()
        );
        // Otherwise prompts are excluded and filters on the tag are dropped.
        assert_eq!(
            search_models("tags.`mlflow.prompt.is_prompt` = 'false'", &[]),
            ["Churn-v2", "churn", "fraud", "not-a-prompt", "ranker"]
        );
        assert_eq!(
            search_models(
                "tags.`mlflow.prompt.is_prompt` LIKE 'tr%' AND name LIKE 'n%'",
                &[]
            ),
            ["not-a-prompt"]
        );
        assert_eq!(search_models("tags.team = 'growth'", &[]), ["churn"]);
    }

    #[test]
    fn registered_model_ordering() {
        assert_eq!(
            search_models("", &["timestamp DESC"]),
            ["churn", "fraud", "Churn-v2", "not-a-prompt", "ranker"],
            "ties by name ASC, NULL last when descending"
        );
        assert_eq!(
            search_models("", &["last_updated_timestamp"]),
            ["ranker", "not-a-prompt", "Churn-v2", "churn", "fraud"]
        );
        assert_eq!(
            search_models("", &["name DESC"]),
            ["ranker", "not-a-prompt", "fraud", "churn", "Churn-v2"]
        );
        assert_eq!(
            search_models("", &["name DESC", "timestamp"]),
            ["ranker", "not-a-prompt", "fraud", "churn", "Churn-v2"]
        );
        assert_eq!(
            search_models("", &["`name` desc"]),
            ["ranker", "not-a-prompt", "fraud", "churn", "Churn-v2"]
        );
    }

    #[test]
    fn registered_model_errors() {
        assert_eq!(
            model_err("name = 'a' OR name = 'b'", &[]),
            "Invalid clause(s) in filter string: OR"
        );
        assert_eq!(
            model_err("x = 1; y = 2", &[]),
            "Search filter contained multiple expression 'x = 1; y = 2'. Provide AND-ed expression list."
        );
        assert_eq!(
            model_err("attributes.name = 'a'", &[]),
            "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')"
        );
        assert_eq!(
            model_err("run_id = 'a'", &[]),
            "Invalid attribute key 'run_id' specified. Valid keys are '{'name'}'"
        );
        assert_eq!(
            model_err("`name` = 'a'", &[]),
            "Invalid attribute key '`name`' specified. Valid keys are '{'name'}'"
        );
        assert_eq!(
            model_err("name = 5", &[]),
            "Expected a quoted string value or a list of quoted string values for attributes. Got value 5"
        );
        assert_eq!(
            model_err("name = abc", &[]),
            "Parameter value is either not quoted or unidentified quote types used for string value abc. \
             Use either single or double quotes."
        );
        assert_eq!(
            model_err("tags.x = 1", &[]),
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value 1"
        );
        assert_eq!(
            model_err("tags.x IN ('a')", &[]),
            "Expected a quoted string value for tag (e.g. 'my-value'). Got value ('a')"
        );
        assert_eq!(
            model_err("name IN ()", &[]),
            "While parsing a list in the query, expected a non-empty list of string values, but got empty list"
        );
        assert_eq!(
            model_err("name > 'a'", &[]),
            "Invalid comparator for attribute: >"
        );
        assert_eq!(
            model_err("name NOT LIKE 'a'", &[]),
            "Invalid comparator for attribute: NOT LIKE"
        );
        assert_eq!(
            model_err("tags.x < 'a'", &[]),
            "Invalid comparator for tag: <"
        );
        assert_eq!(
            model_err("tags.x IS NULL", &[]),
            "Invalid comparator for tag: IS NULL"
        );
        assert_eq!(
            model_err("name IS NOT NULL", &[]),
            "Invalid comparator for attribute: IS NOT NULL"
        );
        assert_eq!(
            model_err("name = ('a')", &[]),
            "Comparator '=' cannot be used with a list of values; use 'IN' or 'NOT IN'."
        );
        assert_eq!(
            model_err("'a' = name", &[]),
            "Invalid comparison clause. Expected 'Identifier' found ''a''"
        );
        assert_eq!(
            model_err("", &["creation_timestamp"]),
            "Invalid order by key 'creation_timestamp' specified. Valid keys are '{'name', 'timestamp'}'"
        );
        assert_eq!(
            model_err("", &["attribute.name"]),
            "Invalid order by key 'attribute.name' specified. Valid keys are '{'name', 'timestamp'}'"
        );
        assert_eq!(
            model_err("", &["name SIDEWAYS"]),
            "Invalid ordering key in order_by clause 'name SIDEWAYS'."
        );
        assert_eq!(
            model_err("", &["timestamp", "last_updated_timestamp DESC"]),
            "`order_by` contains duplicate fields: ['timestamp', 'last_updated_timestamp DESC']"
        );
        // order_by is checked before comparators, after values.
        assert_eq!(
            model_err("name > 'a'", &["foo"]),
            "Invalid order by key 'foo' specified. Valid keys are '{'name', 'timestamp'}'"
        );
        assert_eq!(
            model_err("name = 5", &["foo"]),
            "Expected a quoted string value or a list of quoted string values for attributes. Got value 5"
        );
    }

    fn mv(
        name: &str,
        version: u32,
        updated: i64,
        run: Option<&str>,
        t: &[(&str, &str)],
    ) -> ModelVersion {
        ModelVersion {
            name: name.into(),
            version: version.to_string(),
            creation_timestamp: Some(1000 - updated),
            last_updated_timestamp: Some(updated),
            current_stage: "None".into(),
            source: format!("models:/m-{name}-{version}"),
            run_id: run.map(Into::into),
            status: "READY".into(),
            tags: tags(t),
            ..Default::default()
        }
    }

    fn versions() -> Vec<ModelVersion> {
        let mut deleted = mv("churn", 4, 900, Some("r9"), &[]);
        deleted.current_stage = STAGE_DELETED_INTERNAL.into();
        vec![
            mv("churn", 1, 100, Some("r1"), &[("env", "prod")]),
            mv("churn", 2, 300, Some("r2"), &[("env", "staging")]),
            mv("churn", 10, 300, None, &[]),
            mv("fraud", 1, 200, Some("r1"), &[("env", "Prod")]),
            mv("fraud", 3, 50, Some("r3"), &[]),
            mv("prompt", 1, 999, None, &[(PROMPT_TAG, "true")]),
            mv("prompt", 2, 999, None, &[]),
            deleted,
        ]
    }

    fn search_versions(filter: &str, order_by: &[&str]) -> Vec<String> {
        let v: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
        let q = ModelVersionQuery::parse(filter, &v).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let vs = versions();
        q.select_sorted(&vs)
            .into_iter()
            .map(|i| format!("{}/{}", vs[i].name, vs[i].version))
            .collect()
    }

    fn version_err(filter: &str, order_by: &[&str]) -> String {
        let v: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
        let e = ModelVersionQuery::parse(filter, &v).unwrap_err();
        assert_eq!(
            e.code,
            slipway_core::ErrorCode::InvalidParameterValue,
            "{filter}"
        );
        e.message
    }

    #[test]
    fn model_version_filters() {
        // Default order: last_updated DESC, name ASC, version DESC.
        assert_eq!(
            search_versions("", &[]),
            ["churn/10", "churn/2", "fraud/1", "churn/1", "fraud/3"]
        );
        assert_eq!(
            search_versions("name='churn' and run_id='r2'", &[]),
            ["churn/2"]
        );
        assert_eq!(
            search_versions("name ILIKE 'CH%'", &["version_number"]),
            ["churn/1", "churn/2", "churn/10"]
        );
        assert_eq!(
            search_versions("name IN ('fraud')", &[]),
            ["fraud/1", "fraud/3"]
        );
        assert_eq!(
            search_versions("run_id != 'r1'", &[]),
            ["churn/2", "fraud/3"],
            "a missing run_id matches nothing"
        );
        assert_eq!(
            search_versions("run_id IN ('r1', 'r3')", &[]),
            ["fraud/1", "churn/1", "fraud/3"]
        );
        assert_eq!(
            search_versions("attribute.run_id NOT IN ('r1')", &[]),
            ["churn/2", "fraud/3"]
        );
        assert_eq!(
            search_versions("source_path = 'models:/m-fraud-3'", &[]),
            ["fraud/3"]
        );
        assert_eq!(
            search_versions("source_path LIKE '%-1'", &[]),
            ["fraud/1", "churn/1"]
        );
        assert_eq!(
            search_versions("source_path ILIKE 'MODELS:/M-CHURN-1%'", &[]),
            ["churn/10", "churn/1"]
        );
        assert_eq!(
            search_versions("version_number > 2", &[]),
            ["churn/10", "fraud/3"]
        );
        assert_eq!(
            search_versions("version_number >= 2 AND version_number < 10", &[]),
            ["churn/2", "fraud/3"]
        );
        assert_eq!(search_versions("version_number = '10'", &[]), ["churn/10"]);
        assert_eq!(
            search_versions("version_number != 1", &["name", "version_number"]),
            ["churn/2", "churn/10", "fraud/3"]
        );
        assert_eq!(
            search_versions("version_number <= -1", &[]),
            Vec::<String>::new()
        );
        assert_eq!(search_versions("tags.env = 'prod'", &[]), ["churn/1"]);
        assert_eq!(
            search_versions("tags.env ILIKE 'prod'", &[]),
            ["fraud/1", "churn/1"]
        );
        assert_eq!(
            search_versions("tag.env != 'prod'", &[]),
            ["churn/2", "fraud/1"]
        );
        assert_eq!(search_versions("tags.env LIKE 'st%'", &[]), ["churn/2"]);
    }

    #[test]
    fn model_version_prompts_and_deleted() {
        assert_eq!(
            search_versions("name = 'prompt'", &[]),
            Vec::<String>::new(),
            "every version of a prompt model is left out"
        );
        assert_eq!(
            search_versions("tags.`mlflow.prompt.is_prompt` = 'true'", &[]),
            ["prompt/1"]
        );
        assert_eq!(
            search_versions(
                "tags.`mlflow.prompt.is_prompt` != 'false' and name = 'prompt'",
                &[]
            ),
            ["prompt/1"]
        );
        assert_eq!(
            search_versions(
                "name = 'churn' AND tags.`mlflow.prompt.is_prompt` = 'false'",
                &[]
            ),
            ["churn/10", "churn/2", "churn/1"]
        );
        assert_eq!(
            search_versions("run_id = 'r9'", &[]),
            Vec::<String>::new(),
            "Deleted_Internal"
        );
    }

    #[test]
    fn model_version_ordering() {
        assert_eq!(
            search_versions("", &["version_number"]),
            ["churn/1", "fraud/1", "churn/2", "fraud/3", "churn/10"],
            "numeric, ties by name ASC"
        );
        assert_eq!(
            search_versions("", &["name DESC"]),
            ["fraud/3", "fraud/1", "churn/10", "churn/2", "churn/1"]
        );
        assert_eq!(
            search_versions("", &["creation_timestamp"]),
            ["churn/10", "churn/2", "fraud/1", "churn/1", "fraud/3"]
        );
        assert_eq!(
            search_versions("", &["last_updated_timestamp ASC", "version_number ASC"]),
            ["fraud/3", "churn/1", "fraud/1", "churn/2", "churn/10"]
        );
        assert_eq!(
            search_versions("", &["tags.name DESC"]),
            ["fraud/3", "fraud/1", "churn/10", "churn/2", "churn/1"],
            "the entity type is ignored"
        );
        let mut vs = versions();
        vs[0].last_updated_timestamp = None;
        let q = ModelVersionQuery::parse("", &["last_updated_timestamp".to_string()]).unwrap();
        assert_eq!(q.select_sorted(&vs)[0], 0, "NULL sorts lowest");
    }

    #[test]
    fn model_version_errors() {
        assert_eq!(
            version_err("name = 'a' OR name = 'b'", &[]),
            "Invalid clause(s) in filter string: OR"
        );
        assert_eq!(
            version_err("attributes.name = 'a'", &[]),
            "Invalid entity type 'attributes'. Valid entity types are ('attribute', 'tag', 'tags')"
        );
        assert_eq!(
            version_err("version_num = '1'", &[]),
            format!(
                "Invalid attribute key 'version_num' specified. Valid keys are '{}'",
                set_repr(VERSION_SEARCH_KEYS)
            )
        );
        // `version` is a keyword to sqlparse, not an identifier.
        assert_eq!(
            version_err("version = '1'", &[]),
            "Invalid clause(s) in filter string: version, =, '1'"
        );
        assert_eq!(
            version_err("", &["version"]),
            "Invalid order_by clause 'version'. Could not be parsed."
        );
        assert_eq!(
            version_err("source_path IN ('a')", &[]),
            "Only ['name', 'run_id'] attributes support comparison with a list of quoted string values."
        );
        assert_eq!(
            version_err("run_id = 5", &[]),
            format!(
                "Only the '{}' attributes support comparison with numeric values.",
                set_repr(VERSION_NUMERIC_KEYS)
            )
        );
        assert_eq!(
            version_err("version_number = NULL", &[]),
            "Expected a quoted string value or a list of quoted string values for attributes. Got value NULL"
        );
        assert_eq!(
            version_err("version_number LIKE '1%'", &[]),
            "Invalid comparator for attribute version_number: LIKE"
        );
        assert_eq!(
            version_err("version_number > 1.5", &[]),
            "Invalid value for numeric attribute 'version_number': 1.5"
        );
        assert_eq!(
            version_err("version_number > 'abc'", &[]),
            "Invalid value for numeric attribute 'version_number': 'abc'"
        );
        assert_eq!(
            version_err("run_id > 'a'", &[]),
            "Invalid comparator for attribute: >"
        );
        assert_eq!(
            version_err("run_id LIKE ('a')", &[]),
            "Comparator 'LIKE' cannot be used with a list of values; use 'IN' or 'NOT IN'."
        );
        assert_eq!(
            version_err("tags.x > 'a'", &[]),
            "Invalid comparator for tag: >"
        );
        assert_eq!(
            version_err("tags.x IS NOT NULL", &[]),
            "Invalid comparator for tag: IS NOT NULL"
        );
        assert_eq!(
            version_err("", &["foo"]),
            format!(
                "Invalid attribute key 'foo' specified. Valid keys are '{}'",
                set_repr(VERSION_ORDER_BY_KEYS)
            )
        );
        assert_eq!(
            version_err("", &["tags.foo"]),
            format!(
                "Invalid order by key 'foo' specified. Valid keys are {}",
                set_repr(VERSION_ORDER_BY_KEYS)
            )
        );
        assert_eq!(
            version_err("", &["runs.name"]),
            "Invalid entity type 'runs'. Valid entity types are ('attribute', 'tag', 'tags')"
        );
        assert_eq!(
            version_err("", &["name", "tags.name DESC"]),
            "`order_by` contains duplicate fields: ['name', 'tags.name DESC']"
        );
        // Comparators are checked before order_by.
        assert_eq!(
            version_err("tags.x > 'a'", &["foo DESC"]),
            "Invalid comparator for tag: >"
        );
    }

    #[test]
    fn python_int() {
        assert_eq!(py_int(" 12 "), Some(12));
        assert_eq!(py_int("+3"), Some(3));
        assert_eq!(py_int("-0"), Some(0));
        assert_eq!(py_int("1_000"), Some(1000));
        assert_eq!(py_int("1__0"), None);
        assert_eq!(py_int("_1"), None);
        assert_eq!(py_int("1.0"), None);
        assert_eq!(py_int(""), None);
        assert_eq!(py_int("99999999999999999999999"), Some(i64::MAX));
    }

    #[test]
    fn max_results_bounds() {
        assert_eq!(check_max_results(1000, 1000).unwrap(), 1000);
        assert_eq!(
            check_max_results(1001, 1000).unwrap_err().message,
            "Invalid value for request parameter max_results. It must be at most 1000, but got value 1001"
        );
        assert_eq!(
            check_max_results(0, 1000).unwrap_err().message,
            "Invalid value for max_results. It must be a positive integer, but got 0"
        );
    }
}
