//! Serving a router: the hoops every API shares, the error catcher, body parsing with
//! a size limit, and graceful shutdown.

use std::{net::SocketAddr, time::Duration};

use clap::Args;
use salvo::{
    Handler, Request, Router, Server, Service,
    catcher::Catcher,
    conn::TcpListener,
    cors::CorsHandler,
    fuse::FuseConfig,
    handler,
    http::ParseError,
    prelude::{CatchPanic, Listener},
    routing::filters::{self, Filter as _},
};
use serde::de::DeserializeOwned;

use super::{Problem, ProblemCatcher, metrics::record_request, request_id::assign_request_id};
use crate::shutdown::Shutdown;

/// Bodies up to this size are read in full even when over the limit; see
/// [`read_json_body`].
const DRAIN_LIMIT_BYTES: usize = 1024 * 1024;

/// Longest wait for a request body to arrive in full. The HTTP server bounds the
/// wait for headers; a client that sends headers and then trickles or stalls the
/// body would otherwise hold its connection and task for ever.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// Longest a connection may wait for the next request's headers, which for a kept-alive
/// connection includes its idle time (the HTTP server times both with one clock).
/// Longer than common clients and proxies keep an idle connection (nginx's upstream
/// `keepalive_timeout` is 60 s, Go's and reqwest's pools 90 s), so it is they that close
/// an idle connection, never the service just as a request is being sent on it; and
/// bounded, so a client that trickles its headers cannot hold a connection for ever.
pub const HEADER_AND_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Settings of an HTTP listener.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Most bytes accepted in a request body.
    #[arg(long, env = "HTTP_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
}

/// Serves `router` on `addr` until `shutdown` fires, then lets in-flight requests
/// finish (for up to ten seconds).
pub async fn serve(addr: SocketAddr, router: Router, shutdown: Shutdown) -> anyhow::Result<()> {
    serve_with_cors(addr, router, None, shutdown).await
}

/// [`serve`] with a CORS handler in front of routing, so preflight requests are
/// answered even for paths that have no `OPTIONS` route.
pub async fn serve_with_cors(
    addr: SocketAddr,
    router: Router,
    cors: Option<CorsHandler>,
    mut shutdown: Shutdown,
) -> anyhow::Result<()> {
    let router = Router::new()
        .hoop(CatchPanic::new())
        .hoop(assign_request_id)
        .hoop(record_request)
        .hoop(reject_bad_uri_text)
        .push(router);
    let mut service = Service::new(router).catcher(Catcher::new(ProblemCatcher));
    if let Some(cors) = cors {
        service = service.hoop(cors);
    }

    let acceptor = TcpListener::new(addr).try_bind().await?;
    tracing::info!(http.addr = %addr, "listening");
    let server = Server::new(acceptor)
        .fuse_config(FuseConfig::default().with_http1_header_timeout(HEADER_AND_IDLE_TIMEOUT));
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.requested().await;
        handle.stop_graceful(Duration::from_secs(10));
    });
    server.try_serve(service).await?;
    Ok(())
}

/// Reads a JSON body of type `T`, enforcing `max_bytes` and the JSON media type.
/// Every failure is a 4xx problem that says what was wrong with the body.
pub async fn read_json_body<T: DeserializeOwned>(
    req: &mut Request,
    max_bytes: usize,
) -> Result<T, Problem> {
    let is_json = req.content_type().is_some_and(|mime| {
        mime.subtype() == "json" || mime.suffix().is_some_and(|suffix| suffix == "json")
    });
    if !is_json {
        return Err(Problem::new(
            salvo::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail("send the body as application/json")
        .header(salvo::http::header::ACCEPT, "application/json"));
    }
    // Request bodies are not decoded: a compressed one would otherwise fail later as
    // malformed JSON, which would hide the cause.
    let encoded = req
        .headers()
        .get_all(salvo::http::header::CONTENT_ENCODING)
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"));
    if encoded {
        return Err(Problem::new(
            salvo::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-content-encoding",
            "Unsupported content encoding",
        )
        .detail("request bodies are read as sent; send the body without Content-Encoding")
        // RFC 9110, section 12.5.3: which codings a request body may have.
        .header(salvo::http::header::ACCEPT_ENCODING, "identity"));
    }
    let too_large = || {
        Problem::new(
            salvo::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
        )
        .detail(format!("the body must not exceed {max_bytes} bytes"))
    };
    // A body somewhat over the limit is still read to its end, so the client gets the
    // 413 instead of a reset connection; a body far over it is cut off, and one that
    // declares such a length is refused before any of it is awaited.
    let read_limit = max_bytes.max(DRAIN_LIMIT_BYTES);
    let declared = req
        .headers()
        .get(salvo::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > read_limit as u64) {
        return Err(too_large());
    }
    let read = req.payload_with_max_size(read_limit);
    let bytes = tokio::time::timeout(BODY_READ_TIMEOUT, read)
        .await
        .map_err(|_| {
            Problem::new(
                salvo::http::StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                "Request body too slow",
            )
            .detail(format!(
                "the body did not arrive in full within {} seconds",
                BODY_READ_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|error| match error {
            ParseError::PayloadTooLarge => too_large(),
            // A framing error, such as a chunk size that is not hexadecimal.
            error => Problem::malformed_body(format!("the body could not be read: {error}")),
        })?;
    if bytes.len() > max_bytes {
        return Err(too_large());
    }
    // No text column (nor most downstream systems) accepts NUL. Parsed straight into
    // the target type, so a repeated field is refused rather than the last one kept.
    if escapes_nul(bytes) {
        return Err(Problem::malformed_body(
            "text must not contain NUL (\\u0000) characters",
        ));
    }
    serde_json::from_slice(bytes).map_err(|error| Problem::malformed_body(error.to_string()))
}

/// Whether JSON text holds a NUL in a string or a key. The only way valid JSON can is
/// the escape `\u0000` (a raw control character is a syntax error), so it is enough
/// to look at each escape, skipping the escaped character (`\\u0000` is a backslash
/// and the text `u0000`).
fn escapes_nul(text: &[u8]) -> bool {
    let mut rest = text;
    while let Some(at) = rest.iter().position(|&byte| byte == b'\\') {
        let escape = &rest[at + 1..];
        if escape.starts_with(b"u0000") {
            return true;
        }
        rest = escape.get(1..).unwrap_or_default();
    }
    false
}

/// Hoop refusing a path or query whose text is unusable: an encoded NUL (`%00`),
/// which no parameter may contain, or bytes that do not decode as UTF-8 (which would
/// otherwise be read leniently, as replacement characters). Rejecting them here
/// covers every route at once.
#[handler]
async fn reject_bad_uri_text(
    req: &mut Request,
    depot: &mut salvo::Depot,
    res: &mut salvo::Response,
    ctrl: &mut salvo::FlowCtrl,
) {
    let text = req
        .uri()
        .path_and_query()
        .map(|text| text.as_str())
        .unwrap_or_default();
    // One decoding pass; it allocates only when the text has escapes.
    let detail = match percent_encoding::percent_decode_str(text).decode_utf8() {
        Err(_) => Some("the path and query must be UTF-8 once percent-decoded"),
        Ok(decoded) if decoded.contains('\0') => {
            Some("parameters must not contain NUL (%00) characters")
        }
        Ok(_) => None,
    };
    if let Some(detail) = detail {
        let problem = Problem::new(
            salvo::http::StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "Invalid parameter",
        )
        .detail(detail);
        salvo::Writer::write(problem, req, depot, res).await;
        ctrl.skip_rest();
        return;
    }
    ctrl.call_next(req, depot, res).await;
}

/// Routes that only read answer `HEAD` too: the same status and headers as `GET`,
/// without the body (the HTTP server leaves it out), as monitors and caches expect.
pub trait ReadRoute {
    /// Like `Router::get`, with `HEAD` answered by the same handler.
    fn get_or_head<H: Handler>(self, handler: H) -> Self;
}

impl ReadRoute for Router {
    fn get_or_head<H: Handler>(self, handler: H) -> Self {
        self.push(Router::with_filter(filters::get().or(filters::head())).goal(handler))
    }
}

#[cfg(test)]
mod tests {
    use super::escapes_nul;

    #[test]
    fn only_an_escaped_nul_is_a_nul() {
        assert!(escapes_nul(br#"{"name": "a\u0000b"}"#));
        assert!(escapes_nul(br#"{"a\u0000": 1}"#));
        assert!(escapes_nul(br#"["\\", "\u0000"]"#));
        assert!(!escapes_nul(br#"{"name": "a\\u0000b"}"#));
        assert!(escapes_nul(br#"{"name": "\u00001"}"#));
        assert!(!escapes_nul(br#"{"name": "a\u0001b", "path": "C:\\x"}"#));
        assert!(!escapes_nul(br#"{"name": "ends with \"#));
    }
}
