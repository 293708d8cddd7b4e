//! Read-only SQLite connections for [`super::read`], kept per database and used in place.
//!
//! A read of a few indexed rows takes microseconds; handing it to the blocking pool and back
//! costs more than that (two thread wake-ups and a pool checkout). So the calling thread takes an
//! idle reader from a small stack, reads, and puts it back: as many readers exist as reads ever
//! ran at once (about one per async worker). Each is opened on first need with the server's
//! pragmas plus `query_only`. In WAL mode a reader never waits for the writer.

use std::sync::{Mutex, PoisonError};

use diesel::connection::SimpleConnection;

use super::{DbConn, Unavailable};

/// The readers of one database.
pub(super) struct Readers {
    path: String,
    idle: Mutex<Vec<DbConn>>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("path", &self.path)
            .field("idle", &self.stack().len())
            .finish()
    }
}

impl Readers {
    pub(super) fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` with an idle reader, or a new one when all are busy.
    pub(super) fn with<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<Unavailable>,
    {
        let idle = self.stack().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        // A panic in `f` drops the connection instead of returning it: its state is unknown.
        let result = f(&mut conn);
        self.stack().push(conn);
        result
    }

    /// Frees the page caches of the idle readers (`PRAGMA shrink_memory`); they refill on use.
    pub(super) fn release_memory(&self) {
        for conn in self.stack().iter_mut() {
            if let Err(e) = conn.batch_execute("PRAGMA shrink_memory;") {
                tracing::debug!(error = %e, "a reader could not release its cache");
            }
        }
    }

    fn stack(&self) -> std::sync::MutexGuard<'_, Vec<DbConn>> {
        // The stack is only pushed and popped: a panic elsewhere cannot leave it inconsistent.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self) -> Result<DbConn, Unavailable> {
        let mut conn = super::connect_sqlite(&self.path).map_err(|e| Unavailable(e.to_string()))?;
        conn.batch_execute("PRAGMA query_only = ON;")
            .map_err(|e| Unavailable(e.to_string()))?;
        Ok(conn)
    }
}
