//! The gathering step the database's batching threads share (SQLite's group commit, PostgreSQL's
//! batched writes and generation reads): what arrived while the last turn ran joins this one.

use std::sync::mpsc::Receiver;

/// `first` and whatever else waits in `queue` now, at most `max` in all; never waits for more.
pub(super) fn with_waiting<T>(first: T, queue: &Receiver<T>, max: usize) -> Vec<T> {
    let mut taken = vec![first];
    while taken.len() < max {
        match queue.try_recv() {
            Ok(next) => taken.push(next),
            // Empty, or every sender gone: what was taken still runs.
            Err(_) => break,
        }
    }
    taken
}
