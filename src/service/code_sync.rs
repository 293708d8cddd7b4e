//! Talking to KooGallery about a code on behalf of a client: the first activation
//! (koogallery.md §3.2.1, with the query of §3.2.2 after `92020003`), and the daily query made
//! by the first check-in of each UTC day.
//!
//! Marketplace calls never run inside a database transaction. A first activation records the
//! code only once KooGallery has answered; when KooGallery cannot be reached nothing is recorded
//! and the client gets `503 MARKETPLACE_UNAVAILABLE`. Simultaneous requests for one code wait
//! on the code's gate (`Bindings::gate`), so they ask KooGallery once per
//! process; across nodes, the rows decide (a second activation is answered `92020003` and
//! followed by a query, and the daily query is claimed with a conditional update).

use chrono::NaiveDateTime;
use serde_json::json;
use tokio::sync::OwnedMutexGuard;

use super::Error;
use super::bindings::{Bindings, Lookup};
use super::issue::{self, CodeTerms};
use super::seats::SeatLimit;
use crate::db::ids::CodeId;
use crate::db::models::auth_codes::{self, AuthCode, AuthCodeChangeset, CodeStatus};
use crate::db::models::events::{self, EventKind, NewEvent, Subject};
use crate::db::models::marketplace_calls::NewMarketplaceCall;
use crate::db::{self, DbConn};
use crate::domain::machine::AuthorizationCode;
use crate::domain::validation::refusal;
use crate::koogallery::client::{ActivateOutcome, LicenseInfo, MarketplaceError, QueryOutcome};

/// What KooGallery said about a code when it was activated.
#[derive(Debug, Clone)]
pub struct Reported {
    status: CodeStatus,
    expires_at: Option<NaiveDateTime>,
    order_id: Option<String>,
    product_id: Option<String>,
    seats: Option<SeatLimit>,
    /// The answer came from the query API (authoritative for the day).
    queried: bool,
}

impl Reported {
    /// The terms `code` has once this is recorded (on a row of its own; a row a callback created
    /// first may keep an order or product this answer lacks, and then the license is signed
    /// again in the binding's transaction).
    pub fn code_terms(&self, code: &str) -> CodeTerms {
        CodeTerms {
            code: code.to_owned(),
            order_id: self.order_id.clone(),
            product_id: self.product_id.clone(),
            seats: SeatLimit::or_default(self.seats),
            expires_at: self.expires_at,
        }
    }

    fn from_query(info: LicenseInfo) -> Self {
        Self {
            status: CodeStatus::reported(&info.status),
            expires_at: info.expire_time,
            order_id: info.order_id,
            product_id: info.product_id,
            seats: info.amount.map(SeatLimit::from_reported),
            queried: true,
        }
    }
}

/// A code that is activated with KooGallery, or about to be recorded as such.
#[derive(Debug)]
pub struct Activated {
    /// The code's gate: hold it until `reported` is recorded ([`record`]), so that simultaneous
    /// first activations of the code ask KooGallery once.
    pub gate: OwnedMutexGuard<()>,
    /// What KooGallery just reported, to [`record`]; `None` when the code was recorded already.
    pub reported: Option<Reported>,
}

/// Makes sure the code is activated with KooGallery, calling KooGallery's activate API if nobody
/// has yet; the caller records the answer ([`record`]) while it holds the gate, and writes the
/// calls' rows added to `journal`, whatever happened. Refuses a code we
/// already know as released, frozen or expired without calling.
///
/// `lookup`, the caller's unit of the unknown-code budget, was taken before anything was read,
/// so simultaneous activations of unknown codes make at most as many marketplace calls as the
/// budget has units. It goes back once the code is known to exist: stored here, or reported by
/// KooGallery (claimed or not). A code KooGallery does not know, or a call that got no answer,
/// keeps it spent.
pub async fn ensure_activated(
    service: &Bindings,
    code: &AuthorizationCode,
    now: NaiveDateTime,
    lookup: impl Lookup,
    journal: &mut Vec<NewMarketplaceCall>,
) -> Result<Activated, Error> {
    let gate = service.gate(code.as_str()).await;
    let wanted = code.as_str().to_owned();
    let row = db::read(&service.pool, move |conn| {
        auth_codes::find_by_code(conn, &wanted).map_err(Error::from)
    })
    .await?;
    let Some(known) = row else {
        let reported = ask_marketplace(service, code, journal).await;
        if matches!(reported, Ok(_) | Err(Error::CodeNotClaimed)) {
            lookup.found();
        }
        return Ok(Activated {
            gate,
            reported: Some(reported?),
        });
    };
    lookup.found();
    if known.activated {
        return Ok(Activated {
            gate,
            reported: None,
        });
    }
    if let Some(status) = refusal(&issue::code_facts(&known), None, now) {
        return Err(Error::refused(status));
    }
    let reported = ask_marketplace(service, code, journal).await?;
    Ok(Activated {
        gate,
        reported: Some(reported),
    })
}

/// Activates the code with KooGallery (and queries it when it was active already); the calls'
/// journal rows go to `journal`.
async fn ask_marketplace(
    service: &Bindings,
    code: &AuthorizationCode,
    journal: &mut Vec<NewMarketplaceCall>,
) -> Result<Reported, Error> {
    let market = &service.marketplace;
    match market.activate_into(code.as_str(), Some(journal)).await {
        Ok(ActivateOutcome::Activated(info)) => Ok(Reported {
            status: CodeStatus::reported(&info.status),
            expires_at: info.expire_time,
            order_id: info.order_id,
            product_id: info.product_id,
            // A successful activation always sets the seats.
            seats: Some(SeatLimit::from_activation(info.amount)),
            queried: false,
        }),
        Ok(ActivateOutcome::AlreadyActive) => {
            match market.query_into(code.as_str(), Some(journal)).await {
                Ok(QueryOutcome::Info(info)) => Ok(Reported::from_query(info)),
                Ok(QueryOutcome::NotFound) => Err(not_found(code)),
                Ok(QueryOutcome::NotActivated) => Err(unavailable(
                    code,
                    &MarketplaceError::Protocol(
                        "activate says active, query says not activated".into(),
                    ),
                )),
                Err(e) => Err(unavailable(code, &e)),
            }
        }
        Ok(ActivateOutcome::NotClaimed) => {
            tracing::info!(code.hint = %code.hint(), "activation refused: the buyer has not claimed the code");
            Err(Error::CodeNotClaimed)
        }
        Ok(ActivateOutcome::NotFound) => Err(not_found(code)),
        Err(e) => Err(unavailable(code, &e)),
    }
}

fn not_found(code: &AuthorizationCode) -> Error {
    tracing::info!(code.hint = %code.hint(), "activation refused: KooGallery does not know the code");
    Error::CodeNotFound
}

fn unavailable(code: &AuthorizationCode, e: &MarketplaceError) -> Error {
    if matches!(
        e,
        MarketplaceError::NotConfigured | MarketplaceError::Unauthorized { .. }
    ) {
        tracing::error!(code.hint = %code.hint(), error = %e, "cannot call KooGallery");
    } else {
        tracing::warn!(code.hint = %code.hint(), error = %e, "KooGallery did not answer an activation");
    }
    Error::MarketplaceUnavailable
}

/// Records what KooGallery reported at activation. A row a callback created first keeps its
/// `frozen` flag and, once released, its status. Call inside a write transaction ([`db::write`]).
/// The code's row as stored when this transaction created it: nobody else can change it or bind
/// to it before the commit, so the binding needs neither to lock it again nor to look for seats.
pub fn record(
    conn: &mut DbConn,
    code: &str,
    reported: &Reported,
    day: &str,
    now: NaiveDateTime,
) -> Result<Option<AuthCode>, Error> {
    let (row, inserted) = auth_codes::find_or_insert(conn, code, now)?;
    if row.activated {
        return Ok(None);
    }
    let activated = reported.applied_to(row, day, now);
    auth_codes::store_state(conn, &activated)?;
    events::insert(conn, &reported.event(&activated))?;
    Ok(inserted.then_some(activated))
}

impl Reported {
    /// `row` as activated with what KooGallery reported.
    pub fn applied_to(&self, row: AuthCode, day: &str, now: NaiveDateTime) -> AuthCode {
        AuthCode {
            // Released is final, whatever the activation answered.
            status: if row.status == CodeStatus::Released {
                row.status
            } else {
                self.status
            },
            activated: true,
            order_id: self.order_id.clone().or(row.order_id),
            product_id: self.product_id.clone().or(row.product_id),
            seats: self.seats.map_or(row.seats, SeatLimit::get),
            expires_at: self.expires_at.or(row.expires_at),
            last_queried_on: if self.queried {
                Some(day.to_owned())
            } else {
                row.last_queried_on
            },
            updated_at: now,
            ..row
        }
    }

    /// The event of the code's activation, once `activated` is its row.
    pub fn event(&self, activated: &AuthCode) -> NewEvent {
        let seats = self.seats.map(SeatLimit::get);
        let detail =
            json!({"seats": seats, "via": if self.queried { "query" } else { "activate" }});
        NewEvent::new(Subject::Code, &activated.id, EventKind::Activated, &detail)
    }
}

/// The first check-in of the day asks KooGallery for the code's state and records it. When
/// KooGallery cannot be reached the day's claim is given back, so a later check-in tries again;
/// the caller answers from the local state either way.
pub async fn daily_query(service: &Bindings, code: &AuthCode, day: &str) {
    let _gate = service.gate(&code.code).await;
    let (id, today) = (code.id.clone(), day.to_owned());
    let claimed = db::write(&service.pool, move |conn| {
        auth_codes::claim_daily_query(conn, &id, &today).map_err(Error::from)
    })
    .await;
    match claimed {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(code.hint = %code.code_hint, error = %e, "cannot claim the daily query");
            return;
        }
    }
    let answer = service.marketplace.query(&code.code).await;
    let (id, previous) = (code.id.clone(), code.last_queried_on.clone());
    let stored = match answer {
        Ok(QueryOutcome::Info(info)) => {
            let reported = Reported::from_query(info);
            db::write(&service.pool, move |conn| apply_query(conn, &id, &reported)).await
        }
        Ok(outcome) => {
            tracing::warn!(code.hint = %code.code_hint, outcome = ?outcome, "daily query: KooGallery does not know the code as active");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(code.hint = %code.code_hint, error = %e, "daily query failed; answering from local state");
            let today = day.to_owned();
            db::write(&service.pool, move |conn| {
                auth_codes::unclaim_daily_query(conn, &id, &today, previous).map_err(Error::from)
            })
            .await
        }
    };
    if let Err(e) = stored {
        tracing::warn!(code.hint = %code.code_hint, error = %e, "cannot store the daily query");
    }
}

fn apply_query(conn: &mut DbConn, id: &CodeId, reported: &Reported) -> Result<(), Error> {
    let now = crate::db::models::now();
    conn.write_tx(|c| {
        let Some(row) = auth_codes::find(c, id)? else {
            return Ok(());
        };
        let changes = AuthCodeChangeset {
            // Released is final, whatever a lagging answer says.
            status: (row.status != CodeStatus::Released && row.status != reported.status)
                .then_some(reported.status),
            order_id: reported
                .order_id
                .clone()
                .filter(|o| row.order_id.as_ref() != Some(o))
                .map(Some),
            product_id: reported
                .product_id
                .clone()
                .filter(|p| row.product_id.as_ref() != Some(p))
                .map(Some),
            seats: reported
                .seats
                .map(SeatLimit::get)
                .filter(|n| *n != row.seats),
            expires_at: reported
                .expires_at
                .filter(|t| row.expires_at != Some(*t))
                .map(Some),
            ..AuthCodeChangeset::default()
        };
        let anything_new = changes.status.is_some()
            || changes.order_id.is_some()
            || changes.product_id.is_some()
            || changes.seats.is_some()
            || changes.expires_at.is_some();
        if !anything_new {
            return Ok(());
        }
        let detail = json!({
            "status": changes.status, "seats": changes.seats,
            "expires_at": reported.expires_at.map(crate::domain::times::rfc3339),
        });
        auth_codes::update(
            c,
            id,
            &AuthCodeChangeset {
                updated_at: Some(now),
                ..changes
            },
        )?;
        events::insert(
            c,
            &NewEvent::new(Subject::Code, id, EventKind::Queried, &detail),
        )?;
        Ok(())
    })
}
