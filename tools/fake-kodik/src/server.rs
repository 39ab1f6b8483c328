//! HTTP wiring: the Kodik endpoints (GET and POST, parameters from the query string or
//! a form body) behind the fault switches, and the `/_control` API that is ours, not
//! Kodik's.
//!
//! Router-level failures (unknown path, faults) answer HTML, as upstream's gateway
//! does; endpoint errors answer `{"error": ...}` JSON.

use std::{sync::Arc, time::Duration};

use salvo::{
    Depot, FlowCtrl, Handler, Request, Response, Router, async_trait,
    http::{HeaderValue, Method, StatusCode, header::CONTENT_TYPE},
};

use crate::{
    api::{Api, ApiError, Endpoint},
    faults::{Action, Control, Faults},
    params::Params,
};

/// Largest form body read; bigger bodies are ignored as if absent.
const MAX_FORM_BYTES: usize = 1024 * 1024;

const BAD_GATEWAY: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const GATEWAY_TIMEOUT: &str = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n\
<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n\
</body>\r\n</html>\r\n";
const NOT_FOUND: &str = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n\
<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const NOT_ALLOWED: &str = "<html>\r\n<head><title>405 Not Allowed</title></head>\r\n<body>\r\n\
<center><h1>405 Not Allowed</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub api: Api,
    pub control: Control,
    /// How long a stalled request is held before the server gives up on it.
    pub stall: Duration,
}

fn reply(res: &mut Response, status: StatusCode, content_type: &'static str, body: Vec<u8>) {
    res.status_code(status);
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.body(body);
}

fn json(res: &mut Response, status: StatusCode, body: Vec<u8>) {
    reply(res, status, "application/json; charset=utf-8", body);
}

fn html(res: &mut Response, status: StatusCode, page: &'static str) {
    reply(res, status, "text/html", page.as_bytes().to_vec());
}

/// Query-string parameters, then form-body ones (which win on repeated keys). A body
/// of any other media type, JSON included, is not understood and contributes nothing.
async fn read_params(req: &mut Request) -> Params {
    let mut params = Params::parse(req.uri().query().unwrap_or_default());
    if req.method() == Method::POST {
        let is_form = req.content_type().is_none_or(|mime| {
            mime.type_() == "application" && mime.subtype() == "x-www-form-urlencoded"
        });
        if is_form && let Ok(body) = req.payload_with_max_size(MAX_FORM_BYTES).await {
            params.extend_from(&String::from_utf8_lossy(body));
        }
    }
    params
}

/// Every path that is not `/_control/...`.
struct Kodik(Arc<AppState>);

#[async_trait]
impl Handler for Kodik {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let state = &self.0;
        let path = req.uri().path().to_owned();
        let plan = state.control.on_request(&path);
        if plan.action == Action::Stall {
            // Accept and never answer: the client's timeout must fire first.
            tokio::time::sleep(state.stall).await;
            html(res, StatusCode::GATEWAY_TIMEOUT, GATEWAY_TIMEOUT);
            return;
        }
        if plan.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(plan.delay_ms)).await;
        }
        if plan.action == Action::Html502 {
            html(res, StatusCode::BAD_GATEWAY, BAD_GATEWAY);
            return;
        }
        let Some(endpoint) = Endpoint::from_path(&path) else {
            html(res, StatusCode::NOT_FOUND, NOT_FOUND);
            return;
        };
        if req.method() != Method::GET && req.method() != Method::POST {
            html(res, StatusCode::METHOD_NOT_ALLOWED, NOT_ALLOWED);
            return;
        }
        match plan.action {
            Action::RejectToken => {
                return json(
                    res,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ApiError::Token.body(),
                );
            }
            Action::Error200 => return json(res, StatusCode::OK, ApiError::Token.body()),
            _ => {}
        }
        let params = read_params(req).await;
        // Rendering a page with episodes is CPU work; keep it off the I/O threads so the
        // control API and other connections stay responsive.
        let shared = Arc::clone(state);
        let answer =
            tokio::task::spawn_blocking(move || shared.api.answer(endpoint, &params)).await;
        match answer {
            Ok(Ok(body)) => json(res, StatusCode::OK, body),
            Ok(Err(error)) => {
                tracing::debug!(%path, %error, "answering with an upstream-style error");
                json(res, StatusCode::INTERNAL_SERVER_ERROR, error.body());
            }
            Err(error) => {
                tracing::error!(%path, %error, "rendering an answer failed");
                html(res, StatusCode::INTERNAL_SERVER_ERROR, BAD_GATEWAY);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum ControlOp {
    GetFaults,
    SetFaults,
    GetRequests,
    ResetRequests,
}

/// `/_control/faults` and `/_control/requests`.
struct ControlApi(Arc<AppState>, ControlOp);

#[async_trait]
impl Handler for ControlApi {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let control = &self.0.control;
        let body = match self.1 {
            ControlOp::GetFaults => serde_json::to_vec(&control.faults()),
            ControlOp::SetFaults => {
                let parsed = match req.payload_with_max_size(64 * 1024).await {
                    Ok(bytes) => serde_json::from_slice::<Faults>(bytes).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match parsed {
                    Ok(faults) => {
                        tracing::info!(?faults, "faults changed");
                        control.set_faults(faults);
                        serde_json::to_vec(&control.faults())
                    }
                    Err(error) => {
                        let body =
                            serde_json::json!({ "error": format!("bad faults body: {error}") });
                        return json(res, StatusCode::BAD_REQUEST, body.to_string().into_bytes());
                    }
                }
            }
            ControlOp::GetRequests => serde_json::to_vec(&control.counts()),
            ControlOp::ResetRequests => {
                control.reset_counts();
                serde_json::to_vec(&control.counts())
            }
        };
        match body {
            Ok(body) => json(res, StatusCode::OK, body),
            Err(error) => {
                tracing::error!(%error, "control answer did not serialise");
                res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            }
        }
    }
}

/// The whole router: the control API first, everything else to the Kodik handler.
pub fn router(state: Arc<AppState>) -> Router {
    let op = |op| ControlApi(Arc::clone(&state), op);
    Router::new()
        .push(
            Router::with_path("_control/faults")
                .get(op(ControlOp::GetFaults))
                .post(op(ControlOp::SetFaults)),
        )
        .push(
            Router::with_path("_control/requests")
                .get(op(ControlOp::GetRequests))
                .delete(op(ControlOp::ResetRequests)),
        )
        .push(Router::with_path("{**rest}").goal(Kodik(Arc::clone(&state))))
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::{SocketAddr, TcpStream},
    };

    use salvo::{
        Server,
        conn::{Acceptor, Listener, TcpListener},
    };

    use super::*;
    use crate::{Scenario, assemble};

    const TOKEN: &str = "secret-test-token";

    async fn start(faults: Faults) -> SocketAddr {
        let state = Arc::new(AppState {
            api: Api::new(
                assemble(Vec::new(), Scenario::KodikCases, 1),
                TOKEN.into(),
                "https://kodik-api.com".into(),
            ),
            control: Control::new(faults),
            stall: Duration::from_secs(30),
        });
        let acceptor = TcpListener::new("127.0.0.1:0").bind().await;
        let addr = acceptor
            .holdings()
            .first()
            .and_then(|h| h.local_addr.clone().into_std())
            .expect("a bound TCP address");
        tokio::spawn(Server::new(acceptor).serve(router(state)));
        addr
    }

    /// One HTTP/1.1 exchange on a fresh connection; returns status and body.
    async fn request(addr: SocketAddr, head: String, body: &'static str) -> (u16, String) {
        tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(addr).expect("connects");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout set");
            let raw = format!(
                "{head}\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(raw.as_bytes()).expect("request written");
            let mut response = String::new();
            stream.read_to_string(&mut response).expect("response read");
            let status = response[9..12].parse().expect("status code");
            let body = response
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default();
            (status, body)
        })
        .await
        .expect("client thread")
    }

    async fn get(addr: SocketAddr, target: &str) -> (u16, String) {
        request(addr, format!("GET {target} HTTP/1.1"), "").await
    }

    const TOKEN_ERROR: &str = r#"{"error":"Отсутствует или неверный токен"}"#;

    #[tokio::test]
    async fn wrong_or_missing_token_is_a_500_json_error() {
        let addr = start(Faults::default()).await;
        assert_eq!(get(addr, "/list").await, (500, TOKEN_ERROR.into()));
        assert_eq!(
            get(addr, "/list?token=nope").await,
            (500, TOKEN_ERROR.into())
        );
        let (status, body) = get(addr, &format!("/list?token={TOKEN}&limit=2")).await;
        assert_eq!(status, 200);
        let page: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(page["total"], 11);
        assert!(
            page["next_page"]
                .as_str()
                .is_some_and(|u| u.contains(TOKEN))
        );
    }

    #[tokio::test]
    async fn form_bodies_work_and_json_bodies_do_not() {
        let addr = start(Faults::default()).await;
        let form =
            "POST /search HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded".to_owned();
        let body: &'static str = "token=secret-test-token&id=movie-8";
        let (status, text) = request(addr, form, body).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("\"movie-8\""));
        let as_json = "POST /search HTTP/1.1\r\nContent-Type: application/json".to_owned();
        let (status, text) = request(
            addr,
            as_json,
            r#"{"token":"secret-test-token","id":"movie-8"}"#,
        )
        .await;
        assert_eq!((status, text.as_str()), (500, TOKEN_ERROR));
    }

    #[tokio::test]
    async fn faults_are_switchable_and_requests_counted() {
        let addr = start(Faults {
            reject_token: true,
            ..Faults::default()
        })
        .await;
        let target = format!("/list?token={TOKEN}");
        assert_eq!(get(addr, &target).await.0, 500);

        let set =
            |body: &'static str| request(addr, "POST /_control/faults HTTP/1.1".to_owned(), body);
        assert_eq!(set(r#"{"html_502_next": 2}"#).await.0, 200);
        let (status, page) = get(addr, &target).await;
        assert_eq!(status, 502);
        assert!(page.contains("<html>"));
        assert_eq!(get(addr, &target).await.0, 502);
        assert_eq!(
            get(addr, &target).await.0,
            200,
            "service resumes after K failures"
        );

        assert_eq!(set(r#"{"error_200": true}"#).await, (200, r#"{"reject_token":false,"html_502":false,"html_502_next":0,"stall":false,"stall_next":0,"slow_ms":0,"error_200":true}"#.into()));
        assert_eq!(get(addr, &target).await, (200, TOKEN_ERROR.into()));
        assert_eq!(set(r#"{"bogus": 1}"#).await.0, 400);

        let (status, counts) = get(addr, "/_control/requests").await;
        assert_eq!(status, 200);
        let counts: serde_json::Value = serde_json::from_str(&counts).expect("JSON");
        assert_eq!(counts["/list"], 5);
        let reset = request(addr, "DELETE /_control/requests HTTP/1.1".to_owned(), "").await;
        assert_eq!(reset, (200, "{}".into()));
    }

    #[tokio::test]
    async fn stalled_requests_are_never_answered() {
        let addr = start(Faults {
            stall_next: 1,
            ..Faults::default()
        })
        .await;
        let stalled = tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(addr).expect("connects");
            stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .expect("timeout set");
            stream
                .write_all(b"GET /list HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .expect("request written");
            let mut buf = [0u8; 64];
            stream.read(&mut buf).map_err(|e| e.kind())
        })
        .await
        .expect("client thread");
        assert!(
            matches!(
                stalled,
                Err(std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
            ),
            "{stalled:?}"
        );
        // The budget was one request: the next one is served.
        assert_eq!(get(addr, "/list").await.0, 500);
    }

    #[tokio::test]
    async fn unknown_paths_answer_html() {
        let addr = start(Faults::default()).await;
        let (status, body) = get(addr, "/nothing-here").await;
        assert_eq!(status, 404);
        assert!(body.starts_with("<html>"));
    }
}
