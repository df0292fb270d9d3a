//! [`SafePath`]: the one gate every artifact path from a request goes through.
//!
//! Path traversal in artifact handlers is MLflow's most exploited bug class
//! (CVE-2023-1177, CVE-2023-6909, CVE-2024-1483, ...): each came from a
//! handler that validated a path one way and used it another. Here a path is
//! validated once, lexically, into a [`SafePath`], and the stores accept
//! nothing else. The filesystem half of the check (symlinks that leave the
//! root) is done by [`LocalArtifactStore::resolve`](crate::LocalArtifactStore::resolve).
//!
//! The HTTP layer decodes percent-encoding exactly once (axum for the URL
//! path, the form decoder for `?path=`). What reaches [`SafePath::parse`] is
//! the decoded string; a `%2e`, `%2f`, `%5c`, `%25`, `%00` still present
//! after that single decoding is a double-encoding attempt and is refused,
//! so no later layer can ever turn it into a separator or `..`.

use slipway_core::{Error, Result};
use std::fmt;

/// Longest accepted path, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;
/// Longest accepted path component, in bytes (Linux `NAME_MAX`).
pub const MAX_COMPONENT_LEN: usize = 255;
/// Prefix of the temporary files uploads are streamed into. Names with this
/// prefix never appear in listings and cannot be addressed by a request.
pub const TEMP_PREFIX: &str = ".slipway-upload-";

/// A validated, normalized path relative to an artifact root.
///
/// Invariants: components are separated by a single `/`; there is no leading
/// or trailing `/`; no component is empty, `.` or `..`; there is no
/// backslash, NUL or other control character, no `#`, no residual
/// percent-encoded `.`/`/`/`\`/`%`/control character, no Windows drive
/// prefix. The empty path is the root.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SafePath(String);

impl SafePath {
    /// The root of the store.
    pub fn root() -> SafePath {
        SafePath(String::new())
    }

    /// Validates `raw` (already percent-decoded once) as a relative artifact
    /// path. The empty string is the root; one trailing slash (`"a/b/"`) is
    /// accepted and dropped. Errors are
    /// `INVALID_PARAMETER_VALUE` with a message naming the path.
    pub fn parse(raw: &str) -> Result<SafePath> {
        let refuse = |why: &str| {
            Err(Error::invalid(format!(
                "Invalid artifact path {raw:?}: {why}."
            )))
        };
        if raw.len() > MAX_PATH_LEN {
            return refuse(&format!("it is longer than {MAX_PATH_LEN} bytes"));
        }
        if raw.contains('\0') {
            return refuse("it contains a NUL byte");
        }
        if raw.chars().any(|c| c.is_control()) {
            return refuse("it contains a control character");
        }
        if raw.contains('\\') {
            return refuse("backslashes are not allowed (use '/' as the separator)");
        }
        if let Some(decoded) = dangerous_percent_escape(raw) {
            return refuse(&format!(
                "it contains a percent-encoded {decoded} after URL decoding (double encoding is not allowed)"
            ));
        }
        if raw.starts_with('/') {
            return refuse("absolute paths are not allowed");
        }
        let body = raw.strip_suffix('/').unwrap_or(raw);
        if body.is_empty() {
            return if raw.is_empty() {
                Ok(SafePath::root())
            } else {
                refuse("absolute paths are not allowed")
            };
        }
        for comp in body.split('/') {
            match comp {
                "" => return refuse("empty path components ('//') are not allowed"),
                "." => return refuse("'.' path components are not allowed"),
                ".." => return refuse("'..' path components are not allowed"),
                c if c.len() > MAX_COMPONENT_LEN => {
                    return refuse(&format!(
                        "a path component is longer than {MAX_COMPONENT_LEN} bytes"
                    ))
                }
                c if c.starts_with(TEMP_PREFIX) => {
                    return refuse("the name is reserved for in-progress uploads")
                }
                // `C:` would reset the path when joined on Windows.
                c if has_drive_prefix(c) => return refuse("Windows drive letters are not allowed"),
                _ => {}
            }
        }
        Ok(SafePath(body.to_string()))
    }

    /// The normalized path (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The components, outermost first (none for the root).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The last component (`None` for the root).
    pub fn file_name(&self) -> Option<&str> {
        if self.is_root() {
            None
        } else {
            self.0.rsplit('/').next()
        }
    }

    /// The containing directory (`None` for the root).
    pub fn parent(&self) -> Option<SafePath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => SafePath(self.0[..i].to_string()),
            None => SafePath::root(),
        })
    }

    /// `self/other`. Both sides are already safe, so the result is too.
    pub fn join(&self, other: &SafePath) -> SafePath {
        match (self.is_root(), other.is_root()) {
            (true, _) => other.clone(),
            (_, true) => self.clone(),
            _ => SafePath(format!("{}/{}", self.0, other.0)),
        }
    }

    /// True when `self` is `base` or lies below it.
    pub fn starts_with(&self, base: &SafePath) -> bool {
        base.is_root()
            || self.0 == base.0
            || (self.0.starts_with(&base.0) && self.0.as_bytes().get(base.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafePath({:?})", self.0)
    }
}

impl AsRef<str> for SafePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Validates a request path: shorthand for [`SafePath::parse`].
pub fn resolve(raw: &str) -> Result<SafePath> {
    SafePath::parse(raw)
}

/// A `%XX` escape that would decode to something path-significant, if any:
/// returns a description of the decoded character.
fn dangerous_percent_escape(s: &str) -> Option<&'static str> {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                match h * 16 + l {
                    b'.' => return Some("'.'"),
                    b'/' => return Some("'/'"),
                    b'\\' => return Some("'\\'"),
                    b'%' => return Some("'%'"),
                    c if c < 0x20 || c == 0x7f => return Some("control character"),
                    _ => {}
                }
            }
        }
        i += 1;
    }
    None
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `C:`, `c:foo`: a Windows drive prefix.
fn has_drive_prefix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::ErrorCode;

    fn refused(raw: &str) {
        let err = SafePath::parse(raw).expect_err(raw);
        assert_eq!(err.code, ErrorCode::InvalidParameterValue, "{raw}: {err}");
        assert!(
            err.message.contains("Invalid artifact path"),
            "{}",
            err.message
        );
    }

    fn accepted(raw: &str, normalized: &str) {
        let p = SafePath::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        assert_eq!(p.as_str(), normalized);
    }

    #[test]
    fn hash_is_an_ordinary_file_name_character() {
        // '#' only means "fragment" inside a URL; here the path is already decoded.
        accepted("plots/roc curve #1.png", "plots/roc curve #1.png");
    }

    #[test]
    fn traversal_payloads_are_refused() {
        for raw in [
            "../../etc/passwd",
            "..",
            "../",
            "a/..",
            "a/../../b",
            "a/../b",
            "1/run/artifacts/../../../../etc/passwd",
            // what remains after one decoding of `%2e%2e%2f`, `..%2f`, `%252e%252e%252f`
            "../",
            "%2e%2e%2f",
            "%2E%2E%2F",
            "..%2f",
            "..%2F",
            "%2e%2e/etc/passwd",
            "a/%2e%2e/b",
            "%252e%252e%252f",
            "%25",
            "a%5c..%5cb",
            "a%00b",
            "/etc/passwd",
            "/",
            "//etc/passwd",
            "\\..\\",
            "..\\..\\windows",
            "a\\b",
            "C:",
            "C:/Windows/win.ini",
            "c:\\x",
            "a/C:/Windows/win.ini",
            "a/d:",
            "a\0b",
            "a\nb",
            "a/./b",
            "./a",
            ".",
            "a//b",
            "#/../../etc/passwd",
            ".slipway-upload-1234",
            "a/.slipway-upload-x/b",
        ] {
            refused(raw);
        }
        refused(&"a".repeat(MAX_COMPONENT_LEN + 1));
        refused(&"a/".repeat(MAX_PATH_LEN));
    }

    #[test]
    fn the_error_names_the_path() {
        let err = SafePath::parse("../../etc/passwd").unwrap_err();
        assert!(err.message.contains("../../etc/passwd"), "{}", err.message);
    }

    #[test]
    fn ordinary_paths_are_accepted() {
        accepted("", "");
        accepted("a", "a");
        accepted(
            "1/0123abcd/artifacts/feature_importance.csv",
            "1/0123abcd/artifacts/feature_importance.csv",
        );
        accepted(
            "1/models/m-abc/artifacts/MLmodel",
            "1/models/m-abc/artifacts/MLmodel",
        );
        accepted("dir/", "dir");
        accepted("..foo", "..foo");
        accepted("a/..foo/b..", "a/..foo/b..");
        accepted("...", "...");
        accepted(".hidden", ".hidden");
        accepted("naïve café ✓.txt", "naïve café ✓.txt");
        accepted("with space/and%20percent", "with space/and%20percent");
        accepted("2024-01-01T10:00:00.json", "2024-01-01T10:00:00.json");
        accepted("abc:def", "abc:def");
    }

    #[test]
    fn helpers() {
        let p = SafePath::parse("a/b/c.txt").unwrap();
        assert_eq!(p.file_name(), Some("c.txt"));
        assert_eq!(p.parent().unwrap().as_str(), "a/b");
        assert_eq!(
            p.parent().unwrap().parent().unwrap().parent().unwrap(),
            SafePath::root()
        );
        assert_eq!(SafePath::root().parent(), None);
        assert_eq!(SafePath::root().file_name(), None);
        assert_eq!(p.components().collect::<Vec<_>>(), ["a", "b", "c.txt"]);
        assert_eq!(SafePath::root().components().count(), 0);
        let base = SafePath::parse("1/run/artifacts").unwrap();
        let rel = SafePath::parse("dir/x").unwrap();
        assert_eq!(base.join(&rel).as_str(), "1/run/artifacts/dir/x");
        assert_eq!(SafePath::root().join(&rel), rel);
        assert_eq!(rel.join(&SafePath::root()), rel);
        assert!(base.join(&rel).starts_with(&base));
        assert!(base.starts_with(&base));
        assert!(!SafePath::parse("1/run/artifactsX")
            .unwrap()
            .starts_with(&base));
        assert!(rel.starts_with(&SafePath::root()));
    }
}
