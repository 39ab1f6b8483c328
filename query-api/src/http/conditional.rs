//! Writing JSON answers that clients and proxies may cache: a strong `ETag` over the
//! body, `304 Not Modified` when `If-None-Match` already names it, and
//! `Cache-Control`. Compression is a hoop on the router (gzip or brotli, as asked).

use salvo::{
    Request, Response,
    http::{HeaderValue, StatusCode, header},
};

/// The ETag of `body`: a 64-bit FNV-1a hash, stable across processes and instances.
pub fn etag_of(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

/// Writes `body` as JSON with its ETag, or 304 if the client has it.
pub fn write_json(req: &Request, res: &mut Response, body: Vec<u8>, cache_control: &'static str) {
    let etag = etag_of(&body);
    let headers = res.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    let client_has_it = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    if client_has_it {
        res.status_code(StatusCode::NOT_MODIFIED);
        return;
    }
    res.status_code(StatusCode::OK);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let _ = res.write_body(body);
}
