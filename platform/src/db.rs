//! PostgreSQL connections. Each side of the platform owns a schema (`write` for the
//! command side, `read` for the projections) and runs its own migrations in it; the
//! pool's `search_path` puts sqlx's migration bookkeeping table in that schema too,
//! so the sides can share one database or live in separate ones.

use std::time::Duration;

use sqlx::{
    Connection as _, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::DatabaseArgs;

/// A pooled connection idle for longer than this is pinged before it is handed out,
/// and replaced if the ping fails (the server restarted, a firewall dropped it).
/// Busy connections are not: a ping is a round trip to the server, as costly as the
/// short statements most requests make.
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

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
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
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

/// True when `error` means the database could not be reached or dropped the
/// connection (it is restarting, shutting down or not accepting connections yet), as
/// opposed to refusing the statement: the client may retry, and the pool replaces the
/// connection.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            // Class 08: connection exceptions. 57P01-57P03: administrator or crash
            // shutdown, cannot connect now.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_unavailability_and_other_errors_are_not() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound("id".into())));
    }
}
