//! The memory of [`super`]: remembered views, and the thread that reads codes' generations.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;

use diesel::prelude::*;
use prometheus::IntCounterVec;
use tokio::sync::oneshot;

use crate::db::models::machines::MachineView;
use crate::db::reader::Readers;
use crate::db::schema::auth_codes;
use crate::db::{DbConn, Unavailable, on_backend};

/// What the remembered views may weigh in all: a view weighs its strings.
const CAPACITY_BYTES: u64 = 32 << 20;
/// The codes one generation read asks about at most.
const MOST_CODES_PER_READ: usize = 512;

/// Remembered views and the thread that reads generations.
pub(in crate::db) struct Views {
    entries: quick_cache::sync::Cache<Key, Arc<Remembered>, ByBytes>,
    asker: Asker,
    outcomes: IntCounterVec,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    code: String,
    sha: String,
}

/// A view as read on `day` (the view's usage row is that day's).
struct Remembered {
    day: String,
    view: MachineView,
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<Key, Arc<Remembered>> for ByBytes {
    fn weight(&self, key: &Key, remembered: &Arc<Remembered>) -> u64 {
        let view = &remembered.view;
        let strings = key.code.len()
            + key.sha.len()
            + view.activation.as_ref().map_or(0, |a| a.fingerprint.len())
            + view.license.as_ref().map_or(0, |l| l.file.len());
        // The rows' other fields and the entry's own bookkeeping.
        (strings + 1024) as u64
    }
}

impl Views {
    pub(in crate::db) fn start(readers: Arc<Readers>) -> prometheus::Result<Self> {
        let outcomes = IntCounterVec::new(
            prometheus::Opts::new(
                "machine_view_reads_total",
                "Client API reads of a machine by outcome: remembered (served from memory \
                 after the code's generation read), stale (remembered but changed), read",
            ),
            &["outcome"],
        )?;
        Ok(Self {
            entries: quick_cache::sync::Cache::with_weighter(4096, CAPACITY_BYTES, ByBytes),
            asker: Asker::start(readers),
            outcomes,
        })
    }

    pub(in crate::db) fn register(
        &self,
        registry: &prometheus::Registry,
    ) -> prometheus::Result<()> {
        registry.register(Box::new(self.outcomes.clone()))
    }

    pub(in crate::db) fn forget_all(&self) {
        self.entries.clear();
    }

    /// The view of `code` and `sha` remembered on `day`, when a read of the code's generation,
    /// begun now, finds it unchanged. A failed generation read only costs the caller the full
    /// read, which reports the failure.
    pub(in crate::db) async fn recall(
        &self,
        code: &str,
        sha: &str,
        day: &str,
    ) -> Option<MachineView> {
        let outcome = match self
            .entries
            .get(&Key::of(code, sha))
            .filter(|r| r.day == day)
        {
            Some(remembered) => {
                if self.asker.generation(code).await == Some(remembered.view.code.generation) {
                    self.outcomes.with_label_values(&["remembered"]).inc();
                    return Some(remembered.view.clone());
                }
                "stale"
            }
            None => "read",
        };
        self.outcomes.with_label_values(&[outcome]).inc();
        None
    }

    /// Keeps what a full read `found` on `day` (forgets the machine when it found nothing).
    pub(in crate::db) fn remember(
        &self,
        code: &str,
        sha: &str,
        day: &str,
        found: Option<&MachineView>,
    ) {
        let key = Key::of(code, sha);
        match found {
            Some(view) => self.entries.insert(
                key,
                Arc::new(Remembered {
                    day: day.to_owned(),
                    view: view.clone(),
                }),
            ),
            None => {
                self.entries.remove(&key);
            }
        }
    }
}

impl Key {
    fn of(code: &str, sha: &str) -> Self {
        Self {
            code: code.to_owned(),
            sha: sha.to_owned(),
        }
    }
}

/// One question for the generation thread.
struct Ask {
    code: String,
    answer: oneshot::Sender<Option<i64>>,
}

/// A thread that reads codes' generations, as many as are asked for meanwhile in one
/// statement: while one read is under way the next questions queue, and the next read takes
/// them all. A lone request waits for one round trip, as it would for its own read.
struct Asker {
    asks: mpsc::Sender<Ask>,
}

impl Asker {
    fn start(readers: Arc<Readers>) -> Self {
        let (asks, questions) = mpsc::channel::<Ask>();
        let spawned = std::thread::Builder::new()
            .name("koolicense-generations".into())
            .spawn(move || answer_all(&readers, &questions));
        if let Err(e) = spawned {
            // Every question then goes unanswered, and each view is read in full.
            tracing::warn!(error = %e, "no generation reader thread; views are read in full");
        }
        Self { asks }
    }

    /// The code's generation now; `None` when it could not be read or the code is not stored.
    async fn generation(&self, code: &str) -> Option<i64> {
        let (answer, answered) = oneshot::channel();
        let ask = Ask {
            code: code.to_owned(),
            answer,
        };
        self.asks.send(ask).ok()?;
        answered.await.ok().flatten()
    }
}

/// Runs until every [`Asker`] is gone.
fn answer_all(readers: &Readers, questions: &mpsc::Receiver<Ask>) {
    while let Ok(first) = questions.recv() {
        let batch = crate::db::queued::with_waiting(first, questions, MOST_CODES_PER_READ);
        let mut codes: Vec<String> = batch.iter().map(|ask| ask.code.clone()).collect();
        codes.sort_unstable();
        codes.dedup();
        let read = readers.with(|conn| generations(conn, &codes));
        if let Err(e) = &read {
            tracing::warn!(error = %e, "codes' generations could not be read");
        }
        let found = read.unwrap_or_default();
        for ask in batch {
            // A requester that went away has nothing to hear.
            let _ = ask.answer.send(found.get(&ask.code).copied());
        }
    }
}

fn generations(conn: &mut DbConn, codes: &[String]) -> Result<HashMap<String, i64>, Unavailable> {
    let rows: Vec<(String, i64)> = on_backend!(conn, |c| auth_codes::table
        .filter(auth_codes::code.eq_any(codes))
        .select((auth_codes::code, auth_codes::generation))
        .load(c))
    .map_err(|e| Unavailable(e.to_string()))?;
    Ok(rows.into_iter().collect())
}
