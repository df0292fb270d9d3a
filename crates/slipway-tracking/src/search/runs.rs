//! `search_runs`: MLflow's run filter and `order_by`, evaluated in memory.
//!
//! Parsing and validation follow `SearchUtils` (what is accepted, error texts
//! and the order errors are reported in); evaluation follows
//! `SqlAlchemyStore._search_runs`, MLflow's reference backend:
//! * a comparison on a metric / param / tag the run lacks does not match
//!   (not even `!=`); `IS NULL` / `IS NOT NULL` test presence (params, tags);
//! * metrics compare their latest value; a NaN metric matches only `!=`;
//!   infinities compare as ±`f64::MAX` (MLflow stores them clamped);
//! * `attributes.run_name` reads the `mlflow.runName` tag;
//! * `datasets.*` matches if any dataset input of the run matches;
//! * ordering puts missing values last (and NaN metrics after numbers) in both
//!   directions, then breaks ties by `start_time DESC` (unless ordered by
//!   start_time) and `run_id ASC`.

use super::common::*;
use super::grammar::RawCmp;
use super::lexer::{Kind, Token};
use super::py::{list_repr, set_repr};
use slipway_core::{Error, Result};
use slipway_protocol::{Metric, Run};
use std::cmp::Ordering;

const RUN_NAME_TAG: &str = "mlflow.runName";
const DATASET_CONTEXT_TAG: &str = "mlflow.data.context";

const SEARCH_ATTRIBUTE_KEYS: &[&str] = &[
    "artifact_uri",
    "end_time",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
    "created",
    "Created",
    "run name",
    "Run name",
    "Run Name",
];
const ORDER_BY_ATTRIBUTE_KEYS: &[&str] = &[
    "artifact_uri",
    "end_time",
    "run_id",
    "run_name",
    "start_time",
    "status",
    "user_id",
    "created",
    "Created",
];
const NUMERIC_ATTRIBUTES: &[&str] = &["start_time", "end_time", "created", "Created"];
const DATASET_ATTRIBUTES: &[&str] = &["name", "digest", "context"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntityType {
    Metric,
    Param,
    Tag,
    Attribute,
    Dataset,
}

impl EntityType {
    /// The canonical identifier MLflow uses in messages.
    fn name(self) -> &'static str {
        match self {
            EntityType::Metric => "metric",
            EntityType::Param => "parameter",
            EntityType::Tag => "tag",
            EntityType::Attribute => "attribute",
            EntityType::Dataset => "dataset",
        }
    }

    /// `SearchUtils._valid_entity_type`.
    fn parse(entity: &str) -> Result<Self> {
        let e = trim_backticks(entity);
        Ok(match e {
            "metric" | "metrics" => EntityType::Metric,
            "parameter" | "parameters" | "param" | "params" => EntityType::Param,
            "tag" | "tags" => EntityType::Tag,
            "attribute" | "attributes" | "attr" | "run" => EntityType::Attribute,
            "dataset" | "datasets" => EntityType::Dataset,
            _ => {
                return Err(Error::invalid(format!(
                    "Invalid entity type '{e}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
                )))
            }
        })
    }
}

/// `SearchUtils._get_identifier`.
fn get_identifier(identifier: &str, valid_attributes: &[&str]) -> Result<(EntityType, String)> {
    let (entity, key) = identifier
        .split_once('.')
        .unwrap_or(("attribute", identifier));
    let typ = EntityType::parse(entity)?;
    let key = trim_backticks(strip_quotes(key));
    if typ == EntityType::Attribute && !valid_attributes.contains(&key) {
        return Err(Error::invalid(format!(
            "Invalid attribute key '{key}' specified. Valid keys are '{}'",
            set_repr(valid_attributes)
        )));
    }
    if typ == EntityType::Dataset && !DATASET_ATTRIBUTES.contains(&key) {
        return Err(Error::invalid(format!(
            "Invalid dataset key '{key}' specified. Valid keys are '{}'",
            set_repr(DATASET_ATTRIBUTES)
        )));
    }
    Ok((typ, key.to_string()))
}

/// `SearchUtils.translate_key_alias`.
fn translate_key_alias(key: &str) -> &str {
    match key {
        "created" | "Created" => "start_time",
        "run name" | "Run name" | "Run Name" => "run_name",
        k => k,
    }
}

/// `SearchUtils._get_value`.
fn get_value(typ: EntityType, key: &str, tok: &Token<'_>) -> Result<Operand> {
    let text = tok.text;
    match typ {
        EntityType::Metric if is_number_token(tok) => Ok(number_operand(tok)),
        EntityType::Metric => Err(Error::invalid(format!(
            "Expected numeric value type for metric. Found {text}"
        ))),
        EntityType::Param | EntityType::Tag if is_string_token(tok) => {
            Ok(Operand::Str(strip_quoted_value(text)?.to_string()))
        }
        EntityType::Param | EntityType::Tag => Err(Error::invalid(format!(
            "Expected a quoted string value for {} (e.g. 'my-value'). Got value {text}",
            typ.name()
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
            if key != "run_id" {
                return Err(Error::invalid(
                    "Only ['run_id'] attributes support comparison with a list of quoted string values.",
                ));
            }
            Ok(Operand::List(parse_list(text)?))
        }
        EntityType::Attribute => Err(Error::invalid(format!(
            "Expected a quoted string value for attributes. Got value {text}"
        ))),
        EntityType::Dataset if is_string_token(tok) => {
            Ok(Operand::Str(strip_quoted_value(text)?.to_string()))
        }
        EntityType::Dataset if tok.kind == Kind::Paren => Ok(Operand::List(parse_list(text)?)),
        EntityType::Dataset => Err(Error::invalid(format!(
            "Expected a quoted string value for dataset attributes. Got value {text}"
        ))),
    }
}

/// One comparison after `parse_search_filter`, before comparator validation.
struct Parsed {
    typ: EntityType,
    key: String,
    comparator: String,
    operand: Operand,
}

/// `SearchUtils._get_comparison`.
fn get_comparison(cmp: &RawCmp<'_>) -> Result<Parsed> {
    let ident = expect_identifier(cmp)?;
    let (typ, key) = get_identifier(ident, SEARCH_ATTRIBUTE_KEYS)?;
    let operand = match &cmp.rhs {
        None => {
            if !matches!(typ, EntityType::Tag | EntityType::Param) {
                return Err(Error::invalid(format!(
                    "IS NULL / IS NOT NULL is only supported for tags and params, not for '{}' '{key}'",
                    typ.name()
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunAttr {
    RunId,
    RunName,
    UserId,
    Status,
    ArtifactUri,
    StartTime,
    EndTime,
}

impl RunAttr {
    /// `key` is a valid, alias-translated attribute key.
    fn from_key(key: &str) -> RunAttr {
        match key {
            "run_id" => RunAttr::RunId,
            "run_name" => RunAttr::RunName,
            "user_id" => RunAttr::UserId,
            "status" => RunAttr::Status,
            "artifact_uri" => RunAttr::ArtifactUri,
            "start_time" => RunAttr::StartTime,
            "end_time" => RunAttr::EndTime,
            other => unreachable!("validated attribute key {other}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DatasetField {
    Name,
    Digest,
    Context,
}

#[derive(Debug, Clone)]
enum KeyTest {
    Str(StrOp),
    IsNull,
    IsNotNull,
}

impl KeyTest {
    #[inline]
    fn test(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (KeyTest::IsNull, v) => v.is_none(),
            (KeyTest::IsNotNull, v) => v.is_some(),
            (KeyTest::Str(op), Some(v)) => op.test(v),
            (KeyTest::Str(_), None) => false,
        }
    }
}

#[derive(Debug, Clone)]
enum Clause {
    Metric {
        key: String,
        op: NumOp,
        value: f64,
    },
    Param {
        key: String,
        test: KeyTest,
    },
    Tag {
        key: String,
        test: KeyTest,
    },
    StrAttr {
        attr: RunAttr,
        op: StrOp,
    },
    NumAttr {
        attr: RunAttr,
        op: NumOp,
        value: NumVal,
    },
    Dataset {
        field: DatasetField,
        op: StrOp,
    },
}

fn invalid_comparator(c: &str, set: &[&str], closing_quote: bool) -> Error {
    let q = if closing_quote { "'" } else { "" };
    Error::invalid(format!(
        "Invalid comparator '{c}' not one of '{}{q}",
        comparators(set)
    ))
}

fn key_test(c: &str, operand: &Operand) -> Result<KeyTest> {
    match c {
        "IS NULL" => Ok(KeyTest::IsNull),
        "IS NOT NULL" => Ok(KeyTest::IsNotNull),
        _ => StrOp::new(c, operand)
            .map(KeyTest::Str)
            .ok_or_else(|| operand_mismatch(c)),
    }
}

/// Comparator validation and compilation, as `_get_sqlalchemy_filter_clauses` does it.
fn compile(p: Parsed) -> Result<Clause> {
    let c = p.comparator.to_uppercase();
    let c = c.as_str();
    let key = translate_key_alias(&p.key);
    match p.typ {
        EntityType::Attribute if !NUMERIC_ATTRIBUTES.contains(&key) => {
            if !STRING_ATTRIBUTE_COMPARATORS.contains(&c) {
                return Err(invalid_comparator(c, STRING_ATTRIBUTE_COMPARATORS, true));
            }
            let op = StrOp::new(c, &p.operand).ok_or_else(|| operand_mismatch(c))?;
            Ok(Clause::StrAttr {
                attr: RunAttr::from_key(key),
                op,
            })
        }
        EntityType::Attribute => {
            // MLflow's message for numeric attributes lists the string comparators.
            let op = NumOp::parse(c)
                .ok_or_else(|| invalid_comparator(c, STRING_ATTRIBUTE_COMPARATORS, false))?;
            let Operand::Number { text, is_int } = &p.operand else {
                unreachable!("numeric attributes only take numbers")
            };
            Ok(Clause::NumAttr {
                attr: RunAttr::from_key(key),
                op,
                value: NumVal::parse(text, *is_int),
            })
        }
        EntityType::Metric => {
            let op =
                NumOp::parse(c).ok_or_else(|| invalid_comparator(c, METRIC_COMPARATORS, false))?;
            let Operand::Number { text, .. } = &p.operand else {
                unreachable!("metrics only take numbers")
            };
            Ok(Clause::Metric {
                key: key.to_string(),
                op,
                value: parse_f64(text),
            })
        }
        EntityType::Param => {
            if !PARAM_COMPARATORS.contains(&c) {
                return Err(invalid_comparator(c, PARAM_COMPARATORS, true));
            }
            Ok(Clause::Param {
                key: key.to_string(),
                test: key_test(c, &p.operand)?,
            })
        }
        EntityType::Tag => {
            if !TAG_COMPARATORS.contains(&c) {
                return Err(invalid_comparator(c, TAG_COMPARATORS, false));
            }
            Ok(Clause::Tag {
                key: key.to_string(),
                test: key_test(c, &p.operand)?,
            })
        }
        EntityType::Dataset => {
            if !DATASET_COMPARATORS.contains(&c) {
                return Err(invalid_comparator(c, DATASET_COMPARATORS, false));
            }
            let field = match key {
                "name" => DatasetField::Name,
                "digest" => DatasetField::Digest,
                _ => DatasetField::Context,
            };
            let op = StrOp::new(c, &p.operand).ok_or_else(|| operand_mismatch(c))?;
            Ok(Clause::Dataset { field, op })
        }
    }
}

/// The latest value of metric `key` as MLflow keeps it: the entry with the
/// greatest `(step, timestamp, value)`.
pub(crate) fn latest_metric<'a>(metrics: &'a [Metric], key: &str) -> Option<&'a Metric> {
    let mut best: Option<&Metric> = None;
    for m in metrics.iter().filter(|m| m.key == key) {
        best = match best {
            None => Some(m),
            Some(b) => {
                let newer = (m.step, m.timestamp)
                    .cmp(&(b.step, b.timestamp))
                    .then_with(|| {
                        nan_as_zero(m.value)
                            .partial_cmp(&nan_as_zero(b.value))
                            .unwrap_or(Ordering::Equal)
                    });
                Some(if newer == Ordering::Greater { m } else { b })
            }
        };
    }
    best
}

fn nan_as_zero(v: f64) -> f64 {
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// The value MLflow's SQL store keeps for a metric: infinities clamped to ±MAX.
#[inline]
fn stored(v: f64) -> f64 {
    v.clamp(f64::MIN, f64::MAX)
}

fn run_name(run: &Run) -> &str {
    run.tag(RUN_NAME_TAG).unwrap_or(&run.info.run_name)
}

fn attr_str(run: &Run, attr: RunAttr) -> &str {
    match attr {
        RunAttr::RunId => &run.info.run_id,
        RunAttr::RunName => &run.info.run_name,
        RunAttr::UserId => &run.info.user_id,
        RunAttr::Status => run.info.status.as_str(),
        RunAttr::ArtifactUri => &run.info.artifact_uri,
        RunAttr::StartTime | RunAttr::EndTime => unreachable!("numeric attribute"),
    }
}

fn attr_num(run: &Run, attr: RunAttr) -> Option<i64> {
    match attr {
        RunAttr::StartTime => run.info.start_time,
        RunAttr::EndTime => run.info.end_time,
        _ => unreachable!("string attribute"),
    }
}

impl Clause {
    fn matches(&self, run: &Run) -> bool {
        match self {
            Clause::Metric { key, op, value } => match latest_metric(&run.data.metrics, key) {
                None => false,
                Some(m) if m.value.is_nan() => *op == NumOp::Ne,
                Some(m) => op.test(stored(m.value), *value),
            },
            Clause::Param { key, test } => test.test(run.param(key)),
            Clause::Tag { key, test } => test.test(run.tag(key)),
            // The SQL store filters run names through the `mlflow.runName` tag.
            Clause::StrAttr {
                attr: RunAttr::RunName,
                op,
            } => op.test(run_name(run)),
            Clause::StrAttr { attr, op } => op.test(attr_str(run, *attr)),
            Clause::NumAttr { attr, op, value } => {
                attr_num(run, *attr).is_some_and(|a| op.test_i64(a, *value))
            }
            Clause::Dataset { field, op } => {
                run.inputs.dataset_inputs.iter().any(|input| match field {
                    DatasetField::Name => op.test(&input.dataset.name),
                    DatasetField::Digest => op.test(&input.dataset.digest),
                    DatasetField::Context => input
                        .tags
                        .iter()
                        .any(|t| t.key == DATASET_CONTEXT_TAG && op.test(&t.value)),
                })
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum OrderField {
    Metric(String),
    Param(String),
    Tag(String),
    Attr(RunAttr),
}

#[derive(Debug, Clone, PartialEq)]
struct OrderClause {
    field: OrderField,
    ascending: bool,
}

/// `parse_order_by_for_search_runs` plus the checks of `_get_orderby_clauses`.
fn parse_order_by(order_by: &[String]) -> Result<Vec<OrderClause>> {
    let mut out: Vec<OrderClause> = Vec::with_capacity(order_by.len());
    let mut seen: Vec<(EntityType, String)> = Vec::new();
    for clause in order_by {
        let (token, ascending) = parse_order_by_string(clause)?;
        let (typ, key) = get_identifier(token.trim(), ORDER_BY_ATTRIBUTE_KEYS)?;
        let key = translate_key_alias(&key).to_string();
        let field = match typ {
            EntityType::Attribute => OrderField::Attr(RunAttr::from_key(&key)),
            EntityType::Metric => OrderField::Metric(key.clone()),
            EntityType::Tag => OrderField::Tag(key.clone()),
            EntityType::Param => OrderField::Param(key.clone()),
            EntityType::Dataset => {
                return Err(Error::invalid(format!(
                    "Invalid identifier type '{}'",
                    typ.name()
                )));
            }
        };
        if seen.iter().any(|(t, k)| *t == typ && *k == key) {
            let list: Vec<&str> = order_by.iter().map(String::as_str).collect();
            return Err(Error::invalid(format!(
                "`order_by` contains duplicate fields: {}",
                list_repr(&list)
            )));
        }
        seen.push((typ, key));
        out.push(OrderClause { field, ascending });
    }
    Ok(out)
}

/// One precomputed sort value. Ranks: values, then NaN (metrics), then missing.
#[derive(Debug, Clone, Copy)]
enum SortVal<'a> {
    Num(f64),
    Int(i64),
    Str(&'a str),
    NaN,
    Null,
}

impl SortVal<'_> {
    fn rank(&self) -> u8 {
        match self {
            SortVal::Num(_) | SortVal::Int(_) | SortVal::Str(_) => 0,
            SortVal::NaN => 1,
            SortVal::Null => 2,
        }
    }

    fn cmp_values(&self, other: &Self) -> Ordering {
        match (self, other) {
            // -0.0 == 0.0, as in SQL.
            (SortVal::Num(a), SortVal::Num(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (SortVal::Int(a), SortVal::Int(b)) => a.cmp(b),
            (SortVal::Str(a), SortVal::Str(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }
}

impl OrderField {
    fn value<'a>(&self, run: &'a Run) -> SortVal<'a> {
        match self {
            OrderField::Metric(k) => match latest_metric(&run.data.metrics, k) {
                None => SortVal::Null,
                Some(m) if m.value.is_nan() => SortVal::NaN,
                Some(m) => SortVal::Num(stored(m.value)),
            },
            OrderField::Param(k) => run.param(k).map_or(SortVal::Null, SortVal::Str),
            OrderField::Tag(k) => run.tag(k).map_or(SortVal::Null, SortVal::Str),
            OrderField::Attr(a @ (RunAttr::StartTime | RunAttr::EndTime)) => {
                attr_num(run, *a).map_or(SortVal::Null, SortVal::Int)
            }
            OrderField::Attr(a) => SortVal::Str(attr_str(run, *a)),
        }
    }
}

/// A parsed `search_runs` filter and ordering.
#[derive(Debug, Clone)]
pub(crate) struct RunQuery {
    clauses: Vec<Clause>,
    order: Vec<OrderClause>,
}

impl RunQuery {
    /// Validates in MLflow's order: filter syntax and values, then `order_by`,
    /// then each filter comparator.
    pub fn parse(filter: &str, order_by: &[String]) -> Result<Self> {
        let parsed = filter_comparisons(filter, true)?
            .iter()
            .map(get_comparison)
            .collect::<Result<Vec<_>>>()?;
        let order = parse_order_by(order_by)?;
        let clauses = parsed
            .into_iter()
            .map(compile)
            .collect::<Result<Vec<_>>>()?;
        Ok(RunQuery { clauses, order })
    }

    pub fn matches(&self, run: &Run) -> bool {
        self.clauses.iter().all(|c| c.matches(run))
    }

    /// Sorts `hits` (indices into `runs`) into result order.
    pub fn sort_indices(&self, runs: &[Run], hits: &mut Vec<usize>) {
        /// Everything a comparison needs, contiguous (no pointer chasing into runs).
        struct Entry<'a> {
            start_time: Option<i64>,
            run_id: &'a str,
            pos: usize,
        }
        let k = self.order.len();
        let keys: Vec<SortVal<'_>> = hits
            .iter()
            .flat_map(|&i| self.order.iter().map(move |o| o.field.value(&runs[i])))
            .collect();
        let by_start_time = self
            .order
            .iter()
            .any(|o| o.field == OrderField::Attr(RunAttr::StartTime));
        let mut entries: Vec<Entry<'_>> = hits
            .iter()
            .enumerate()
            .map(|(pos, &i)| Entry {
                start_time: runs[i].info.start_time,
                run_id: &runs[i].info.run_id,
                pos,
            })
            .collect();
        entries.sort_unstable_by(|a, b| {
            for (j, o) in self.order.iter().enumerate() {
                let (x, y) = (&keys[a.pos * k + j], &keys[b.pos * k + j]);
                let ord = x.rank().cmp(&y.rank()).then_with(|| {
                    let v = x.cmp_values(y);
                    if o.ascending {
                        v
                    } else {
                        v.reverse()
                    }
                });
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            let ord = if by_start_time {
                Ordering::Equal
            } else {
                // start_time DESC; SQL sorts NULL lowest, so missing start times come last.
                b.start_time.cmp(&a.start_time)
            };
            ord.then_with(|| a.run_id.cmp(b.run_id))
        });
        *hits = entries.into_iter().map(|e| hits[e.pos]).collect();
    }

    #[cfg(test)]
    fn sorted_indices(&self, runs: &[Run]) -> Vec<usize> {
        let mut v: Vec<usize> = (0..runs.len()).collect();
        self.sort_indices(runs, &mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_protocol::{Dataset, DatasetInput, RunStatus, Tag};

    fn err(filter: &str) -> String {
        let e = RunQuery::parse(filter, &[]).unwrap_err();
        assert_eq!(
            e.code,
            slipway_core::ErrorCode::InvalidParameterValue,
            "{filter}"
        );
        e.message
    }

    fn order_err(order_by: &[&str]) -> String {
        let v: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
        RunQuery::parse("", &v).unwrap_err().message
    }

    fn metric(key: &str, value: f64) -> Metric {
        Metric {
            key: key.into(),
            value,
            ..Default::default()
        }
    }

    struct R {
        run: Run,
    }

    impl R {
        fn new(id: &str, start: i64) -> Self {
            let mut run = Run::default();
            run.info.run_id = id.into();
            run.info.run_uuid = id.into();
            run.info.run_name = id.into();
            run.info.start_time = Some(start);
            run.data.tags.push(Tag::new(RUN_NAME_TAG, id));
            R { run }
        }
        fn metric(mut self, k: &str, v: f64) -> Self {
            self.run.data.metrics.push(metric(k, v));
            self
        }
        fn param(mut self, k: &str, v: &str) -> Self {
            self.run.data.params.push(Tag::new(k, v));
            self
        }
        fn tag(mut self, k: &str, v: &str) -> Self {
            self.run.data.tags.push(Tag::new(k, v));
            self
        }
        fn status(mut self, s: RunStatus) -> Self {
            self.run.info.status = s;
            self
        }
        fn dataset(mut self, name: &str, digest: &str, context: &str) -> Self {
            self.run.inputs.dataset_inputs.push(DatasetInput {
                tags: vec![Tag::new(DATASET_CONTEXT_TAG, context)],
                dataset: Dataset {
                    name: name.into(),
                    digest: digest.into(),
                    ..Default::default()
                },
            });
            self
        }
    }

    fn fixture() -> Vec<Run> {
        vec![
            R::new("r0", 0)
                .metric("auc", 0.95)
                .param("depth", "3")
                .tag("team", "alpha"),
            R::new("r1", 1000)
                .metric("auc", 0.85)
                .param("depth", "3")
                .tag("team", "beta"),
            R::new("r2", 2000)
                .metric("auc", 0.75)
                .param("depth", "5")
                .tag("team", "Alpha-Two")
                .status(RunStatus::Failed)
                .dataset("train", "d1", "training"),
            R::new("r3", 3000)
                .metric("auc", f64::NAN)
                .param("depth", "5"),
            R::new("r4", 4000).dataset("eval", "d2", "eval"),
        ]
        .into_iter()
        .map(|r| r.run)
        .collect()
    }

    fn search(filter: &str, order_by: &[&str]) -> Vec<String> {
        let v: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
        let q = RunQuery::parse(filter, &v).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let runs: Vec<Run> = fixture().into_iter().filter(|r| q.matches(r)).collect();
        q.sorted_indices(&runs)
            .into_iter()
            .map(|i| runs[i].info.run_id.clone())
            .collect()
    }

    #[test]
    fn filters() {
        assert_eq!(search("metrics.auc > 0.8", &[]), ["r1", "r0"]);
        assert_eq!(
            search("metrics.auc != 0.85", &[]),
            ["r3", "r2", "r0"],
            "NaN matches only !="
        );
        assert_eq!(search("metrics.auc >= 0", &[]), ["r2", "r1", "r0"]);
        assert_eq!(
            search("params.depth = '3' and metrics.auc < 0.9", &[]),
            ["r1"]
        );
        assert_eq!(
            search("params.depth != '3'", &[]),
            ["r3", "r2"],
            "missing param never matches"
        );
        assert_eq!(search("tags.team LIKE 'alpha%'", &[]), ["r0"]);
        assert_eq!(search("tags.team ILIKE 'alpha%'", &[]), ["r2", "r0"]);
        assert_eq!(search("tags.team IS NULL", &[]), ["r4", "r3"]);
        assert_eq!(
            search("params.depth IS NOT NULL AND tags.team IS NULL", &[]),
            ["r3"]
        );
        assert_eq!(search("attributes.status = 'FAILED'", &[]), ["r2"]);
        assert_eq!(search("status != 'FAILED'", &[]), ["r4", "r3", "r1", "r0"]);
        assert_eq!(search("attributes.run_name = 'r1'", &[]), ["r1"]);
        assert_eq!(search("`Run Name` ILIKE 'R1'", &[]), ["r1"]);
        assert_eq!(
            search("attributes.run_id IN ('r0', 'r3')", &[]),
            ["r3", "r0"]
        );
        assert_eq!(
            search("run_id NOT IN ('r0', 'r3')", &[]),
            ["r4", "r2", "r1"]
        );
        assert_eq!(
            search("attributes.start_time >= 2000", &[]),
            ["r4", "r3", "r2"]
        );
        assert_eq!(search("created < 1000.5", &[]), ["r1", "r0"]);
        assert_eq!(search("attributes.end_time > 0", &[]), Vec::<String>::new());
        assert_eq!(search("datasets.name = 'train'", &[]), ["r2"]);
        assert_eq!(
            search("datasets.name IN ('train', 'eval')", &[]),
            ["r4", "r2"]
        );
        assert_eq!(search("datasets.context = 'eval'", &[]), ["r4"]);
        assert_eq!(search("datasets.digest != 'd1'", &[]), ["r4"]);
        assert_eq!(search("tags.\"team\" = \"beta\"", &[]), ["r1"]);
        assert_eq!(search("tags.mlflow.runName = 'r4'", &[]), ["r4"]);
        assert_eq!(
            search("metrics.auc > 0.8 params.depth = '3'", &[]),
            ["r1", "r0"],
            "AND is optional"
        );
    }

    #[test]
    fn ordering() {
        assert_eq!(search("", &[]), ["r4", "r3", "r2", "r1", "r0"]);
        assert_eq!(
            search("", &["metrics.auc DESC"]),
            ["r0", "r1", "r2", "r3", "r4"]
        );
        assert_eq!(
            search("", &["metrics.auc"]),
            ["r2", "r1", "r0", "r3", "r4"],
            "NaN after numbers"
        );
        assert_eq!(
            search("", &["tags.team ASC"]),
            ["r2", "r0", "r1", "r4", "r3"]
        );
        assert_eq!(
            search("", &["params.depth DESC"]),
            ["r3", "r2", "r1", "r0", "r4"]
        );
        assert_eq!(
            search("", &["attributes.start_time"]),
            ["r0", "r1", "r2", "r3", "r4"]
        );
        assert_eq!(
            search("", &["params.depth", "start_time"]),
            ["r0", "r1", "r2", "r3", "r4"]
        );
        assert_eq!(search("", &["status DESC"]), ["r4", "r3", "r1", "r0", "r2"]);
    }

    #[test]
    fn infinities_compare_as_max() {
        let runs = [R::new("a", 0).metric("m", f64::INFINITY).run];
        let q = RunQuery::parse("metrics.m = 1.7976931348623157e308", &[]).unwrap();
        assert!(q.matches(&runs[0]));
        let q = RunQuery::parse("metrics.m > 1e308", &[]).unwrap();
        assert!(q.matches(&runs[0]));
    }

    #[test]
    fn latest_metric_is_max_step_timestamp_value() {
        let mut a = metric("m", 1.0);
        a.step = 2;
        let mut b = metric("m", 5.0);
        b.step = 1;
        b.timestamp = 99;
        let ms = vec![a, b];
        assert_eq!(latest_metric(&ms, "m").unwrap().value, 1.0);
    }

    #[test]
    fn mlflow_error_messages() {
        assert_eq!(
            err("metrics.acc > 0.5 OR params.x = 'a'"),
            "Invalid clause(s) in filter string: 'OR'"
        );
        assert_eq!(
            err("metrics.a >"),
            "Invalid clause(s) in filter string: 'metrics.a', '>'"
        );
        assert_eq!(
            err("(metrics.a > 1)"),
            "Invalid clause(s) in filter string: '(metrics.a > 1)'"
        );
        assert_eq!(err("   "), "Invalid filter '   '. Could not be parsed.");
        assert_eq!(
            err("x = 1; y = 2"),
            "Search filter contained multiple expression 'x = 1; y = 2'. Provide AND-ed expression list."
        );
        assert_eq!(
            err("metrics.a > 1;"),
            "Invalid clause(s) in filter string: ';'"
        );
        assert_eq!(
            err("foo.x = 1"),
            "Invalid entity type 'foo'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
        );
        assert!(err("name = 'x'")
            .starts_with("Invalid attribute key 'name' specified. Valid keys are '{'"));
        assert_eq!(
            err("datasets.foo = 'a'"),
            "Invalid dataset key 'foo' specified. Valid keys are '{'name', 'digest', 'context'}'"
        );
        assert_eq!(
            err("metrics.x = '1'"),
            "Expected numeric value type for metric. Found '1'"
        );
        assert_eq!(
            err("metrics.a>1AND params.b='x'"),
            "Expected numeric value type for metric. Found 1AND"
        );
        assert_eq!(
            err("params.x = abc"),
            "Parameter value is either not quoted or unidentified quote types used for string value abc. \
             Use either single or double quotes."
        );
        assert_eq!(
            err("params.x IN ('a')"),
            "Expected a quoted string value for parameter (e.g. 'my-value'). Got value ('a')"
        );
        assert_eq!(
            err("params.a = NULL"),
            "Expected a quoted string value for parameter (e.g. 'my-value'). Got value NULL"
        );
        assert_eq!(
            err("attributes.status IN ('a')"),
            "Only ['run_id'] attributes support comparison with a list of quoted string values."
        );
        assert_eq!(
            err("start_time IN ('a')"),
            "Expected numeric value type for numeric attribute: start_time. Found ('a')"
        );
        assert_eq!(
            err("status = 1"),
            "Expected a quoted string value for attributes. Got value 1"
        );
        assert_eq!(
            err("attributes.run_id IN ()"),
            "While parsing a list in the query, expected a non-empty list of string values, but got empty list"
        );
        assert_eq!(
            err("metrics.x IS NULL"),
            "IS NULL / IS NOT NULL is only supported for tags and params, not for 'metric' 'x'"
        );
        assert_eq!(
            err("'a' = params.x"),
            "Invalid comparison clause. Expected 'Identifier' found ''a''"
        );
        assert_eq!(
            err("a = b = c"),
            "Invalid comparison clause. Expected 'Identifier' found 'a = b'"
        );
        assert_eq!(
            err("params.x == 'a'"),
            format!(
                "Invalid comparator '==' not one of '{}'",
                comparators(PARAM_COMPARATORS)
            )
        );
        assert_eq!(
            err("metrics.auc LIKE 1"),
            format!(
                "Invalid comparator 'LIKE' not one of '{}",
                comparators(METRIC_COMPARATORS)
            )
        );
        assert_eq!(
            err("tags.t NOT LIKE 'a'"),
            format!(
                "Invalid comparator 'NOT LIKE' not one of '{}",
                comparators(TAG_COMPARATORS)
            )
        );
        assert_eq!(
            err("attributes.status < 'a'"),
            format!(
                "Invalid comparator '<' not one of '{}'",
                comparators(STRING_ATTRIBUTE_COMPARATORS)
            )
        );
        assert_eq!(
            err("start_time LIKE 1"),
            format!(
                "Invalid comparator 'LIKE' not one of '{}",
                comparators(STRING_ATTRIBUTE_COMPARATORS)
            )
        );
        assert_eq!(
            err("metrics.auc >> 1"),
            format!(
                "Invalid comparator '>>' not one of '{}",
                comparators(METRIC_COMPARATORS)
            )
        );
    }

    #[test]
    fn error_order_matches_mlflow() {
        // Values are checked before comparators, and order_by before comparators.
        let v = vec!["metrics.a DESC".to_string(), "foo.b".to_string()];
        assert!(RunQuery::parse("params.x == 'a' and metrics.y = 'z'", &v)
            .unwrap_err()
            .message
            .starts_with("Expected numeric value type for metric"));
        assert!(RunQuery::parse("params.x == 'a'", &v)
            .unwrap_err()
            .message
            .starts_with("Invalid entity type 'foo'"));
    }

    #[test]
    fn order_by_errors() {
        assert!(order_err(&["name"]).starts_with("Invalid attribute key 'name' specified."));
        assert!(
            order_err(&["`Run Name`"]).starts_with("Invalid attribute key 'Run Name' specified.")
        );
        assert_eq!(
            order_err(&["datasets.name"]),
            "Invalid identifier type 'dataset'"
        );
        assert_eq!(
            order_err(&["metrics.a", "metrics.`a` DESC"]),
            "`order_by` contains duplicate fields: ['metrics.a', 'metrics.`a` DESC']"
        );
        assert_eq!(
            order_err(&["created", "start_time"]),
            "`order_by` contains duplicate fields: ['created', 'start_time']"
        );
    }
}
