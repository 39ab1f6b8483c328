//! The OpenAPI document at `/openapi.json` and the interactive docs page at `/docs/`.
//! The page's scripts and styles are compiled into the binary, so it works on a
//! machine without internet access.

use std::sync::Arc;

use super::ReadRoute as _;
use salvo::{
    Depot, Request, Response, Router, handler,
    http::{HeaderValue, StatusCode, header},
    writing::Redirect,
};
use utoipa_swagger_ui::Config;

#[derive(Clone)]
struct OpenApiJson(Arc<String>);

#[derive(Clone)]
struct SwaggerConfig(Arc<Config<'static>>);

#[handler]
async fn serve_openapi(depot: &mut Depot, res: &mut Response) {
    let Ok(OpenApiJson(document)) = depot.get_typed::<OpenApiJson>() else {
        res.status_code(StatusCode::NOT_FOUND);
        return;
    };
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let _ = res.write_body(document.as_bytes().to_vec());
}

/// `/docs` redirects to `/docs/` so that the page's relative asset URLs resolve;
/// `/docs/` itself (which the router matches here too) serves the page.
#[handler]
async fn docs_index(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    if req.uri().path().ends_with('/') {
        serve_asset("", depot, res);
    } else {
        res.render(Redirect::found("/docs/"));
    }
}

#[handler]
async fn docs_file(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let tail = req.param::<String>("path").unwrap_or_default();
    serve_asset(&tail, depot, res);
}

fn serve_asset(tail: &str, depot: &Depot, res: &mut Response) {
    let Ok(SwaggerConfig(config)) = depot.get_typed::<SwaggerConfig>() else {
        res.status_code(StatusCode::NOT_FOUND);
        return;
    };
    match utoipa_swagger_ui::serve(tail, config.clone()) {
        Ok(Some(file)) => {
            if let Ok(content_type) = HeaderValue::from_str(&file.content_type) {
                res.headers_mut().insert(header::CONTENT_TYPE, content_type);
            }
            if file.gzpipped {
                res.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            let _ = res.write_body(file.bytes.to_vec());
        }
        Ok(None) => {
            res.status_code(StatusCode::NOT_FOUND);
        }
        Err(error) => {
            tracing::error!(error = %error, "serving a docs page asset");
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
}

/// `/openapi.json`, `/docs` and `/docs/...` for the given document.
pub fn docs_router(openapi_json: String) -> Router {
    let config = Arc::new(Config::from("/openapi.json"));
    Router::new()
        .push(
            Router::with_path("openapi.json")
                .hoop(salvo::affix_state::inject(OpenApiJson(Arc::new(
                    openapi_json,
                ))))
                .get_or_head(serve_openapi),
        )
        .push(
            Router::with_path("docs")
                .hoop(salvo::affix_state::inject(SwaggerConfig(config)))
                .get_or_head(docs_index)
                .push(Router::with_path("{**path}").get_or_head(docs_file)),
        )
}
