//! Cross-origin requests: only the origins listed in configuration, never a wildcard.
//!
//! The APIs authenticate with bearer tokens, not cookies, so credentials are not
//! allowed cross-origin at all; the explicit list still keeps other sites' scripts
//! from reading answers with a token a user pasted somewhere.

use clap::Args;
use salvo::{
    cors::{Cors, CorsHandler},
    http::Method,
};

/// CORS settings.
#[derive(Debug, Clone, Args)]
pub struct CorsArgs {
    /// Comma-separated origins (`https://anidex.example`) allowed to call the API from
    /// a browser. Empty: no cross-origin access. `*` is refused.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "")]
    pub cors_allowed_origins: String,
}

/// Why the CORS configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum CorsConfigError {
    /// A wildcard or a value that is not an origin.
    #[error("CORS_ALLOWED_ORIGINS entry {0:?} is not an origin such as https://example.org")]
    InvalidOrigin(String),
}

/// The CORS handler for the configured origins; it answers preflight requests
/// itself, so it belongs on the service, before routing.
pub fn cors_handler(args: &CorsArgs) -> Result<CorsHandler, CorsConfigError> {
    let origins: Vec<&str> = args
        .cors_allowed_origins
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .collect();
    for origin in &origins {
        let looks_like_origin = (origin.starts_with("https://") || origin.starts_with("http://"))
            && !origin.contains('*')
            && !origin.ends_with('/');
        if !looks_like_origin {
            return Err(CorsConfigError::InvalidOrigin((*origin).to_owned()));
        }
    }
    Ok(Cors::new()
        .allow_origin(origins)
        .allow_methods(vec![
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(vec![
            "authorization",
            "content-type",
            "x-request-id",
            "if-match",
            "if-none-match",
        ])
        .expose_headers(vec![
            "x-request-id",
            "etag",
            "location",
            "link",
            "retry-after",
            "accept",
            "accept-encoding",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "www-authenticate",
        ])
        .max_age(600)
        .into_handler())
}
