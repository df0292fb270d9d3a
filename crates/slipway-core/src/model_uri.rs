//! `models:/` and `runs:/` URIs and model version stages, parsed without
//! I/O: the one parser of model URIs. The registry's resolver
//! (`slipway_registry::Registry::resolve`) and the client's resolution
//! against a plain `mlflow server` both start from [`parse_model_uri`].

use crate::{Error, Result};

/// A model version stage (deprecated in MLflow in favour of aliases, still used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    None,
    Staging,
    Production,
    Archived,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::None,
        Stage::Staging,
        Stage::Production,
        Stage::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "None",
            Stage::Staging => "Staging",
            Stage::Production => "Production",
            Stage::Archived => "Archived",
        }
    }

    /// MLflow's `get_canonical_stage`: case-insensitive.
    pub fn parse(s: &str) -> Result<Stage> {
        Stage::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Invalid Model Version stage: {s}. Value must be one of None, Staging, Production, Archived."
                ))
            })
    }
}

/// What a model URI points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// `models:/NAME/3`
    Version { name: String, version: i64 },
    /// `models:/NAME/Production`
    Stage { name: String, stage: Stage },
    /// `models:/NAME/latest`
    Latest { name: String },
    /// `models:/NAME@champion`
    Alias { name: String, alias: String },
    /// `models:/m-…` (an MLflow 3 logged model)
    LoggedModel { model_id: String },
    /// `runs:/RUN_ID/PATH`
    Run { run_id: String, path: String },
}

fn bad(uri: &str, why: &str) -> Error {
    Error::invalid(format!("Invalid model URI '{uri}': {why}. Expected models:/<name>/<version|stage|latest>, models:/<name>@<alias>, models:/<model_id> or runs:/<run_id>/<path>."))
}

pub fn parse_model_uri(uri: &str) -> Result<ModelRef> {
    if let Some(rest) = uri.strip_prefix("runs:/") {
        let rest = rest.trim_start_matches('/');
        let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
        if run_id.is_empty() {
            return Err(bad(uri, "the run id is empty"));
        }
        let path = path.trim_matches('/');
        if path.split('/').any(|s| s == ".." || s == ".") || path.contains('\\') {
            return Err(bad(uri, "'.' and '..' segments are not allowed"));
        }
        return Ok(ModelRef::Run {
            run_id: run_id.to_string(),
            path: path.to_string(),
        });
    }
    let Some(rest) = uri.strip_prefix("models:/") else {
        return Err(bad(uri, "unknown scheme"));
    };
    let rest = rest.trim_start_matches('/').trim_end_matches('/');
    if rest.is_empty() {
        return Err(bad(uri, "the model name is empty"));
    }
    if let Some((name, alias)) = rest.rsplit_once('@') {
        if name.is_empty() || alias.is_empty() || alias.contains('/') {
            return Err(bad(uri, "alias URIs look like models:/<name>@<alias>"));
        }
        return Ok(ModelRef::Alias {
            name: name.to_string(),
            alias: alias.to_string(),
        });
    }
    let Some((name, suffix)) = rest.rsplit_once('/') else {
        if rest.starts_with("m-") {
            return Ok(ModelRef::LoggedModel {
                model_id: rest.to_string(),
            });
        }
        return Err(bad(
            uri,
            "a version, stage, 'latest' or '@alias' is required after the name",
        ));
    };
    if name.is_empty() {
        return Err(bad(uri, "the model name is empty"));
    }
    let name = name.to_string();
    if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) {
        let version = suffix
            .parse::<i64>()
            .map_err(|_| bad(uri, "version out of range"))?;
        return Ok(ModelRef::Version { name, version });
    }
    if suffix.eq_ignore_ascii_case("latest") {
        return Ok(ModelRef::Latest { name });
    }
    let stage = Stage::parse(suffix).map_err(|_| {
        bad(
            uri,
            &format!("'{suffix}' is not a version, a stage or 'latest'"),
        )
    })?;
    Ok(ModelRef::Stage { name, stage })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_case_insensitive() {
        assert_eq!(Stage::parse("production").unwrap(), Stage::Production);
        assert_eq!(Stage::parse("NONE").unwrap(), Stage::None);
        assert!(Stage::parse("prod").is_err());
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            parse_model_uri("models:/churn/3").unwrap(),
            ModelRef::Version {
                name: "churn".into(),
                version: 3
            }
        );
        assert_eq!(
            parse_model_uri("models:/churn/production").unwrap(),
            ModelRef::Stage {
                name: "churn".into(),
                stage: Stage::Production
            }
        );
        assert_eq!(
            parse_model_uri("models:/churn/latest").unwrap(),
            ModelRef::Latest {
                name: "churn".into()
            }
        );
        assert_eq!(
            parse_model_uri("models:/churn@champion").unwrap(),
            ModelRef::Alias {
                name: "churn".into(),
                alias: "champion".into()
            }
        );
        assert_eq!(
            parse_model_uri("models:/team/churn/2").unwrap(),
            ModelRef::Version {
                name: "team/churn".into(),
                version: 2
            }
        );
        assert_eq!(
            parse_model_uri("models:/m-abc").unwrap(),
            ModelRef::LoggedModel {
                model_id: "m-abc".into()
            }
        );
        assert_eq!(
            parse_model_uri("runs:/abc/model").unwrap(),
            ModelRef::Run {
                run_id: "abc".into(),
                path: "model".into()
            }
        );
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "models:/",
            "models:/x",
            "models:/x/Prod",
            "runs:/",
            "runs:/a/../b",
            "s3://x",
            "models:/@a",
        ] {
            assert!(parse_model_uri(bad).is_err(), "{bad}");
        }
    }
}
