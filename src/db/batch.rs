//! Batched statements for PostgreSQL, its counterpart of SQLite's group commit ([`super::group`]):
//! concurrent writes of one kind, each a single statement atomic by itself, go to the database
//! together as one statement over all their rows, which commits by itself.
//!
//! Measured with `perf` on first activations, more than half of what PostgreSQL spends on such a
//! statement is the statement's own: executor start-up for its eight inserts, the round trip,
//! the commit and its WAL flush. A batch pays them once for all its rows.
//!
//! * A few writer threads take turns at the queue: each takes what waits (at most `max`) and runs
//!   it as one batch, so batches grow with the load and a lone write is a batch of one. No timer,
//!   no waiting for company.
//! * No write is answered before its batch's statement returned, that is, committed.
//! * When a batch's statement fails, each of its writes runs again alone, so one bad write (or a
//!   deadlock between nodes) fails no other; a write that fails alone gets its own error.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::{ConnectionManager, DbConn, PoolTimes, Unavailable};

/// Runs a batch: one result per item, in the items' order.
pub type RunBatch<I, O> = fn(&mut DbConn, &[I]) -> diesel::QueryResult<Vec<O>>;

/// Why a batched write failed.
#[derive(Debug)]
pub enum Failed {
    /// Nothing reached the database (no connection, or the writers are gone).
    Unavailable(Unavailable),
    /// The write's statement failed, run alone.
    Query(diesel::result::Error),
}

struct Pending<I, O> {
    item: I,
    reply: tokio::sync::oneshot::Sender<Result<O, Failed>>,
}

/// The queue of one kind of batched write and its writer threads, which end when it is dropped.
pub struct Batcher<I, O> {
    queue: Sender<Pending<I, O>>,
}

impl<I, O> std::fmt::Debug for Batcher<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

/// What the writer threads share.
struct Writers<I, O> {
    queue: Mutex<Receiver<Pending<I, O>>>,
    pool: r2d2::Pool<ConnectionManager>,
    times: PoolTimes,
    run: RunBatch<I, O>,
    max: usize,
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts `writers` threads named `name` that run batches of at most `max` items with `run`,
    /// each on a connection of `pool` checked out for the batch.
    pub(super) fn start(
        name: &str,
        writers: usize,
        max: usize,
        pool: r2d2::Pool<ConnectionManager>,
        times: PoolTimes,
        run: RunBatch<I, O>,
    ) -> std::io::Result<Self> {
        let (queue, receiver) = mpsc::channel();
        let shared = Arc::new(Writers {
            queue: Mutex::new(receiver),
            pool,
            times,
            run,
            max: max.max(1),
        });
        for _ in 0..writers.max(1) {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || serve(&shared))?;
        }
        Ok(Self { queue })
    }

    /// Queues `item` and waits until its batch ran.
    ///
    /// # Errors
    /// [`Failed`]: nothing was written for `item`.
    pub async fn submit(&self, item: I) -> Result<O, Failed> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .send(Pending { item, reply })
            .map_err(|_| gone("the batch writers stopped"))?;
        answer
            .await
            .map_err(|_| gone("a batch writer dropped a write"))?
    }
}

fn gone(why: &str) -> Failed {
    Failed::Unavailable(Unavailable(why.to_owned()))
}

/// A writer thread: a batch per turn, until the queue's sender is gone.
fn serve<I, O>(writers: &Writers<I, O>) {
    while let Some(batch) = next_batch(writers) {
        let (items, replies): (Vec<I>, Vec<_>) =
            batch.into_iter().map(|p| (p.item, p.reply)).unzip();
        let results = run_batch(writers, &items);
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone away (client disconnected); the write stands either way.
            let _ = reply.send(result);
        }
    }
}

/// Waits for the next write and takes those queued behind it; `None` when the queue is closed.
/// The lock is held only while taking, so another writer can gather while this one runs.
fn next_batch<I, O>(writers: &Writers<I, O>) -> Option<Vec<Pending<I, O>>> {
    let queue = writers.queue.lock().unwrap_or_else(PoisonError::into_inner);
    let first = queue.recv().ok()?;
    Some(super::queued::with_waiting(first, &queue, writers.max))
}

/// One result per item: the batch's, or when the batch failed, each item's alone.
fn run_batch<I, O>(writers: &Writers<I, O>, items: &[I]) -> Vec<Result<O, Failed>> {
    let asked = Instant::now();
    let mut conn = match writers.pool.get() {
        Ok(conn) => conn,
        Err(e) => {
            let why = e.to_string();
            return items
                .iter()
                .map(|_| Err(Failed::Unavailable(Unavailable(why.clone()))))
                .collect();
        }
    };
    let got = Instant::now();
    writers.times.wait.observe((got - asked).as_secs_f64());
    let mut run = |items: &[I]| {
        catch_unwind(AssertUnwindSafe(|| (writers.run)(&mut conn, items)))
            .unwrap_or_else(|_| Err(diesel::result::Error::BrokenTransactionManager))
    };
    let results = match run(items) {
        Ok(outs) if outs.len() == items.len() => outs.into_iter().map(Ok).collect(),
        failed if items.len() == 1 => vec![alone(failed)],
        _ => {
            tracing::debug!(writes = items.len(), "a batch failed: its writes run alone");
            items
                .iter()
                .map(|item| alone(run(std::slice::from_ref(item))))
                .collect()
        }
    };
    writers.times.held.observe(got.elapsed().as_secs_f64());
    results
}

/// The result of a batch of one item.
fn alone<O>(ran: diesel::QueryResult<Vec<O>>) -> Result<O, Failed> {
    match ran {
        Ok(mut outs) if outs.len() == 1 => Ok(outs.remove(0)),
        // A run that did not answer its one item: as if the item were not found.
        Ok(_) => Err(Failed::Query(diesel::result::Error::NotFound)),
        Err(e) => Err(Failed::Query(e)),
    }
}
