//! MLflow's input rules (`mlflow/utils/validation.py`): names, lengths,
//! batch sizes. The limits and messages are MLflow's so that a client
//! migrating from MLflow sees the same behaviour.

use slipway_core::{Error, Result};
use slipway_protocol::{DatasetInput, Metric, Param, Tag};

pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
pub const MAX_EXPERIMENT_TAG_KEY_LENGTH: usize = 250;
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 5000;
pub const MAX_RUN_NAME_LENGTH: usize = 500;
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
pub const MAX_DATASET_NAME_SIZE: usize = 500;
pub const MAX_DATASET_DIGEST_SIZE: usize = 36;
pub const MAX_DATASET_SCHEMA_SIZE: usize = 1_048_575;
pub const MAX_DATASET_SOURCE_SIZE: usize = 65_535;
pub const MAX_DATASET_PROFILE_SIZE: usize = 16_384;
pub const MAX_INPUT_TAG_KEY_SIZE: usize = 255;
pub const MAX_INPUT_TAG_VALUE_SIZE: usize = 500;
/// `SEARCH_MAX_RESULTS_THRESHOLD`.
pub const MAX_SEARCH_RESULTS: i64 = 50_000;

const BAD_CHARACTERS: &str = "Names may only contain alphanumerics, underscores (_), dashes (-), \
periods (.), spaces ( ), colon(:) and slashes (/).";

/// The message MLflow gives for a missing required field.
pub fn missing(param: &str) -> Error {
    Error::invalid(format!(
        "Missing value for required parameter '{param}'. See the API docs for more information about request parameters."
    ))
}

pub fn require<'a>(param: &str, value: &'a str) -> Result<&'a str> {
    if value.is_empty() {
        Err(missing(param))
    } else {
        Ok(value)
    }
}

fn length_limit(entity: &str, limit: usize, value: &str) -> Result<()> {
    let len = value.chars().count();
    if len > limit {
        let shown: String = value.chars().take(250).collect();
        return Err(Error::invalid(format!(
            "{entity} '{shown}' had length {len}, which exceeded length limit of {limit}"
        )));
    }
    Ok(())
}

/// MLflow's `posixpath.normpath`, enough to detect names that resolve elsewhere.
fn normpath(name: &str) -> String {
    let absolute = name.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(p) if *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Validates a metric, param or tag key (`_validate_param_or_metric_name` + path check).
pub fn key(kind: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(missing("key"));
    }
    let ok = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':'));
    if !ok {
        return Err(Error::invalid(format!(
            "Invalid {kind} name: '{name}'. {BAD_CHARACTERS}"
        )));
    }
    let norm = normpath(name);
    if norm != name || norm == "." || norm.starts_with("..") || norm.starts_with('/') {
        return Err(Error::invalid(format!(
            "Invalid {kind} name: '{name}'. Names may be treated as files in certain cases, and must \
             not resolve to other names when treated as such. This name would resolve to '{norm}'"
        )));
    }
    length_limit(&format!("{kind} key"), MAX_ENTITY_KEY_LENGTH, name)
}

pub fn metric(m: &Metric) -> Result<()> {
    key("metric", &m.key)?;
    if let Some(model_id) = &m.model_id {
        if !model_id.is_empty() && !model_id.starts_with("m-") {
            return Err(Error::invalid(format!(
                "Invalid model_id '{model_id}' on metric '{}'",
                m.key
            )));
        }
    }
    Ok(())
}

pub fn param(p: &Param) -> Result<()> {
    key("param", &p.key)?;
    length_limit("Param value", MAX_PARAM_VAL_LENGTH, &p.value)
}

pub fn run_tag(t: &Tag) -> Result<()> {
    key("tag", &t.key)?;
    length_limit("Tag value", MAX_TAG_VAL_LENGTH, &t.value)
}

pub fn experiment_tag(t: &Tag) -> Result<()> {
    key("tag", &t.key)?;
    length_limit("Tag key", MAX_EXPERIMENT_TAG_KEY_LENGTH, &t.key)?;
    length_limit("Tag value", MAX_EXPERIMENT_TAG_VAL_LENGTH, &t.value)
}

pub fn experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid(format!("Invalid experiment name: '{name}'")));
    }
    length_limit("Experiment name", MAX_EXPERIMENT_NAME_LENGTH, name)
}

pub fn run_name(name: &str) -> Result<()> {
    length_limit("Run name", MAX_RUN_NAME_LENGTH, name)
}

/// `_validate_run_id`: `^[a-zA-Z0-9][\w\-]{0,255}$`.
pub fn run_id(id: &str) -> Result<()> {
    let mut chars = id.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {
            id.len() <= 256 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        _ => false,
    };
    if id.is_empty() {
        return Err(missing("run_id"));
    }
    if !ok {
        return Err(Error::invalid(format!("Invalid run ID: '{id}'")));
    }
    Ok(())
}

/// `_validate_experiment_id`: `^[a-zA-Z0-9][\w\-]{0,63}$`.
pub fn experiment_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(missing("experiment_id"));
    }
    let mut chars = id.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && id.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(Error::invalid(format!("Invalid experiment ID: '{id}'")));
    }
    Ok(())
}

pub fn batch_sizes(metrics: usize, params: usize, tags: usize) -> Result<()> {
    if metrics > MAX_METRICS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. Got {metrics} metrics. \
             Please split up metrics across multiple requests and try again."
        )));
    }
    if params > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} params. Got {params} params. \
             Please split up params across multiple requests and try again."
        )));
    }
    if tags > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} tags. Got {tags} tags. \
             Please split up tags across multiple requests and try again."
        )));
    }
    let total = metrics + params + tags;
    if total > MAX_ENTITIES_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} total metrics, params, and tags. \
             Got {total} total entities. Please split up the request and try again."
        )));
    }
    Ok(())
}

/// Rejects two different values for one param key inside a single batch.
pub fn no_conflicting_params(params: &[Param]) -> Result<()> {
    let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut dupes: Vec<&str> = Vec::new();
    for p in params {
        if let Some(prev) = seen.insert(&p.key, &p.value) {
            if prev != p.value && !dupes.contains(&p.key.as_str()) {
                dupes.push(&p.key);
            }
        }
    }
    if dupes.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "Duplicate parameter keys have been submitted: {dupes:?}. Please ensure the request contains only one param value per param key."
        )))
    }
}

pub fn dataset_input(input: &DatasetInput) -> Result<()> {
    let d = &input.dataset;
    if d.name.is_empty() {
        return Err(missing("dataset.name"));
    }
    if d.digest.is_empty() {
        return Err(missing("dataset.digest"));
    }
    if d.source_type.is_empty() {
        return Err(missing("dataset.source_type"));
    }
    if d.source.is_empty() {
        return Err(missing("dataset.source"));
    }
    length_limit("Dataset name", MAX_DATASET_NAME_SIZE, &d.name)?;
    length_limit("Dataset digest", MAX_DATASET_DIGEST_SIZE, &d.digest)?;
    length_limit("Dataset source", MAX_DATASET_SOURCE_SIZE, &d.source)?;
    if let Some(schema) = &d.schema {
        length_limit("Dataset schema", MAX_DATASET_SCHEMA_SIZE, schema)?;
    }
    if let Some(profile) = &d.profile {
        length_limit("Dataset profile", MAX_DATASET_PROFILE_SIZE, profile)?;
    }
    for t in &input.tags {
        if t.key.is_empty() {
            return Err(missing("input tag key"));
        }
        length_limit("Input tag key", MAX_INPUT_TAG_KEY_SIZE, &t.key)?;
        length_limit("Input tag value", MAX_INPUT_TAG_VALUE_SIZE, &t.value)?;
    }
    Ok(())
}

/// Checks `max_results` against MLflow's bound and applies the default.
pub fn max_results(value: Option<i64>, default: i64) -> Result<usize> {
    let v = value.unwrap_or(default);
    if v <= 0 {
        return Err(Error::invalid(format!(
            "Invalid value for request parameter max_results. It must be a positive integer, but got value {v}"
        )));
    }
    if v > MAX_SEARCH_RESULTS {
        return Err(Error::invalid(format!(
            "Invalid value for request parameter max_results. It must be at most {MAX_SEARCH_RESULTS}, but got value {v}"
        )));
    }
    Ok(v as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::ErrorCode;

    #[test]
    fn keys_follow_mlflow_rules() {
        assert!(key("metric", "loss").is_ok());
        assert!(key("metric", "val/loss:top-1 x.y").is_ok());
        assert!(key("metric", "a/../b").is_err());
        assert!(key("metric", "/abs").is_err());
        assert!(key("metric", "..").is_err());
        assert!(key("metric", "a//b").is_err());
        assert!(key("metric", "bad$").is_err());
        assert!(key("metric", &"k".repeat(250)).is_ok());
        assert_eq!(
            key("metric", &"k".repeat(251)).unwrap_err().code,
            ErrorCode::InvalidParameterValue
        );
    }

    #[test]
    fn values_have_limits() {
        assert!(param(&Param::new("p", "v".repeat(6000))).is_ok());
        assert!(param(&Param::new("p", "v".repeat(6001))).is_err());
        assert!(run_tag(&Tag::new("t", "v".repeat(8000))).is_ok());
        assert!(run_tag(&Tag::new("t", "v".repeat(8001))).is_err());
    }

    #[test]
    fn batch_limits() {
        assert!(batch_sizes(1000, 0, 0).is_ok());
        assert!(batch_sizes(1001, 0, 0).is_err());
        assert!(batch_sizes(0, 101, 0).is_err());
        assert!(batch_sizes(900, 100, 1).is_err());
    }

    #[test]
    fn conflicting_params_in_one_batch() {
        let ok = [Param::new("a", "1"), Param::new("a", "1")];
        assert!(no_conflicting_params(&ok).is_ok());
        let bad = [Param::new("a", "1"), Param::new("a", "2")];
        assert!(no_conflicting_params(&bad).is_err());
    }

    #[test]
    fn ids() {
        assert!(run_id("0123abcd").is_ok());
        assert!(run_id("../x").is_err());
        assert!(experiment_id("0").is_ok());
        assert!(experiment_id("1; drop").is_err());
        assert!(experiment_id("")
            .unwrap_err()
            .message
            .contains("experiment_id"));
    }

    #[test]
    fn max_results_bounds() {
        assert_eq!(max_results(None, 1000).unwrap(), 1000);
        assert!(max_results(Some(0), 1000).is_err());
        assert!(max_results(Some(50_001), 1000).is_err());
    }
}
