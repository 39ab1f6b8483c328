//! Starting the platform's processes for a test, and waiting on what they do.

use std::{
    fs,
    future::Future,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, LazyLock},
    time::Duration,
};

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};
use uuid::Uuid;

/// Tests that stop Kafka take this lock exclusively; every other platform holds it
/// shared, so an outage never surprises an unrelated test.
static KAFKA_OUTAGE: LazyLock<Arc<RwLock<()>>> = LazyLock::new(|| Arc::new(RwLock::new(())));

/// How long any eventual outcome may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The text of one of the local stack's log files (`postgres.log`, `redis.log`...),
/// under `$STACK_DIR/logs` as `scripts/stack` writes them.
pub fn stack_log(name: &str) -> String {
    let stack_dir = std::env::var_os("STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".stack"));
    let path = stack_dir.join("logs").join(name);
    fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading the stack's {}: {error}", path.display()))
}

/// Where cargo put the binaries this test binary was built with.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut profile_dir = exe.parent().expect("the executable has a folder");
    // Test binaries live in target/<profile>/deps, other binaries in target/<profile>.
    if profile_dir.ends_with("deps") {
        profile_dir = profile_dir.parent().expect("deps has a parent");
    }
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`, which \
         scripts/test does; add --release for benchmarks)",
        path.display()
    );
    path
}

/// Connection settings of the running stack, from the same variables the services read.
pub struct StackEnv {
    pub database_url: String,
    pub kafka_brokers: String,
    pub redis_url: String,
}

/// The access-token signing keys every test platform gets (`kid:secret`).
pub const TEST_JWT_KEYS: &str = "test-1:e2e-only-secret-0123456789abcdef0123456789";

pub fn stack_env() -> StackEnv {
    StackEnv {
        database_url: std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://anime:anime@127.0.0.1:55432/anime".to_owned()),
        kafka_brokers: std::env::var("KAFKA_BROKERS")
            .unwrap_or_else(|_| "127.0.0.1:59092".to_owned()),
        redis_url: std::env::var("REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:56379".to_owned()),
    }
}

/// Runs `scripts/stack <args>` and panics if it fails.
pub fn stack_script(args: &[&str]) {
    let status = Command::new(repo_root().join("scripts/stack"))
        .args(args)
        .status()
        .expect("running scripts/stack");
    assert!(status.success(), "scripts/stack {args:?} failed");
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

/// Polls `check` until it returns `Some`, failing the test after `DEADLINE`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, DEADLINE, check).await
}

/// [`eventually`] with a deadline of its own, for a wait the platform bounds by a
/// longer timeout.
pub async fn eventually_within<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process that is killed when dropped. Its output goes to a log file.
pub struct Process {
    child: Child,
    log_path: PathBuf,
}

impl Process {
    fn spawn(name: &str, env: &[(String, String)], log_path: PathBuf) -> Self {
        let log = fs::File::create(&log_path).expect("creating a log file");
        let child = Command::new(binary(name))
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdout(log.try_clone().expect("cloning a file handle"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {name}: {error}"));
        Self { child, log_path }
    }

    /// Where the process's output goes.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The operating system's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory so far, in MiB (`VmHWM`), while the process runs.
    pub fn peak_memory_mib(&self) -> Option<f64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    /// SIGKILL: no drain, no commit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the process to exit on its own.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("waiting for a child")
    }

    /// The log written so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

enum KafkaLease {
    Shared(#[expect(dead_code, reason = "held for its lifetime")] OwnedRwLockReadGuard<()>),
    Exclusive(#[expect(dead_code, reason = "held for its lifetime")] OwnedRwLockWriteGuard<()>),
}

/// The three services of the platform, started for one test with a fresh database
/// and a fresh topic prefix.
pub struct Platform {
    pub command_api: Process,
    pub consumers: Process,
    pub query_api: Process,
    pub command_url: String,
    pub query_url: String,
    pub consumers_url: String,
    pub topic_prefix: String,
    pub db: PgPool,
    pub http: reqwest::Client,
    env: Vec<(String, String)>,
    log_dir: PathBuf,
    consumers_starts: u32,
    _kafka: KafkaLease,
}

impl Platform {
    /// Starts the platform; shares Kafka with other tests.
    pub async fn start(test: &str) -> Self {
        Self::start_with_env(test, &[]).await
    }

    /// Starts the platform with extra environment variables for every service.
    pub async fn start_with_env(test: &str, extra_env: &[(&str, &str)]) -> Self {
        let lease = KafkaLease::Shared(KAFKA_OUTAGE.clone().read_owned().await);
        Self::start_with_lease(test, lease, extra_env).await
    }

    /// Starts the platform for a test that must run alone: one that stops and starts
    /// Kafka, or one whose load would disturb (or be disturbed by) the others.
    pub async fn start_exclusive(test: &str) -> Self {
        let lease = KafkaLease::Exclusive(KAFKA_OUTAGE.clone().write_owned().await);
        Self::start_with_lease(test, lease, &[]).await
    }

    async fn start_with_lease(test: &str, lease: KafkaLease, extra_env: &[(&str, &str)]) -> Self {
        let stack = stack_env();
        let id = Uuid::now_v7().simple().to_string();
        let database = format!("e2e_{id}");
        let mut admin = PgConnection::connect(&stack.database_url)
            .await
            .unwrap_or_else(|error| {
                panic!("the stack's PostgreSQL is not reachable ({error}); run scripts/stack up")
            });
        sqlx::query(&format!("CREATE DATABASE \"{database}\""))
            .execute(&mut admin)
            .await
            .expect("creating the test database");
        let (base, _) = stack
            .database_url
            .rsplit_once('/')
            .expect("database URL has a path");
        let database_url = format!("{base}/{database}");

        let topic_prefix = format!("e2e-{id}.");
        let command_port = free_port();
        let query_port = free_port();
        let consumers_port = free_port();
        let env: Vec<(String, String)> = [
            ("DATABASE_URL", database_url.clone()),
            ("KAFKA_BROKERS", stack.kafka_brokers.clone()),
            ("KAFKA_TOPIC_PREFIX", topic_prefix.clone()),
            ("KAFKA_TOPIC_PARTITIONS", "3".to_owned()),
            ("LOG_FORMAT", "json".to_owned()),
            ("LOG_LEVEL", "info".to_owned()),
            ("COMMAND_API_LISTEN", format!("127.0.0.1:{command_port}")),
            ("QUERY_API_LISTEN", format!("127.0.0.1:{query_port}")),
            ("CONSUMERS_LISTEN", format!("127.0.0.1:{consumers_port}")),
            (
                "QUERY_API_PUBLIC_URL",
                format!("http://127.0.0.1:{query_port}/"),
            ),
            ("CONSUMER_RETRY_BASE_MS", "50".to_owned()),
            // A loaded 2-core machine can be slow; tests check answers, not speed.
            ("SEARCH_TIMEOUT_MS", "30000".to_owned()),
            // Likewise for a projector that is still joining its group on a fresh broker.
            ("READ_YOUR_WRITES_WAIT_MS", "10000".to_owned()),
            // Every consumer group runs; tests that import point these at a fake-kodik.
            ("KODIK_BASE_URL", "http://127.0.0.1:9".to_owned()),
            ("KODIK_TOKEN", "no-upstream-in-this-test".to_owned()),
            ("OUTBOX_DELIVERY_TIMEOUT_MS", "5000".to_owned()),
            (
                "SEARCH_URL",
                std::env::var("SEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:59200".to_owned()),
            ),
            ("SEARCH_INDEX_PREFIX", topic_prefix.to_lowercase()),
            ("REDIS_KEY_PREFIX", topic_prefix.clone()),
            ("REDIS_URL", stack.redis_url.clone()),
            ("JWT_KEYS", TEST_JWT_KEYS.to_owned()),
            ("JWT_ACTIVE_KID", "test-1".to_owned()),
            // The suite registers many users from 127.0.0.1; the rate-limit test sets
            // its own low limits.
            ("AUTH_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
            ("RATE_LIMIT_PER_MINUTE", "1000000".to_owned()),
        ]
        .into_iter()
        .chain(
            extra_env
                .iter()
                .map(|(key, value)| (*key, (*value).to_owned())),
        )
        .map(|(key, value)| (key.to_owned(), value))
        .collect();

        let log_dir = repo_root()
            .join("target/e2e-logs")
            .join(format!("{test}-{id}"));
        fs::create_dir_all(&log_dir).expect("creating the log folder");
        let command_api = Process::spawn("command-api", &env, log_dir.join("command-api.log"));
        let query_api = Process::spawn("query-api", &env, log_dir.join("query-api.log"));
        let consumers = Process::spawn("consumers", &env, log_dir.join("consumers-1.log"));

        let platform = Self {
            command_api,
            consumers,
            query_api,
            command_url: format!("http://127.0.0.1:{command_port}"),
            query_url: format!("http://127.0.0.1:{query_port}"),
            consumers_url: format!("http://127.0.0.1:{consumers_port}"),
            topic_prefix,
            db: PgPool::connect(&database_url)
                .await
                .expect("connecting to the test database"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            env,
            log_dir,
            consumers_starts: 1,
            _kafka: lease,
        };
        for url in [
            &platform.command_url,
            &platform.query_url,
            &platform.consumers_url,
        ] {
            platform.wait_live(url).await;
        }
        platform
    }

    async fn wait_live(&self, base_url: &str) {
        let url = format!("{base_url}/health/live");
        eventually(&format!("{url} to answer"), || async {
            let response = self.http.get(&url).send().await.ok()?;
            response.status().is_success().then_some(())
        })
        .await;
    }

    /// Kills the consumers with SIGKILL.
    pub fn kill_consumers(&mut self) {
        self.consumers.kill();
    }

    /// Starts a new consumers process with the same settings.
    pub async fn restart_consumers(&mut self) {
        self.consumers_starts += 1;
        let log = self
            .log_dir
            .join(format!("consumers-{}.log", self.consumers_starts));
        self.consumers = Process::spawn("consumers", &self.env, log);
        let url = self.consumers_url.clone();
        self.wait_live(&url).await;
    }

    /// Starts one more process of `service` with this platform's settings plus
    /// `extra_env` (which wins), e.g. a second command-api instance.
    pub fn spawn_service(&self, service: &str, extra_env: &[(&str, &str)]) -> Process {
        let mut env = self.env.clone();
        for (key, value) in extra_env {
            env.retain(|(existing, _)| existing != key);
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let log = self
            .log_dir
            .join(format!("{service}-extra-{}.log", Uuid::now_v7().simple()));
        Process::spawn(service, &env, log)
    }

    /// Everything every process of this platform logged so far, all files together.
    pub fn all_logs(&self) -> String {
        let Ok(entries) = fs::read_dir(&self.log_dir) else {
            return String::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| fs::read_to_string(entry.path()).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The environment every service of this platform gets, e.g. to run a one-off
    /// command such as `consumers reindex` against it.
    pub fn service_env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The full name of a topic under this test's prefix.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.topic_prefix)
    }

    /// `POST /v1/auth/register` with a JSON body.
    pub async fn register(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/auth/register", self.command_url))
            .json(body)
            .send()
            .await
            .expect("command-api answers")
    }

    /// Registers a user that must succeed; returns its id.
    pub async fn register_user(&self, username: &str) -> Uuid {
        let response = self
            .register(&json!({
                "email": format!("{username}@example.org"),
                "username": username,
                "password": "velvet kettle orbit marmalade",
            }))
            .await;
        assert_eq!(response.status(), 201, "registering {username}");
        let body: Value = response.json().await.expect("JSON body");
        body["user_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("user_id in the answer")
    }

    /// `GET /v1/users/{id}` on the query API.
    pub async fn profile(&self, user_id: Uuid) -> reqwest::Response {
        self.http
            .get(format!("{}/v1/users/{user_id}", self.query_url))
            .send()
            .await
            .expect("query-api answers")
    }

    /// Waits until the profile is readable and returns it.
    pub async fn wait_profile(&self, user_id: Uuid) -> Value {
        eventually(&format!("the profile of {user_id}"), || async {
            let response = self.profile(user_id).await;
            if response.status() != 200 {
                return None;
            }
            response.json().await.ok()
        })
        .await
    }

    fn database_name(&self) -> Option<String> {
        let url = &self.env.iter().find(|(key, _)| key == "DATABASE_URL")?.1;
        url.rsplit_once('/').map(|(_, name)| name.to_owned())
    }

    /// Counts rows of a table in the test database.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.db)
            .await
            .expect("counting rows")
    }
}

impl Drop for Platform {
    /// Stops the processes and drops the test database, so repeated runs leave
    /// nothing behind.
    fn drop(&mut self) {
        self.command_api.kill();
        self.consumers.kill();
        self.query_api.kill();
        let Some(database) = self.database_name() else {
            return;
        };
        let admin_url = stack_env().database_url;
        // The indexer created this test's search indexes; drop them too, or they pile
        // up against the engine's shard limit (OpenSearch allows the wildcard).
        let indexes = format!(
            "{}/{}releases-v*",
            std::env::var("SEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:59200".to_owned()),
            self.topic_prefix.to_lowercase()
        );
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let _ = reqwest::Client::new().delete(&indexes).send().await;
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                ))
                .execute(&mut admin)
                .await
                .ok()
            })
        });
        let _ = dropped.join();
    }
}

/// A `fake-kodik` server (the local Kodik-compatible upstream) for one test, on a
/// free port, killed when dropped. Its output goes to a log file.
pub struct FakeKodik {
    pub process: Process,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub base_url: String,
    http: reqwest::Client,
}

impl FakeKodik {
    /// Starts `fake-kodik --listen 127.0.0.1:0` with `scenario`, requiring `token`
    /// and writing `public_base_url` into its `next_page` links.
    pub async fn start(test: &str, scenario: &str, token: &str, public_base_url: &str) -> Self {
        let log_dir = repo_root().join("target/e2e-logs");
        fs::create_dir_all(&log_dir).expect("creating the log folder");
        let log_path = log_dir.join(format!("{test}-fake-kodik-{}.log", Uuid::now_v7().simple()));
        let env: Vec<(String, String)> = [
            ("FAKE_KODIK_LISTEN", "127.0.0.1:0"),
            ("FAKE_KODIK_SCENARIO", scenario),
            ("FAKE_KODIK_TOKEN", token),
            ("FAKE_KODIK_PUBLIC_BASE_URL", public_base_url),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let process = Process::spawn("fake-kodik", &env, log_path);
        let base_url = eventually("fake-kodik to print its address", || async {
            let log = process.log();
            let line = log
                .lines()
                .find(|line| line.starts_with("fake-kodik listening on "))?;
            line.strip_prefix("fake-kodik listening on ")
                .map(|url| url.trim().to_owned())
        })
        .await;
        Self {
            process,
            base_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Replaces the active faults (`POST /_control/faults`); `{}` clears them.
    pub async fn set_faults(&self, faults: &Value) {
        let response = self
            .http
            .post(format!("{}/_control/faults", self.base_url))
            .json(faults)
            .send()
            .await
            .expect("fake-kodik answers");
        assert!(response.status().is_success(), "setting faults {faults}");
    }

    /// Requests received on `path` (e.g. `/list`), faulted ones included.
    pub async fn requests(&self, path: &str) -> u64 {
        let counts: Value = self
            .http
            .get(format!("{}/_control/requests", self.base_url))
            .send()
            .await
            .expect("fake-kodik answers")
            .json()
            .await
            .expect("JSON counts");
        counts[path].as_u64().unwrap_or(0)
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}
