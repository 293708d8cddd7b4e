//! Storage: one Diesel `MultiConnection` over SQLite and PostgreSQL, an r2d2 pool, embedded
//! migrations, and the places handlers go through to run blocking database work: [`run`] for
//! anything, [`read`] for short reads and [`write`] for write transactions on the hot paths.
//!
//! Backend-specific SQL lives only in [`DbConn::write_tx`], the SQLite group commit of [`write`]
//! and [`url::DatabaseUrl`]-driven setup; everything else is portable Diesel.

#[cfg(feature = "sqlite")]
pub mod backup;
#[cfg(feature = "postgres")]
pub mod batch;
#[cfg(feature = "sqlite")]
mod group;
pub mod ids;
pub mod insert_or_ignore;
pub mod models;
mod queued;
mod reader;
pub mod schema;
pub mod sql_time;
#[cfg(feature = "sqlite")]
mod sqlite_files;
mod text_enum;
mod url;
pub mod views;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Runs `$body` with `$c` bound to the backend's own connection (`PgConnection` or
/// `SqliteConnection`) inside `$conn: &mut DbConn`. For hot queries: Diesel then caches their
/// prepared statements by the query's type, whereas through the `MultiConnection` it writes each
/// query's SQL text out again every time. `$body` is compiled once per backend.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            #[cfg(feature = "postgres")]
            $crate::db::DbConn::Postgres($c) => $body,
            #[cfg(feature = "sqlite")]
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// The connection pool every part of the server shares: an r2d2 pool, and on SQLite the
/// database's group-commit writer ([`write`]) and its read-only connections ([`read`]).
/// Cheap to clone; the writer stops when the last clone is dropped.
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<ConnectionManager>,
    /// How long [`run`] waited for a connection and then held it.
    times: PoolTimes,
    /// The connections [`read`] uses in place.
    readers: Arc<reader::Readers>,
    /// Machine views remembered between reads (PostgreSQL; see [`views`]).
    #[cfg(feature = "postgres")]
    views: Option<Arc<views::Views>>,
    /// SQLite's group-commit writer, which [`write`] uses.
    #[cfg(feature = "sqlite")]
    sqlite: Option<Arc<group::Writer>>,
    /// PostgreSQL's batches of first bindings ([`models::first_bindings::write`]).
    #[cfg(feature = "postgres")]
    first_bindings: Option<Arc<FirstBindings>>,
}

/// The batched writes of first bindings: one row of `bool` per binding, whether it was written.
#[cfg(feature = "postgres")]
pub type FirstBindings = batch::Batcher<models::first_bindings::FirstBinding, bool>;

/// Writer threads of the first bindings' batches: while one waits for its statement's commit,
/// another gathers and runs the next batch.
#[cfg(feature = "postgres")]
const FIRST_BINDING_WRITERS: usize = 2;
/// Most first bindings in one statement.
#[cfg(feature = "postgres")]
const FIRST_BINDINGS_PER_BATCH: usize = 64;

/// How long work waited for a pooled connection, and how long it then held it, as histograms
/// for `/metrics` (`koolicense_db_pool_wait_seconds`, `koolicense_db_pool_held_seconds`): the
/// pool is large enough while the first stays well below the second.
#[derive(Clone)]
struct PoolTimes {
    wait: prometheus::Histogram,
    held: prometheus::Histogram,
}

impl PoolTimes {
    fn new() -> prometheus::Result<Self> {
        let histogram = |name: &str, help: &str| {
            prometheus::Histogram::with_opts(prometheus::HistogramOpts::new(name, help).buckets(
                vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    1.0,
                ],
            ))
        };
        Ok(Self {
            wait: histogram(
                "db_pool_wait_seconds",
                "Time database work waited for a pooled connection",
            )?,
            held: histogram(
                "db_pool_held_seconds",
                "Time database work held a pooled connection",
            )?,
        })
    }
}

impl Pool {
    /// Registers the pool's histograms ([`PoolTimes`]) in `registry`.
    ///
    /// # Errors
    /// When the registry already holds metrics of these names.
    pub fn register(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.times.wait.clone()))?;
        registry.register(Box::new(self.times.held.clone()))?;
        #[cfg(feature = "postgres")]
        if let Some(views) = &self.views {
            views.register(registry)?;
        }
        Ok(())
    }

    /// Checks a connection out, waiting at most the pool's connection timeout.
    ///
    /// # Errors
    /// When no connection becomes free (or can be opened) in time.
    pub fn get(&self) -> Result<PooledConn, r2d2::Error> {
        self.inner.get()
    }

    /// The batches first bindings are written in (PostgreSQL).
    #[cfg(feature = "postgres")]
    pub(crate) fn first_bindings(&self) -> Option<&FirstBindings> {
        self.first_bindings.as_deref()
    }

    /// Frees what idle SQLite readers cache and the remembered machine views; they refill on
    /// use. For a server that went quiet (see [`crate::memory`]); pool connections close by
    /// themselves when idle, and the writer releases its own cache.
    pub fn release_memory(&self) {
        self.readers.release_memory();
        #[cfg(feature = "postgres")]
        if let Some(views) = &self.views {
            views.forget_all();
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}
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
/// SQLite unless each connection turns it on. `temp_store = MEMORY`: savepoints (every job of the
/// group commit runs in one) journal the pages they change in a temporary file otherwise, a write
/// system call per page; that journal only ever serves a rollback, never durability.
#[cfg(feature = "sqlite")]
const SQLITE_INIT: &str = "PRAGMA busy_timeout = 10000;
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA foreign_keys = ON;
    PRAGMA temp_store = MEMORY;";

/// Opens an SQLite connection with [`SQLITE_INIT`] applied.
#[cfg(feature = "sqlite")]
fn connect_sqlite(path: &str) -> ConnectionResult<DbConn> {
    let mut conn = diesel::SqliteConnection::establish(path)?;
    conn.batch_execute(SQLITE_INIT)
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(DbConn::Sqlite(conn))
}

/// Opens a PostgreSQL connection; every one goes through here.
///
/// libpq's TLS is the `OpenSSL` compiled into this binary, and `OpenSSL` by default frees its
/// tables in an exit handler: a process that exits while another thread is inside a TLS call (a
/// pool thread opening a connection) then crashes (openssl/openssl#6214). So `OpenSSL` is
/// initialised first without that handler (`openssl_sys::init`, once per process); the OS
/// reclaims its memory at exit anyway.
#[cfg(feature = "postgres")]
pub fn establish_postgres(url: &str) -> ConnectionResult<diesel::PgConnection> {
    openssl_sys::init();
    diesel::PgConnection::establish(url)
}

/// Creates connections from a parsed [`DatabaseUrl`] and prepares them for use.
///
/// Connections are not pinged at every checkout (on PostgreSQL that doubled the round trips of a
/// one-query request). Instead, a query that finds its connection gone ([`connection_lost`]: a
/// restart, a failover) makes checkouts ping first for [`SUSPICION`], so the other connections
/// the server closed are dropped before a request gets one. A restart thus costs about one
/// request answered 503 (retry), not one per dead connection.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

/// How long checkouts ping after a query found its connection gone: as long as a connection
/// stays idle in the pool (`idle_timeout` in [`build_pool`]), so every connection that was idle
/// when the server went away is pinged or closed before it is used.
const SUSPICION: Duration = Duration::from_secs(60);

/// Until when checkouts ping, in [`millis`] (process-wide: every pool's connections went to the
/// same server). An atomic, as every request reads it.
static SUSPECT_UNTIL: AtomicU64 = AtomicU64::new(0);

/// Milliseconds since this process first asked.
fn millis() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    u64::try_from(
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

fn suspicious() -> bool {
    millis() < SUSPECT_UNTIL.load(Ordering::Relaxed)
}

/// `SELECT 1` on `conn` while checkouts are suspicious (see [`ConnectionManager`]); nothing
/// otherwise. An error means the connection is gone.
fn ping_if_suspicious(conn: &mut DbConn) -> QueryResult<()> {
    if suspicious() {
        conn.batch_execute("SELECT 1")?;
    }
    Ok(())
}

/// Whether `e` says the connection is gone (the server closed it, or nothing could be sent);
/// if so, checkouts ping for a while (see [`ConnectionManager`]). The error conversions call
/// it and answer such an error as unavailable: nothing was done, and the caller may retry.
pub fn connection_lost(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    let lost = matches!(
        e,
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    );
    if lost {
        let until = u64::try_from(SUSPICION.as_millis()).unwrap_or(u64::MAX);
        SUSPECT_UNTIL.fetch_max(millis().saturating_add(until), Ordering::Relaxed);
    }
    lost
}

impl ConnectionManager {
    /// A manager for `url`.
    #[must_use]
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }

    fn connect(&self) -> ConnectionResult<DbConn> {
        match &self.url {
            // libpq's errors may quote the URL (a malformed one whole), and they reach logs.
            #[cfg(feature = "postgres")]
            DatabaseUrl::Postgres(url) => establish_postgres(url.expose())
                .map(DbConn::Postgres)
                .map_err(|e| ConnectionError::BadConnection(url.scrub(&e.to_string()))),
            #[cfg(feature = "sqlite")]
            DatabaseUrl::Sqlite(path) => connect_sqlite(path),
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
        ping_if_suspicious(conn).map_err(ConnectionError::CouldntSetupConfiguration)
    }

    /// A connection is dropped instead of pooled again when its transaction state is broken
    /// (Diesel's transaction manager in its error state) or a transaction is left open.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        !matches!(conn.transaction_depth(), Ok(None))
    }
}

/// Builds the pool; fails with the connection error when the database cannot be reached. An
/// SQLite database's files are made the owner's alone first (see [`sqlite_files`]).
///
/// # Errors
/// When no connection can be established within `connect_timeout`.
pub fn build_pool(
    url: &DatabaseUrl,
    max_size: u32,
    connect_timeout: Duration,
) -> anyhow::Result<Pool> {
    // Before SQLite first opens it: the files it creates take the database file's mode.
    #[cfg(feature = "sqlite")]
    if let Some(path) = url.sqlite_path() {
        sqlite_files::protect(path)
            .map_err(|e| anyhow::anyhow!("cannot create the SQLite file {path}: {e}"))?;
    }
    // Connections beyond the first two open on demand and close after a minute unused, so an
    // idle server holds neither their memory nor, on PostgreSQL, the database's slots.
    // Checkouts are tested only while the manager is suspicious (see `ConnectionManager`).
    let inner = r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(max_size.min(2)))
        .idle_timeout(Some(Duration::from_secs(60)))
        .connection_timeout(connect_timeout)
        .build(ConnectionManager::new(url.clone()))?;
    let readers = Arc::new(reader::Readers::new(url));
    #[cfg(feature = "postgres")]
    let views = match url {
        DatabaseUrl::Postgres(_) => Some(Arc::new(views::Views::start(Arc::clone(&readers))?)),
        #[cfg(feature = "sqlite")]
        DatabaseUrl::Sqlite(_) => None,
    };
    let times = PoolTimes::new()?;
    #[cfg(feature = "postgres")]
    let first_bindings = match url {
        DatabaseUrl::Postgres(_) => Some(Arc::new(batch::Batcher::start(
            "koolicense-first-bindings",
            FIRST_BINDING_WRITERS,
            FIRST_BINDINGS_PER_BATCH,
            inner.clone(),
            times.clone(),
            models::first_bindings::insert_all,
        )?)),
        #[cfg(feature = "sqlite")]
        DatabaseUrl::Sqlite(_) => None,
    };
    Ok(Pool {
        inner,
        times,
        readers,
        #[cfg(feature = "postgres")]
        views,
        #[cfg(feature = "postgres")]
        first_bindings,
        #[cfg(feature = "sqlite")]
        sqlite: match url {
            DatabaseUrl::Sqlite(path) => Some(Arc::new(group::Writer::new(path))),
            #[cfg(feature = "postgres")]
            DatabaseUrl::Postgres(_) => None,
        },
    })
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

/// The migrations this build knows that the database has not applied (`koolicense doctor`).
///
/// # Errors
/// When the migrations table cannot be read.
pub fn pending_migrations(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let pending = match conn {
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => pg
            .pending_migrations(POSTGRES_MIGRATIONS)
            .map(|m| m.iter().map(|m| m.name().to_string()).collect()),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(lite) => lite
            .pending_migrations(SQLITE_MIGRATIONS)
            .map(|m| m.iter().map(|m| m.name().to_string()).collect()),
    };
    pending.map_err(|e| anyhow::anyhow!("cannot read the applied migrations: {e}"))
}

/// How many migrations the database has applied.
///
/// # Errors
/// When the migrations table cannot be read.
pub fn applied_migrations(conn: &mut DbConn) -> anyhow::Result<usize> {
    let applied = match conn {
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => pg.applied_migrations(),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(lite) => lite.applied_migrations(),
    };
    applied
        .map(|a| a.len())
        .map_err(|e| anyhow::anyhow!("cannot read the applied migrations: {e}"))
}

/// Migrations the database has applied that this build does not know: it was written by a
/// newer koolicense, which this one must not serve or restore.
///
/// # Errors
/// When the migrations table cannot be read.
pub fn unknown_migrations(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    use diesel::migration::MigrationSource;
    fn unknown<DB: diesel::backend::Backend>(
        applied: Vec<diesel::migration::MigrationVersion<'static>>,
        source: &EmbeddedMigrations,
    ) -> diesel::migration::Result<Vec<String>>
    where
        EmbeddedMigrations: MigrationSource<DB>,
    {
        let known: Vec<String> = MigrationSource::<DB>::migrations(source)?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect();
        Ok(applied
            .iter()
            .map(ToString::to_string)
            .filter(|v| !known.contains(v))
            .collect())
    }
    let found = match conn {
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => pg
            .applied_migrations()
            .and_then(|applied| unknown::<diesel::pg::Pg>(applied, &POSTGRES_MIGRATIONS)),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(lite) => lite
            .applied_migrations()
            .and_then(|applied| unknown::<diesel::sqlite::Sqlite>(applied, &SQLITE_MIGRATIONS)),
    };
    found.map_err(|e| anyhow::anyhow!("cannot read the applied migrations: {e}"))
}

/// One connection to `url`, outside any pool (commands that run once: `doctor`, `backup`).
///
/// # Errors
/// When the database cannot be reached.
pub fn connect(url: &DatabaseUrl) -> ConnectionResult<DbConn> {
    ConnectionManager::new(url.clone()).connect()
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

/// Reverts the newest migration of the connection's backend (its `down.sql`); the tests use it
/// to write rows as an older version did and check what the migration makes of them.
pub fn revert_last_migration(conn: &mut DbConn) -> anyhow::Result<String> {
    let reverted = match conn {
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => pg.revert_last_migration(POSTGRES_MIGRATIONS),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(lite) => lite.revert_last_migration(SQLITE_MIGRATIONS),
    }
    .map_err(|e| anyhow::anyhow!("reverting a migration failed: {e}"))?;
    Ok(reverted.to_string())
}

impl DbConn {
    /// How deep in transactions (and savepoints) the connection is; an error when Diesel's
    /// transaction manager is broken (on PostgreSQL: the server closed the connection).
    fn transaction_depth(&mut self) -> QueryResult<Option<std::num::NonZeroU32>> {
        on_backend!(self, |c| {
            AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth()
        })
    }

    /// Runs `f` atomically: as part of the transaction already open, or in one of its own. Unlike
    /// Diesel's `transaction`, no savepoint when one is open (its two round trips buy nothing
    /// when `f` cannot fail halfway and want to keep the rest, as a row and its children).
    ///
    /// # Errors
    /// Whatever `f` returns, or the database's error.
    pub fn atomically<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        if self.transaction_depth()?.is_some() {
            f(self)
        } else {
            self.transaction(f)
        }
    }

    /// Runs `f` in a transaction that takes the write lock up front.
    ///
    /// SQLite: `BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of one failing
    /// with `SQLITE_BUSY` when it upgrades a read lock; inside a transaction already (a job of
    /// [`write`]'s group commit), a savepoint of it, which holds the write lock already.
    /// PostgreSQL: a plain transaction; callers serialise on a row by updating it first (a row
    /// lock) where they need to.
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
                let depth = AnsiTransactionManager::transaction_manager_status_mut(inner)
                    .transaction_depth();
                if depth?.is_some() {
                    return self.transaction(f);
                }
                // Through Diesel's transaction manager, so nested `transaction` calls in `f`
                // become savepoints.
                AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
                let result = f(self);
                #[cfg_attr(
                    not(feature = "postgres"),
                    expect(
                        clippy::infallible_destructuring_match,
                        reason = "with PostgreSQL compiled in, the connection may be another"
                    )
                )]
                let inner = match self {
                    DbConn::Sqlite(inner) => inner,
                    #[cfg(feature = "postgres")]
                    DbConn::Postgres(_) => return result,
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
            DbConn::Sqlite(_) => {
                // The key only matters to PostgreSQL.
                let _ = key;
                Ok(())
            }
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

/// `insert_unless_taken!(conn, table, values)`: inserts `values` into `table` unless a unique
/// key (any, partial indexes included) already holds them; `QueryResult<bool>`, false when one
/// did, so the caller can read the winner's row in the same transaction.
///
/// `INSERT … ON CONFLICT DO NOTHING` on both backends: a conflict is not an error, so inside a
/// PostgreSQL transaction it needs no savepoint (which cost two more round trips per insert;
/// a unique violation would abort the whole transaction) and SQLite journals nothing extra.
/// Run on the backend's own connection (see [`on_backend`]), as an
/// [`insert_or_ignore::InsertOrIgnore`], so the statement stays prepared.
macro_rules! insert_unless_taken {
    ($conn:expr, $table:expr, $values:expr) => {
        $crate::db::on_backend!($conn, |c| $crate::db::insert_or_ignore::InsertOrIgnore(
            diesel::insert_into($table).values($values)
        )
        .execute(c))
        .map(|inserted| inserted > 0)
    };
}
pub(crate) use insert_unless_taken;

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
            let asked = std::time::Instant::now();
            let mut conn = pool
                .get()
                .map_err(|e| E::from(Unavailable(e.to_string())))?;
            let got = std::time::Instant::now();
            pool.times.wait.observe((got - asked).as_secs_f64());
            let result = f(&mut conn);
            pool.times.held.observe(got.elapsed().as_secs_f64());
            result
        })
    })
    .await
    .map_err(|e| E::from(Unavailable(e.to_string())))?
}

/// Runs a short read inline, on the calling thread, with an idle reader connection (see
/// [`reader`]), which saves the thread hand-overs and the pool checkout of [`run`] (most of the
/// cost of a read that takes microseconds on SQLite, or one round trip on PostgreSQL).
///
/// Only for work that reads a handful of rows in a statement or two: it blocks the calling async
/// worker meanwhile. The connection is read-only: a write fails.
#[expect(
    clippy::unused_async,
    reason = "callers await it like run and write, whichever thread it reads on"
)]
pub async fn read<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<Unavailable> + Send + 'static,
{
    pool.readers.with(f)
}

/// Runs `f` in a write transaction ([`DbConn::write_tx`]) and returns once it is durable.
///
/// On SQLite the transaction is one job of a group commit (see [`group`]): every waiting write
/// of the server commits in one transaction, one fsync, and each answer waits for it. `f` runs
/// in a savepoint, on the writer's thread, after the jobs queued before it; it must not wait on
/// anything but the database. On PostgreSQL, as `run(pool, |c| c.write_tx(f))`.
pub async fn write<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<Unavailable> + From<diesel::result::Error> + Send + 'static,
{
    #[cfg(feature = "sqlite")]
    if let Some(sqlite) = &pool.sqlite {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        sqlite.submit(Box::new(group::Call { f, reply, span }))?;
        return answer
            .await
            .map_err(|_| E::from(Unavailable("the database writer dropped a job".into())))?;
    }
    run(pool, move |conn| conn.write_tx(f)).await
}

/// [`write`] for work that is a single statement, atomic by itself: on PostgreSQL it runs
/// without `BEGIN` and `COMMIT` (two round trips fewer; the statement commits on its own, as
/// durably), on SQLite it joins the group commit as any write.
pub async fn write_statement<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<Unavailable> + From<diesel::result::Error> + Send + 'static,
{
    #[cfg(feature = "sqlite")]
    if pool.sqlite.is_some() {
        return write(pool, f).await;
    }
    run(pool, f).await
}
