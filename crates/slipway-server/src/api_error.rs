//! MLflow's error body on the wire: HTTP status + `{"error_code", "message"}`.

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use slipway_core::{Error, ErrorCode};

/// An engine error on its way out as an HTTP response.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError(Error::invalid(message))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(code = %self.0.code, message = %self.0.message, "request failed");
        }
        let body =
            serde_json::json!({"error_code": self.0.code.as_str(), "message": self.0.message});
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError(Error::new(
        ErrorCode::EndpointNotFound,
        format!("No API endpoint at {}", uri.path()),
    ))
}
