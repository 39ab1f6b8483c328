//! Rate limits in Redis: per client and per account on the authentication endpoints,
//! a general per-client limit elsewhere, shared by every instance, with the standard
//! headers; health and metrics exempt. Also CORS, which sits in the same layer.

use serde_json::json;

use e2e::harness::{Platform, eventually, free_port};

use crate::accounts::{PASSWORD, access_token, problem_of, sign_in};

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_limited_per_client_and_account_across_instances() {
    let platform = Platform::start_with_env(
        "rate_limits_auth",
        &[
            ("AUTH_RATE_LIMIT_PER_MINUTE", "5"),
            ("RATE_LIMIT_PER_MINUTE", "1000000"),
        ],
    )
    .await;
    // A second instance shares the counters through Redis.
    let port = free_port();
    let _second = platform.spawn_service(
        "command-api",
        &[
            ("COMMAND_API_LISTEN", &format!("127.0.0.1:{port}")),
            ("OUTBOX_RELAY_ENABLED", "false"),
        ],
    );
    let second_url = format!("http://127.0.0.1:{port}");
    eventually("the second command-api to answer", || async {
        let response = platform
            .http
            .get(format!("{second_url}/health/live"))
            .send()
            .await
            .ok()?;
        response.status().is_success().then_some(())
    })
    .await;

    // Attempts count over the last minute, estimated from two per-minute counters;
    // count until refused rather than expecting the refusal at an exact attempt.
    let mut allowed = 0;
    let refused = loop {
        let url = if allowed % 2 == 0 {
            &platform.command_url
        } else {
            &second_url
        };
        let response = platform
            .http
            .post(format!("{url}/v1/auth/login"))
            .json(&json!({"login": "someone", "password": "whatever it is"}))
            .send()
            .await
            .expect("an answer");
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 401);
        assert!(header(&response, "ratelimit-limit").is_some_and(|limit| limit == "5"));
        allowed += 1;
        assert!(allowed <= 10, "never limited");
    };
    assert!(allowed <= 5);
    let retry_after: u64 = header(&refused, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    // When one more attempt fits: within this minute or, for a count over the
    // limit, as it fades during the next.
    assert!((1..=120).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&refused, "ratelimit-limit").as_deref(), Some("5"));
    assert_eq!(
        header(&refused, "ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert!(header(&refused, "ratelimit-reset").is_some());
    let (_, problem) = problem_of(refused).await;
    assert_eq!(problem["type"], "urn:anidex:problem:rate-limited");

    // Several accounts from one client: the headers tell the tighter of the two
    // budgets, the client's, so the last answer before the refusal has none left.
    let mut last_remaining = None;
    for n in 0..12 {
        let response = platform
            .http
            .post(format!("{}/v1/auth/register", platform.command_url))
            .json(&json!({
                "email": format!("budget{n}@example.org"),
                "username": format!("budget{n}"),
                "password": PASSWORD,
            }))
            .send()
            .await
            .expect("an answer");
        if response.status() == 429 {
            break;
        }
        assert_eq!(response.status(), 201);
        last_remaining = header(&response, "ratelimit-remaining");
    }
    assert_eq!(last_remaining.as_deref(), Some("0"));

    // A catalogue answer may be kept by shared caches, so it carries no client's
    // budget (the refusal does, see the general limit's test).
    let response = platform
        .http
        .get(format!("{}/v1/releases", platform.query_url))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "ratelimit-remaining"), None);

    // Health and metrics are exempt.
    for path in ["/health/live", "/health/ready", "/metrics"] {
        for _ in 0..8 {
            let response = platform
                .http
                .get(format!("{}{path}", platform.command_url))
                .send()
                .await
                .expect("an answer");
            assert_ne!(response.status(), 429, "{path}");
        }
    }
}

async fn login_from(platform: &Platform, forwarded_for: &str, login: &str) -> u16 {
    platform
        .http
        .post(format!("{}/v1/auth/login", platform.command_url))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"login": login, "password": "guessing again"}))
        .send()
        .await
        .expect("an answer")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_clients_behind_a_trusted_proxy_are_limited_separately() {
    let platform = Platform::start_with_env(
        "rate_limits_account",
        &[
            ("AUTH_RATE_LIMIT_PER_MINUTE", "3"),
            ("RATE_LIMIT_PER_MINUTE", "1000000"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;

    // One account attacked from many addresses: the account's own budget runs out.
    // (Look for a refusal within twice the budget rather than at an exact attempt.)
    let mut statuses = Vec::new();
    for n in 0..6 {
        statuses.push(login_from(&platform, &format!("203.0.113.{n}"), "victim@example.org").await);
    }
    assert!(statuses.contains(&429), "account limit: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );

    // A fresh address and a fresh account are not affected.
    assert_eq!(
        login_from(&platform, "198.51.100.200", "bystander").await,
        401
    );

    // Every spelling of a login that reaches an account spends that account's
    // budget; one that lower-cases differently (the dotted capital I) reaches no
    // account at all, so it cannot be used to guess with a budget of its own.
    platform.register_user("hikari1").await;
    let mut statuses = Vec::new();
    for (n, spelling) in ["hikari1", "HIKARI1", "Hikari1", "hİkari1"]
        .iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        statuses.push(login_from(&platform, &format!("203.0.113.{}", 100 + n), spelling).await);
    }
    assert!(
        statuses.contains(&429),
        "spellings of one account: {statuses:?}"
    );
    let dotted = platform
        .http
        .post(format!("{}/v1/auth/login", platform.command_url))
        .header("x-forwarded-for", "203.0.113.250")
        .json(&json!({"login": "HİKARİ1", "password": PASSWORD}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(dotted.status(), 401, "HİKARİ1 is not hikari1");

    // One address trying many accounts: the client's budget runs out.
    let mut statuses = Vec::new();
    for n in 0..6 {
        statuses.push(login_from(&platform, "198.51.100.7", &format!("account{n}")).await);
    }
    assert!(statuses.contains(&429), "client limit: {statuses:?}");

    // A stolen access token does not allow guessing the current password faster
    // than signing in would: the password change has the same limits.
    platform.register_user("kaede").await;
    let token = access_token(&sign_in(&platform, "kaede", PASSWORD).await);
    let mut statuses = Vec::new();
    for n in 0..6 {
        let response = platform
            .http
            .post(format!("{}/v1/auth/password", platform.command_url))
            .header("x-forwarded-for", format!("192.0.2.{n}"))
            .bearer_auth(&token)
            .json(&json!({"current_password": "a guess", "new_password": "amber tundra psalm violin"}))
            .send()
            .await
            .expect("an answer");
        statuses.push(response.status().as_u16());
    }
    assert!(
        statuses.contains(&429),
        "password change limit: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn general_limit_applies_and_redis_outage_fails_open_but_closes_sign_in() {
    let platform = Platform::start_with_env(
        "rate_limits_general",
        &[
            ("RATE_LIMIT_PER_MINUTE", "3"),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "100000"),
        ],
    )
    .await;
    let url = format!(
        "{}/v1/users/019aeb2c-529f-7b40-8b1e-8d1f2a3c4b5d",
        platform.query_url
    );
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            platform
                .http
                .get(&url)
                .send()
                .await
                .expect("an answer")
                .status()
                .as_u16(),
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|status| *status == 404 || *status == 429),
        "{statuses:?}"
    );
    // The catalogue and search count against the same limit, spent by now; the
    // refusal is never to be kept by a shared cache.
    for path in ["/v1/releases", "/v1/search?q=frieren"] {
        let response = platform
            .http
            .get(format!("{}{path}", platform.query_url))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 429, "{path}");
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("no-store")
        );
        assert_eq!(header(&response, "ratelimit-limit").as_deref(), Some("3"));
        assert!(header(&response, "retry-after").is_some(), "{path}");
    }

    // The client's budget is shared by both APIs, except for the sign-in routes,
    // which count against their own limit only.
    let mut sign_ins = Vec::new();
    let mut others = Vec::new();
    for _ in 0..8 {
        let response = platform
            .http
            .post(format!("{}/v1/auth/login", platform.command_url))
            .json(&json!({"login": "someone", "password": "whatever it is"}))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.headers()["ratelimit-limit"], "100000");
        sign_ins.push(response.status().as_u16());
        let response = platform
            .http
            .post(format!("{}/v1/auth/logout", platform.command_url))
            .send()
            .await
            .expect("an answer");
        others.push(response.status().as_u16());
    }
    assert!(sign_ins.iter().all(|status| *status == 401), "{sign_ins:?}");
    assert!(others.contains(&429), "{others:?}");
    assert!(
        others.iter().all(|status| *status == 401 || *status == 429),
        "{others:?}"
    );

    // Instances whose Redis is unreachable: reads go on, sign-in refuses.
    let dead_redis = format!("redis://127.0.0.1:{}", free_port());
    let query_port = free_port();
    let command_port = free_port();
    let query = platform.spawn_service(
        "query-api",
        &[
            ("QUERY_API_LISTEN", &format!("127.0.0.1:{query_port}")),
            ("REDIS_URL", &dead_redis),
        ],
    );
    let _command = platform.spawn_service(
        "command-api",
        &[
            ("COMMAND_API_LISTEN", &format!("127.0.0.1:{command_port}")),
            ("REDIS_URL", &dead_redis),
            ("OUTBOX_RELAY_ENABLED", "false"),
        ],
    );
    for port in [query_port, command_port] {
        eventually("an instance without Redis to answer", || async {
            let response = platform
                .http
                .get(format!("http://127.0.0.1:{port}/health/live"))
                .send()
                .await
                .ok()?;
            response.status().is_success().then_some(())
        })
        .await;
    }
    let url =
        format!("http://127.0.0.1:{query_port}/v1/users/019aeb2c-529f-7b40-8b1e-8d1f2a3c4b5d");
    for _ in 0..5 {
        assert_eq!(
            platform
                .http
                .get(&url)
                .send()
                .await
                .expect("an answer")
                .status(),
            404
        );
    }
    assert!(query.log().contains("rate limiter unavailable"));
    let ready = platform
        .http
        .get(format!("http://127.0.0.1:{query_port}/health/ready"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(ready.status(), 503, "Redis is part of readiness");
    let response = platform
        .http
        .post(format!("http://127.0.0.1:{command_port}/v1/auth/login"))
        .json(&json!({"login": "someone", "password": "whatever it is"}))
        .send()
        .await
        .expect("an answer");
    let (status, _) = problem_of(response).await;
    assert_eq!(status, 503, "sign-in fails closed without its limiter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_configured_origins() {
    let platform = Platform::start_with_env(
        "cors",
        &[(
            "CORS_ALLOWED_ORIGINS",
            "https://anidex.example,https://admin.anidex.example",
        )],
    )
    .await;
    for base in [&platform.command_url, &platform.query_url] {
        let preflight = |origin: &'static str| {
            platform
                .http
                .request(reqwest::Method::OPTIONS, format!("{base}/v1/auth/login"))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                )
                .send()
        };
        let allowed = preflight("https://anidex.example")
            .await
            .expect("an answer");
        assert!(
            allowed.status().is_success(),
            "{base}: {}",
            allowed.status()
        );
        assert_eq!(
            header(&allowed, "access-control-allow-origin").as_deref(),
            Some("https://anidex.example")
        );
        assert_ne!(
            header(&allowed, "access-control-allow-credentials").as_deref(),
            Some("true")
        );
        let refused = preflight("https://evil.example").await.expect("an answer");
        assert_eq!(
            header(&refused, "access-control-allow-origin"),
            None,
            "{base}"
        );

        let simple = platform
            .http
            .get(format!("{base}/health/live"))
            .header("origin", "https://evil.example")
            .send()
            .await
            .expect("an answer");
        assert_eq!(header(&simple, "access-control-allow-origin"), None);
    }
}
