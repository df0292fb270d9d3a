//! `logged-models/search` (MLflow 3): filter, dataset filters and `order_by`.
//!
//! MLflow's SQL store parses logged-model filters with
//! `mlflow.utils.search_logged_model_utils.parse_filter_string` and evaluates
//! them as joins; this module follows it (messages included) with a few
//! deliberate relaxations where MLflow fails with an internal error or can
//! never match:
//! * entity prefixes also accept the run-search spellings (`metric.`, `param.`,
//!   `tag.`, `attribute.`, ...), keys may be double-quoted, values may be
//!   double-quoted, unknown attributes are `INVALID_PARAMETER_VALUE`;
//! * `status` compares against `READY` / `LOGGED_MODEL_READY` style names
//!   (MLflow's SQL column is an integer, so a string never matches there);
//! * a dataset filter without a digest matches any digest.
//!
//! Semantics: a metric comparison matches if *any* logged value of that
//! metric (restricted to the requested datasets, if any) satisfies it;
//! infinities compare as ±`f64::MAX` (MLflow stores them clamped); a NaN
//! value matches only `!=` and sorts after all numbers, as for runs (MLflow's
//! SQL store silently stores a logged-model NaN as 0); params and tags must
//! exist. With dataset filters but no
//! metric comparison, a model must have some metric on one of the datasets.
//! Ordering puts missing values last, then `creation_timestamp DESC` and
//! `model_id ASC` unless already ordered by them.

use super::common::*;
use super::grammar::{parse_statement, Node, Statement};
use super::lexer::Kind;
use super::py::{repr_str, set_repr, tuple_repr};
use slipway_core::{Error, Result};
use slipway_protocol::{
    LoggedModel, LoggedModelDatasetFilter, LoggedModelOrderBy, LoggedModelStatus, Metric,
};
use std::cmp::Ordering;

const SEARCH_ATTRIBUTE_KEYS: &[&str] = &[
    "name",
    "model_id",
    "model_type",
    "status",
    "source_run_id",
    "creation_timestamp",
    "creation_time",
    "last_updated_timestamp",
    "last_updated_time",
];
const NUMERIC_OPS: &[&str] = &["<", "<=", ">", ">=", "=", "!="];
const STRING_OPS: &[&str] = &["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    ModelId,
    Name,
    ModelType,
    Status,
    SourceRunId,
    ExperimentId,
    ArtifactLocation,
    StatusMessage,
    CreationTimestamp,
    LastUpdatedTimestamp,
}

impl Attr {
    /// A `logged_models` column, by its name or one of MLflow's aliases.
    fn parse(key: &str) -> Option<Attr> {
        Some(match key {
            "model_id" => Attr::ModelId,
            "name" => Attr::Name,
            "model_type" => Attr::ModelType,
            "status" => Attr::Status,
            "source_run_id" => Attr::SourceRunId,
            "experiment_id" => Attr::ExperimentId,
            "artifact_location" => Attr::ArtifactLocation,
            "status_message" => Attr::StatusMessage,
            "creation_timestamp" | "creation_time" | "creation_timestamp_ms" => {
                Attr::CreationTimestamp
            }
            "last_updated_timestamp" | "last_updated_time" | "last_updated_timestamp_ms" => {
                Attr::LastUpdatedTimestamp
            }
            _ => return None,
        })
    }

    fn is_numeric(self) -> bool {
        matches!(self, Attr::CreationTimestamp | Attr::LastUpdatedTimestamp)
    }

    fn str_value(self, m: &LoggedModel) -> Option<&str> {
        let i = &m.info;
        match self {
            Attr::ModelId => Some(&i.model_id),
            Attr::Name => Some(&i.name),
            Attr::ModelType => i.model_type.as_deref(),
            Attr::Status => Some(i.status.as_str()),
            Attr::SourceRunId => i.source_run_id.as_deref(),
            Attr::ExperimentId => Some(&i.experiment_id),
            Attr::ArtifactLocation => Some(&i.artifact_uri),
            Attr::StatusMessage => i.status_message.as_deref(),
            Attr::CreationTimestamp | Attr::LastUpdatedTimestamp => None,
        }
    }

    fn num_value(self, m: &LoggedModel) -> Option<i64> {
        match self {
            Attr::CreationTimestamp => m.info.creation_timestamp_ms,
            Attr::LastUpdatedTimestamp => m.info.last_updated_timestamp_ms,
            _ => None,
        }
    }
}

/// The Python-side name of a status (`LoggedModelStatus.READY` is `"READY"`).
fn short_status(s: LoggedModelStatus) -> &'static str {
    match s {
        LoggedModelStatus::Unspecified => "UNSPECIFIED",
        LoggedModelStatus::Pending => "PENDING",
        LoggedModelStatus::Ready => "READY",
        LoggedModelStatus::UploadFailed => "FAILED",
    }
}

fn status_number(s: LoggedModelStatus) -> i64 {
    match s {
        LoggedModelStatus::Unspecified => 0,
        LoggedModelStatus::Pending => 1,
        LoggedModelStatus::Ready => 2,
        LoggedModelStatus::UploadFailed => 3,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntityType {
    Attribute,
    Metric,
    Param,
    Tag,
}

impl EntityType {
    fn value(self) -> &'static str {
        match self {
            EntityType::Attribute => "attributes",
            EntityType::Metric => "metrics",
            EntityType::Param => "params",
            EntityType::Tag => "tags",
        }
    }
}

/// `Entity.from_str`: `<type>.<key>` or a bare attribute name.
fn parse_entity(s: &str) -> Result<(EntityType, String)> {
    let clean = |k: &str| strip_quotes(k.trim_matches('`')).to_string();
    if let Some((prefix, key)) = s.split_once('.') {
        if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_lowercase()) && !key.is_empty() {
            let typ = match prefix {
                "attributes" | "attribute" | "attr" => EntityType::Attribute,
                "metrics" | "metric" => EntityType::Metric,
                "params" | "param" | "parameters" | "parameter" => EntityType::Param,
                "tags" | "tag" => EntityType::Tag,
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid entity type: {}. Expected one of ['attributes', 'metrics', 'params', 'tags'].",
                        repr_str(prefix)
                    )))
                }
            };
            return Ok((typ, clean(key)));
        }
    }
    Ok((EntityType::Attribute, clean(s)))
}

#[derive(Debug, Clone)]
enum Clause {
    Str { attr: Attr, op: StrOp },
    Num { attr: Attr, op: NumOp, value: f64 },
    Metric { key: String, op: NumOp, value: f64 },
    Param { key: String, op: StrOp },
    Tag { key: String, op: StrOp },
}

#[derive(Debug, Clone)]
struct DatasetFilter {
    name: String,
    digest: Option<String>,
}

impl DatasetFilter {
    fn covers(&self, m: &Metric) -> bool {
        m.dataset_name.as_deref() == Some(self.name.as_str())
            && self
                .digest
                .as_deref()
                .is_none_or(|d| m.dataset_digest.as_deref() == Some(d))
    }
}

fn on_datasets(m: &Metric, datasets: &[DatasetFilter]) -> bool {
    datasets.is_empty() || datasets.iter().any(|d| d.covers(m))
}

/// `parse_filter_string` (SQL store), compiled.
fn parse_filter(filter: &str) -> Result<Vec<Clause>> {
    if filter.is_empty() {
        return Ok(vec![]);
    }
    let nodes = match parse_statement(filter) {
        Statement::Nodes(nodes) => nodes,
        Statement::Empty | Statement::Multiple => {
            return Err(Error::invalid(format!(
                "Invalid filter string: {}. Expected a single SQL expression.",
                repr_str(filter)
            )))
        }
    };
    let mut clauses = Vec::new();
    for node in nodes {
        let cmp = match node {
            Node::Cmp(c) => c,
            Node::Tok(t) if t.text.trim().eq_ignore_ascii_case("AND") => continue,
            Node::Tok(_) | Node::Group(_) => {
                return Err(Error::invalid(format!(
                    "Invalid filter string: {}. Expected a list of comparisons separated by 'AND' \
                     (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').",
                    repr_str(filter)
                )))
            }
        };
        let Some(rhs) = cmp.rhs else {
            return Err(Error::invalid(format!(
                "Invalid comparison: {}. Expected a comparison with 3 tokens.",
                cmp.text
            )));
        };
        let op = cmp.op.to_uppercase();
        let (typ, key) = parse_entity(cmp.lhs.text)?;
        let attr = match typ {
            EntityType::Attribute => Some(Attr::parse(&key).ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid attribute key '{key}' specified. Valid keys are '{}'",
                    set_repr(SEARCH_ATTRIBUTE_KEYS)
                ))
            })?),
            _ => None,
        };
        let numeric = typ == EntityType::Metric || attr.is_some_and(Attr::is_numeric);
        let ops = if numeric { NUMERIC_OPS } else { STRING_OPS };
        if !ops.contains(&op.as_str()) {
            return Err(Error::invalid(format!(
                "Invalid comparison operator for {}.{key}: {}. Expected one of {}.",
                typ.value(),
                repr_str(&op),
                tuple_repr(&ops.iter().map(|o| repr_str(o)).collect::<Vec<_>>())
            )));
        }
        if numeric {
            if !is_number_token(&rhs) {
                return Err(Error::invalid(match typ {
                    EntityType::Metric => {
                        format!("Expected numeric value type for metric. Found {}", rhs.text)
                    }
                    _ => format!(
                        "Expected numeric value type for numeric attribute: {key}. Found {}",
                        rhs.text
                    ),
                }));
            }
            let value = parse_f64(rhs.text);
            let op = NumOp::parse(&op).expect("validated numeric operator");
            clauses.push(match attr {
                Some(attr) => Clause::Num { attr, op, value },
                None => Clause::Metric { key, op, value },
            });
            continue;
        }
        let operand = if rhs.kind == Kind::Paren {
            Operand::List(literal_eval_strings(rhs.text)?)
        } else if rhs.text.len() >= 2 && rhs.text.starts_with('"') && rhs.text.ends_with('"') {
            Operand::Str(rhs.text[1..rhs.text.len() - 1].to_string())
        } else {
            Operand::Str(rhs.text.trim_matches('\'').to_string())
        };
        let sop = StrOp::new(&op, &operand).ok_or_else(|| operand_mismatch(&op))?;
        clauses.push(match (typ, attr) {
            (_, Some(attr)) => Clause::Str { attr, op: sop },
            (EntityType::Param, _) => Clause::Param { key, op: sop },
            _ => Clause::Tag { key, op: sop },
        });
    }
    Ok(clauses)
}

/// `ast.literal_eval` of an `IN` list, as the SQL store does it (a lone string
/// is a one-element list, an empty list is allowed).
fn literal_eval_strings(text: &str) -> Result<Vec<String>> {
    use super::py::{literal_eval, PyLit};
    let ill_formed = || {
        Error::invalid(
            "While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list.",
        )
    };
    let items = match literal_eval(text).map_err(|_| ill_formed())? {
        PyLit::Tuple(items) => items,
        single => vec![single],
    };
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

impl Clause {
    fn matches(&self, m: &LoggedModel, datasets: &[DatasetFilter]) -> bool {
        match self {
            Clause::Str {
                attr: Attr::Status,
                op,
            } => {
                let (long, short) = (m.info.status.as_str(), short_status(m.info.status));
                match op {
                    StrOp::Ne(_) | StrOp::NotIn(_) => op.test(long) && op.test(short),
                    _ => op.test(long) || op.test(short),
                }
            }
            Clause::Str { attr, op } => attr.str_value(m).is_some_and(|v| op.test(v)),
            Clause::Num { attr, op, value } => {
                attr.num_value(m).is_some_and(|v| op.test(v as f64, *value))
            }
            Clause::Metric { key, op, value } => m.data.metrics.iter().any(|x| {
                x.key == *key
                    && on_datasets(x, datasets)
                    && if x.value.is_nan() {
                        *op == NumOp::Ne
                    } else {
                        op.test(stored(x.value), *value)
                    }
            }),
            Clause::Param { key, op } => m
                .data
                .params
                .iter()
                .find(|p| p.key == *key)
                .is_some_and(|p| op.test(&p.value)),
            Clause::Tag { key, op } => m
                .info
                .tags
                .iter()
                .find(|t| t.key == *key)
                .is_some_and(|t| op.test(&t.value)),
        }
    }
}

#[derive(Debug, Clone)]
enum OrderField {
    Attr(Attr),
    Metric {
        key: String,
        dataset_name: Option<String>,
        dataset_digest: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct OrderClause {
    field: OrderField,
    ascending: bool,
}

/// `_apply_order_by_search_logged_models`'s validation and tie-breakers.
fn parse_order_by(order_by: &[LoggedModelOrderBy]) -> Result<Vec<OrderClause>> {
    let mut out = Vec::with_capacity(order_by.len() + 2);
    let (mut has_creation, mut has_model_id) = (false, false);
    for ob in order_by {
        let ascending = ob.ascending.unwrap_or(true);
        let field_name = ob.field_name.as_str();
        let field = match field_name.split_once('.') {
            None => {
                let attr = Attr::parse(field_name).ok_or_else(|| {
                    Error::invalid(format!("Invalid order by field name: {field_name}"))
                })?;
                has_creation |= attr == Attr::CreationTimestamp;
                has_model_id |= attr == Attr::ModelId;
                OrderField::Attr(attr)
            }
            Some(("metrics", key)) => OrderField::Metric {
                key: key.to_string(),
                dataset_name: ob.dataset_name.clone().filter(|s| !s.is_empty()),
                dataset_digest: ob.dataset_digest.clone().filter(|s| !s.is_empty()),
            },
            Some(_) => {
                return Err(Error::invalid(format!(
                    "Invalid order by field name: {field_name}. Only metrics are supported."
                )))
            }
        };
        out.push(OrderClause { field, ascending });
    }
    if !has_creation {
        out.push(OrderClause {
            field: OrderField::Attr(Attr::CreationTimestamp),
            ascending: false,
        });
    }
    if !has_model_id {
        out.push(OrderClause {
            field: OrderField::Attr(Attr::ModelId),
            ascending: true,
        });
    }
    Ok(out)
}

/// The value MLflow's SQL store keeps for a metric: infinities clamped to ±MAX.
#[inline]
fn stored(v: f64) -> f64 {
    v.clamp(f64::MIN, f64::MAX)
}

/// One precomputed sort value. Ranks: values, then NaN metrics, then missing.
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

    fn cmp(&self, other: &Self, ascending: bool) -> Ordering {
        if self.rank() != other.rank() {
            // Missing values last in both directions.
            return self.rank().cmp(&other.rank());
        }
        let v = match (self, other) {
            // -0.0 == 0.0, as in SQL.
            (SortVal::Num(a), SortVal::Num(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            (SortVal::Int(a), SortVal::Int(b)) => a.cmp(b),
            (SortVal::Str(a), SortVal::Str(b)) => a.cmp(b),
            _ => Ordering::Equal,
        };
        if ascending {
            v
        } else {
            v.reverse()
        }
    }
}

impl OrderField {
    fn value<'a>(&self, m: &'a LoggedModel) -> SortVal<'a> {
        match self {
            OrderField::Attr(Attr::Status) => SortVal::Int(status_number(m.info.status)),
            OrderField::Attr(Attr::ExperimentId) => match m.info.experiment_id.parse::<i64>() {
                Ok(i) => SortVal::Int(i),
                Err(_) => SortVal::Str(&m.info.experiment_id),
            },
            OrderField::Attr(a) if a.is_numeric() => {
                a.num_value(m).map_or(SortVal::Null, SortVal::Int)
            }
            OrderField::Attr(a) => a.str_value(m).map_or(SortVal::Null, SortVal::Str),
            OrderField::Metric {
                key,
                dataset_name,
                dataset_digest,
            } => {
                // Latest by (timestamp DESC, step DESC, run_id ASC).
                let latest = m
                    .data
                    .metrics
                    .iter()
                    .filter(|x| {
                        x.key == *key
                            && dataset_name
                                .as_ref()
                                .is_none_or(|n| x.dataset_name.as_ref() == Some(n))
                            && dataset_digest
                                .as_ref()
                                .is_none_or(|d| x.dataset_digest.as_ref() == Some(d))
                    })
                    .min_by(|a, b| {
                        b.timestamp
                            .cmp(&a.timestamp)
                            .then(b.step.cmp(&a.step))
                            .then_with(|| a.run_id.cmp(&b.run_id))
                    });
                latest.map_or(SortVal::Null, |x| {
                    if x.value.is_nan() {
                        SortVal::NaN
                    } else {
                        SortVal::Num(stored(x.value))
                    }
                })
            }
        }
    }
}

/// A parsed logged-model search.
#[derive(Debug, Clone)]
pub(crate) struct LoggedModelQuery {
    clauses: Vec<Clause>,
    datasets: Vec<DatasetFilter>,
    has_metric_clause: bool,
    order: Vec<OrderClause>,
}

impl LoggedModelQuery {
    pub fn parse(
        filter: &str,
        order_by: &[LoggedModelOrderBy],
        datasets: &[LoggedModelDatasetFilter],
    ) -> Result<Self> {
        if datasets.iter().any(|d| d.dataset_name.is_empty()) {
            return Err(Error::invalid(
                "`dataset_name` in the `datasets` clause must be specified.",
            ));
        }
        let datasets = datasets
            .iter()
            .map(|d| DatasetFilter {
                name: d.dataset_name.clone(),
                digest: d.dataset_digest.clone().filter(|s| !s.is_empty()),
            })
            .collect();
        let clauses = parse_filter(filter)?;
        let order = parse_order_by(order_by)?;
        Ok(LoggedModelQuery {
            has_metric_clause: clauses.iter().any(|c| matches!(c, Clause::Metric { .. })),
            clauses,
            datasets,
            order,
        })
    }

    pub fn matches(&self, m: &LoggedModel) -> bool {
        if !self.datasets.is_empty()
            && !self.has_metric_clause
            && !m
                .data
                .metrics
                .iter()
                .any(|x| on_datasets(x, &self.datasets))
        {
            return false;
        }
        self.clauses.iter().all(|c| c.matches(m, &self.datasets))
    }

    /// Sorts `hits` (indices into `models`) into result order.
    pub fn sort_indices(&self, models: &[LoggedModel], hits: &mut Vec<usize>) {
        let k = self.order.len();
        let keys: Vec<SortVal<'_>> = hits
            .iter()
            .flat_map(|&i| self.order.iter().map(move |o| o.field.value(&models[i])))
            .collect();
        let mut pos: Vec<usize> = (0..hits.len()).collect();
        pos.sort_by(|&a, &b| {
            for (j, o) in self.order.iter().enumerate() {
                let ord = keys[a * k + j].cmp(&keys[b * k + j], o.ascending);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
        *hits = pos.into_iter().map(|p| hits[p]).collect();
    }

    #[cfg(test)]
    fn sorted_indices(&self, models: &[LoggedModel]) -> Vec<usize> {
        let mut v: Vec<usize> = (0..models.len()).collect();
        self.sort_indices(models, &mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_protocol::{LoggedModelData, LoggedModelInfo, Tag};

    fn model(id: &str, name: &str, created: i64, run: Option<&str>) -> LoggedModel {
        LoggedModel {
            info: LoggedModelInfo {
                model_id: id.into(),
                experiment_id: "1".into(),
                name: name.into(),
                creation_timestamp_ms: Some(created),
                last_updated_timestamp_ms: Some(created),
                source_run_id: run.map(Into::into),
                status: LoggedModelStatus::Ready,
                ..Default::default()
            },
            data: LoggedModelData::default(),
        }
    }

    fn metric(key: &str, value: f64, ts: i64, ds: Option<(&str, &str)>) -> Metric {
        Metric {
            key: key.into(),
            value,
            timestamp: ts,
            dataset_name: ds.map(|d| d.0.into()),
            dataset_digest: ds.map(|d| d.1.into()),
            ..Default::default()
        }
    }

    fn fixture() -> Vec<LoggedModel> {
        let mut a = model("m-a", "model", 100, Some("run1"));
        a.data.metrics = vec![
            metric("acc", 0.9, 1, Some(("train", "d1"))),
            metric("acc", 0.5, 2, Some(("test", "d2"))),
        ];
        a.data.params.push(Tag::new("lr", "0.1"));
        a.info.tags.push(Tag::new("stage", "prod"));
        a.info.model_type = Some("sklearn".into());
        let mut b = model("m-b", "model", 200, Some("run2"));
        b.data.metrics = vec![metric("acc", 0.7, 1, Some(("test", "d2")))];
        b.info.status = LoggedModelStatus::Pending;
        let c = model("m-c", "other", 200, None);
        vec![a, b, c]
    }

    fn ob(field: &str, asc: Option<bool>) -> LoggedModelOrderBy {
        LoggedModelOrderBy {
            field_name: field.into(),
            ascending: asc,
            ..Default::default()
        }
    }

    fn ds(name: &str, digest: Option<&str>) -> LoggedModelDatasetFilter {
        LoggedModelDatasetFilter {
            dataset_name: name.into(),
            dataset_digest: digest.map(Into::into),
        }
    }

    fn search(
        filter: &str,
        order_by: &[LoggedModelOrderBy],
        datasets: &[LoggedModelDatasetFilter],
    ) -> Vec<String> {
        let q = LoggedModelQuery::parse(filter, order_by, datasets)
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        let ms: Vec<LoggedModel> = fixture().into_iter().filter(|m| q.matches(m)).collect();
        q.sorted_indices(&ms)
            .into_iter()
            .map(|i| ms[i].info.model_id.clone())
            .collect()
    }

    fn err(filter: &str) -> String {
        LoggedModelQuery::parse(filter, &[], &[])
            .unwrap_err()
            .message
    }

    #[test]
    fn client_calls() {
        assert_eq!(search("source_run_id='run1'", &[], &[]), ["m-a"]);
        assert_eq!(search("name = 'model'", &[], &[]), ["m-b", "m-a"]);
        assert_eq!(search("", &[], &[]), ["m-b", "m-c", "m-a"]);
    }

    #[test]
    fn filters() {
        assert_eq!(search("metrics.acc > 0.8", &[], &[]), ["m-a"]);
        assert_eq!(
            search("metrics.acc < 0.6", &[], &[]),
            ["m-a"],
            "any logged value"
        );
        assert_eq!(
            search("metrics.acc < 0.6", &[], &[ds("train", None)]),
            Vec::<String>::new()
        );
        assert_eq!(
            search("metrics.acc > 0.6", &[], &[ds("test", Some("d2"))]),
            ["m-b"]
        );
        assert_eq!(search("", &[], &[ds("test", None)]), ["m-b", "m-a"]);
        assert_eq!(
            search("params.lr = '0.1' AND tags.stage LIKE 'pr%'", &[], &[]),
            ["m-a"]
        );
        assert_eq!(search("tags.stage != 'dev'", &[], &[]), ["m-a"]);
        assert_eq!(search("model_type = \"sklearn\"", &[], &[]), ["m-a"]);
        assert_eq!(search("status = 'READY'", &[], &[]), ["m-c", "m-a"]);
        assert_eq!(search("status = 'LOGGED_MODEL_PENDING'", &[], &[]), ["m-b"]);
        assert_eq!(search("status != 'READY'", &[], &[]), ["m-b"]);
        assert_eq!(
            search("creation_timestamp >= 200", &[], &[]),
            ["m-b", "m-c"]
        );
        assert_eq!(search("attributes.creation_time < 200", &[], &[]), ["m-a"]);
        assert_eq!(
            search("model_id IN ('m-a', 'm-c')", &[], &[]),
            ["m-c", "m-a"]
        );
        assert_eq!(search("name NOT IN ('model')", &[], &[]), ["m-c"]);
        assert_eq!(search("name like 'MOD%'", &[], &[]), Vec::<String>::new());
        assert_eq!(search("name ilike 'MOD%'", &[], &[]), ["m-b", "m-a"]);
    }

    #[test]
    fn ordering() {
        assert_eq!(
            search("", &[ob("metrics.acc", None)], &[]),
            ["m-a", "m-b", "m-c"],
            "latest acc: a=0.5, b=0.7"
        );
        assert_eq!(
            search("", &[ob("metrics.acc", Some(false))], &[]),
            ["m-b", "m-a", "m-c"]
        );
        let mut by_train = ob("metrics.acc", Some(false));
        by_train.dataset_name = Some("train".into());
        assert_eq!(search("", &[by_train], &[]), ["m-a", "m-b", "m-c"]);
        assert_eq!(
            search("", &[ob("creation_time", Some(true))], &[]),
            ["m-a", "m-b", "m-c"]
        );
        assert_eq!(
            search("", &[ob("name", Some(false))], &[]),
            ["m-c", "m-b", "m-a"]
        );
        assert_eq!(
            search("", &[ob("model_type", None)], &[]),
            ["m-a", "m-b", "m-c"]
        );
        assert_eq!(
            search("", &[ob("model_id", Some(false))], &[]),
            ["m-c", "m-b", "m-a"]
        );
    }

    #[test]
    fn nan_and_infinite_metrics() {
        let mut a = model("a", "m", 1, None);
        a.data.metrics = vec![metric("x", f64::NAN, 1, None)];
        let mut b = model("b", "m", 1, None);
        b.data.metrics = vec![metric("x", f64::INFINITY, 1, None)];
        let c = model("c", "m", 1, None);
        let ms = [a, b, c];
        let run = |f: &str, o: &[LoggedModelOrderBy]| {
            let q = LoggedModelQuery::parse(f, o, &[]).unwrap();
            let hits: Vec<LoggedModel> = ms.iter().filter(|m| q.matches(m)).cloned().collect();
            let order = q.sorted_indices(&hits);
            order
                .into_iter()
                .map(|i| hits[i].info.model_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(run("metrics.x != 1", &[]), ["a", "b"]);
        assert_eq!(run("metrics.x < 1", &[]), Vec::<String>::new());
        assert_eq!(run("metrics.x = 1.7976931348623157e308", &[]), ["b"]);
        assert_eq!(run("", &[ob("metrics.x", Some(false))]), ["b", "a", "c"]);
        assert_eq!(run("", &[ob("metrics.x", Some(true))]), ["b", "a", "c"]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            err("metrics.acc > 1 OR name = 'x'"),
            "Invalid filter string: \"metrics.acc > 1 OR name = 'x'\". Expected a list of comparisons separated by \
             'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01')."
        );
        assert_eq!(
            err("a = 1; b = 2"),
            "Invalid filter string: 'a = 1; b = 2'. Expected a single SQL expression."
        );
        assert_eq!(
            err("tags.x IS NULL"),
            "Invalid comparison: tags.xIS NULL. Expected a comparison with 3 tokens."
        );
        assert_eq!(
            err("datasets.x = 'a'"),
            "Invalid entity type: 'datasets'. Expected one of ['attributes', 'metrics', 'params', 'tags']."
        );
        assert_eq!(
            err("metrics.acc LIKE 'a'"),
            "Invalid comparison operator for metrics.acc: 'LIKE'. Expected one of ('<', '<=', '>', '>=', '=', '!=')."
        );
        assert_eq!(
            err("name > 'a'"),
            "Invalid comparison operator for attributes.name: '>'. \
             Expected one of ('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')."
        );
        assert!(err("foo = 'a'").starts_with("Invalid attribute key 'foo' specified."));
        assert_eq!(
            err("metrics.acc > 'a'"),
            "Expected numeric value type for metric. Found 'a'"
        );
        let bad_ds = LoggedModelQuery::parse("", &[], &[ds("", None)]).unwrap_err();
        assert_eq!(
            bad_ds.message,
            "`dataset_name` in the `datasets` clause must be specified."
        );
        let bad_ob = LoggedModelQuery::parse("", &[ob("params.x", None)], &[]).unwrap_err();
        assert_eq!(
            bad_ob.message,
            "Invalid order by field name: params.x. Only metrics are supported."
        );
        let bad_ob = LoggedModelQuery::parse("", &[ob("foo", None)], &[]).unwrap_err();
        assert_eq!(bad_ob.message, "Invalid order by field name: foo");
    }
}
