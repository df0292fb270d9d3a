//! Which model version `source` URIs a client may register.
//!
//! MLflow's CVE-2024-1483 chain registered `source: file:///etc/` and then
//! downloaded it through the server. Here the server only ever reads a
//! source through the artifact proxy (`mlflow-artifacts:` resolved under the
//! artifact root) or through tracking entities it owns (`runs:/`,
//! `models:/m-…`); remote object-store URIs are recorded but never read.

use slipway_core::{Error, Result};

const REMOTE_SCHEMES: [&str; 7] = ["s3", "gs", "wasbs", "abfss", "oss", "hdfs", "dbfs"];

/// Returns the source unchanged if acceptable.
pub fn validate_source(source: &str) -> Result<&str> {
    let refuse = |why: &str| {
        Err(Error::invalid(format!(
            "Invalid model version source '{source}': {why}. Use runs:/<run_id>/<path>, models:/<model_id>, \
             mlflow-artifacts:/<path> or a remote object store URI."
        )))
    };
    if source.is_empty() {
        return Err(Error::invalid(
            "Missing value for required parameter 'source'. See the API docs for more information about request parameters.",
        ));
    }
    if source.contains('\0') || source.contains('\\') {
        return refuse("NUL bytes and backslashes are not allowed");
    }
    if source.contains('#') || source.contains('?') {
        return refuse("URI fragments and query strings are not allowed");
    }
    let lowered = source.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00", "%25"]
        .iter()
        .any(|p| lowered.contains(p))
    {
        return refuse("percent-encoded path characters are not allowed");
    }
    let Some((scheme, rest)) = source.split_once(':') else {
        return refuse("local file system paths are not allowed");
    };
    if rest.split('/').any(|seg| seg == ".." || seg == ".") {
        return refuse("'.' and '..' path segments are not allowed");
    }
    match scheme.to_ascii_lowercase().as_str() {
        "runs" | "models" | "mlflow-artifacts" => {
            if rest.trim_start_matches('/').is_empty() {
                return refuse("the path is empty");
            }
            Ok(source)
        }
        s if REMOTE_SCHEMES.contains(&s) => {
            if !rest.starts_with("//") || rest.len() <= 2 {
                return refuse("an object store URI needs a bucket: scheme://bucket/path");
            }
            Ok(source)
        }
        other => refuse(&format!("scheme '{other}' is not allowed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_clients_send() {
        for ok in [
            "models:/m-0123456789abcdef0123456789abcdef",
            "runs:/0123/model",
            "mlflow-artifacts:/1/0123/artifacts/model",
            "s3://bucket/models/x",
        ] {
            assert!(validate_source(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_the_cve_chain() {
        for bad in [
            "file:///etc/",
            "/etc/passwd",
            "etc",
            "file:/etc",
            "mlflow-artifacts:/../../etc",
            "mlflow-artifacts:/a/%2e%2e/b",
            "http:///#/../../etc/",
            "runs:/x/../../../etc",
            "models:/m-1?x",
            "",
        ] {
            assert!(validate_source(bad).is_err(), "{bad} accepted");
        }
    }
}
