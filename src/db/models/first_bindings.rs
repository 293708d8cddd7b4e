//! The rows of a code's first binding, written together: the code as KooGallery just activated
//! it, the journal of those calls, the day's usage, the binding, its license and the events.
//!
//! On PostgreSQL they go in one statement (data-modifying CTEs, every row from one JSON
//! parameter): a first activation is then one round trip that commits by itself, instead of
//! twelve statements between `BEGIN` and `COMMIT`. Measured with pgbench on the same rows, that
//! is two to three times the transactions per second. On SQLite the statements run one after
//! another inside the group commit's transaction, where a statement costs no round trip.
//!
//! Either way nothing is written unless the code's row is new: when another request (another
//! node) recorded the code first, [`insert`] says so and the caller binds the usual way, under
//! the code's lock.

use diesel::QueryResult;

use super::activations::Activation;
use super::auth_codes::AuthCode;
use super::events::NewEvent;
use super::licenses::NewLicense;
use super::marketplace_calls::NewMarketplaceCall;
use crate::db::DbConn;

#[cfg(feature = "postgres")]
mod one_statement;

/// Why the license's first revision was written (`license_revisions.reason`).
pub const REASON: &str = "activated";

/// Everything a code's first binding writes.
#[derive(Debug, Clone)]
pub struct FirstBinding {
    /// The code, activated; its row must not exist yet.
    pub code: AuthCode,
    /// The journal rows of the marketplace calls that activated it.
    pub calls: Vec<NewMarketplaceCall>,
    /// The UTC day the machine is counted in (`code_usage.day`).
    pub day: String,
    /// The binding.
    pub activation: Activation,
    /// Its license, revision 1.
    pub license: NewLicense,
    /// The code's and the binding's events.
    pub events: Vec<NewEvent>,
}

/// Writes every row of `first`; `Ok(false)`, having written nothing, when the code's row exists
/// already. Atomic by itself on PostgreSQL (one statement); on SQLite call it inside a write
/// transaction ([`crate::db::write`]).
pub fn insert(conn: &mut DbConn, first: &FirstBinding) -> QueryResult<bool> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => one_statement::insert(pg, first),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(_) => one_by_one(conn, first),
    }
}

#[cfg(feature = "sqlite")]
fn one_by_one(conn: &mut DbConn, first: &FirstBinding) -> QueryResult<bool> {
    use super::activations::NewActivation;
    use super::{activations, auth_codes, code_usage, events, licenses, marketplace_calls};

    let code = &first.code;
    if !auth_codes::insert_new(conn, code)? {
        return Ok(false);
    }
    for call in &first.calls {
        marketplace_calls::insert(conn, call)?;
    }
    let activation = &first.activation;
    code_usage::record(
        conn,
        &code.id,
        &first.day,
        &activation.fingerprint_sha256,
        activation.created_at,
    )?;
    activations::insert(conn, &NewActivation::from(&first.activation))?;
    licenses::insert(conn, &first.license, REASON)?;
    for event in &first.events {
        events::insert(conn, event)?;
    }
    Ok(true)
}
