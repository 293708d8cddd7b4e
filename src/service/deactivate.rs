//! Freeing a machine's seat (api.md §4.3).

use super::binding::{self, Unbound};
use super::bindings::{Bindings, Lookup};
use super::seats::Seats;
use super::{Error, drift};
use crate::db;
use crate::domain::machine::Machine;
use crate::licensing::now_seconds;

impl Bindings {
    /// Frees `machine`'s seat of its code, within the code's deactivation limit; the code's
    /// seats after it. A code nobody knows keeps `lookup` spent.
    pub async fn deactivate(&self, machine: Machine, lookup: impl Lookup) -> Result<Seats, Error> {
        let (limit, now) = (self.deactivation_limit, now_seconds());
        let drifted = drift::find(self, &machine).await?;
        let unbound = db::write(&self.pool, move |conn| {
            binding::unbind(conn, &machine, limit, now, drifted.as_ref())
        })
        .await?;
        if !matches!(unbound, Unbound::UnknownCode) {
            lookup.found();
        }
        match unbound {
            Unbound::Freed(seats) => {
                tracing::info!(
                    seats.used = seats.used,
                    seats.total = seats.total,
                    "seat freed by the client"
                );
                Ok(seats)
            }
            Unbound::UnknownCode | Unbound::NotBound => Err(Error::ActivationNotFound),
            Unbound::LimitReached { limit } => Err(Error::DeactivationLimitReached { limit }),
        }
    }
}
