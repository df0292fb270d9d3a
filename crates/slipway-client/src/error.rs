//! The client's error type.

use slipway_core::ErrorCode;
use std::fmt;
use std::path::PathBuf;

/// An MLflow `error_code` as the server sent it: one of the codes Slipway
/// knows, or the raw string for anything else (another server's extension,
/// or a non-MLflow error body such as a proxy's HTML page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiErrorCode {
    Known(ErrorCode),
    Other(String),
}

impl ApiErrorCode {
    /// Parses a wire name (`RESOURCE_DOES_NOT_EXIST`, ...).
    pub fn from_wire(name: &str) -> Self {
        match ErrorCode::from_wire(name) {
            Some(code) => ApiErrorCode::Known(code),
            None => ApiErrorCode::Other(name.to_string()),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            ApiErrorCode::Known(code) => code.as_str(),
            ApiErrorCode::Other(s) => s,
        }
    }

    /// The known code, if it is one.
    pub fn known(&self) -> Option<ErrorCode> {
        match self {
            ApiErrorCode::Known(code) => Some(*code),
            ApiErrorCode::Other(_) => None,
        }
    }
}

impl fmt::Display for ApiErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<ErrorCode> for ApiErrorCode {
    fn eq(&self, other: &ErrorCode) -> bool {
        self.known() == Some(*other)
    }
}

/// Everything a [`SlipwayClient`](crate::SlipwayClient) call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an MLflow error (`{"error_code", "message"}`)
    /// or another non-success status.
    #[error("{code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// `error_code` from the body.
        code: ApiErrorCode,
        /// `message` from the body (or the body itself when it is not MLflow's JSON).
        message: String,
    },
    /// The request did not get an answer: connection refused, DNS, TLS, timeout...
    #[error("cannot reach {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered 2xx with a body that is not the expected JSON.
    #[error("unexpected response from {url}: {message}")]
    Decode { url: String, message: String },
    /// A local file could not be read or written (artifact upload/download).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The tracking URI or an artifact URI cannot be used by this client.
    #[error("{0}")]
    InvalidInput(String),
}

impl Error {
    /// The MLflow error code, for [`Error::Api`] errors with a known code.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => code.known(),
            _ => None,
        }
    }

    /// `RESOURCE_DOES_NOT_EXIST`.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(ErrorCode::ResourceDoesNotExist)
    }

    /// `RESOURCE_ALREADY_EXISTS`.
    pub fn is_already_exists(&self) -> bool {
        self.code() == Some(ErrorCode::ResourceAlreadyExists)
    }

    /// The server has no such endpoint: a 404 that is not MLflow's
    /// `RESOURCE_DOES_NOT_EXIST` (which a route answers about a missing
    /// resource). `mlflow server` answers so on Slipway's extensions and an
    /// MLflow 2.x server on MLflow 3's logged-model API.
    pub fn is_endpoint_missing(&self) -> bool {
        matches!(self, Error::Api { status: 404, .. }) && !self.is_not_found()
    }

    /// The server could not be reached at all (connection refused, DNS
    /// failure, connect timeout): it is probably not running at that address.
    pub fn is_unreachable(&self) -> bool {
        match self {
            Error::Transport { source, .. } => source.is_connect() || source.is_timeout(),
            _ => false,
        }
    }

    /// Builds an [`Error::Api`] from a non-success response body.
    pub(crate) fn from_response(status: u16, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            error_code: String,
            #[serde(default)]
            message: String,
        }
        if let Ok(b) = serde_json::from_slice::<Body>(body) {
            return Error::Api {
                status,
                code: ApiErrorCode::from_wire(&b.error_code),
                message: b.message,
            };
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let mut message: String = text.chars().take(500).collect();
        if message.is_empty() {
            message = format!("HTTP {status} with an empty body");
        }
        let code = match status {
            404 => ApiErrorCode::Known(ErrorCode::EndpointNotFound),
            _ => ApiErrorCode::Other(format!("HTTP_{status}")),
        };
        Error::Api {
            status,
            code,
            message,
        }
    }
}

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mlflow_error_bodies() {
        let e = Error::from_response(
            404,
            br#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Run with id=x not found"}"#,
        );
        assert!(e.is_not_found());
        assert!(!e.is_endpoint_missing());
        assert_eq!(
            e.to_string(),
            "RESOURCE_DOES_NOT_EXIST: Run with id=x not found"
        );
        let e = Error::from_response(400, br#"{"error_code":"CUSTOM_THING","message":"m"}"#);
        assert_eq!(e.code(), None);
        assert_eq!(e.to_string(), "CUSTOM_THING: m");
    }

    #[test]
    fn non_mlflow_bodies_keep_the_text() {
        // Flask's page for an unknown route (what `mlflow server` answers).
        let e = Error::from_response(404, b"<!doctype html><title>404 Not Found</title>");
        assert!(e.is_endpoint_missing() && !e.is_not_found());
        let e = Error::from_response(502, b"<html>bad gateway</html>");
        assert!(!e.is_endpoint_missing());
        assert_eq!(e.to_string(), "HTTP_502: <html>bad gateway</html>");
        let e = Error::from_response(500, b"");
        assert_eq!(e.to_string(), "HTTP_500: HTTP 500 with an empty body");
    }
}
