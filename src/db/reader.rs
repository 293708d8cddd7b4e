//! Read-only connections for [`super::read`], kept per database and used in place.
//!
//! A read of a few indexed rows takes microseconds on SQLite, one round trip on PostgreSQL;
//! handing it to the blocking pool and back costs more than that (thread wake-ups, a pool
//! checkout: on PostgreSQL a quarter of the server's CPU went to context switches). So the
//! calling thread reads in place, with a reader from a few slots: each thread has a home slot,
//! so an async worker keeps using the same connection (on SQLite its page cache stays in that
//! core's CPU cache) and its lock is uncontended; when the home slot is busy another free one
//! serves. Readers open on first need, read-only: SQLite with the server's pragmas plus
//! `query_only` (in WAL mode a reader never waits for the writer), PostgreSQL with read-only
//! transactions. A reader is pinged first while the pool is suspicious (a connection was found
//! lost, see [`super::ConnectionManager`]) and after a failed read, and opened again when the
//! ping fails.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use diesel::connection::SimpleConnection;

use super::{DatabaseUrl, DbConn, Unavailable};

/// Reader slots per database: more than the async workers of a usual server.
const SLOTS: usize = 8;

thread_local! {
    /// This thread's home slot, dealt round-robin on first use.
    static HOME: Cell<Option<usize>> = const { Cell::new(None) };
}
static NEXT_HOME: AtomicUsize = AtomicUsize::new(0);

fn home_slot() -> usize {
    HOME.try_with(|home| {
        home.get().unwrap_or_else(|| {
            let slot = NEXT_HOME.fetch_add(1, Ordering::Relaxed) % SLOTS;
            home.set(Some(slot));
            slot
        })
    })
    .unwrap_or(0)
}

/// The readers of one database.
pub(super) struct Readers {
    url: DatabaseUrl,
    slots: [Mutex<Option<DbConn>>; SLOTS],
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: only its backend.
        f.debug_struct("Readers")
            .field("backend", &self.url.backend())
            .field("slots", &SLOTS)
            .finish()
    }
}

impl Readers {
    pub(super) fn new(url: &DatabaseUrl) -> Self {
        Self {
            url: url.clone(),
            slots: std::array::from_fn(|_| Mutex::new(None)),
        }
    }

    /// Runs `f` with a free reader: this thread's own if free, else another; a connection of its
    /// own when all are busy.
    pub(super) fn with<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<Unavailable>,
    {
        let home = home_slot();
        let free = (0..SLOTS).find_map(|i| lock_if_free(&self.slots[(home + i) % SLOTS]));
        let Some(mut slot) = free else {
            return f(&mut self.open()?);
        };
        if slot
            .as_mut()
            .is_some_and(|conn| super::ping_if_suspicious(conn).is_err())
        {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(self.open()?);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(E::from(Unavailable("no reader connection".into())));
        };
        let read = f(conn);
        // A failed read may have found its PostgreSQL connection gone, and a caller that absorbs
        // the error (the generation reads fall back to full reads) would leave it here for the
        // next one and never start the pool's pinging. A SQLite file does not go away.
        if read.is_err() && !conn.is_sqlite() {
            if let Err(gone) = conn.batch_execute("SELECT 1") {
                super::connection_lost(&gone);
                *slot = None;
            }
        }
        read
    }

    /// Frees the page caches of the readers not in use (`PRAGMA shrink_memory`); they refill on
    /// use.
    pub(super) fn release_memory(&self) {
        for mut slot in self.slots.iter().filter_map(lock_if_free) {
            let Some(conn) = slot.as_mut().filter(|conn| conn.is_sqlite()) else {
                continue;
            };
            if let Err(e) = conn.batch_execute("PRAGMA shrink_memory;") {
                tracing::debug!(error = %e, "a reader could not release its cache");
            }
        }
    }

    fn open(&self) -> Result<DbConn, Unavailable> {
        let unavailable = |e: &dyn std::fmt::Display| Unavailable(e.to_string());
        let (mut conn, read_only) = match &self.url {
            #[cfg(feature = "sqlite")]
            DatabaseUrl::Sqlite(path) => (
                super::connect_sqlite(path).map_err(|e| unavailable(&e))?,
                "PRAGMA query_only = ON;",
            ),
            // libpq's errors may quote the URL: scrubbed as the pool's are.
            #[cfg(feature = "postgres")]
            DatabaseUrl::Postgres(url) => (
                DbConn::Postgres(
                    super::establish_postgres(url.expose())
                        .map_err(|e| Unavailable(url.scrub(&e.to_string())))?,
                ),
                "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;",
            ),
        };
        conn.batch_execute(read_only).map_err(|e| unavailable(&e))?;
        Ok(conn)
    }
}

/// The slot's lock, unless another thread holds it. A slot whose holder panicked loses its
/// connection (a fresh one opens), so nothing of the failed read lingers.
fn lock_if_free(slot: &Mutex<Option<DbConn>>) -> Option<MutexGuard<'_, Option<DbConn>>> {
    match slot.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => {
            slot.clear_poison();
            let mut guard = poisoned.into_inner();
            *guard = None;
            Some(guard)
        }
        Err(TryLockError::WouldBlock) => None,
    }
}
