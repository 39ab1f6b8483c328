//! Request ids: taken from the `x-request-id` header when the caller sent a sane one,
//! made up otherwise, echoed in the response and used as the correlation id of every
//! event the request causes.

use salvo::{Depot, FlowCtrl, Request, Response, handler, http::HeaderValue};
use uuid::Uuid;

/// The header that carries the request id both ways.
pub const HEADER: &str = "x-request-id";

/// The id of the request being handled, stored in the depot.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id of the current request; a fresh one if the hoop did not run.
    pub fn of(depot: &Depot) -> String {
        depot
            .get_typed::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_else(|_| Uuid::now_v7().to_string())
    }
}

fn is_sane(candidate: &str) -> bool {
    (1..=128).contains(&candidate.len())
        && candidate
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte))
}

/// Hoop that assigns the request id.
#[handler]
pub async fn assign_request_id(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_sane(value))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    if let Ok(value) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(HEADER, value.clone());
        res.headers_mut().insert(HEADER, value);
    }
    depot.insert_typed(RequestId(id));
    ctrl.call_next(req, depot, res).await;
}
