//! Activating a code on a machine (api.md §4.1): the order of reads, the KooGallery call and the
//! one locked write.

use super::binding::{self, Bound, Granted, Known};
use super::bindings::{Bindings, Lookup};
use super::issue::{CodeTerms, Presigned};
use super::{Error, code_sync, drift};
use crate::db;
use crate::db::models::code_usage::{self, day_key};
use crate::db::models::first_bindings;
use crate::db::models::marketplace_calls::{self, NewMarketplaceCall};
use crate::domain::machine::Machine;
use crate::licensing::now_seconds;

/// What the reads before the write decided.
enum Looked {
    /// The machine is bound: its stored license.
    Repeat(Box<Granted>),
    /// Bind in the locked write: the code as KooGallery just activated it (`None` when it was
    /// activated before), and the terms a license is signed with ahead of the write.
    Bind {
        activated: Option<code_sync::Activated>,
        expected: Option<CodeTerms>,
    },
}

impl Bindings {
    /// Binds `machine` to its code, or finds its binding. A repeat is answered from one read;
    /// anything else may activate the code with KooGallery first, then binds in one write (a
    /// job of the group commit on SQLite), which also records what KooGallery said when it was
    /// just asked. `lookup` goes back to the caller's budget as soon as the
    /// code is known to exist.
    pub async fn activate(&self, machine: Machine, lookup: impl Lookup) -> Result<Bound, Error> {
        let now = now_seconds();
        let day = day_key(now.date());
        // The marketplace calls' journal rows go into the binding's transaction: one commit per
        // first activation instead of two. A kill between KooGallery's answer and that commit
        // loses the row with the binding; the client's retry asks KooGallery again.
        let mut journal = Vec::new();
        let looked = self
            .look_before_binding(&machine, &day, now, lookup, &mut journal)
            .await;
        let committed = match looked {
            Ok(Looked::Repeat(granted)) => return Ok(Bound::Repeat(*granted)),
            Ok(Looked::Bind {
                activated,
                expected,
            }) => {
                let rows = journal.clone();
                self.bind(machine, &day, now, activated, expected, rows)
                    .await
            }
            Err(e) => Err(e),
        };
        match committed {
            Ok(bound) => bound,
            Err(e) => {
                // Nothing was committed: the rows are written on their own.
                self.marketplace.write_journal_rows(journal).await;
                Err(e)
            }
        }
    }

    /// The reads before the write: the machine's binding, else KooGallery's activation of the
    /// code when we have not activated it yet (its calls' rows go to `journal`).
    async fn look_before_binding(
        &self,
        machine: &Machine,
        day: &str,
        now: chrono::NaiveDateTime,
        lookup: impl Lookup,
        journal: &mut Vec<NewMarketplaceCall>,
    ) -> Result<Looked, Error> {
        let sha = machine.fingerprint.sha256_hex();
        let view = db::views::view::<Error>(&self.pool, machine.code.as_str(), &sha, day).await?;
        let known = binding::look(view, now)?;
        match known {
            Known::Repeat { granted, uncounted } => {
                lookup.found();
                if let Some(code_id) = uncounted {
                    let day = day.to_owned();
                    db::write(&self.pool, move |conn| {
                        code_usage::record(conn, &code_id, &day, &sha, now).map_err(Error::from)
                    })
                    .await?;
                }
                Ok(Looked::Repeat(granted))
            }
            Known::NotActivated => {
                let activated =
                    code_sync::ensure_activated(self, &machine.code, now, lookup, journal).await?;
                let expected = activated
                    .reported
                    .as_ref()
                    .map(|reported| reported.code_terms(machine.code.as_str()));
                Ok(Looked::Bind {
                    activated: Some(activated),
                    expected,
                })
            }
            Known::Unbound(terms) => {
                lookup.found();
                Ok(Looked::Bind {
                    activated: None,
                    expected: Some(*terms),
                })
            }
        }
    }

    /// The write, with the journal `rows` and what KooGallery reported. A code KooGallery just
    /// activated for us is bound with all its rows at once ([`binding::first_binding`]: one
    /// statement on PostgreSQL, shared with the first bindings written meanwhile) unless its row
    /// turns out to exist; anything else binds in one locked transaction. The outer `Err` says
    /// nothing was committed; the inner one is the binding's refusal, committed with the rows and
    /// the report (a refused binding writes nothing).
    async fn bind(
        &self,
        machine: Machine,
        day: &str,
        now: chrono::NaiveDateTime,
        activated: Option<code_sync::Activated>,
        expected: Option<CodeTerms>,
        rows: Vec<NewMarketplaceCall>,
    ) -> Result<Result<Bound, Error>, Error> {
        // Signed here, on this worker, rather than on the database writer (see `Presigned`).
        let mut presigned = expected.and_then(|terms| {
            Presigned::sign(&self.keys, &terms, &machine.fingerprint.sha256_hex(), now)
        });
        let (gate, reported) = match activated {
            Some(code_sync::Activated { gate, reported }) => (Some(gate), reported),
            None => (None, None),
        };
        if let Some(reported) = &reported {
            let planned = binding::first_binding(
                &self.keys,
                &machine,
                reported,
                rows.clone(),
                day,
                now,
                presigned.take(),
            )?;
            if let Some((first, granted)) = planned {
                let written = first_bindings::write::<Error>(&self.pool, first).await?;
                if written {
                    return Ok(Ok(Bound::New(granted)));
                }
                // Its row exists (a callback or another node recorded it): bind under its lock.
            }
        }
        // Looked for only here: a code whose first binding was just written holds no older
        // binding of this machine to move.
        let drifted = drift::find(self, &machine).await?;
        let keys = std::sync::Arc::clone(&self.keys);
        let day = day.to_owned();
        let bound = db::write(&self.pool, move |conn| {
            for row in &rows {
                marketplace_calls::insert(conn, row)?;
            }
            let created = match &reported {
                Some(reported) => {
                    code_sync::record(conn, machine.code.as_str(), reported, &day, now)?
                }
                None => None,
            };
            match binding::bind(
                conn,
                &keys,
                &machine,
                &day,
                now,
                presigned,
                binding::Earlier {
                    drifted: drifted.as_ref(),
                    created,
                },
            ) {
                // Half written: nothing of this transaction may commit.
                Err(failure) if !failure.is_refusal() => Err(failure),
                answer => Ok(answer),
            }
        })
        .await;
        // Simultaneous first activations of the code waited on the gate until it was recorded.
        drop(gate);
        bound
    }
}
