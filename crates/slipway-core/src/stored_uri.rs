//! The one guard for URIs a client asks the server to store and later
//! resolve (an experiment's `artifact_location`, a model version's `source`).
//!
//! MLflow's CVE-2023-1177 and CVE-2024-1483 both began with such a URI
//! pointing the server at its own file system (`file:///etc/`, `/etc`,
//! `http:///#/../../etc/`). Whatever the field, these shapes are refused.

/// Object stores the client writes to directly; the server never reads them.
pub const REMOTE_SCHEMES: [&str; 7] = ["s3", "gs", "wasbs", "abfss", "oss", "hdfs", "dbfs"];

/// Splits `uri` into its lower-cased scheme and the rest, or says why it may
/// not be stored: NUL or backslash, fragment or query, percent-encoded path
/// characters, no scheme (a local path), `.` or `..` segments.
pub fn split(uri: &str) -> Result<(String, &str), &'static str> {
    if uri.contains('\0') || uri.contains('\\') {
        return Err("NUL bytes and backslashes are not allowed");
    }
    if uri.contains('#') || uri.contains('?') {
        return Err("URI fragments and query strings are not allowed");
    }
    let lowered = uri.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00", "%25"]
        .iter()
        .any(|p| lowered.contains(p))
    {
        return Err("percent-encoded path characters are not allowed");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("local file system paths are not allowed");
    };
    if rest.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err("'.' and '..' path segments are not allowed");
    }
    Ok((scheme.to_ascii_lowercase(), rest))
}

/// For a remote object-store scheme: the rest must name a bucket.
pub fn check_object_store(rest: &str) -> Result<(), &'static str> {
    if rest.starts_with("//") && rest.len() > 2 {
        Ok(())
    } else {
        Err("an object store URI needs a bucket: scheme://bucket/path")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_every_shape_of_the_cves() {
        for bad in [
            "file:///etc/../x",
            "/etc",
            "http:///#/../../etc/",
            "a?b",
            "x:%2e%2e",
            "x:a\\b",
            "x:./y",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
        assert_eq!(split("S3://b/p").unwrap(), ("s3".to_string(), "//b/p"));
        assert!(check_object_store("//b/p").is_ok());
        assert!(check_object_store("b").is_err());
    }
}
