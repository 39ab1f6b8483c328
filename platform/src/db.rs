//! PostgreSQL connections. Each side of the platform owns a schema (`write` for the
//! command side, `read` for the projections) and runs its own migrations in it; the
//! pool's `search_path` puts sqlx's migration bookkeeping table in that schema too,
//! so the sides can share one database or live in separate ones.

use std::time::Duration;

use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::DatabaseArgs;

/// Connects to the database, waits for it to be reachable (up to `wait`), creates
/// `schema` if needed and applies `migrator` to it.
pub async fn connect_and_migrate(
    args: &DatabaseArgs,
    schema: &str,
    migrator: &Migrator,
    wait: Duration,
) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = args.database_url.parse()?;
    let options = options.options([("search_path", schema)]);
    let pool = PgPoolOptions::new()
        .max_connections(args.database_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);

    wait_until_reachable(&pool, wait).await?;
    // Processes of one side start together (consumers and query-api share the read
    // schema), and concurrent `CREATE SCHEMA IF NOT EXISTS` can still collide, so the
    // whole preparation runs under a per-schema advisory lock on one connection.
    let mut connection = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock(hashtext('anidex-migrate-' || $1))")
        .bind(schema)
        .execute(&mut *connection)
        .await?;
    let prepared = async {
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .execute(&mut *connection)
            .await?;
        migrator.run(&mut *connection).await?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock(hashtext('anidex-migrate-' || $1))")
        .bind(schema)
        .execute(&mut *connection)
        .await?;
    prepared?;
    tracing::info!(db.schema = schema, "database migrated");
    Ok(pool)
}

async fn wait_until_reachable(pool: &PgPool, wait: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match sqlx::query("SELECT 1").execute(pool).await {
            Ok(_) => return Ok(()),
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %error, "database not reachable yet, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => anyhow::bail!("database not reachable: {error}"),
        }
    }
}

/// True when the database answers a trivial query; for readiness probes.
pub async fn is_reachable(pool: &PgPool) -> bool {
    let probe = sqlx::query("SELECT 1").execute(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Ok(_))
    )
}
