//! The dashboard's script and stylesheet, built into the binary and served by it: offices on
//! intranets reach no CDN. Every answer carries a Content-Security-Policy that allows only
//! this origin, so no page can load anything from elsewhere.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub const SCRIPT: &str = "/assets/dashboard-v1.js";
pub const STYLESHEET: &str = "/assets/dashboard-v1.css";

const SCRIPT_BODY: &str = include_str!("assets/dashboard.js");
const STYLESHEET_BODY: &str = include_str!("assets/dashboard.css");

/// Only this origin: no external scripts, styles, fonts, images or connections, no inline
/// script or style, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `/assets/{name}`. The names carry a version, so the files may be cached for a day; a new
/// release that changes them changes their names.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match format!("/assets/{name}").as_str() {
        SCRIPT => (SCRIPT_BODY, "text/javascript; charset=utf-8"),
        STYLESHEET => (STYLESHEET_BODY, "text/css; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// Headers on every answer: the policy above; pages and fragments (figures) are never
/// cached, since they change with every submission and are read with a token.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
