//! Problem details (RFC 9457): the single shape of every error an API returns.
//!
//! Each kind of error has a stable `type` URI, `urn:anidex:problem:<slug>`, that a
//! client can match on; `title` is the same for every occurrence of that type and
//! `detail` explains this occurrence. Nothing from a cause chain, a SQL error or a
//! secret ever reaches the body: handlers log causes and pick a problem.

use salvo::{
    Depot, FlowCtrl, Handler, Request, Response, Writer, async_trait,
    http::{HeaderName, HeaderValue, StatusCode, header},
};
use serde::Serialize;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name (dotted for nested fields).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem document, ready to render.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "urn:anidex:problem:email-taken",
    "title": "Email already registered",
    "status": 409,
    "detail": "an account with this email address already exists"
}))]
pub struct Problem {
    /// Stable identifier of the error kind: `urn:anidex:problem:<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary, the same for every problem of this type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Per-field validation errors, when the body was rejected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The request id, to quote when reporting the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Seconds after which a retry may succeed (also sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
    /// Further response headers that tell the client what would be accepted.
    #[serde(skip)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem of type `slug` with the given status and title.
    pub fn new(status: StatusCode, slug: &str, title: &str) -> Self {
        Self {
            kind: format!("urn:anidex:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            errors: Vec::new(),
            request_id: None,
            retry_after_secs: None,
            headers: Vec::new(),
        }
    }

    /// Adds the occurrence-specific explanation.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds one invalid field.
    pub fn field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    /// Adds a response header, such as the `Accept-Encoding` of a 415.
    pub fn header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    /// Tells the client when to retry.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    /// 400: the body is not valid JSON, or not of the expected shape.
    pub fn malformed_body(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            "Malformed request body",
        )
        .detail(detail)
    }

    /// 422: the body is well-formed but breaks a rule; see `errors`.
    pub fn validation() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Validation failed",
        )
    }

    /// 400: a query or path parameter is invalid.
    pub fn invalid_parameter(name: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "Invalid parameter",
        )
        .detail(detail)
        .field(name, "invalid value")
    }

    /// 404: the addressed resource does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found").detail(detail)
    }

    /// 503: a dependency is down; the client may retry.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        )
        .detail(detail)
        .retry_after(5)
    }

    /// 500: something broke that the client cannot fix. The cause is logged, not sent.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        )
        .detail("the server failed to handle the request; it has been logged")
    }

    fn for_bare_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::not_found("no route matches this path"),
            StatusCode::METHOD_NOT_ALLOWED => {
                Self::new(status, "method-not-allowed", "Method not allowed")
                    .detail("this path does not accept this method")
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(status, "body-too-large", "Request body too large")
            }
            status if status.is_server_error() => Self::internal(),
            status => Self::new(
                status,
                "http-error",
                status.canonical_reason().unwrap_or("HTTP error"),
            ),
        }
    }
}

impl Problem {
    fn render_into(self, res: &mut Response) {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        res.status_code(status);
        if let Some(seconds) = self.retry_after_secs {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        for (name, value) in &self.headers {
            res.headers_mut().insert(name.clone(), value.clone());
        }
        match serde_json::to_vec(&self) {
            Ok(body) => {
                res.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
                let _ = res.write_body(body);
            }
            Err(error) => tracing::error!(error = %error, "serializing a problem document"),
        }
    }
}

#[async_trait]
impl Writer for Problem {
    async fn write(mut self, req: &mut Request, _depot: &mut Depot, res: &mut Response) {
        self.request_id = request_id_of(req);
        self.render_into(res);
    }
}

fn request_id_of(req: &Request) -> Option<String> {
    req.headers()
        .get(super::request_id::HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Catcher goal that turns every bare error status (unknown route, wrong method,
/// a panic caught upstream) into a problem document, so clients see one error shape.
pub struct ProblemCatcher;

#[async_trait]
impl Handler for ProblemCatcher {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let status = res.status_code.unwrap_or(StatusCode::NOT_FOUND);
        let is_error = status.is_client_error() || status.is_server_error();
        if !is_error || !(res.body.is_none() || res.body.is_error()) {
            return;
        }
        let mut problem = Problem::for_bare_status(status);
        problem.request_id = request_id_of(req);
        problem.render_into(res);
    }
}
