//! Errors as every route answers them: JSON with a stable machine code.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer: a status, a stable code and a message, as
/// `{"error": {"code": …, "message": …}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u32>,
    /// Facts a client acts on (a bulk action's count to confirm), as `error.details`.
    pub(crate) details: Option<Box<serde_json::Value>>,
}

/// The stable code of a status, for errors that have no more specific one.
pub(crate) fn default_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "quota_exceeded",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::TOO_MANY_REQUESTS => "overloaded",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "internal",
    }
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::coded(status, default_code(status), message)
    }
    pub(crate) fn coded(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            details: None,
        }
    }
    /// A bad query parameter or path segment.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::coded(StatusCode::BAD_REQUEST, "bad_parameter", message)
    }
    pub(crate) fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %message, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }
    pub(crate) fn busy(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::new(status, message).retry_later()
    }
    /// The same error, telling the client to retry after `secs` seconds.
    pub(crate) fn with_retry_after(self, secs: u32) -> ApiError {
        ApiError {
            retry_after: Some(secs),
            ..self
        }
    }
    /// The same error, telling the client to retry after a second.
    pub(crate) fn retry_later(self) -> ApiError {
        ApiError {
            retry_after: Some(1),
            ..self
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::coded(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            format!("query parameters: {}", e.body_text()),
        )
    }
}

impl From<crate::ServerError> for ApiError {
    fn from(e: crate::ServerError) -> ApiError {
        use crate::people::Refusal;
        match e {
            crate::ServerError::Refused(kind, message) => {
                let status = match kind {
                    Refusal::Forbidden => StatusCode::FORBIDDEN,
                    Refusal::NotFound => StatusCode::NOT_FOUND,
                    Refusal::Invalid => StatusCode::BAD_REQUEST,
                    Refusal::Conflict => StatusCode::CONFLICT,
                };
                ApiError::new(status, message)
            }
            e => ApiError::internal(e),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> ApiError {
        ApiError::coded(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("request body: {}", e.body_text()),
        )
    }
}

/// The message of an error answer, kept in the response's extensions for the audit record.
#[derive(Clone, Debug)]
pub(crate) struct ErrorMessage(pub(crate) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(details) = self.details {
            error["details"] = *details;
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        // For the request's audit record: why it was refused or failed.
        response.extensions_mut().insert(ErrorMessage(self.message));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;
    use axum::response::IntoResponse;

    #[test]
    fn errors_render_as_json_with_their_code_and_retry_after() {
        let response = ApiError::busy(StatusCode::TOO_MANY_REQUESTS, "later").into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let response = ApiError::new(StatusCode::NOT_FOUND, "x").into_response();
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
        for (status, code) in [
            (StatusCode::BAD_REQUEST, "bad_request"),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            (StatusCode::FORBIDDEN, "forbidden"),
            (StatusCode::NOT_FOUND, "not_found"),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            (StatusCode::URI_TOO_LONG, "uri_too_long"),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            (StatusCode::UNPROCESSABLE_ENTITY, "quota_exceeded"),
            (StatusCode::REQUEST_TIMEOUT, "timeout"),
            (StatusCode::TOO_MANY_REQUESTS, "overloaded"),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        ] {
            assert_eq!(default_code(status), code);
        }
    }
}
