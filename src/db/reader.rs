//! Read-only SQLite connections kept per thread, for [`super::read`].
//!
//! A read of a few indexed rows takes microseconds; handing it to the blocking pool and back
//! costs more than that (two thread wake-ups and a pool checkout). So each thread that reads
//! keeps its own connection per database, opened on first use with the server's pragmas plus
//! `query_only`, and reads in place. In WAL mode a reader never waits for the writer.
//!
//! An async worker thread owns a few of these at most (one per database it serves); they close
//! when the thread ends.

use std::cell::RefCell;

use diesel::connection::SimpleConnection;

use super::{DbConn, Unavailable};

/// Databases one thread keeps a reader for; the oldest goes first (tests run many servers).
const MAX_PER_THREAD: usize = 4;

thread_local! {
    static READERS: RefCell<Vec<(String, DbConn)>> = const { RefCell::new(Vec::new()) };
}

fn open(path: &str) -> Result<DbConn, Unavailable> {
    let mut conn = super::connect_sqlite(path).map_err(|e| Unavailable(e.to_string()))?;
    conn.batch_execute("PRAGMA query_only = ON;")
        .map_err(|e| Unavailable(e.to_string()))?;
    Ok(conn)
}

/// Runs `f` with this thread's reader of the database at `path`.
pub(super) fn with<T, E, F>(path: &str, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<Unavailable>,
{
    let mut f = Some(f);
    let kept = READERS.try_with(|cell| -> Option<Result<T, E>> {
        // Already borrowed cannot happen (`f` gets a connection, not a way back here); a
        // fresh connection below would do if it did.
        let mut readers = cell.try_borrow_mut().ok()?;
        let at = if let Some(at) = readers.iter().position(|(p, _)| p == path) {
            at
        } else {
            let conn = match open(path) {
                Ok(conn) => conn,
                Err(e) => return Some(Err(E::from(e))),
            };
            if readers.len() >= MAX_PER_THREAD {
                readers.remove(0);
            }
            readers.push((path.to_owned(), conn));
            readers.len() - 1
        };
        let f = f.take()?;
        Some(f(&mut readers[at].1))
    });
    match (kept, f) {
        (Ok(Some(result)), _) => result,
        // The thread is shutting down: a connection for this read alone.
        (_, Some(f)) => f(&mut open(path)?),
        (_, None) => Err(E::from(Unavailable("no reader connection".into()))),
    }
}
