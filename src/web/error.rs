//! The one mapping from the crate's [`Error`] to an HTTP answer, as `From<Error> for Status`
//! is for gRPC: the same codes, the same rule that internal errors are logged, never shown.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::error::Error;

/// An error a dashboard handler answers with.
#[derive(Debug)]
pub struct WebError(pub Error);

impl From<Error> for WebError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

/// The HTTP status of an error, and the text the page may show.
pub fn status_of(error: &Error) -> (StatusCode, String) {
    match error {
        Error::InvalidArgument(_) => (StatusCode::BAD_REQUEST, error.to_string()),
        Error::NotFound { .. } => (StatusCode::NOT_FOUND, error.to_string()),
        Error::AlreadyExists { .. } => (StatusCode::CONFLICT, error.to_string()),
        Error::FailedPrecondition { description, .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, description.clone())
        }
        Error::Unauthenticated(_) => (
            StatusCode::UNAUTHORIZED,
            "sign in with a valid analyst token".into(),
        ),
        Error::PermissionDenied(message) => (StatusCode::FORBIDDEN, message.clone()),
        Error::ResourceExhausted { message, .. } => {
            (StatusCode::TOO_MANY_REQUESTS, message.clone())
        }
        Error::Unavailable(message) => {
            tracing::warn!(%message, "dashboard request failed: service unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, message.clone())
        }
        Error::Internal(message) => {
            let reference = uuid::Uuid::new_v4();
            tracing::error!(%reference, %message, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal error (reference {reference})"),
            )
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, message) = status_of(&self.0);
        let mut response = (status, html! { p.error role="alert" { (message) } }).into_response();
        let headers = response.headers_mut();
        match &self.0 {
            Error::Unauthenticated(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Error::ResourceExhausted { retry_after, .. } => {
                let seconds = retry_after.as_secs() + 1;
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    headers.insert(header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// Any path the dashboard does not serve.
pub async fn not_found() -> WebError {
    WebError(Error::not_found("page", ""))
}
