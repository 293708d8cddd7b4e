//! Group commit for SQLite: one writer thread per database runs the write jobs that
//! [`super::write`] hands it, several at a time in one `BEGIN IMMEDIATE` transaction, and
//! answers each only after the transaction's `COMMIT` (one fsync for the whole group) returned.
//!
//! * Each job runs in a savepoint of its own, so a job that fails rolls back only its own
//!   changes; the jobs of a group run one after another, each seeing the ones before it, exactly
//!   as if each had committed on its own in that order. Whatever a job checks under the write lock
//!   (a seat limit, a repeat) holds the same way.
//! * No job is answered before the group is durable: a crash loses only unanswered jobs. When the
//!   `COMMIT` fails, every job of the group is answered with [`Unavailable`].
//! * While one group commits, the next one gathers in the queue, so the group grows with the load
//!   and costs nothing when there is none (a lone job is a group of one). No timer, no waiting
//!   for company.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};

use super::{DbConn, Unavailable};

/// Most jobs in one transaction, so the write lock is never held for long.
const MAX_GROUP: usize = 128;

/// A write job as the writer thread sees it.
pub(super) trait Job: Send {
    /// Runs the job inside the group's transaction; the answer waits for the commit.
    fn run(self: Box<Self>, conn: &mut DbConn) -> Box<dyn Answer>;
    /// Answers without running: the group's transaction could not be started.
    fn fail(self: Box<Self>, why: &str);
}

/// A job's result, held until its group's `COMMIT` is known.
pub(super) trait Answer: Send {
    /// `None`: the group committed. `Some(why)`: it did not, so a success becomes an error.
    fn send(self: Box<Self>, failed: Option<&str>);
}

/// A closure and where its result goes.
pub(super) struct Call<F, T, E> {
    pub(super) f: F,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<T, E>>,
    pub(super) span: tracing::Span,
}

impl<F, T, E> Job for Call<F, T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send,
    T: Send + 'static,
    E: From<diesel::result::Error> + From<Unavailable> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut DbConn) -> Box<dyn Answer> {
        let Call { f, reply, span } = *self;
        // Inside the group's transaction `transaction` is a savepoint.
        let result = span.in_scope(|| conn.transaction(f));
        Box::new(Held { result, reply })
    }

    fn fail(self: Box<Self>, why: &str) {
        let _ = self.reply.send(Err(E::from(Unavailable(why.to_owned()))));
    }
}

struct Held<T, E> {
    result: Result<T, E>,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
}

impl<T, E> Answer for Held<T, E>
where
    T: Send,
    E: From<Unavailable> + Send,
{
    fn send(self: Box<Self>, failed: Option<&str>) {
        let result = match (failed, self.result) {
            (Some(why), Ok(_)) => Err(E::from(Unavailable(format!("commit failed: {why}")))),
            (_, result) => result,
        };
        // The caller may have gone away (client disconnected); the work stands either way.
        let _ = self.reply.send(result);
    }
}

/// The writer of one SQLite database, started on first use.
pub(super) struct Writer {
    path: String,
    queue: Mutex<Option<Sender<Box<dyn Job>>>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// A writer for the database at `path`; its thread starts with the first job.
    pub(super) fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            queue: Mutex::new(None),
        }
    }

    /// Queues `job`, starting the writer thread when there is none (first use, or the last one
    /// ended). The thread ends when the writer is dropped.
    pub(super) fn submit(&self, job: Box<dyn Job>) -> Result<(), Unavailable> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let job = match queue.as_ref() {
            Some(sender) => match sender.send(job) {
                Ok(()) => return Ok(()),
                // The thread is gone (it cannot be, short of a bug): start another once.
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        self.start(&mut queue)?.send(job).map_err(gone)
    }

    fn start<'q>(
        &self,
        queue: &'q mut Option<Sender<Box<dyn Job>>>,
    ) -> Result<&'q Sender<Box<dyn Job>>, Unavailable> {
        let conn = super::connect_sqlite(&self.path).map_err(|e| Unavailable(e.to_string()))?;
        let (sender, receiver) = mpsc::channel();
        let path = self.path.clone();
        std::thread::Builder::new()
            .name("koolicense-db-writer".into())
            .spawn(move || serve(conn, &path, &receiver))
            .map_err(|e| Unavailable(format!("cannot start the database writer: {e}")))?;
        Ok(queue.insert(sender))
    }
}

fn gone<T>(_: mpsc::SendError<T>) -> Unavailable {
    Unavailable("the database writer stopped".into())
}

/// How long the writer waits without work before it gives back its page cache.
const RELEASE_AFTER: Duration = Duration::from_secs(5);

/// The writer thread: a group per turn, until every sender is gone.
fn serve(mut conn: DbConn, path: &str, jobs: &Receiver<Box<dyn Job>>) {
    let mut cached = false;
    while let Some(first) = next_job(&mut conn, jobs, &mut cached) {
        cached = true;
        let group = super::queued::with_waiting(first, jobs, MAX_GROUP);
        if !commit_group(&mut conn, group) {
            // A job panicked or the transaction state is broken: start afresh.
            match super::connect_sqlite(path) {
                Ok(fresh) => conn = fresh,
                Err(e) => tracing::error!(error = %e, "the database writer cannot reconnect"),
            }
        }
    }
}

/// Waits for the next job; `None` when every sender is gone. After a pause of [`RELEASE_AFTER`]
/// with pages `cached`, frees the connection's page cache and the allocator's free pages first.
fn next_job(
    conn: &mut DbConn,
    jobs: &Receiver<Box<dyn Job>>,
    cached: &mut bool,
) -> Option<Box<dyn Job>> {
    if *cached {
        match jobs.recv_timeout(RELEASE_AFTER) {
            Ok(job) => return Some(job),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = conn.batch_execute("PRAGMA shrink_memory;") {
                    tracing::debug!(error = %e, "the writer could not release its cache");
                }
                crate::memory::trim_allocator();
                *cached = false;
            }
        }
    }
    jobs.recv().ok()
}

/// Runs one group in one transaction and answers its jobs. False when the connection should be
/// replaced.
fn commit_group(conn: &mut DbConn, group: Vec<Box<dyn Job>>) -> bool {
    if let Err(e) = begin(conn) {
        let why = e.to_string();
        tracing::warn!(error = %why, jobs = group.len(), "cannot start a group commit");
        for job in group {
            job.fail(&why);
        }
        return in_no_transaction(conn);
    }
    let mut answers = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    let mut panicked = false;
    for job in jobs.by_ref() {
        let Ok(answer) = catch_unwind(AssertUnwindSafe(|| job.run(conn))) else {
            // That job's caller sees its reply dropped; the others are not committed.
            panicked = true;
            break;
        };
        answers.push(answer);
    }
    let outcome = if panicked {
        Err("a write job panicked".to_owned())
    } else {
        commit(conn).map_err(|e| e.to_string())
    };
    match &outcome {
        Ok(()) => {
            for answer in answers {
                answer.send(None);
            }
        }
        Err(why) => {
            rollback(conn);
            tracing::error!(error = %why, jobs = answers.len(), "a group commit failed");
            for answer in answers {
                answer.send(Some(why));
            }
            for job in jobs {
                job.fail(why);
            }
        }
    }
    !panicked && in_no_transaction(conn)
}

fn begin(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
        }
        #[cfg(feature = "postgres")]
        DbConn::Postgres(_) => Err(diesel::result::Error::BrokenTransactionManager),
    }
}

fn commit(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(inner) => AnsiTransactionManager::commit_transaction(inner),
        #[cfg(feature = "postgres")]
        DbConn::Postgres(_) => Err(diesel::result::Error::BrokenTransactionManager),
    }
}

fn rollback(conn: &mut DbConn) {
    match conn {
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(inner) => {
            let _ = AnsiTransactionManager::rollback_transaction(inner);
        }
        #[cfg(feature = "postgres")]
        DbConn::Postgres(_) => {}
    }
}

/// True when the connection is usable for the next group: no transaction left open.
fn in_no_transaction(conn: &mut DbConn) -> bool {
    match conn {
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(inner) => matches!(
            AnsiTransactionManager::transaction_manager_status_mut(inner).transaction_depth(),
            Ok(None)
        ),
        #[cfg(feature = "postgres")]
        DbConn::Postgres(_) => false,
    }
}
