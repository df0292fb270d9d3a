//! Request decoding that fails the MLflow way.
//!
//! axum's own `Json`/`Query` rejections are plain text with 415/422; MLflow
//! clients expect 400 with `INVALID_PARAMETER_VALUE` or `BAD_REQUEST` and a
//! message naming the offending field.

use crate::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use slipway_core::{Error, ErrorCode};

/// A JSON request body. An empty body counts as `{}` (the Python client sends
/// no body for some POSTs).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                ApiError(Error::new(
                    ErrorCode::BadRequest,
                    format!("Could not read request body: {e}"),
                ))
            })?;
        let slice: &[u8] = if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            b"{}"
        } else {
            &bytes
        };
        parse_json(slice).map(Body)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // The fast path; only a failure pays for tracking the field path.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("Malformed request: the body is not valid JSON ({inner})")
        } else if path == "." || path.is_empty() {
            format!("Invalid request body: {inner}")
        } else {
            format!("Invalid value for parameter '{path}': {inner}")
        };
        ApiError(Error::new(
            if inner.is_syntax() || inner.is_eof() {
                ErrorCode::MalformedRequest
            } else {
                ErrorCode::InvalidParameterValue
            },
            message,
        ))
    })
}

/// Query-string parameters (GET endpoints).
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_html_form::Deserializer::from_bytes(query.as_bytes());
        serde_path_to_error::deserialize(de)
            .map(Params)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." || path.is_empty() {
                    ApiError::invalid(format!("Invalid query parameters: {inner}"))
                } else {
                    ApiError::invalid(format!("Invalid value for parameter '{path}': {inner}"))
                }
            })
    }
}
