//! Activating a code on a machine (api.md §4.1): the order of reads, the KooGallery call and the
//! one locked write.

use super::binding::{self, Bound, Known};
use super::bindings::{Bindings, Lookup};
use super::issue::Presigned;
use super::{Error, code_sync, drift};
use crate::db;
use crate::db::models::code_usage::{self, day_key};
use crate::domain::machine::Machine;
use crate::licensing::now_seconds;

impl Bindings {
    /// Binds `machine` to its code, or finds its binding. A repeat is answered from one read;
    /// anything else may activate the code with KooGallery first, then binds in one locked
    /// transaction (a job of the group commit on SQLite, which also records what KooGallery
    /// said when it was just asked). `lookup` goes back to the caller's budget as soon as the
    /// code is known to exist.
    pub async fn activate(&self, machine: Machine, lookup: impl Lookup) -> Result<Bound, Error> {
        let now = now_seconds();
        let day = day_key(now.date());
        let known = {
            let (machine, day) = (machine.clone(), day.clone());
            db::read(&self.pool, move |conn| {
                binding::look(conn, &machine, &day, now)
            })
            .await?
        };
        let (activated, expected) = match known {
            Known::Repeat { granted, uncounted } => {
                lookup.found();
                if let Some(code_id) = uncounted {
                    let sha = machine.fingerprint.sha256_hex();
                    db::write(&self.pool, move |conn| {
                        code_usage::record(conn, &code_id, &day, &sha, now).map_err(Error::from)
                    })
                    .await?;
                }
                return Ok(Bound::Repeat(*granted));
            }
            Known::NotActivated => {
                let activated =
                    code_sync::ensure_activated(self, &machine.code, now, lookup).await?;
                let expected = activated
                    .reported
                    .as_ref()
                    .map(|reported| reported.code_terms(machine.code.as_str()));
                (Some(activated), expected)
            }
            Known::Unbound(terms) => {
                lookup.found();
                (None, Some(*terms))
            }
        };
        let drifted = drift::find(self, &machine).await?;
        // Signed here, on this worker, rather than on the database writer (see `Presigned`).
        let presigned = expected.and_then(|terms| {
            Presigned::sign(&self.keys, &terms, &machine.fingerprint.sha256_hex(), now)
        });
        let (gate, reported) = match activated {
            Some(code_sync::Activated { gate, reported }) => (Some(gate), reported),
            None => (None, None),
        };
        let keys = std::sync::Arc::clone(&self.keys);
        let bound = db::write(&self.pool, move |conn| {
            // What KooGallery reported stays recorded even when the binding is refused: the
            // binding rolls back to its own savepoint only.
            if let Some(reported) = &reported {
                code_sync::record(conn, machine.code.as_str(), reported, &day, now)?;
            }
            Ok::<_, Error>(binding::bind(
                conn,
                &keys,
                &machine,
                &day,
                now,
                presigned,
                drifted.as_ref(),
            ))
        })
        .await?;
        // Simultaneous first activations of the code waited on the gate until it was recorded.
        drop(gate);
        bound
    }
}
