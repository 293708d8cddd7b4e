//! Storage: one Diesel `MultiConnection` over SQLite and PostgreSQL, an r2d2 pool, embedded
//! migrations, and the one place handlers go through to run blocking database work.
//!
//! Backend-specific SQL lives only in [`DbConn::write_tx`] and [`url::DatabaseUrl`]-driven setup;
//! everything else is portable Diesel.

pub mod models;
pub mod schema;
mod url;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use self::url::DatabaseUrl;

/// One connection to whichever backend the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL: several koolicense nodes may share it.
    #[cfg(feature = "postgres")]
    Postgres(diesel::PgConnection),
    /// SQLite: the embedded default.
    #[cfg(feature = "sqlite")]
    Sqlite(diesel::SqliteConnection),
}

/// The connection pool every part of the server shares.
pub type Pool = r2d2::Pool<ConnectionManager>;
/// A connection checked out of [`Pool`].
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

#[cfg(feature = "sqlite")]
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
#[cfg(feature = "postgres")]
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// SQLite settings applied to every new connection.
///
/// `synchronous = FULL`: in WAL mode `NORMAL` may lose the last commits on power loss, and a
/// license we answered must survive a power cut, so every commit is fsynced. `foreign_keys` is off in
/// SQLite unless each connection turns it on.
#[cfg(feature = "sqlite")]
const SQLITE_INIT: &str = "PRAGMA busy_timeout = 10000;
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA foreign_keys = ON;";

/// Creates connections from a parsed [`DatabaseUrl`] and prepares them for use.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ConnectionManager {
    /// A manager for `url`.
    #[must_use]
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }

    fn connect(&self) -> ConnectionResult<DbConn> {
        match &self.url {
            #[cfg(feature = "postgres")]
            DatabaseUrl::Postgres(url) => {
                diesel::PgConnection::establish(url.expose()).map(DbConn::Postgres)
            }
            #[cfg(feature = "sqlite")]
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path)?;
                conn.batch_execute(SQLITE_INIT)
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConn, ConnectionError> {
        ConnectionManager::connect(self)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectionError> {
        conn.batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// Builds the pool; fails with the connection error when the database cannot be reached.
///
/// # Errors
/// When no connection can be established within `connect_timeout`.
pub fn build_pool(
    url: &DatabaseUrl,
    max_size: u32,
    connect_timeout: Duration,
) -> anyhow::Result<Pool> {
    let pool = r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(connect_timeout)
        .build(ConnectionManager::new(url.clone()))?;
    Ok(pool)
}

/// Applies pending migrations of the connection's backend; returns the versions applied.
///
/// # Errors
/// When a migration fails; the failing migration's transaction is rolled back.
pub fn run_migrations(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let applied = match conn {
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => pg.run_pending_migrations(POSTGRES_MIGRATIONS),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(lite) => lite.run_pending_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Reverts every migration of the connection's backend (each `down.sql`, newest first); the
/// tests use it to prove the down migrations work. Returns the versions reverted.
pub fn revert_all_migrations(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let reverted = match conn {
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => pg.revert_all_migrations(POSTGRES_MIGRATIONS),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(lite) => lite.revert_all_migrations(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("reverting migrations failed: {e}"))?;
    Ok(reverted.iter().map(ToString::to_string).collect())
}

impl DbConn {
    /// Runs `f` in a transaction that takes the write lock up front.
    ///
    /// SQLite: `BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of one failing
    /// with `SQLITE_BUSY` when it upgrades a read lock. PostgreSQL: a plain transaction; callers
    /// serialise on a row by updating it first (a row lock) where they need to.
    ///
    /// # Errors
    /// Whatever `f` returns, or the database's error; the transaction is rolled back on error.
    pub fn write_tx<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        match self {
            #[cfg(feature = "postgres")]
            DbConn::Postgres(_) => self.transaction(f),
            #[cfg(feature = "sqlite")]
            DbConn::Sqlite(inner) => {
                // Through Diesel's transaction manager, so nested `transaction` calls in `f`
                // become savepoints.
                AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
                let result = f(self);
                let DbConn::Sqlite(inner) = self else {
                    return result;
                };
                match result {
                    Ok(value) => {
                        AnsiTransactionManager::commit_transaction(inner)?;
                        Ok(value)
                    }
                    Err(e) => {
                        // The caller's error is the one worth reporting.
                        let _ = AnsiTransactionManager::rollback_transaction(inner);
                        Err(e)
                    }
                }
            }
        }
    }

    /// Serialises this transaction with every other one that takes the same `key`, until it ends.
    ///
    /// PostgreSQL: a transaction-scoped advisory lock, so nodes sharing the database agree.
    /// SQLite: nothing to do, a [`write_tx`](Self::write_tx) already holds the database's write lock.
    pub fn lock_key(&mut self, key: i64) -> QueryResult<()> {
        match self {
            #[cfg(feature = "postgres")]
            DbConn::Postgres(pg) => diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(key)
                .execute(pg)
                .map(|_| ()),
            #[cfg(feature = "sqlite")]
            DbConn::Sqlite(_) => Ok(()),
        }
    }

    /// True when this connection talks to SQLite.
    #[must_use]
    pub fn is_sqlite(&self) -> bool {
        #[cfg(feature = "sqlite")]
        if matches!(self, DbConn::Sqlite(_)) {
            return true;
        }
        false
    }
}

/// Runs `f` with the savepoint-protected insert semantics both backends share: an insert that
/// violates a unique constraint rolls back only the savepoint, so the caller can read the winner's
/// row inside the same transaction (PostgreSQL would otherwise abort the whole transaction).
///
/// # Errors
/// The database's error; a unique violation comes back as `Ok(None)`.
pub fn insert_or_lose<T, F>(conn: &mut DbConn, f: F) -> QueryResult<Option<T>>
where
    F: FnOnce(&mut DbConn) -> QueryResult<T>,
{
    match conn.transaction(f) {
        Ok(value) => Ok(Some(value)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The database could not be used right now (pool exhausted, server down, worker pool gone).
#[derive(Debug, thiserror::Error)]
#[error("database unavailable: {0}")]
pub struct Unavailable(pub String);

/// Runs blocking database work on actix's blocking thread pool, inside the caller's span.
///
/// Handlers never call `pool.get()` themselves: this is the one place that does, and the one place
/// that turns a pool timeout into [`Unavailable`].
pub async fn run<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<Unavailable> + Send + 'static,
{
    let pool = pool.clone();
    let span = tracing::Span::current();
    actix_web::web::block(move || {
        span.in_scope(|| {
            let mut conn = pool
                .get()
                .map_err(|e| E::from(Unavailable(e.to_string())))?;
            f(&mut conn)
        })
    })
    .await
    .map_err(|e| E::from(Unavailable(e.to_string())))?
}
