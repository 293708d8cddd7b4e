//! The rows of a code's first binding, written together: the code as KooGallery just activated
//! it, the journal of those calls, the day's usage, the binding, its license and the events.
//!
//! On PostgreSQL they go in one statement (data-modifying CTEs, every row from one JSON
//! parameter), together with the first bindings other requests are writing at the same time
//! ([`crate::db::batch`]): one round trip that commits by itself, instead of twelve statements
//! between `BEGIN` and `COMMIT` for each. On SQLite the statements run one after another inside
//! the group commit's transaction, where a statement costs no round trip.
//!
//! Either way nothing is written unless the code's row is new: when another request (another
//! node) recorded the code first, [`write`] says so and the caller binds the usual way, under
//! the code's lock.

use diesel::QueryResult;

#[cfg(feature = "postgres")]
use crate::db::batch::Failed;
use crate::db::{Pool, Unavailable};

use super::activations::Activation;
use super::auth_codes::AuthCode;
use super::events::NewEvent;
use super::licenses::NewLicense;
use super::marketplace_calls::NewMarketplaceCall;
use crate::db::DbConn;

#[cfg(feature = "postgres")]
mod statement;

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

/// Writes every row of `first` and returns once they are durable; `Ok(false)`, having written
/// nothing, when the code's row exists already.
///
/// # Errors
/// Nothing was written: the database is unavailable or refused the rows.
pub async fn write<E>(pool: &Pool, first: FirstBinding) -> Result<bool, E>
where
    E: From<Unavailable> + From<diesel::result::Error> + Send + 'static,
{
    #[cfg(feature = "postgres")]
    if let Some(batches) = pool.first_bindings() {
        return batches.submit(first).await.map_err(|failed| match failed {
            Failed::Unavailable(e) => E::from(e),
            Failed::Query(e) => E::from(e),
        });
    }
    crate::db::write(pool, move |conn| {
        insert_all(conn, &[first]).map_err(E::from)
    })
    .await
    .map(|written| written.first().copied().unwrap_or(false))
}

/// Writes the rows of each of `firsts` whose code's row does not exist yet; for each, whether
/// it was written. Atomic by itself on PostgreSQL (one statement); on SQLite call it inside a
/// write transaction ([`crate::db::write`]).
///
/// # Errors
/// The database refused a row; on PostgreSQL nothing was written then.
pub fn insert_all(conn: &mut DbConn, firsts: &[FirstBinding]) -> QueryResult<Vec<bool>> {
    match conn {
        #[cfg(feature = "postgres")]
        DbConn::Postgres(pg) => statement::insert_all(pg, firsts),
        #[cfg(feature = "sqlite")]
        DbConn::Sqlite(_) => firsts.iter().map(|first| one_by_one(conn, first)).collect(),
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
