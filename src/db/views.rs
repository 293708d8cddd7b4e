//! A node's memory of what it read about machines (PostgreSQL), for the client API's hot reads
//! (a repeat activation, a check-in).
//!
//! Reading a machine's view ([`machines::view`]) costs PostgreSQL five index lookups; a node
//! that remembers the view needs only to learn that nothing about the code changed since. Every
//! committed change to a code's row, bindings, licenses or usage rows changes the code's
//! `generation` (triggers: `migrations/postgres/2026-12-03-000000_code_generations`), so a
//! remembered view is served only after a read of the code's generation, started after the
//! request arrived, found it unchanged: an answer is never older than one read straight from
//! the table would be, whichever node made the change. The generation reads of requests that
//! arrive together share one statement (`memory::Asker`), so under load a request costs the
//! database a fraction of one lookup. The memory holds views of 32 megabytes at most, dropped
//! when the server goes quiet ([`crate::memory`]).
//!
//! SQLite keeps no such memory: one server reads its file in place for microseconds, and its
//! generations stay 0.

#[cfg(feature = "postgres")]
mod memory;

#[cfg(feature = "postgres")]
pub(super) use memory::Views;

use super::models::machines::{self, MachineView};
use super::{Pool, Unavailable};

/// The code `code` and the machine whose fingerprint hashes to `sha`, as of a read begun after
/// this call ([`machines::view`]); from this node's memory when the code did not change since
/// the node read it.
///
/// # Errors
/// When the database cannot be read.
pub async fn view<E>(
    pool: &Pool,
    code: &str,
    sha: &str,
    day: &str,
) -> Result<Option<MachineView>, E>
where
    E: From<Unavailable> + From<diesel::result::Error> + Send + 'static,
{
    #[cfg(feature = "postgres")]
    let memory = pool.views.as_deref();
    #[cfg(feature = "postgres")]
    if let Some(memory) = memory
        && let Some(remembered) = memory.recall(code, sha, day).await
    {
        return Ok(Some(remembered));
    }
    let found = {
        let (code, sha, day) = (code.to_owned(), sha.to_owned(), day.to_owned());
        super::read(pool, move |conn| {
            machines::view(conn, &code, &sha, &day).map_err(E::from)
        })
        .await?
    };
    #[cfg(feature = "postgres")]
    if let Some(memory) = memory {
        memory.remember(code, sha, day, found.as_ref());
    }
    Ok(found)
}
