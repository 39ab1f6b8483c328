//! Registration: the first vertical slice through command-api, the outbox, Kafka, the
//! projector and query-api; and the errors a client gets for bad input.

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::{PASSWORD, access_token, problem_of, sign_in};
use e2e::harness::{Platform, eventually, stack_log};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_user_becomes_readable_on_the_query_api() {
    let platform = Platform::start("registered_user_readable").await;

    let response = platform
        .register(&json!({"email": "Hikari@Example.org", "username": "hikari", "password": "velvet kettle orbit marmalade"}))
        .await;
    assert_eq!(response.status(), 201);
    assert!(response.headers().contains_key("x-request-id"));
    let created: Value = response.json().await.expect("JSON");
    assert_eq!(created["username"], "hikari");
    assert_eq!(created["version"], 1);
    let user_id: Uuid = created["user_id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("a UUID");

    // Read-your-writes: the query API waits for the version the command returned.
    let response = platform
        .http
        .get(format!(
            "{}/v1/users/{user_id}?min_version=1",
            platform.query_url
        ))
        .send()
        .await
        .expect("query-api answers");
    assert_eq!(response.status(), 200);
    let profile: Value = response.json().await.expect("JSON");
    assert_eq!(profile["id"], user_id.to_string());
    assert_eq!(profile["username"], "hikari");
    assert_eq!(profile["role"], "user");
    assert_eq!(profile["version"], 1);
    assert!(
        !profile.to_string().to_lowercase().contains("example.org"),
        "no email in a profile"
    );

    // The event was published once and carries no email either.
    let envelope: String = sqlx::query_scalar("SELECT envelope::text FROM write.outbox")
        .fetch_one(&platform.db)
        .await
        .expect("one outbox row");
    assert!(
        !envelope.to_lowercase().contains("example.org"),
        "no email in events"
    );
    let envelope: Value = serde_json::from_str(&envelope).expect("JSON envelope");
    assert_eq!(envelope["event_type"], "user.registered");
    assert_eq!(envelope["aggregate_id"], user_id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_email_or_username_is_a_conflict_and_writes_nothing() {
    let platform = Platform::start("duplicate_registration").await;
    platform.register_user("sakura").await;

    let same_email = platform
        .register(&json!({"email": " SAKURA@example.org", "username": "other", "password": "velvet kettle orbit marmalade"}))
        .await;
    let (status, problem) = problem_of(same_email).await;
    assert_eq!(status, 409);
    assert_eq!(problem["type"], "urn:anidex:problem:email-taken");

    let same_username = platform
        .register(&json!({"email": "other@example.org", "username": "Sakura", "password": "velvet kettle orbit marmalade"}))
        .await;
    let (status, problem) = problem_of(same_username).await;
    assert_eq!(status, 409);
    assert_eq!(problem["type"], "urn:anidex:problem:username-taken");

    assert_eq!(platform.count("write.users").await, 1);
    assert_eq!(platform.count("write.outbox").await, 1);

    // A taken address is found without a unique-index violation, whose message
    // PostgreSQL would log with the address in it.
    let address = format!("taken-{}@example.org", Uuid::now_v7().simple());
    for username in ["first", "second"] {
        platform
            .register(&json!({"email": address, "username": username, "password": "velvet kettle orbit marmalade"}))
            .await;
    }
    let log = stack_log("postgres.log");
    assert!(
        !log.contains(&address),
        "PostgreSQL's log names the taken address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_problem_documents_and_write_nothing() {
    let platform = Platform::start("bad_bodies").await;
    let url = format!("{}/v1/auth/register", platform.command_url);
    let valid = json!({"email": "a@example.org", "username": "valid", "password": "velvet kettle orbit marmalade"});
    let mut with_extra = valid.clone();
    with_extra["is_admin"] = json!(true);

    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "malformed JSON",
            "application/json",
            b"{\"email\": ".to_vec(),
            400,
            "malformed-body",
        ),
        (
            "empty body",
            "application/json",
            Vec::new(),
            400,
            "malformed-body",
        ),
        (
            "not an object",
            "application/json",
            b"[1, 2]".to_vec(),
            400,
            "malformed-body",
        ),
        (
            "unknown field",
            "application/json",
            with_extra.to_string().into_bytes(),
            400,
            "malformed-body",
        ),
        (
            "wrong type",
            "application/json",
            json!({"email": 5, "username": "x", "password": "y"})
                .to_string()
                .into_bytes(),
            400,
            "malformed-body",
        ),
        (
            "missing field",
            "application/json",
            json!({"email": "a@example.org"}).to_string().into_bytes(),
            400,
            "malformed-body",
        ),
        (
            "a field given twice",
            "application/json",
            br#"{"email": "a@example.org", "username": "twice", "username": "admin", "password": "velvet kettle orbit marmalade"}"#
                .to_vec(),
            400,
            "malformed-body",
        ),
        (
            "NUL character in a field",
            "application/json",
            json!({"email": "a\u{0}@example.org", "username": "nul", "password": "x"})
                .to_string()
                .into_bytes(),
            400,
            "malformed-body",
        ),
        (
            "not JSON media type",
            "text/plain",
            valid.to_string().into_bytes(),
            415,
            "unsupported-media-type",
        ),
        (
            "oversized body",
            "application/json",
            json!({"email": "a@example.org", "username": "big", "password": "x".repeat(200_000)})
                .to_string()
                .into_bytes(),
            413,
            "body-too-large",
        ),
        (
            "rules broken",
            "application/json",
            json!({"email": "not-an-email", "username": "-", "password": "short"})
                .to_string()
                .into_bytes(),
            422,
            "validation",
        ),
        (
            "password too long",
            "application/json",
            json!({"email": "a@example.org", "username": "longpw", "password": "p".repeat(257)})
                .to_string()
                .into_bytes(),
            422,
            "validation",
        ),
    ];

    for (name, content_type, body, expected_status, expected_type) in cases {
        let response = platform
            .http
            .post(&url)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("command-api answers");
        assert_eq!(response.status().as_u16(), expected_status, "{name}");
        if expected_status == 415 {
            // What would have been accepted.
            assert_eq!(response.headers()["accept"], "application/json", "{name}");
        }
        let (_, problem) = problem_of(response).await;
        assert_eq!(
            problem["type"],
            format!("urn:anidex:problem:{expected_type}"),
            "{name}"
        );
        assert!(problem["title"].is_string(), "{name}");
    }

    // Request bodies are not decoded: a compressed one is refused for what it is,
    // while `identity` (no coding at all) is accepted.
    for (coding, expected_status, expected_type) in [
        ("gzip", 415, "unsupported-content-encoding"),
        ("identity, br", 415, "unsupported-content-encoding"),
        ("identity", 422, "validation"),
    ] {
        let response = platform
            .http
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .header("content-encoding", coding)
            .body(json!({"email": "e@example.org", "username": "-", "password": "x"}).to_string())
            .send()
            .await
            .expect("command-api answers");
        assert_eq!(response.status().as_u16(), expected_status, "{coding}");
        if expected_status == 415 {
            assert_eq!(
                response.headers()["accept-encoding"],
                "identity",
                "{coding}"
            );
        }
        let (_, problem) = problem_of(response).await;
        assert_eq!(
            problem["type"],
            format!("urn:anidex:problem:{expected_type}"),
            "{coding}"
        );
    }

    // Framing the client library would not send: a length far over the limit is
    // refused at once, without waiting for a body that may never come, and a chunked
    // body whose chunk size is not hexadecimal is malformed, not too large.
    let address = platform
        .command_url
        .trim_start_matches("http://")
        .to_owned();
    let raw = |request: &'static str| {
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).expect("connecting");
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .expect("a read timeout");
            send_and_read(&mut stream, request)
        })
    };
    let huge = raw("POST /v1/auth/register HTTP/1.1\r\nHost: localhost\r\n\
                    Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{\"email\":")
    .await
    .expect("the huge request");
    assert!(huge.starts_with("HTTP/1.1 413"), "{huge}");
    assert!(huge.contains("urn:anidex:problem:body-too-large"), "{huge}");
    let bad_chunk = raw("POST /v1/auth/register HTTP/1.1\r\nHost: localhost\r\n\
                         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
                         zz\r\n{}\r\n0\r\n\r\n")
    .await
    .expect("the badly chunked request");
    assert!(bad_chunk.starts_with("HTTP/1.1 400"), "{bad_chunk}");
    assert!(
        bad_chunk.contains("urn:anidex:problem:malformed-body"),
        "{bad_chunk}"
    );

    let (_, problem) = problem_of(
        platform
            .register(&json!({"email": "nope", "username": "-", "password": "short"}))
            .await,
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "username", "password"]);

    assert_eq!(
        platform.count("write.users").await,
        0,
        "a rejected command writes no row"
    );
    assert_eq!(
        platform.count("write.outbox").await,
        0,
        "a rejected command writes no event"
    );

    // The other authentication bodies: sign-in, refresh and password change.
    platform.register_user("sayaka").await;
    let token = access_token(&sign_in(&platform, "sayaka", PASSWORD).await);
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        ("login: malformed", "login", "{\"login\": ".to_owned(), 400, "malformed-body"),
        ("login: unknown field", "login", json!({"login": "sayaka", "password": "x", "remember": true}).to_string(), 400, "malformed-body"),
        ("login: wrong type", "login", json!({"login": 7, "password": "x"}).to_string(), 400, "malformed-body"),
        ("login: empty login", "login", json!({"login": " ", "password": "x"}).to_string(), 422, "validation"),
        ("login: login too long", "login", json!({"login": "l".repeat(255), "password": "x"}).to_string(), 422, "validation"),
        ("login: password too long", "login", json!({"login": "sayaka", "password": "p".repeat(1025)}).to_string(), 422, "validation"),
        ("refresh: malformed", "refresh", "[]".to_owned(), 400, "malformed-body"),
        ("refresh: missing token", "refresh", "{}".to_owned(), 400, "malformed-body"),
        ("refresh: token too long", "refresh", json!({"refresh_token": "t".repeat(129)}).to_string(), 401, "invalid-refresh-token"),
        ("refresh: empty token", "refresh", json!({"refresh_token": ""}).to_string(), 401, "invalid-refresh-token"),
        ("password: malformed", "password", "{\"current_password\"".to_owned(), 400, "malformed-body"),
        ("password: current too long", "password", json!({"current_password": "c".repeat(1025), "new_password": "amber tundra psalm violin"}).to_string(), 401, "invalid-credentials"),
        ("password: new too long", "password", json!({"current_password": "velvet kettle orbit marmalade", "new_password": "n".repeat(257)}).to_string(), 422, "validation"),
    ];
    for (name, route, body, expected_status, expected_type) in cases {
        let response = platform
            .http
            .post(format!("{}/v1/auth/{route}", platform.command_url))
            .header(CONTENT_TYPE, "application/json")
            .bearer_auth(&token)
            .body(body)
            .send()
            .await
            .expect("command-api answers");
        let (status, problem) = problem_of(response).await;
        assert_eq!(status, expected_status, "{name}: {problem}");
        assert_eq!(
            problem["type"],
            format!("urn:anidex:problem:{expected_type}"),
            "{name}"
        );
    }
    // None of that changed the account: its password still signs in.
    sign_in(&platform, "sayaka", PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_methods_and_parameters_are_problems() {
    let platform = Platform::start("unknown_routes").await;
    let user_id = platform.register_user("kaede").await;
    platform.wait_profile(user_id).await;

    let checks = [
        (
            format!("{}/v1/nowhere", platform.command_url),
            404,
            "not-found",
        ),
        (
            format!("{}/v1/auth/register", platform.command_url),
            405,
            "method-not-allowed",
        ),
        (
            format!("{}/v1/users/not-a-uuid", platform.query_url),
            400,
            "invalid-parameter",
        ),
        (
            format!("{}/v1/users/{}", platform.query_url, Uuid::now_v7()),
            404,
            "not-found",
        ),
        (
            format!("{}/v1/users/{user_id}?min_version=abc", platform.query_url),
            400,
            "invalid-parameter",
        ),
        (
            format!("{}/v1/users/{user_id}?min_version=-1", platform.query_url),
            400,
            "invalid-parameter",
        ),
        (
            format!("{}/v1/releases?team=%00", platform.query_url),
            400,
            "invalid-parameter",
        ),
        (
            format!("{}/v1/admin/audit?target=a%00b", platform.query_url),
            400,
            "invalid-parameter",
        ),
        (
            format!("{}/v1/search?q=%ff%fe", platform.query_url),
            400,
            "invalid-parameter",
        ),
        (
            format!("{}/v1/users/{user_id}?min_version=7", platform.query_url),
            503,
            "projection-lagging",
        ),
    ];
    for (url, expected_status, expected_type) in checks {
        let response = platform.http.get(&url).send().await.expect("an answer");
        let retry_after = response.headers().get("retry-after").is_some();
        let (status, problem) = problem_of(response).await;
        assert_eq!(status, expected_status, "{url}");
        assert_eq!(
            problem["type"],
            format!("urn:anidex:problem:{expected_type}"),
            "{url}"
        );
        if status == 503 {
            assert!(retry_after, "503 carries Retry-After");
        }
    }

    // HEAD is a GET without the body, and only where GET is.
    let profile = format!("{}/v1/users/{user_id}", platform.query_url);
    let got = platform.http.get(&profile).send().await.expect("an answer");
    let got_etag = got.headers().get("etag").cloned();
    let head = platform
        .http
        .head(&profile)
        .send()
        .await
        .expect("an answer");
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers().get("etag").cloned(), got_etag);
    assert!(head.bytes().await.expect("a body").is_empty());
    let head = platform
        .http
        .head(format!("{}/v1/auth/register", platform.command_url))
        .send()
        .await
        .expect("an answer");
    assert_eq!(head.status(), 405, "register takes POST only");
    let delete = platform
        .http
        .delete(&profile)
        .send()
        .await
        .expect("an answer");
    let (status, problem) = problem_of(delete).await;
    assert_eq!(status, 405);
    assert_eq!(problem["type"], "urn:anidex:problem:method-not-allowed");

    // A kept-alive connection left idle for longer than the 30 s many HTTP servers
    // allow still carries the next request: clients and proxies keep idle connections
    // for 60 to 90 s, and one the server closed as a request was sent on it fails.
    // The wait is the idleness under test, not a wait for something to happen.
    let address = platform.query_url.trim_start_matches("http://").to_owned();
    let idle_connection = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).expect("connecting");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("a read timeout");
        let first = exchange(&mut stream);
        std::thread::sleep(std::time::Duration::from_secs(35));
        (first, exchange(&mut stream))
    });

    // A body that stalls half-way is answered, not waited for for ever.
    let address = platform
        .command_url
        .trim_start_matches("http://")
        .to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).expect("connecting");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .expect("a read timeout");
        let head = "POST /v1/auth/register HTTP/1.1\r\nHost: localhost\r\n\
                    Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":";
        stream.write_all(head.as_bytes()).expect("writing");
        let mut answer = Vec::new();
        let mut buffer = [0_u8; 4096];
        while !String::from_utf8_lossy(&answer).contains("body-timeout") {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => answer.extend_from_slice(&buffer[..read]),
            }
        }
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("the stalled request");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(
        answer.contains("urn:anidex:problem:body-timeout"),
        "{answer}"
    );

    let (first, after_idle) = idle_connection.await.expect("the idle connection");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert!(after_idle.starts_with("HTTP/1.1 200"), "{after_idle}");
}

/// Sends `GET /health/live` on a kept-alive connection and returns the whole answer.
fn exchange(stream: &mut std::net::TcpStream) -> String {
    send_and_read(
        stream,
        "GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
}

/// Sends `request` as it is and returns the whole answer (its body read to the end,
/// so a next answer on the connection starts afresh), or what arrived before the
/// connection closed.
fn send_and_read(stream: &mut std::net::TcpStream, request: &str) -> String {
    use std::io::{Read, Write};
    if let Err(error) = stream.write_all(request.as_bytes()) {
        return format!("writing failed: {error}");
    }
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or_default();
            if body.len() >= length {
                return text;
            }
        }
        match stream.read(&mut buffer) {
            Ok(0) => return text,
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
            Err(error) => return format!("{text}\nreading failed: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_docs_are_served() {
    let platform = Platform::start("health_metrics_docs").await;
    platform.register_user("mio").await;

    for base in [
        &platform.command_url,
        &platform.query_url,
        &platform.consumers_url,
    ] {
        for path in ["/health/live", "/health/ready"] {
            let response = platform
                .http
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("answer");
            assert_eq!(response.status(), 200, "{base}{path}");
            // Monitors often probe with HEAD.
            let response = platform
                .http
                .head(format!("{base}{path}"))
                .send()
                .await
                .expect("answer");
            assert_eq!(response.status(), 200, "HEAD {base}{path}");
        }
    }

    let metrics = platform
        .http
        .get(format!("{}/metrics", platform.command_url))
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    e2e::harness::eventually("outbox_backlog to be reported", || async {
        let text = platform
            .http
            .get(format!("{}/metrics", platform.command_url))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("outbox_backlog").then_some(())
    })
    .await;
    e2e::harness::eventually("consumer lag to be reported", || async {
        let text = platform
            .http
            .get(format!("{}/metrics", platform.consumers_url))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("kafka_consumer_lag").then_some(())
    })
    .await;

    for base in [&platform.command_url, &platform.query_url] {
        let page = platform
            .http
            .get(format!("{base}/docs/"))
            .send()
            .await
            .expect("answer");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("text");
        assert!(html.contains("swagger-ui"), "the docs page is Swagger UI");
        assert!(
            !html.contains("https://"),
            "the docs page loads nothing from the internet"
        );
        let bundle = platform
            .http
            .get(format!("{base}/docs/swagger-ui-bundle.js"))
            .send()
            .await
            .expect("answer");
        assert_eq!(bundle.status(), 200, "the UI's script is served locally");
        let script_type = bundle
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            script_type.contains("javascript"),
            "the script is the script, not the page: {script_type}"
        );
        let document: Value = platform
            .http
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .expect("answer")
            .json()
            .await
            .expect("JSON");
        assert!(
            document["paths"]
                .as_object()
                .is_some_and(|paths| !paths.is_empty())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_database_connections_cost_at_most_a_retryable_answer() {
    let platform = Platform::start("dropped_connections").await;
    let first = platform.register_user("before-drop").await;
    platform.wait_profile(first).await;

    // What a database restart does to every connection the services hold.
    let dropped: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS terminated",
    )
    .fetch_one(&platform.db)
    .await
    .expect("terminating the services' connections");
    assert!(dropped > 0, "the services held connections");

    let attempts = std::sync::atomic::AtomicU32::new(0);
    let second: Uuid = eventually("a registration after the drop", || async {
        let n = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = platform
            .register(&json!({
                "email": format!("after-drop-{n}@example.org"),
                "username": format!("after-drop-{n}"),
                "password": "velvet kettle orbit marmalade",
            }))
            .await;
        retryable_or(response, 201).await?["user_id"]
            .as_str()?
            .parse()
            .ok()
    })
    .await;
    eventually("the new profile", || async {
        let response = platform.profile(second).await;
        if response.status() == 404 {
            return None; // not projected yet
        }
        retryable_or(response, 200).await
    })
    .await;
    eventually("the old profile", || async {
        retryable_or(platform.profile(first).await, 200).await
    })
    .await;
}

/// The body of an answer with `expected` status, or `None` for a 503 problem; any
/// other answer fails the test.
async fn retryable_or(response: reqwest::Response, expected: u16) -> Option<Value> {
    let status = response.status().as_u16();
    if status == 503 {
        let (_, problem) = problem_of(response).await;
        assert_eq!(problem["status"], 503, "{problem}");
        return None;
    }
    assert_eq!(status, expected, "{:?}", response.text().await);
    response.json().await.ok()
}
