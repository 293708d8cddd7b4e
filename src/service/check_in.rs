//! Checking a machine in (api.md §4.2): one read, the day's KooGallery query when it is due,
//! and a locked write only when the license must change ([`super::renewal`]).

use super::bindings::{Bindings, Lookup};
use super::drift::{self, Candidate};
use super::renewal::{self, Change, CheckedIn, Look};
use super::{Error, code_sync};
use crate::config::FingerprintMatch;
use crate::db;
use crate::db::models::code_usage::{self, day_key};
use crate::domain::machine::Machine;
use crate::domain::validation::{Status, Validation};
use crate::licensing::now_seconds;

impl Bindings {
    /// The verdict for `machine`, with its license's next revision when its code changed or
    /// its hardware drifted. A code nobody knows answers `NOT_ACTIVATED` and keeps `lookup`
    /// spent.
    pub async fn check_in(
        &self,
        machine: Machine,
        lookup: impl Lookup,
    ) -> Result<CheckedIn, Error> {
        let now = now_seconds();
        let day = day_key(now.date());
        let Some(mut look) = self.look(&machine, &day, None).await? else {
            return Ok(not_activated());
        };
        lookup.found();
        let drifted = match (self.fingerprint_match, look.unbound()) {
            (FingerprintMatch::Most, true) => {
                let (code_id, fingerprint) = (look.code.id.clone(), machine.fingerprint.clone());
                db::run(&self.pool, move |conn| {
                    drift::search(conn, &code_id, &fingerprint)
                })
                .await?
            }
            _ => None,
        };
        let stale_day =
            look.code.activated && look.code.last_queried_on.as_deref() != Some(day.as_str());
        if stale_day {
            code_sync::daily_query(self, &look.code, &day).await;
        }
        if stale_day || drifted.is_some() {
            // The query may have changed the code; the drifted binding joins the look.
            look = match self.look(&machine, &day, drifted.clone()).await? {
                Some(look) => look,
                None => return Ok(not_activated()),
            };
        }

        let (validation, change) = renewal::decide(&look, now);
        if change == Change::None {
            if let Some((code_id, sha)) = look.uncounted() {
                db::write(&self.pool, move |conn| {
                    code_usage::record(conn, &code_id, &day, &sha, now).map_err(Error::from)
                })
                .await?;
            }
            return Ok(CheckedIn {
                validation,
                expires_at: look.code.expires_at,
                license: None,
            });
        }
        let keys = std::sync::Arc::clone(&self.keys);
        let code_id = look.code.id.clone();
        let changed = db::write(&self.pool, move |conn| {
            renewal::change(conn, &keys, &machine, &code_id, &day, now, drifted.as_ref())
        })
        .await?;
        Ok(changed.unwrap_or_else(not_activated))
    }

    /// What we know of the machine: its view ([`crate::db::views::view`]), and the `drifted`
    /// binding when it is still that binding ([`renewal::recheck_drifted`]).
    async fn look(
        &self,
        machine: &Machine,
        day: &str,
        drifted: Option<Candidate>,
    ) -> Result<Option<Look>, Error> {
        let sha = machine.fingerprint.sha256_hex();
        let Some(view) =
            db::views::view::<Error>(&self.pool, machine.code.as_str(), &sha, day).await?
        else {
            return Ok(None);
        };
        let moved = match drifted {
            Some(candidate) if !view.is_bound() => {
                let code_id = view.code.id.clone();
                db::read(&self.pool, move |conn| {
                    renewal::recheck_drifted(conn, &code_id, &candidate)
                })
                .await?
            }
            _ => None,
        };
        Ok(Some(Look::of(view, moved)))
    }
}

/// The answer for a code nobody knows.
fn not_activated() -> CheckedIn {
    CheckedIn {
        validation: Validation::from(Status::NotActivated),
        expires_at: None,
        license: None,
    }
}
