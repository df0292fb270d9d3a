//! One error type for every engine crate, carrying an MLflow error code.
//!
//! MLflow clients branch on `error_code` (a missing experiment triggers a
//! create, an existing registered model triggers "add a version"), so the code
//! is part of the contract, not decoration. The HTTP layer maps each code to
//! the status MLflow uses.

use std::fmt;

/// The MLflow `ErrorCode`s Slipway emits (see `databricks.proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InternalError,
    TemporarilyUnavailable,
    BadRequest,
    InvalidParameterValue,
    EndpointNotFound,
    MalformedRequest,
    InvalidState,
    PermissionDenied,
    FeatureDisabled,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    ResourceExhausted,
    RequestLimitExceeded,
    NotImplemented,
}

impl ErrorCode {
    /// The wire name, e.g. `RESOURCE_DOES_NOT_EXIST`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            ErrorCode::MalformedRequest => "MALFORMED_REQUEST",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::FeatureDisabled => "FEATURE_DISABLED",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            ErrorCode::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
            ErrorCode::NotImplemented => "NOT_IMPLEMENTED",
        }
    }

    /// The HTTP status MLflow's server answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InternalError => 500,
            ErrorCode::TemporarilyUnavailable => 503,
            ErrorCode::BadRequest
            | ErrorCode::InvalidParameterValue
            | ErrorCode::MalformedRequest
            | ErrorCode::InvalidState
            | ErrorCode::ResourceAlreadyExists => 400,
            ErrorCode::EndpointNotFound | ErrorCode::ResourceDoesNotExist => 404,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::FeatureDisabled | ErrorCode::NotImplemented => 501,
            ErrorCode::ResourceExhausted | ErrorCode::RequestLimitExceeded => 429,
        }
    }

    /// Parses a wire name back (the REST client uses it).
    pub fn from_wire(name: &str) -> Option<ErrorCode> {
        ALL_CODES.iter().copied().find(|c| c.as_str() == name)
    }
}

const ALL_CODES: [ErrorCode; 14] = [
    ErrorCode::InternalError,
    ErrorCode::TemporarilyUnavailable,
    ErrorCode::BadRequest,
    ErrorCode::InvalidParameterValue,
    ErrorCode::EndpointNotFound,
    ErrorCode::MalformedRequest,
    ErrorCode::InvalidState,
    ErrorCode::PermissionDenied,
    ErrorCode::FeatureDisabled,
    ErrorCode::ResourceAlreadyExists,
    ErrorCode::ResourceDoesNotExist,
    ErrorCode::ResourceExhausted,
    ErrorCode::RequestLimitExceeded,
    ErrorCode::NotImplemented,
];

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with an MLflow error code and a message meant for the user.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceDoesNotExist, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceAlreadyExists, message)
    }
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidState, message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for code in ALL_CODES {
            assert_eq!(ErrorCode::from_wire(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::from_wire("NOPE"), None);
    }

    #[test]
    fn statuses_match_mlflow() {
        assert_eq!(ErrorCode::ResourceDoesNotExist.http_status(), 404);
        assert_eq!(ErrorCode::ResourceAlreadyExists.http_status(), 400);
        assert_eq!(ErrorCode::InvalidParameterValue.http_status(), 400);
    }
}
