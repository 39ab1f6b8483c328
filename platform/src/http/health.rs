//! `/health/live` answers while the process runs; `/health/ready` answers 200 only
//! while every dependency the process needs is reachable, and names the ones that
//! are not, so an orchestrator stops routing traffic to a degraded instance.

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc};

use super::ReadRoute as _;
use salvo::{Depot, Request, Response, Router, handler, http::StatusCode, writing::Json};
use serde::Serialize;

type Probe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// The named dependency probes behind `/health/ready`.
#[derive(Clone, Default)]
pub struct Readiness {
    probes: Vec<(&'static str, Probe)>,
}

impl Readiness {
    /// Adds a dependency; `probe` resolves to true while it is usable.
    pub fn check<F, Fut>(mut self, name: &'static str, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        self.probes
            .push((name, Arc::new(move || Box::pin(probe()))));
        self
    }

    async fn run(&self) -> BTreeMap<&'static str, &'static str> {
        let checks = self.probes.iter().map(|(name, probe)| async move {
            let state = if probe().await { "up" } else { "down" };
            (*name, state)
        });
        futures::future::join_all(checks)
            .await
            .into_iter()
            .collect()
    }
}

#[derive(Serialize)]
struct HealthReport {
    status: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    checks: BTreeMap<&'static str, &'static str>,
}

#[handler]
async fn live(res: &mut Response) {
    res.render(Json(HealthReport {
        status: "live",
        checks: BTreeMap::new(),
    }));
}

#[handler]
async fn ready(_req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Ok(readiness) = depot.get_typed::<Readiness>() else {
        res.render(Json(HealthReport {
            status: "ready",
            checks: BTreeMap::new(),
        }));
        return;
    };
    let checks = readiness.run().await;
    let all_up = checks.values().all(|state| *state == "up");
    if !all_up {
        res.status_code(StatusCode::SERVICE_UNAVAILABLE);
    }
    let status = if all_up { "ready" } else { "degraded" };
    res.render(Json(HealthReport { status, checks }));
}

/// `/health/live` and `/health/ready`, probing what `readiness` lists.
pub fn health_router(readiness: Readiness) -> Router {
    Router::with_path("health")
        .hoop(salvo::affix_state::inject(readiness))
        .push(Router::with_path("live").get_or_head(live))
        .push(Router::with_path("ready").get_or_head(ready))
}
