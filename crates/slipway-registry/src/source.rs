//! Which model version `source` URIs a client may register.
//!
//! MLflow's CVE-2024-1483 chain registered `source: file:///etc/` and then
//! downloaded it through the server. Here the server only ever reads a
//! source through the artifact proxy (`mlflow-artifacts:` resolved under the
//! artifact root) or through tracking entities it owns (`runs:/`,
//! `models:/m-…`); remote object-store URIs are recorded but never read.

use slipway_core::stored_uri::{check_object_store, REMOTE_SCHEMES};
use slipway_core::{Error, Result};

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
    let (scheme, rest) = match slipway_core::stored_uri::split(source) {
        Ok(parts) => parts,
        Err(why) => return refuse(why),
    };
    match scheme.as_str() {
        "runs" | "models" | "mlflow-artifacts" => {
            if rest.trim_start_matches('/').is_empty() {
                return refuse("the path is empty");
            }
            Ok(source)
        }
        s if REMOTE_SCHEMES.contains(&s) => {
            if let Err(why) = check_object_store(rest) {
                return refuse(why);
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
